// SmtpProvider against real SMTP servers: aiosmtpd (tests/integration/
// smtp_upstream.py) and Postfix smtp-sink. Byte-identical delivery,
// per-recipient partial success, 4xx/5xx classification, connection refused,
// STARTTLS required but not offered (fails closed), TLS with verification,
// AUTH PLAIN/LOGIN and a bad password, connection reuse, test().
#include <doctest/doctest.h>

#include <memory>
#include <optional>
#include <set>
#include <nlohmann/json.hpp>

#include "common/curl_multi.hpp"
#include "dispatcher/providers/provider.hpp"
#include "dispatcher/providers/smtp_provider.hpp"
#include "spool/queue_id.hpp"
#include "test_support.hpp"

using namespace relay;
using provider::Outcome;
using provider::Result;
using relay::test::Child;
using relay::test::TempDir;

namespace {

// An aiosmtpd upstream recording into dir/up.
struct Upstream {
  int port = relay::test::free_port();
  std::filesystem::path dir;
  std::unique_ptr<Child> child;
  Upstream(const std::filesystem::path& base, std::vector<std::string> extra = {}) : dir(base / "up") {
    std::vector<std::string> argv{"/usr/bin/python3",
                                  (relay::test::src_dir() / "tests/integration/smtp_upstream.py").string(),
                                  "--port", std::to_string(port), "--dir", dir.string()};
    argv.insert(argv.end(), extra.begin(), extra.end());
    child = std::make_unique<Child>(argv, port);
  }
  nlohmann::json meta(int n) const {
    char name[16];
    std::snprintf(name, sizeof name, "%06d.json", n);
    return nlohmann::json::parse(relay::test::read_file(dir / name));
  }
  std::string eml(int n) const {
    char name[16];
    std::snprintf(name, sizeof name, "%06d.eml", n);
    return relay::test::read_file(dir / name);
  }
  int count() const {
    int n = 0;
    if (!std::filesystem::exists(dir)) return 0;
    for (auto& e : std::filesystem::directory_iterator(dir)) n += e.path().extension() == ".eml";
    return n;
  }
};

// Self-signed certificate for localhost/127.0.0.1 (its own CA).
void make_cert(const std::filesystem::path& dir) {
  std::string cmd = "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 "
                    "-subj /CN=localhost -addext subjectAltName=DNS:localhost,IP:127.0.0.1 -keyout " +
                    (dir / "key.pem").string() + " -out " + (dir / "cert.pem").string() + " 2>/dev/null";
  REQUIRE(std::system(cmd.c_str()) == 0);
}

std::string message_bytes() {
  std::string s = "From: <sender@example.com>\r\nTo: <a@example.com>\r\nSubject: smtp test\r\n\r\n";
  for (int i = 0; i < 4000; ++i) {
    s += i % 7 == 0 ? ".leading dot line " : "line ";
    s += std::to_string(i) + " \xc3\xa4 8-bit\r\n";
    if (i % 500 == 0) s += ".\r\n..\r\n";
  }
  return s;
}

struct Fixture {
  TempDir tmp;
  relay::test::Loop loop;
  std::unique_ptr<net::CurlMulti> curl = std::make_unique<net::CurlMulti>(loop.get());
  std::string bytes = message_bytes();
  Fixture() { relay::test::write_file(tmp.path() / "data.eml", bytes); }
  ~Fixture() {
    curl.reset();
    loop.close();
  }
  config::SmtpProvider cfg(int port) {
    config::SmtpProvider c;
    c.host = "127.0.0.1";
    c.port = static_cast<std::uint16_t>(port);
    c.tls = config::TlsMode::None;
    c.timeout = 10;
    c.helo = "relay.test";
    return c;
  }
  std::unique_ptr<provider::Provider> make(const config::SmtpProvider& c) {
    config::ProviderConfig pc;
    pc.name = "up";
    pc.type = config::ProviderType::Smtp;
    pc.smtp = c;
    return provider::make(pc, provider::Context{loop.get(), curl.get(), nullptr});
  }
  provider::Message msg(std::vector<std::string> rcpts) {
    return provider::Message{spool::QueueId::generate(), "sender@example.com", std::move(rcpts),
                             tmp.path() / "data.eml", bytes.size(), "", ""};
  }
  Result send(provider::Provider& p, const provider::Message& m) {
    int calls = 0;
    Result out;
    p.send(m, [&](Result r) { ++calls; out = std::move(r); });
    CHECK(calls == 0);  // never inside send()
    REQUIRE(loop.run_until([&] { return calls > 0; }, 30));
    loop.run_until([] { return false; }, 0.02);
    CHECK(calls == 1);
    return out;
  }
  Result probe(provider::Provider& p) {
    std::optional<Result> out;
    p.test([&](Result r) { out = std::move(r); });
    REQUIRE(loop.run_until([&] { return out.has_value(); }, 30));
    return *out;
  }
};

}  // namespace

