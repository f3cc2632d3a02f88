// SmtpProvider against hostile and broken upstreams
// (tests/integration/hostile_smtp.py, a scriptable raw-socket server): bad
// greetings, replies split into single bytes, mixed multi-line codes, huge
// and endless replies, a server that never answers, lost connections around
// the end of data, early replies during DATA, STARTTLS and AUTH trouble,
// recipients refused in every way, SIZE/8BITMIME/SMTPUTF8 limits.
// Each case states what the Result must be; the server records what reached it.
#include <doctest/doctest.h>

#include <memory>
#include <optional>
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
using nlohmann::json;

namespace {

struct Hostile {
  int port = relay::test::free_port();
  std::filesystem::path dir;
  std::unique_ptr<Child> child;
  Hostile(const std::filesystem::path& base, const json& script) : dir(base / "hostile") {
    child = std::make_unique<Child>(
        std::vector<std::string>{"/usr/bin/python3",
                                 (relay::test::src_dir() / "tests/integration/hostile_smtp.py").string(), "--port",
                                 std::to_string(port), "--dir", dir.string(), "--script", script.dump()},
        port);
  }
  std::vector<json> events() const {
    std::vector<json> out;
    std::string all = relay::test::read_file(dir / "events.jsonl");
    std::size_t pos = 0;
    while (pos < all.size()) {
      auto nl = all.find('\n', pos);
      if (nl == std::string::npos) break;
      out.push_back(json::parse(all.substr(pos, nl - pos)));
      pos = nl + 1;
    }
    return out;
  }
  // Commands received starting with `prefix` ("MAIL", "RCPT", "DATA", "AUTH").
  std::vector<std::string> commands(const std::string& prefix) const {
    std::vector<std::string> out;
    for (const auto& e : events())
      if (e.contains("cmd") && e["cmd"].get<std::string>().rfind(prefix, 0) == 0) out.push_back(e["cmd"]);
    return out;
  }
  int delivered() const {
    int n = 0;
    if (!std::filesystem::exists(dir)) return 0;
    for (auto& e : std::filesystem::directory_iterator(dir)) n += e.path().extension() == ".json";
    return n;
  }
  json meta(int n) const {
    char name[16];
    std::snprintf(name, sizeof name, "%06d.json", n);
    return json::parse(relay::test::read_file(dir / name));
  }
};

struct Fixture {
  TempDir tmp;
  relay::test::Loop loop;
  std::unique_ptr<net::CurlMulti> curl = std::make_unique<net::CurlMulti>(loop.get());
  std::string bytes = "From: <sender@example.com>\r\nTo: <a@example.com>\r\nSubject: hostile\r\n\r\nhello\r\n";
  Fixture() { relay::test::write_file(tmp.path() / "data.eml", bytes); }
  ~Fixture() {
    curl.reset();
    loop.close();
  }
  config::SmtpProvider cfg(int port, std::int64_t timeout = 5) {
    config::SmtpProvider c;
    c.host = "127.0.0.1";
    c.port = static_cast<std::uint16_t>(port);
    c.tls = config::TlsMode::None;
    c.timeout = timeout;
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
  provider::Message msg(std::vector<std::string> rcpts, const std::string& file = "data.eml") {
    auto path = tmp.path() / file;
    return provider::Message{spool::QueueId::generate(), "sender@example.com", std::move(rcpts), path,
                             std::filesystem::file_size(path), "", ""};
  }
  // Sends and returns the Result and how long it took (seconds).
  Result send(provider::Provider& p, const provider::Message& m, double limit = 30, double* took = nullptr) {
    std::optional<Result> out;
    auto t0 = std::chrono::steady_clock::now();
    p.send(m, [&](Result r) { out = std::move(r); });
    REQUIRE_MESSAGE(loop.run_until([&] { return out.has_value(); }, limit), "no result within " << limit << " s");
    if (took) *took = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    MESSAGE("outcome=" << provider::to_string(out->outcome) << " code=" << out->code << " enhanced="
                       << out->enhanced << " config_error=" << out->config_error << " text=" << out->text);
    for (auto& r : out->rcpts)
      MESSAGE("  rcpt " << r.address << " " << provider::to_string(r.outcome) << " " << r.code << " " << r.text);
    return *out;
  }
  Result run(const json& script, std::vector<std::string> rcpts = {"a@example.com"}, double limit = 30) {
    Hostile h(tmp.path(), script);
    auto p = make(cfg(h.port));
    return send(*p, msg(std::move(rcpts)), limit);
  }
};

}  // namespace

namespace {
// Whether the upstream saw a command starting with `prefix`.
bool saw(const Hostile& h, const std::string& prefix) { return !h.commands(prefix).empty(); }
bool contains(const std::string& s, const std::string& what) { return s.find(what) != std::string::npos; }
}  // namespace

TEST_CASE("hostile: a refusing greeting defers and says so; a silent one times out") {
  for (const char* g : {"421 4.3.2 too busy", "554 5.7.1 no service for you"}) {
    CAPTURE(g);
    Fixture f;
    Hostile h(f.tmp.path(), {{"greeting", g}});
    auto p = f.make(f.cfg(h.port));
    Result r = f.send(*p, f.msg({"a@example.com"}));
    CHECK(r.outcome == Outcome::Transient);  // the session, not the message: never a bounce
    CHECK(r.code == std::atoi(g));
    CHECK(contains(r.text, "greeting"));
    CHECK(contains(r.text, std::string(g).substr(4)));
  }
  Fixture f;
  Hostile h(f.tmp.path(), {{"greeting", nullptr}});
  auto p = f.make(f.cfg(h.port, 2));
  double took = 0;
  Result r = f.send(*p, f.msg({"a@example.com"}), 30, &took);
  CHECK(r.outcome == Outcome::Transient);
  CHECK(r.enhanced == "4.4.2");
  CHECK(took < 6);
}

TEST_CASE("hostile: replies split into single bytes, mixed multi-line codes, no enhanced codes") {
  Fixture f;
  Hostile h(f.tmp.path(), {{"split", "bytes"},
                           {"greeting", "220-hostile.test\r\n220-more\r\n220 ESMTP"},
                           {"rcpt", {{"b@example.com", "550-no such\r\n550 user"}, {"c@example.com", "451 later"}}},
                           {"reply", {{"EOD", "250-2.0.0 one\r\n250-2.0.0 two\r\n250 2.0.0 queued"}}}});
  auto p = f.make(f.cfg(h.port));
  Result r = f.send(*p, f.msg({"a@example.com", "b@example.com", "c@example.com"}));
  REQUIRE(r.rcpts.size() == 3);
  CHECK(r.rcpts[0].outcome == Outcome::Sent);
  CHECK(r.rcpts[1].outcome == Outcome::Permanent);
  CHECK(r.rcpts[1].code == 550);
  CHECK(r.rcpts[2].outcome == Outcome::Transient);
  CHECK(r.outcome == Outcome::Transient);
  CHECK(r.enhanced == "4.0.0");  // no enhanced code given: the class default
  CHECK(h.delivered() == 1);
  // A multi-line reply whose lines disagree: the last line decides (as libcurl and Postfix read it).
  Fixture g;
  Hostile m(g.tmp.path(), {{"reply", {{"EOD", "250-2.0.0 looks fine\r\n554 5.6.0 but is not"}}}});
  auto q = g.make(g.cfg(m.port));
  Result rm = g.send(*q, g.msg({"a@example.com"}));
  CHECK(rm.outcome == Outcome::Permanent);
  CHECK(rm.code == 554);
}

TEST_CASE("hostile: huge reply lines and endless junk stay bounded") {
  Fixture f;
  Hostile h(f.tmp.path(), {{"rcpt", {{"a@example.com", {{"junk", 102400}, {"line", 0}, {"then", "\r\n550 5.1.1 no"}}},
                                     {"b@example.com", std::string("550 5.1.1 ") + std::string(20000, 'y')}}}});
  auto p = f.make(f.cfg(h.port));
  Result r = f.send(*p, f.msg({"a@example.com", "b@example.com", "c@example.com"}));
  REQUIRE(r.rcpts.size() == 3);
  CHECK(r.rcpts[0].outcome == Outcome::Permanent);
  CHECK(r.rcpts[1].outcome == Outcome::Permanent);
  CHECK(r.rcpts[1].text.size() < 1024);  // logs, the database and DSNs get a bounded text
  CHECK(r.text.size() < 1024);
  CHECK(r.rcpts[2].outcome == Outcome::Sent);
  // 100 MB of junk in answer to MAIL: libcurl gives up after 300 KB of
  // replies in one transfer (CURL_MAX_HTTP_HEADER), as a transport error.
  Fixture g;
  Hostile j(g.tmp.path(), {{"reply", {{"MAIL", {{"junk", 100 << 20}, {"line", 1000}, {"then", "250 ok"}}}}}});
  auto q = g.make(g.cfg(j.port));
  double took = 0;
  Result rj = g.send(*q, g.msg({"a@example.com"}), 30, &took);
  CHECK(rj.outcome == Outcome::Transient);
  CHECK(took < 10);
}

TEST_CASE("hostile: a server dripping one byte at a time is cut off by the per-reply timeout") {
  Fixture f;
  Hostile h(f.tmp.path(), {{"drip", 0.5}});  // the 220 greeting alone takes 11 s
  auto p = f.make(f.cfg(h.port, 2));
  double took = 0;
  Result r = f.send(*p, f.msg({"a@example.com"}), 30, &took);
  CHECK(r.outcome == Outcome::Transient);
  CHECK(r.enhanced == "4.4.2");
  CHECK(took < 6);
  CHECK(h.delivered() == 0);
}

TEST_CASE("hostile: an upstream that stops reading the body is cut off by the stall timeout") {
  Fixture f;
  std::string big = "Subject: big\r\n\r\n";
  while (big.size() < (8u << 20)) big += std::string(78, 'z') + "\r\n";
  relay::test::write_file(f.tmp.path() / "big.eml", big);
  Hostile h(f.tmp.path(), {{"stall_data", true}});
  auto p = f.make(f.cfg(h.port, 2));
  double took = 0;
  Result r = f.send(*p, f.msg({"a@example.com"}, "big.eml"), 30, &took);
  CHECK(r.outcome == Outcome::Transient);
  CHECK(r.enhanced == "4.4.2");
  // libcurl's speed is averaged over ~5 s of samples: timeout + ~6 s (measured 8.0 s).
  CHECK(took < 12);
  CHECK(h.delivered() == 0);
}

TEST_CASE("hostile: connection lost after the final dot is deferred (at-least-once), reset mid-DATA too") {
  Fixture f;
  Hostile h(f.tmp.path(), {{"reply", {{"EOD", {{"action", "close"}}}}}});
  auto p = f.make(f.cfg(h.port));
  Result r = f.send(*p, f.msg({"a@example.com", "b@example.com"}));
  CHECK(r.outcome == Outcome::Transient);
  for (auto& x : r.rcpts) CHECK(x.outcome == Outcome::Transient);
  CHECK(contains(r.text, "end of data"));  // the operator learns a duplicate is possible
  std::string big = "Subject: big\r\n\r\n";
  while (big.size() < (4u << 20)) big += std::string(78, 'z') + "\r\n";
  relay::test::write_file(f.tmp.path() / "big.eml", big);
  for (const char* act : {"reset", "close"}) {
    CAPTURE(act);
    TempDir d;
    Hostile m(d.path(), {{"data_action", {{"after", 100000}, {"action", act}}}});
    auto q = f.make(f.cfg(m.port));
    Result rm = f.send(*q, f.msg({"a@example.com"}, "big.eml"));
    CHECK(rm.outcome == Outcome::Transient);
    CHECK(m.delivered() == 0);
  }
  // An early 554 while the body is still being sent: never "sent".
  TempDir d;
  Hostile e(d.path(), {{"data_action", {{"after", 100000}, {"action", "reply"}, {"text", "554 5.7.1 rejected early"}}}});
  auto q = f.make(f.cfg(e.port));
  Result re = f.send(*q, f.msg({"a@example.com"}, "big.eml"));
  CHECK(re.outcome != Outcome::Sent);
}

TEST_CASE("hostile: 250 to DATA instead of 354 is not a delivery") {
  Fixture f;
  Hostile h(f.tmp.path(), {{"reply", {{"DATA", "250 2.0.0 sure"}}}});
  auto p = f.make(f.cfg(h.port));
  Result r = f.send(*p, f.msg({"a@example.com", "b@example.com"}));
  CHECK(r.outcome == Outcome::Transient);
  for (auto& x : r.rcpts) CHECK(x.outcome == Outcome::Transient);
  CHECK(contains(r.text, "DATA"));
}

TEST_CASE("hostile: a failed transaction does not poison the reused connection") {
  Fixture f;
  Hostile h(f.tmp.path(), {{"rcpt", {{"bad@example.com", "550 5.1.1 no"}}}, {"reply", {{"DATA", {"554 5.0.0 no", "354 go"}}}}});
  auto p = f.make(f.cfg(h.port));
  CHECK(f.send(*p, f.msg({"bad@example.com"})).outcome == Outcome::Permanent);    // MAIL ok, every RCPT refused
  CHECK(f.send(*p, f.msg({"a@example.com"})).outcome == Outcome::Permanent);      // DATA refused
  CHECK(f.send(*p, f.msg({"a@example.com"})).outcome == Outcome::Sent);           // a clean transaction
  CHECK(h.delivered() == 1);
}

TEST_CASE("hostile: 452 too many recipients defers the rest; 5xx after DATA fails every accepted one") {
  Fixture f;
  Hostile h(f.tmp.path(), {{"max_rcpts", 2}});
  auto p = f.make(f.cfg(h.port));
  Result r = f.send(*p, f.msg({"a@example.com", "b@example.com", "c@example.com", "d@example.com"}));
  REQUIRE(r.rcpts.size() == 4);
  CHECK(r.rcpts[0].outcome == Outcome::Sent);
  CHECK(r.rcpts[1].outcome == Outcome::Sent);
  CHECK(r.rcpts[2].outcome == Outcome::Transient);
  CHECK(r.rcpts[2].code == 452);
  CHECK(r.rcpts[3].outcome == Outcome::Transient);
  CHECK(r.outcome == Outcome::Transient);
  REQUIRE(h.delivered() == 1);
  CHECK(h.meta(1)["rcpts"] == json::array({"a@example.com", "b@example.com"}));
  // The retry (the dispatcher passes only the pending ones) is a new transaction.
  Result again = f.send(*p, f.msg({"c@example.com", "d@example.com"}));
  CHECK(again.outcome == Outcome::Sent);
  REQUIRE(h.delivered() == 2);
  CHECK(h.meta(2)["rcpts"] == json::array({"c@example.com", "d@example.com"}));
}

TEST_CASE("hostile: STARTTLS that fails never falls back to plain text; the error names the cause") {
  Fixture f;
  std::string cmd = "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 "
                    "-subj /CN=wrong.example -addext subjectAltName=DNS:wrong.example -keyout " +
                    (f.tmp.path() / "key.pem").string() + " -out " + (f.tmp.path() / "cert.pem").string() +
                    " 2>/dev/null";
  REQUIRE(std::system(cmd.c_str()) == 0);
  const std::string cert = (f.tmp.path() / "cert.pem").string(), key = (f.tmp.path() / "key.pem").string();
  json tls = {{"ehlo", {"STARTTLS", "8BITMIME"}}, {"tls_cert", cert}, {"tls_key", key}};
  struct Case {
    const char* mode;
    const char* ca;  // "" = system store
    const char* want;
  };
  for (Case k : {Case{"garbage", "own", "TLS"}, Case{"close", "own", "TLS"}, Case{"ok", "", "certificate"},
                 Case{"ok", "own", "certificate"}}) {
    CAPTURE(k.mode);
    CAPTURE(k.ca);
    TempDir d;
    json s = tls;
    s["starttls"] = k.mode;
    Hostile h(d.path(), s);
    auto c = f.cfg(h.port);
    c.tls = config::TlsMode::StartTlsRequired;
    if (std::string(k.ca) == "own") c.ca_file = cert;  // right CA, but the name is wrong.example
    auto p = f.make(c);
    Result r = f.send(*p, f.msg({"a@example.com"}));
    CHECK(r.outcome == Outcome::Transient);
    CHECK(r.config_error);
    CHECK(r.enhanced == "4.7.5");
    CHECK(contains(r.text, k.want));
    CHECK(!saw(h, "MAIL"));
    CHECK(h.delivered() == 0);
  }
}

TEST_CASE("hostile: AUTH not offered, or not our mechanism, holds the mail and names what is offered") {
  Fixture f;
  for (json ehlo : {json{"8BITMIME"}, json{"8BITMIME", "AUTH CRAM-MD5 GSSAPI"}}) {
    CAPTURE(ehlo.dump());
    TempDir d;
    Hostile h(d.path(), {{"ehlo", ehlo}});
    auto c = f.cfg(h.port);
    c.username = "relayuser";
    c.password = "s3cret";
    auto p = f.make(c);
    Result r = f.send(*p, f.msg({"a@example.com"}));
    CHECK(r.outcome == Outcome::Transient);
    CHECK(r.config_error);
    CHECK(contains(r.text, "AUTH"));
    CHECK(contains(r.text, ehlo.size() == 1 ? "does not offer AUTH" : "CRAM-MD5"));
    CHECK(!saw(h, "MAIL"));  // never sent unauthenticated when credentials are configured
  }
  {  // EHLO refused: libcurl falls back to HELO, which has no AUTH.
    TempDir d;
    Hostile h(d.path(), {{"reply", {{"EHLO", "502 5.5.1 no EHLO here"}}}});
    auto c = f.cfg(h.port);
    c.username = "relayuser";
    c.password = "s3cret";
    auto p = f.make(c);
    Result r = f.send(*p, f.msg({"a@example.com"}));
    CHECK(r.config_error);
    CHECK(contains(r.text, "refused EHLO"));
    CHECK(!saw(h, "MAIL"));
  }
  TempDir d;
  Hostile h(d.path(), {{"ehlo", {"AUTH PLAIN LOGIN"}}, {"reply", {{"AUTH", "535 5.7.8 Authentication credentials invalid"}}}});
  auto c = f.cfg(h.port);
  c.username = "relayuser";
  c.password = "wrong";
  auto p = f.make(c);
  Result r = f.send(*p, f.msg({"a@example.com"}));
  CHECK(r.outcome == Outcome::Transient);
  CHECK(r.config_error);
  CHECK(r.code == 535);
  CHECK(!saw(h, "MAIL"));
}

TEST_CASE("hostile: what the upstream cannot take is refused before MAIL: SIZE, 8-bit, SMTPUTF8") {
  Fixture f;
  {
    Hostile h(f.tmp.path(), {{"ehlo", {"SIZE 20", "8BITMIME", "SMTPUTF8"}}});
    auto p = f.make(f.cfg(h.port));
    Result r = f.send(*p, f.msg({"a@example.com", "b@example.com"}));
    CHECK(r.outcome == Outcome::Permanent);
    CHECK(r.code == 552);
    CHECK(r.enhanced == "5.3.4");
    CHECK(contains(r.text, "20"));
    for (auto& x : r.rcpts) CHECK(x.outcome == Outcome::Permanent);
    CHECK(!saw(h, "MAIL"));
  }
  relay::test::write_file(f.tmp.path() / "8bit.eml", "Subject: caf\xc3\xa9\r\n\r\nna\xc3\xafve\r\n");
  {
    TempDir d;
    Hostile h(d.path(), {{"ehlo", {"SIZE 1000000"}}});
    auto p = f.make(f.cfg(h.port));
    Result r = f.send(*p, f.msg({"a@example.com"}, "8bit.eml"));
    CHECK(r.outcome == Outcome::Permanent);
    CHECK(r.enhanced == "5.6.3");
    CHECK(contains(r.text, "8BITMIME"));
    CHECK(!saw(h, "MAIL"));
    // 7-bit mail goes through that server.
    CHECK(f.send(*p, f.msg({"a@example.com"})).outcome == Outcome::Sent);
  }
  {
    TempDir d;
    Hostile h(d.path(), {{"ehlo", {"8BITMIME"}}});
    auto p = f.make(f.cfg(h.port));
    Result r = f.send(*p, f.msg({"j\xc3\xb6rg@example.com", "a@example.com"}));
    CHECK(r.outcome == Outcome::Permanent);
    CHECK(r.enhanced == "5.6.7");
    CHECK(contains(r.text, "SMTPUTF8"));
    CHECK(!saw(h, "MAIL"));
  }
}

namespace {
// Longest gap between 20 ms ticks of a uv timer while `fn` runs the loop.
double longest_stall(Fixture& f, const std::function<void()>& fn) {
  uv_timer_t timer;
  uv_timer_init(f.loop.get(), &timer);
  struct Ticks {
    std::chrono::steady_clock::time_point last = std::chrono::steady_clock::now();
    double worst = 0;
  } ticks;
  timer.data = &ticks;
  uv_timer_start(&timer, [](uv_timer_t* t) {
    auto* k = static_cast<Ticks*>(t->data);
    auto now = std::chrono::steady_clock::now();
    k->worst = std::max(k->worst, std::chrono::duration<double>(now - k->last).count());
    k->last = now;
  }, 20, 20);
  fn();
  auto now = std::chrono::steady_clock::now();
  ticks.worst = std::max(ticks.worst, std::chrono::duration<double>(now - ticks.last).count());
  bool closed = false;
  timer.data = &closed;
  uv_close(reinterpret_cast<uv_handle_t*>(&timer), [](uv_handle_t* h) { *static_cast<bool*>(h->data) = true; });
  f.loop.run_until([&] { return closed; }, 5);
  return ticks.worst;
}
}  // namespace

TEST_CASE("hostile: slow replies and an unanswered QUIT do not stall the dispatcher's loop") {
  Fixture f;
  {
    Hostile h(f.tmp.path(), {{"reply", {{"EOD", {{"delay", 2}, {"then", "250 2.0.0 ok"}}}}}});
    auto p = f.make(f.cfg(h.port));
    double worst = longest_stall(f, [&] { CHECK(f.send(*p, f.msg({"a@example.com"})).outcome == Outcome::Sent); });
    MESSAGE("end-of-data reply after 2 s: longest loop stall " << worst << " s");
    // libcurl 7.88 waits for the end-of-data reply in a blocking loop
    // (smtp_done -> smtp_block_statemach): the stall lasts as long as the
    // upstream takes, bounded by `timeout` (dispatcher/providers/README.md,
    // "libcurl limits"). This checks the bound, not the wish.
    CHECK(worst < 3.0);
  }
  // A failed transaction closes its connection with QUIT; libcurl waits for
  // the 221 in a blocking loop (up to the response timeout).
  TempDir d;
  Hostile h(d.path(), {{"reply", {{"DATA", "554 5.0.0 no"}, {"QUIT", {{"action", "hang"}}}}}});
  auto p = f.make(f.cfg(h.port, 10));
  double worst = longest_stall(f, [&] { CHECK(f.send(*p, f.msg({"a@example.com"})).outcome == Outcome::Permanent); });
  MESSAGE("QUIT never answered after a failed transaction: longest loop stall " << worst << " s");
  CHECK(worst < 1.5);
  // Destroying the provider (reload, stop) closes cached connections with QUIT.
  TempDir e;
  Hostile q(e.path(), {{"reply", {{"QUIT", {{"action", "hang"}}}}}});
  auto pq = f.make(f.cfg(q.port, 10));
  CHECK(f.send(*pq, f.msg({"a@example.com"})).outcome == Outcome::Sent);  // its connection stays cached
  auto t0 = std::chrono::steady_clock::now();
  pq.reset();
  double took = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  MESSAGE("provider destroyed with a cached connection whose QUIT is never answered: " << took << " s");
  CHECK(took < 1.5);
}

TEST_CASE("hostile: SMTPUTF8 upstream: UTF-8 addresses go out with the parameter, replies pair up") {
  Fixture f;
  Hostile h(f.tmp.path(), {{"ehlo", {"8BITMIME", "SMTPUTF8"}}, {"rcpt", {{"j\xc3\xb6rg@b\xc3\xbc" "cher.example", "550 5.1.1 no such user"}}}});
  auto p = f.make(f.cfg(h.port));
  Result r = f.send(*p, f.msg({"j\xc3\xb6rg@b\xc3\xbc" "cher.example", "b@example.com"}));
  REQUIRE(r.rcpts.size() == 2);
  CHECK(r.rcpts[0].outcome == Outcome::Permanent);
  CHECK(r.rcpts[0].code == 550);
  CHECK(r.rcpts[1].outcome == Outcome::Sent);
  CHECK(contains(h.commands("MAIL").at(0), "SMTPUTF8"));
  // Without SMTPUTF8 an internationalized domain alone is refused before MAIL too.
  TempDir d;
  Hostile n(d.path(), {{"ehlo", {"8BITMIME"}}});
  auto q = f.make(f.cfg(n.port));
  Result rn = f.send(*q, f.msg({"a@b\xc3\xbc" "cher.example"}));
  CHECK(rn.enhanced == "5.6.7");
  CHECK(!saw(n, "MAIL"));
}
