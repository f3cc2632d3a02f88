// Fuzz target: relay::smtp::Session, the receiver's SMTP state machine, fed
// attacker bytes through a fake SessionHost (no sockets, no spool).
//
// Input layout (tests/fuzz/README.md): byte 0 = separator, byte 1 = listener
// and policy flags, byte 2 = host flags; the rest is split at the separator
// into chunks; each chunk's first byte is an action (when and how to answer
// a pending AUTH / commit / TLS handshake, timeouts, shutdown, clock steps,
// spool errors)
// and the remainder goes to one feed() call. So one input covers split
// reads, PIPELINING, asynchronous answers arriving late or synchronously
// inside feed(), STARTTLS, BDAT and spool errors.
// Checks (abort = finding): every reply line is "[2-5]dd[ -]text<CRLF>" of at
// most 512 octets; nothing is sent after close(); a message is only opened
// with MAIL and at least one RCPT (within max_recipients), with AUTH when
// auth is required and TLS when the listener requires it; a committed
// message holds no bare CR or LF and fits max_message_size.
// TODO(hdr): once the RFC 5322 header reader lands, also check that every
// committed message's From:/Sender: addresses are allowed for its AUTH user.
#include <cctype>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <memory>
#include <optional>
#include <string>

#include "common/log.hpp"
#include "receiver/smtp/session.hpp"
#include "tests/fuzz/fuzz_input.hpp"

namespace {

using namespace relay::smtp;

[[noreturn]] void finding(const char* what) {
  std::fprintf(stderr, "smtp_session_fuzz: invariant broken: %s\n", what);
  std::abort();
}

bool bare_line_end(std::string_view s) {
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '\n' && (i == 0 || s[i - 1] != '\r')) return true;
    if (s[i] == '\r' && (i + 1 == s.size() || s[i + 1] != '\n')) return true;
  }
  return false;
}

struct FuzzHost : SessionHost {
  std::shared_ptr<Policy> policy;
  ListenerInfo listener;
  Session* session = nullptr;
  std::string line;  // current reply line
  bool closed = false, tls_avail = true, sync_answers = false;
  bool fail_open = false, fail_write = false, commit_ok = true;
  bool auth_pending = false, auth_ok = false, commit_pending = false, tls_pending = false;
  bool tls_up = false;
  std::int64_t clock = 1700000000;
  std::map<std::string, std::string, std::less<>> passwords{{"scanner1", "s3cret"}, {"erp", "erp-pw"}};
  AuthThrottle throttle{3, 300};
  bool message_open = false;
  std::string message;
  int opened = 0;

  void send(std::string_view r) override {
    if (closed) finding("send after close");
    for (char c : r) {
      line += c;
      if (line.size() > 512) finding("reply line longer than 512 octets");
      if (c != '\n') continue;
      if (line.size() < 6 || line[line.size() - 2] != '\r') finding("reply line without CRLF");
      if (line[0] < '2' || line[0] > '5' || !std::isdigit(static_cast<unsigned char>(line[1])) ||
          !std::isdigit(static_cast<unsigned char>(line[2])) || (line[3] != ' ' && line[3] != '-')) {
        finding("reply line is not 'ddd text'");
      }
      line.clear();
    }
  }
  void close(std::string_view) override { closed = true; }
  // The handshake needs I/O after "220 Ready" is flushed: never answered inside feed().
  void start_tls() override { tls_pending = true; }
  bool tls_available() const override { return tls_avail; }
  std::int64_t now() const override { return clock; }
  void verify_password(const std::string& user, std::string password) override {
    auto it = passwords.find(user);
    auth_ok = it != passwords.end() && it->second == password;
    if (!auth_ok) throttle.failure("192.0.2.1", clock);
    auth_pending = true;
    if (sync_answers) answer_auth();
  }
  bool auth_blocked() override { return throttle.blocked("192.0.2.1", clock); }
  std::optional<std::string> open_message(const Transaction& t) override {
    if (message_open) finding("second message opened before commit/discard");
    if (t.rcpts.empty()) finding("message opened without recipients");
    if (static_cast<int>(t.rcpts.size()) > policy->limits.max_recipients) finding("more recipients than allowed");
    if (policy->auth == relay::config::AuthMode::Required && t.auth_user.empty()) finding("message without AUTH");
    if (listener.tls == relay::config::TlsMode::StartTlsRequired && !tls_up) finding("message without TLS");
    if (fail_open) return std::nullopt;
    message_open = true;
    message.clear();
    return "Q" + std::to_string(++opened);
  }
  bool write_message(std::string_view b) override {
    if (!message_open) finding("write without an open message");
    message += b;
    return !fail_write;
  }
  void commit_message() override {
    if (!message_open) finding("commit without an open message");
    if (bare_line_end(message)) finding("committed message has a bare CR or LF");
    if (message.size() > policy->limits.max_message_size + 2048) finding("committed message too big");
    commit_pending = true;
    if (sync_answers) answer_commit();
  }
  void discard_message() override { message_open = false; }