TEST_CASE("smtp: byte-identical delivery, envelope, connection reuse") {
  Fixture f;
  Upstream up(f.tmp.path());
  auto p = f.make(f.cfg(up.port));
  for (int i = 1; i <= 3; ++i) {
    Result r = f.send(*p, f.msg({"a@example.com", "b@example.org"}));
    CHECK(r.outcome == Outcome::Sent);
    CHECK(r.code == 250);
    REQUIRE(r.rcpts.size() == 2);
    CHECK(r.rcpts[1].outcome == Outcome::Sent);
  }
  REQUIRE(up.count() == 3);
  CHECK(up.eml(1) == f.bytes);
  auto m = up.meta(3);
  CHECK(m["mail_from"] == "sender@example.com");
  CHECK(m["rcpts"] == nlohmann::json::array({"a@example.com", "b@example.org"}));
  CHECK(up.meta(1)["connection"] == up.meta(3)["connection"]);  // one reused connection
}

TEST_CASE("smtp: per-recipient partial success and DATA replies") {
  Fixture f;
  Upstream up(f.tmp.path(), {"--refuse-rcpt", "bad@example.com:550", "--refuse-rcpt", "later@example.com:450"});
  auto p = f.make(f.cfg(up.port));
  Result r = f.send(*p, f.msg({"ok@example.com", "bad@example.com", "later@example.com"}));
  REQUIRE(r.rcpts.size() == 3);
  CHECK(r.rcpts[0].outcome == Outcome::Sent);
  CHECK(r.rcpts[1].outcome == Outcome::Permanent);
  CHECK(r.rcpts[1].code == 550);
  CHECK(r.rcpts[2].outcome == Outcome::Transient);
  CHECK(r.rcpts[2].code == 450);
  CHECK(r.outcome == Outcome::Transient);
  REQUIRE(up.count() == 1);
  CHECK(up.meta(1)["rcpts"] == nlohmann::json::array({"ok@example.com"}));
  CHECK(up.eml(1) == f.bytes);

  Result all_bad = f.send(*p, f.msg({"bad@example.com"}));
  CHECK(all_bad.outcome == Outcome::Permanent);
  CHECK(all_bad.code == 550);
  CHECK(all_bad.enhanced == "5.1.1");
  CHECK(up.count() == 1);
}

TEST_CASE("smtp: DATA 451 is transient, 554 permanent") {
  for (int code : {451, 554}) {
    Fixture f;
    Upstream up(f.tmp.path(), {"--data-reply", std::to_string(code)});
    auto p = f.make(f.cfg(up.port));
    Result r = f.send(*p, f.msg({"a@example.com", "b@example.com"}));
    CHECK(r.code == code);
    CHECK(r.outcome == (code == 451 ? Outcome::Transient : Outcome::Permanent));
    for (auto& x : r.rcpts) CHECK(x.code == code);
  }
}

TEST_CASE("smtp: connection refused is transient, test() says so") {
  Fixture f;
  auto p = f.make(f.cfg(relay::test::free_port()));
  Result r = f.send(*p, f.msg({"a@example.com"}));
  CHECK(r.outcome == Outcome::Transient);
  CHECK(r.code == 0);
  CHECK(r.enhanced == "4.4.1");
  Result t = f.probe(*p);
  CHECK(t.outcome == Outcome::Transient);
  CHECK(t.text.find("connection to upstream failed") == 0);
}

