// A recording SessionHost for the session tests: replies go to a transcript,
// messages into memory, AUTH and commit answer synchronously or on demand.
#pragma once
#include <doctest/doctest.h>

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "common/log.hpp"
#include "receiver/smtp/session.hpp"

namespace relay::smtp::test {

inline std::shared_ptr<Policy> default_policy() {
  auto p = std::make_shared<Policy>();
  p->hostname = "relay.test";
  p->limits.max_message_size = 10000;
  p->limits.max_recipients = 3;
  p->limits.max_bad_commands = 5;
  p->limits.max_auth_failures_per_ip = 3;
  return p;
}

class FakeHost : public SessionHost {
 public:
  std::string out;
  bool closed = false;
  std::string close_reason;
  bool tls_requested = false;
  bool tls_avail = true;
  std::int64_t clock = 1700000000;
  std::map<std::string, std::string> passwords{{"scanner1", "s3cret"}, {"erp", "erp-pw"}};
  bool auto_auth = true;
  bool auth_pending = false;
  bool auth_pending_ok = false;
  AuthThrottle throttle{3, 300};
  std::string client_ip = "192.0.2.1";

  bool fail_open = false, fail_write = false, auto_commit = true, commit_ok = true;
  bool disk_full = false;                // the failures above are ENOSPC
  std::uint64_t free_bytes = UINT64_MAX;  // storage_free()
  int storage_checks = 0;
  bool commit_pending = false;
  int opened = 0, discarded = 0;
  std::string current;  // the open message
  std::vector<std::string> committed;
  std::vector<Transaction> txns;
  Session* session = nullptr;

  void send(std::string_view r) override { out += r; }
  void close(std::string_view reason) override {
    closed = true;
    close_reason = reason;
  }
  void start_tls() override { tls_requested = true; }
  bool tls_available() const override { return tls_avail; }
  std::int64_t now() const override { return clock; }
  void verify_password(const std::string& user, std::string password) override {
    auto it = passwords.find(user);
    bool ok = it != passwords.end() && it->second == password;
    if (!ok) throttle.failure(client_ip, clock);
    if (auto_auth) return session->auth_result(ok);
    auth_pending = true;
    auth_pending_ok = ok;
  }
  bool auth_blocked() override { return throttle.blocked(client_ip, clock); }
  std::optional<std::string> open_message(const Transaction& t) override {
    if (fail_open) return std::nullopt;
    txns.push_back(t);
    current.clear();
    ++opened;
    return "QID" + std::to_string(opened);
  }
  bool write_message(std::string_view b) override {
    if (fail_write) return false;
    current += b;
    return true;
  }
  void commit_message() override {
    if (auto_commit) return finish_commit();
    commit_pending = true;
  }
  void finish_commit() {
    commit_pending = false;
    if (commit_ok) committed.push_back(current);
    CommitResult r;
    r.ok = commit_ok;
    r.error = commit_ok ? "" : "disk full";
    r.storage_full = !commit_ok && disk_full;
    session->commit_result(r, "QID" + std::to_string(opened));
  }
  void discard_message() override {
    ++discarded;
    current.clear();
  }
  // output_blocked(): the client does not read its replies (bytes of `out`)
  std::size_t out_limit = std::string::npos;
  bool output_blocked() const override { return out.size() >= out_limit; }
  std::uint64_t storage_free() override {
    ++storage_checks;
    return free_bytes;
  }
  bool storage_full() const override { return disk_full; }
};

// A session plus its host; talk() feeds input and returns the new output.
struct Harness {
  std::shared_ptr<Policy> policy = default_policy();
  FakeHost host;
  std::unique_ptr<Session> s;
  ListenerInfo listener;

  explicit Harness(ListenerInfo l = {}, bool greet = true) : listener(l) {
    relay::log::set_level(relay::log::Level::Error);  // keep test output readable
    reset(greet);
  }
  void reset(bool greet = true) {
    s = std::make_unique<Session>(host, policy, listener, host.client_ip, "S1");
    host.session = s.get();
    host.out.clear();
    s->start();
    if (greet) host.out.clear();
  }
  std::string talk(std::string_view in) {
    host.out.clear();
    s->feed(in);
    return host.out;
  }
  // Feeds in one byte at a time (framing must not depend on read sizes).
  std::string trickle(std::string_view in) {
    host.out.clear();
    for (char c : in) s->feed(std::string_view(&c, 1));
    return host.out;
  }
  std::string ehlo() { return talk("EHLO client.test\r\n"); }
  std::string envelope(std::string_view from = "a@example.com", std::string_view to = "b@example.org") {
    return talk("MAIL FROM:<" + std::string(from) + ">\r\nRCPT TO:<" + std::string(to) + ">\r\n");
  }
};

// The first reply code of each line of `out`.
inline std::vector<int> codes(const std::string& out) {
  std::vector<int> c;
  std::size_t pos = 0;
  while (pos < out.size()) {
    auto nl = out.find("\r\n", pos);
    if (nl == std::string::npos) break;
    if (nl - pos >= 4 && out[pos + 3] == ' ') c.push_back(std::stoi(out.substr(pos, 3)));
    pos = nl + 2;
  }
  return c;
}

// Received: header stripped from a stored message.
inline std::string body_of(const std::string& stored) {
  auto end = stored.find("\r\n", 0);
  while (end != std::string::npos && end + 2 < stored.size() && stored[end + 2] == '\t') {
    end = stored.find("\r\n", end + 2);
  }
  return end == std::string::npos ? stored : stored.substr(end + 2);
}

}  // namespace relay::smtp::test
