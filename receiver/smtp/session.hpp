// relay::smtp::Session — the ESMTP server protocol as a state machine that
// does no I/O (E-MailRelay ServerProtocol style).
//
// Does: is fed bytes (feed()), parses commands, enforces the policy snapshot
// (limits, AUTH, allowed senders, STARTTLS-required), decodes DATA/BDAT
// content (dot-unstuffing, smuggling-proof end of data, bare CR/LF, NUL and
// line-length checks, header From:/Sender: policy) and talks to the outside
// only through SessionHost: replies, "start TLS", "close", message bytes,
// and two asynchronous requests — password verification and message commit
// — whose answers come back through auth_result() / commit_result(). While
// one of those is pending (or a STARTTLS handshake is), input is buffered,
// not processed. PIPELINING falls out of feed(): every complete command in
// the buffer is handled and the host flushes the replies once afterwards.
// Hostile input (issue 9): a refused BDAT still consumes its N octets as
// data; a command line with a bare LF or CR is refused (500 5.5.2); HTTP or
// header lines drop the connection (554 5.5.1); handling stops while the
// host reports output_blocked() (replies not read) until resume().
// Does not: touch sockets, files, clocks or threads; the host supplies time.
// Thread: the host's loop thread only.
// Fails: a protocol error is a reply; the session never throws on any input
// (the host still catches at the connection boundary, STYLE 9).
#pragma once
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "receiver/smtp/body.hpp"
#include "receiver/smtp/policy.hpp"

namespace relay::smtp {

struct Param;

struct Rcpt {
  std::string address;
  std::string params;
};

// What the host needs to create the spool entry.
struct Transaction {
  std::string client_ip;
  std::string helo;
  std::string tls;        // "" or "TLSv1.3 TLS_AES_256_GCM_SHA384"
  std::string auth_user;  // "" when not authenticated
  std::string mail_from;  // "" = null sender
  std::string mail_params;
  std::vector<Rcpt> rcpts;
};

struct CommitResult {
  bool ok = false;
  std::string error;          // for the log when !ok
  bool storage_full = false;  // the spool said ENOSPC/EDQUOT: 452 4.3.1 instead of 451 4.3.0
};

class SessionHost {
 public:
  virtual ~SessionHost() = default;
  virtual void send(std::string_view reply) = 0;        // queued; host flushes after each Session call
  virtual void close(std::string_view reason) = 0;      // after the queued output is written
  virtual void start_tls() = 0;                         // after "220 Ready": switch the transport
  virtual bool tls_available() const = 0;               // a certificate is loaded
  virtual std::int64_t now() const = 0;                 // unix seconds
  // Asynchronous; answer with Session::auth_result().
  virtual void verify_password(const std::string& user, std::string password) = 0;
  // Too many failed AUTH attempts from this client (the host records failures).
  virtual bool auth_blocked() = 0;
  // Creates the spool entry; returns its queue id, nullopt on a spool error.
  virtual std::optional<std::string> open_message(const Transaction& txn) = 0;
  virtual bool write_message(std::string_view bytes) = 0;  // false on a spool error
  virtual void commit_message() = 0;   // asynchronous; answer with Session::commit_result()
  virtual void discard_message() = 0;  // roll the open entry back
  // Hostile-client hardening (issue 9): true while the client's unsent
  // replies pass the host's bound; the session then stops handling input
  // until resume() (a client that never reads cannot grow our memory).
  virtual bool output_blocked() const { return false; }
  // Bytes free for new mail on the spool's filesystem (0 when out of
  // inodes); checked at MAIL against receiver.limits.min_free_space.
  virtual std::uint64_t storage_free() { return UINT64_MAX; }
  // The last open_message()/write_message() failure was "disk full"
  // (ENOSPC, EDQUOT): the reply is 452 4.3.1 rather than 451 4.3.0.
  virtual bool storage_full() const { return false; }
};

struct ListenerInfo {
  config::TlsMode tls = config::TlsMode::None;
  bool loopback = true;  // AUTH allowed without TLS only on loopback listeners
};

class Session {
 public:
  static constexpr std::size_t kMaxCommandLine = 512;   // RFC 5321 4.5.3.1.4, incl. CRLF
  static constexpr std::size_t kMaxAuthLine = 12288;    // RFC 4954 4
  static constexpr std::size_t kMaxPausedInput = 65536; // host stops reading beyond this
  // NOOP/RSET/VRFY/HELP/EHLO/HELO allowed between accepted messages before
  // each one also counts toward max_bad_commands (docs/smtp-receiver.md).
  static constexpr std::size_t kMaxJunkCommands = 100;

  Session(SessionHost& host, std::shared_ptr<const Policy> policy, ListenerInfo listener, std::string client_ip,
          std::string id);

  void start();                                // greeting (implicit TLS: after the handshake is fine too)
  void feed(std::string_view bytes);
  void tls_established(std::string description);  // handshake done (STARTTLS or implicit)
  void auth_result(bool ok);
  void auth_throttled();  // the host refused the pending check unverified: 421 4.7.0 and close
  void commit_result(const CommitResult& result, const std::string& queue_id);
  // idle/data timeout: 421 4.4.2 and close. `why` (e.g. "command deadline
  // exceeded", "data rate too low") names another deadline in the reply.
  void timeout(std::string_view why = {});
  void shutdown();  // SIGTERM: 421 4.3.2 and close (host calls it only when !busy())
  // The client sent its last octet (EOF, e.g. shutdown(SHUT_WR) right after
  // the end of data): complete commands already fed are still answered (a
  // pending commit too), then the session closes; no more feed() is taken.
  void end_of_input();