  void answer_auth() {
    if (!auth_pending) return;
    auth_pending = false;
    session->auth_result(auth_ok);
  }
  void answer_commit() {
    if (!commit_pending) return;
    commit_pending = false;
    message_open = false;
    CommitResult r;
    r.ok = commit_ok;
    r.error = commit_ok ? "" : "disk full";
    session->commit_result(r, "Q" + std::to_string(opened));
  }
  void answer_tls() {
    if (!tls_pending) return;
    tls_pending = false;
    tls_up = true;
    session->tls_established("TLSv1.3 TLS_AES_256_GCM_SHA384");
  }
};

std::shared_ptr<Policy> make_policy(std::uint8_t flags) {
  auto p = std::make_shared<Policy>();
  p->hostname = "relay.test";
  p->limits.max_message_size = (flags & 0x80) ? 300 : 20000;
  p->limits.max_recipients = 3;
  p->limits.max_bad_commands = 5;
  p->limits.max_auth_failures_per_ip = 3;
  p->auth = static_cast<relay::config::AuthMode>((flags >> 3) % 3);
  p->users = {{"scanner1", "", {"scan@contoso.example"}}, {"erp", "", {}}};
  if (flags & 0x20) p->senders_allowed = {"@example.com", "*.contoso.example"};
  p->sender_policy = (flags & 0x40) ? relay::config::SenderPolicy::Rewrite : relay::config::SenderPolicy::Reject;
  return p;
}

// One action byte: bits 0-1 what to answer now, 2 commit ok, 3-5 extra event.
void act(FuzzHost& h, Session& s, std::uint8_t a) {
  h.commit_ok = !(a & 0x04);
  if (a & 0x01) h.answer_auth();
  if (a & 0x02) h.answer_commit();
  if (a & 0x01) h.answer_tls();
  switch ((a >> 3) & 7) {
    case 1: h.clock += 400; break;
    case 2: s.timeout(); break;
    case 3: if (!s.in_transfer()) s.shutdown(); break;
    case 4: h.fail_write = !h.fail_write; break;
    case 5: h.fail_open = !h.fail_open; break;
    case 6: h.sync_answers = !h.sync_answers; break;  // (no caller uses set_policy: reloads are for new sessions)
    case 7:  // the client half-closed: once nothing is pending the session must be closed
      s.end_of_input();
      if (!h.auth_pending && !h.commit_pending && !s.closed()) finding("end of input left the session open");
      break;
    default: break;
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  // Above Error: the session's own refusal logs would drown the fuzzer's output.
  static bool quiet = (relay::log::set_level(static_cast<relay::log::Level>(4)), true);
  (void)quiet;
  relay::fuzz::Input in(data, size);
  char sep = static_cast<char>(in.byte());
  std::uint8_t pflags = in.byte(), hflags = in.byte();
  FuzzHost h;
  h.policy = make_policy(pflags);
  h.listener.tls = static_cast<relay::config::TlsMode>(pflags & 3);
  h.listener.loopback = !(pflags & 0x04);
  h.tls_avail = !(hflags & 1);
  h.sync_answers = hflags & 2;
  Session s(h, h.policy, h.listener, "192.0.2.1", "F1");
  h.session = &s;
  if (h.listener.tls == relay::config::TlsMode::Implicit) {
    h.tls_up = true;
    s.tls_established("TLSv1.3 TLS_AES_256_GCM_SHA384");
  }
  s.start();
  while (!in.empty() && !s.closed()) {
    std::string_view chunk = in.until(sep);
    std::uint8_t action = chunk.empty() ? 0 : static_cast<std::uint8_t>(chunk.front());
    if (!chunk.empty()) chunk.remove_prefix(1);
    if (s.wants_input()) s.feed(chunk);
    act(h, s, action);
  }
  return 0;
}