TEST_CASE("smtp: STARTTLS required but not offered fails closed") {
  Fixture f;
  Upstream up(f.tmp.path());
  auto c = f.cfg(up.port);
  c.tls = config::TlsMode::StartTlsRequired;
  auto p = f.make(c);
  Result r = f.send(*p, f.msg({"a@example.com"}));
  CHECK(r.outcome == Outcome::Transient);
  CHECK(r.config_error);
  CHECK(r.enhanced == "4.7.5");
  CHECK(up.count() == 0);  // nothing sent in clear
  // Opportunistic STARTTLS delivers in clear when not offered.
  c.tls = config::TlsMode::StartTls;
  auto q = f.make(c);
  CHECK(f.send(*q, f.msg({"a@example.com"})).outcome == Outcome::Sent);
  CHECK(up.count() == 1);
}

TEST_CASE("smtp: STARTTLS and implicit TLS with peer verification") {
  Fixture f;
  make_cert(f.tmp.path());
  auto cert = (f.tmp.path() / "cert.pem").string();
  auto key = (f.tmp.path() / "key.pem").string();
  Upstream up(f.tmp.path(), {"--tls-cert", cert, "--tls-key", key});
  auto c = f.cfg(up.port);
  c.tls = config::TlsMode::StartTlsRequired;
  c.ca_file = cert;
  auto p = f.make(c);
  Result r = f.send(*p, f.msg({"a@example.com"}));
  CHECK(r.outcome == Outcome::Sent);
  REQUIRE(up.count() == 1);
  CHECK(up.meta(1)["tls"] == true);
  CHECK(up.eml(1) == f.bytes);
  // Without our CA the certificate does not verify: config error, kept queued.
  auto bad = f.cfg(up.port);
  bad.tls = config::TlsMode::StartTlsRequired;
  bad.ca_file = f.tmp.path() / "data.eml";  // not a CA
  auto q = f.make(bad);
  Result rb = f.send(*q, f.msg({"a@example.com"}));
  CHECK(rb.outcome == Outcome::Transient);
  CHECK(rb.config_error);
  CHECK(up.count() == 1);

  TempDir tmp2;
  Upstream smtps(tmp2.path(), {"--tls-cert", cert, "--tls-key", key, "--implicit-tls"});
  auto ci = f.cfg(smtps.port);
  ci.tls = config::TlsMode::Implicit;
  ci.ca_file = cert;
  auto pi = f.make(ci);
  CHECK(f.send(*pi, f.msg({"a@example.com"})).outcome == Outcome::Sent);
  REQUIRE(smtps.count() == 1);
  CHECK(smtps.meta(1)["tls"] == true);
}

TEST_CASE("smtp: AUTH PLAIN, LOGIN and XOAUTH2; a bad password is a config error") {
  Fixture f;
  Upstream up(f.tmp.path(), {"--require-auth", "relayuser:s3cret"});
  auto c = f.cfg(up.port);
  c.username = "relayuser";
  c.password = "s3cret";
  for (const char* mech : {"plain", "login"}) {
    c.auth = mech;
    auto p = f.make(c);
    CHECK(f.send(*p, f.msg({"a@example.com"})).outcome == Outcome::Sent);
    CHECK(f.probe(*p).outcome == Outcome::Sent);
  }
  c.auth = "xoauth2";
  c.oauth_token = "s3cret";
  {
    auto p = f.make(c);
    CHECK(f.send(*p, f.msg({"a@example.com"})).outcome == Outcome::Sent);
  }
  c.oauth_token = "";
  REQUIRE(up.count() == 3);
  CHECK(up.meta(2)["auth_user"] == "relayuser");
  CHECK(up.meta(3)["auth_user"] == "relayuser");
  c.auth = "login";
  c.password = "wrong";
  auto bad = f.make(c);
  Result r = f.send(*bad, f.msg({"a@example.com"}));
  CHECK(r.outcome == Outcome::Transient);
  CHECK(r.config_error);
  CHECK(r.code == 535);
  Result t = f.probe(*bad);
  CHECK(t.config_error);
  CHECK(t.code == 535);
  // Without credentials the upstream refuses MAIL (530 5.7.0 authentication
  // required): the provider's setup, so held as a config error, not bounced.
  auto anon = f.make(f.cfg(up.port));
  Result ra = f.send(*anon, f.msg({"a@example.com"}));
  CHECK(ra.code == 530);
  CHECK(ra.outcome == Outcome::Transient);
  CHECK(ra.config_error);
  CHECK(up.count() == 3);
}