  bool closed() const noexcept { return closed_; }
  // In a DATA/BDAT transfer or waiting for its commit (shutdown lets these finish).
  bool in_transfer() const noexcept;
  bool wants_input() const noexcept { return !closed_ && !(paused() && in_.size() > kMaxPausedInput); }
  bool paused() const noexcept { return wait_ != Wait::None; }
  const std::string& id() const noexcept { return id_; }
  const std::string& auth_user() const noexcept { return auth_user_; }
  const std::string& tls() const noexcept { return tls_; }
  // The user of an AUTH attempt being answered (set until its reply went
  // out), so a 535 can be attributed to the name that was tried.
  const std::string& auth_pending_user() const noexcept { return pending_user_; }
  void set_policy(std::shared_ptr<const Policy> p) { policy_ = std::move(p); }
  // Hardening hooks: an incomplete command line is buffered (the host runs
  // the per-command deadline on it); resume() handles buffered input after
  // output_blocked() turned false.
  bool line_pending() const noexcept;
  void resume() { pump(); }

 private:
  enum class Mode { Command, AuthLine, Data, Bdat };
  enum class Wait { None, Auth, Commit, Tls };
  enum class AuthStep { None, PlainResponse, LoginUser, LoginPassword };

  std::size_t process(std::string_view in);
  void pump();  // processes buffered input after an asynchronous answer
  std::size_t process_line_input(std::string_view in);
  std::size_t process_data(std::string_view in);
  std::size_t process_bdat(std::string_view in);
  void handle_line(std::string_view line);
  void bad_line_end(bool crlf);
  void handle_command(std::string_view line);
  void reply(std::string_view text);
  void error_reply(std::string_view text);  // counts toward max_bad_commands
  void close_with(std::string_view text, std::string_view reason);
  void close_if_input_ended();
  void count_junk(std::string_view verb);
  void bdat_unreadable();  // a BDAT whose size cannot be read: 501, then 421 and close

  // session_commands.cpp
  void cmd_ehlo(std::string_view arg, bool extended);
  void cmd_mail(std::string_view arg);
  void cmd_rcpt(std::string_view arg);
  void cmd_data(std::string_view arg);
  void cmd_bdat(std::string_view arg);
  void cmd_rset();
  void cmd_starttls(std::string_view arg);
  bool mail_params_ok(const std::vector<struct Param>& params);
  bool tls_required_missing() const;
  // session_auth.cpp
  void cmd_auth(std::string_view arg);
  void auth_line(std::string_view line);
  void auth_plain(std::string_view decoded);
  void auth_credentials(std::string_view authzid, std::string_view user, std::string password);
  void auth_fail_syntax(std::string_view text);
  // session_message.cpp
  bool open_message();
  void content(std::string_view bytes);
  bool content_refused() const;  // refused at end of data whatever follows
  void finish_chunk();
  void end_of_message();
  std::string refusal() const;
  std::string header_sender_refusal() const;
  std::string route_refusal() const;     // no route carries this size from this sender
  std::string size_reply() const;        // the 552 for too_big_
  std::string route_size_reply() const;  // the 552 naming route_limit_
  std::string received_header(const std::string& queue_id) const;
  void reset_transaction();
  void log_refused(std::string_view code_text);
  std::string_view refusal_reason() const;           // metrics label of refusal()
  void count_refused(std::string_view reason);
  std::string write_error_reply() const;  // 452 4.3.1 (disk full) or 451 4.3.0       // relay_smtp_messages_total{result="refused"}

  SessionHost& host_;
  std::shared_ptr<const Policy> policy_;
  ListenerInfo listener_;
  std::string client_ip_;
  std::string id_;

  std::string in_;  // unprocessed input (incomplete line, or input while paused)
  Mode mode_ = Mode::Command;
  Wait wait_ = Wait::None;
  bool closed_ = false;
  bool processing_ = false;  // inside process(): answers must not re-enter it
  bool greeted_ = false;   // EHLO/HELO seen
  bool esmtp_ = false;
  bool discard_long_ = false;  // dropping the rest of an over-long line
  bool discard_auth_ = false;  // ... of an AUTH line (500 5.5.6 at its end)
  int bad_commands_ = 0;
  std::size_t junk_commands_ = 0;  // since the last accepted message
  bool input_ended_ = false;       // end_of_input() seen
  std::string helo_;
  std::string tls_;
  std::string auth_user_;

  AuthStep auth_step_ = AuthStep::None;
  std::string login_user_;
  std::string pending_user_;

  // transaction
  bool has_mail_ = false;
  bool utf8_ = false;
  std::string mail_from_;
  std::string mail_params_;
  std::vector<Rcpt> rcpts_;
  std::uint64_t declared_size_ = 0;
  std::uint64_t route_limit_ = config::kUnlimited;  // Policy::route_limit for this MAIL FROM

  // message transfer
  DotDecoder dot_;
  BodyScanner scan_;
  bool message_open_ = false;
  bool write_failed_ = false;
  bool too_big_ = false;
  bool too_big_route_ = false;     // too_big_ because of route_limit_ (not the absolute limit)
  std::uint64_t stored_extra_ = 0; // octets of our Received: header (the stored size counts it)
  std::string queue_id_;
  std::uint64_t bdat_remaining_ = 0;
  bool bdat_last_ = false;
  bool bdat_active_ = false;  // a BDAT transaction is in progress (DATA is now out of sequence)
  bool bdat_message_ = false; // the open message came by BDAT (binary-safe: NUL allowed)
  std::string chunk_error_;   // sequence error for the chunk being skipped
  bool bdat_skip_ = false;    // consuming the N octets of a refused BDAT chunk (RFC 3030)
};

}  // namespace relay::smtp
