// relay::receiver::Connection — one accepted TCP connection: the libuv
// stream, its Transport (plain, or TLS after STARTTLS / on implicit
// listeners), the smtp::Session it feeds, and the session's spool entry.
//
// Does: reads into one buffer shared by all connections (the session keeps
// only what it has not consumed, so an idle connection costs ~2 KB),
// flushes the session's replies in one write after each batch of input
// (PIPELINING), runs password checks and the commit (NewEntry::prepare +
// GroupCommit) on the libuv thread pool, closes after the final reply.
// Hostile clients: stops reading (and the session stops handling input)
// while more than kMaxPendingOutput bytes of replies are unsent, resumes
// below kResumeOutput; enforces the per-command, TLS-handshake, min data
// rate and output-stall deadlines (connection_deadlines.cpp).
// Does not: decide anything about SMTP (Session) or about admission and
// timeouts (Server).
// Thread: the loop thread; jobs hold no pointer to a closed connection.
// Fails: every entry from libuv is guarded: an exception or a transport
// error closes this connection only, with a logged reason.
#pragma once
#include <uv.h>

#include <memory>
#include <optional>
#include <string>

#include "receiver/server/server.hpp"
#include "receiver/server/transport.hpp"
#include "receiver/smtp/session.hpp"
#include "spool/spool.hpp"

namespace relay::receiver {

struct Job;

class Connection final : public smtp::SessionHost {
 public:
  // Called from the listener's connection callback.
  static void accept(Server& server, uv_stream_t* listener, std::shared_ptr<const ListenerSpec> spec);

  // smtp::SessionHost
  void send(std::string_view reply) override;
  void close(std::string_view reason) override;
  void start_tls() override { tls_pending_ = true; }
  bool tls_available() const override { return server_.tls() != nullptr; }
  std::int64_t now() const override;
  void verify_password(const std::string& user, std::string password) override;
  bool auth_blocked() override;
  bool output_blocked() const override;
  std::optional<std::string> open_message(const smtp::Transaction& txn) override;
  bool write_message(std::string_view bytes) override;
  void commit_message() override;
  void discard_message() override;
  std::uint64_t storage_free() override;
  bool storage_full() const override { return storage_full_; }

  // Server side
  void check_timeout(std::uint64_t now_ms);
  void shutdown_if_idle();  // SIGTERM: 421 unless in a transfer
  void abort(std::string_view reason);  // close now, no more replies
  void reap_if_disconnected();
  void force_close();  // exit: also cuts a graceful close that is still writing          // closes if the peer already hung up (EOF pending)
  const std::string& ip() const noexcept { return ip_; }
  const std::string& key() const noexcept { return key_; }  // client_key(ip_)
  void auth_start();    // the server's AuthGate lets the prepared check run
  void auth_refused();  // ... or refuses it unverified (failure limit reached meanwhile)
  Connection* next = nullptr;
  Connection* prev = nullptr;

  void job_done(Job* job);

 private:
  Connection(Server& server, std::shared_ptr<const ListenerSpec> spec);
  ~Connection();
  static void on_alloc(uv_handle_t*, std::size_t, uv_buf_t* buf);
  static void on_read(uv_stream_t* s, ssize_t n, const uv_buf_t* buf);
  static void on_write(uv_write_t* req, int status);
  static void on_shutdown(uv_shutdown_t* req, int status);
  static void on_closed(uv_handle_t* h);

  void start_session();
  void refuse(std::string_view reply, std::string_view reason);
  void note_refusal(std::string_view reply);  // counts a 4xx/5xx reply in the server's refusal tally
  void input(std::string_view wire);
  // Runs f then after_session(); an exception closes this connection only.
  template <typename F>
  void guarded(F&& f) {
    if (closing_) return;
    try {
      f();
      after_session();
    } catch (const std::exception& e) {
      guard_failed(e.what());
    } catch (...) {
      guard_failed("unknown exception");
    }
  }
  void guard_failed(const char* what);
  void after_session();
  void flush();
  void write_raw(std::string_view bytes);
  void finish_close();
  void begin_closing();  // frees the slot, drops jobs and the entry
  // Hostile-client deadlines (issue 9 items 4, 5): true when one fired.
  bool check_deadlines(std::uint64_t now_ms);
  void track_deadlines(std::uint64_t now_ms);  // after each session call
  void tls_begins();
  static constexpr std::size_t kMaxPendingOutput = 65536;  // unsent replies before we stop reading
  static constexpr std::size_t kResumeOutput = 16384;      // ... and resume reading below this

  Server& server_;
  std::shared_ptr<const ListenerSpec> spec_;
  uv_tcp_t tcp_{};
  std::unique_ptr<Transport> transport_;
  std::unique_ptr<smtp::Session> session_;
  std::optional<spool::NewEntry> entry_;
  Job* job_ = nullptr;
  std::string out_;
  std::string ip_;
  std::string id_;
  std::string key_;
  std::string close_reason_;
  Job* auth_job_ = nullptr;           // a password check waiting in the server's AuthGate
  std::uint64_t line_since_ = 0;      // uv_now ms when the pending command line began, 0 = none
  std::uint64_t blocked_since_ = 0;   // ... when unsent replies passed kMaxPendingOutput
  std::uint64_t tls_since_ = 0;       // ... when a TLS handshake began, 0 = none in progress
  std::uint64_t transfer_bytes_ = 0;  // received during the current DATA/BDAT transfer
  std::uint64_t last_activity_ = 0;   // uv_now ms
  std::uint64_t transfer_start_ = 0;  // uv_now ms when the current transfer began, 0 = none
  std::uint64_t connected_at_ = 0;
  std::uint64_t closing_since_ = 0;
  int messages_ = 0;
  bool attached_ = false;
  bool reading_ = false;
  bool tls_pending_ = false;
  bool close_after_flush_ = false;
  bool storage_full_ = false;  // the last spool error was ENOSPC/EDQUOT
  bool peer_eof_ = false;  // the client half-closed: read no more, answer what it sent
  bool tls_handshaking() const noexcept { return tls_since_ != 0 || tls_pending_; }
  bool closing_ = false;
};

}  // namespace relay::receiver