TEST_CASE("smtp: with credentials, opportunistic STARTTLS not offered sends no AUTH") {
  Fixture f;
  Upstream up(f.tmp.path(), {"--require-auth", "relayuser:s3cret", "--record-commands"});
  auto c = f.cfg(up.port);
  c.tls = config::TlsMode::StartTls;
  c.username = "relayuser";
  c.password = "s3cret";
  auto p = f.make(c);
  Result r = f.send(*p, f.msg({"a@example.com"}));
  CHECK(r.outcome == Outcome::Transient);
  CHECK(r.config_error);
  CHECK(r.text.find("TLS is required, but was not offered") == 0);
  const std::string cmds = relay::test::read_file(up.dir / "commands");
  CHECK(cmds.find("EHLO") != std::string::npos);
  CHECK(cmds.find("AUTH") == std::string::npos);  // the password never went out in clear
  CHECK(up.count() == 0);
}

TEST_CASE("smtp: Postfix smtp-sink injecting 4xx and 5xx") {
  struct Case {
    const char* flag;
    const char* cmd;
    Outcome want;
  };
  for (Case k : {Case{"-r", "RCPT", Outcome::Transient}, Case{"-f", "RCPT", Outcome::Permanent},
                 Case{"-r", "MAIL", Outcome::Transient}, Case{"-f", ".", Outcome::Permanent},
                 Case{"-q", ".", Outcome::Transient}, Case{"", "", Outcome::Sent}}) {
    CAPTURE(k.flag);
    CAPTURE(k.cmd);
    Fixture f;
    int port = relay::test::free_port();
    std::vector<std::string> argv{"/usr/sbin/smtp-sink", "-u", "nobody"};
    if (*k.flag) argv.insert(argv.end(), {k.flag, k.cmd});
    argv.insert(argv.end(), {"127.0.0.1:" + std::to_string(port), "16"});
    Child sink(argv, port);
    auto p = f.make(f.cfg(port));
    Result r = f.send(*p, f.msg({"a@example.com", "b@example.com"}));
    CHECK(r.outcome == k.want);
    if (k.want != Outcome::Sent && std::string(k.flag) != "-q") {
      CHECK(r.code / 100 == (k.want == Outcome::Transient ? 4 : 5));
    }
    REQUIRE(r.rcpts.size() == 2);
    CHECK(r.rcpts[1].outcome == k.want);
  }
}

TEST_CASE("smtp: max_connections queues, destruction aborts with Done once") {
  Fixture f;
  Upstream up(f.tmp.path());
  auto c = f.cfg(up.port);
  c.max_connections = 2;
  auto p = f.make(c);
  int done = 0;
  for (int i = 0; i < 6; ++i) {
    p->send(f.msg({"a@example.com"}), [&](Result r) {
      ++done;
      CHECK(r.outcome == Outcome::Sent);
    });
  }
  REQUIRE(f.loop.run_until([&] { return done == 6; }, 30));
  CHECK(up.count() == 6);
  std::set<int> conns;
  for (int i = 1; i <= 6; ++i) conns.insert(up.meta(i)["connection"].get<int>());
  CHECK(conns.size() <= 2);

  // Hanging upstream: destroying the provider completes every Done once.
  relay::test::Loop& loop = f.loop;
  int hang_port = relay::test::free_port();
  Child sink({"/usr/sbin/smtp-sink", "-u", "nobody", "-w", "30", "127.0.0.1:" + std::to_string(hang_port), "16"},
             hang_port);
  auto h = f.make(f.cfg(hang_port));
  int aborted = 0;
  for (int i = 0; i < 3; ++i) {
    h->send(f.msg({"a@example.com"}), [&](Result r) {
      ++aborted;
      CHECK(r.outcome == Outcome::Transient);
    });
  }
  loop.run_until([] { return false; }, 0.5);
  CHECK(aborted == 0);
  h.reset();
  CHECK(aborted == 3);
}

TEST_CASE("smtp: a delivery cancelled mid-body is never completed upstream") {
  Fixture f;
  Upstream up(f.tmp.path());
  std::string big = "Subject: big\r\n\r\n";
  while (big.size() < (24u << 20)) big += "0123456789abcdefghijklmnopqrstuvwxyz0123456789abcdefghijklmnopqrstuvwxyz\r\n";
  relay::test::write_file(f.tmp.path() / "big.eml", big);
  auto p = f.make(f.cfg(up.port));
  auto m = f.msg({"a@example.com"});
  m.data_path = f.tmp.path() / "big.eml";
  m.size = big.size();
  int calls = 0;
  p->send(m, [&](Result r) {
    ++calls;
    CHECK(r.outcome == Outcome::Transient);
    CHECK(r.enhanced == "4.3.2");
  });
  f.loop.run_until([] { return false; }, 0.3);  // body upload under way
  REQUIRE(calls == 0);
  p.reset();
  CHECK(calls == 1);
  std::this_thread::sleep_for(std::chrono::milliseconds(1500));
  CHECK(up.count() == 0);  // the upstream saw a dropped connection, not a short message
}

TEST_CASE("smtp: 200 messages over at most 4 reused connections (rate printed)") {
  Fixture f;
  Upstream up(f.tmp.path());
  std::string small = "Subject: s\r\n\r\n";
  for (int i = 0; i < 100; ++i) small += std::string(98, 'x') + "\r\n";
  relay::test::write_file(f.tmp.path() / "small.eml", small);
  auto c = f.cfg(up.port);
  c.max_connections = 4;
  auto p = f.make(c);
  int sent = 0, done = 0;
  auto t0 = std::chrono::steady_clock::now();
  for (int i = 0; i < 200; ++i) {
    auto m = f.msg({"a@example.com"});
    m.data_path = f.tmp.path() / "small.eml";
    m.size = small.size();
    p->send(m, [&](Result r) {
      ++done;
      sent += r.outcome == Outcome::Sent;
    });
  }
  REQUIRE(f.loop.run_until([&] { return done == 200; }, 60));
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  MESSAGE("smtp provider -> aiosmtpd: 200 x 10 KB in " << secs << " s = " << 200 / secs << " msg/s");
  CHECK(sent == 200);
  std::set<int> conns;
  for (int i = 1; i <= 200; ++i) conns.insert(up.meta(i)["connection"].get<int>());
  CHECK(conns.size() <= 4);
}

TEST_CASE("smtp: cancel() stops a message waiting for a connection, not one being sent") {
  Fixture f;
  Upstream up(f.tmp.path());
  auto c = f.cfg(up.port);
  c.max_connections = 1;
  auto p = f.make(c);
  std::vector<provider::Message> ms{f.msg({"a@example.com"}), f.msg({"b@example.com"}), f.msg({"c@example.com"})};
  int done = 0;
  std::set<std::string> answered;
  for (const auto& m : ms) p->send(m, [&, id = m.id.str()](Result) { ++done; answered.insert(id); });
  CHECK(p->cancel(ms[2].id) == provider::CancelResult::Stopped);   // waits behind max_connections
  CHECK(p->cancel(ms[0].id) == provider::CancelResult::InFlight);  // its transfer runs
  REQUIRE(f.loop.run_until([&] { return done == 2; }, 30));
  f.loop.run_until([] { return false; }, 0.5);
  CHECK(done == 2);
  CHECK(answered.count(ms[2].id.str()) == 0);
  CHECK(up.count() == 2);  // the cancelled one never reached the upstream
}
