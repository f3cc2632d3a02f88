// The Dispatcher loop end to end inside one process: a real spool in a temp
// directory, a real DeliveryLog (PostgreSQL when RELAY_TEST_PG is set, else
// journal only) and RecordingProvider. Every test ends with the loop closed
// with zero open handles.
#include <doctest/doctest.h>

#include <filesystem>
#include <functional>

#include "dispatcher/dispatcher.hpp"
#include "spool/control.hpp"
#include "dispatcher/dlog/journal.hpp"
#include "dispatcher/dlog/migrate.hpp"
#include "dispatcher/message_info.hpp"
#include "recording_provider.hpp"
#include "test_pg.hpp"

using namespace relay;
using dispatch::Dispatcher;
using test::RecordingProvider;

namespace {

struct Harness {
  std::filesystem::path dir;
  uv_loop_t loop{};
  std::optional<spool::Spool> sp;
  std::optional<dlog::DeliveryLog> dl;
  std::vector<std::unique_ptr<RecordingProvider>> providers;
  dispatch::Settings settings;
  std::string conninfo;

  explicit Harness(bool use_db = false) {
    char tmpl[] = "/tmp/relay-disp-XXXXXX";
    dir = ::mkdtemp(tmpl);
    uv_loop_init(&loop);
    std::string err;
    sp = spool::Spool::open(dir / "spool", &err);
    REQUIRE_MESSAGE(sp, err);
    if (use_db) conninfo = test::fresh_db().value_or("");
    if (!conninfo.empty()) REQUIRE(dlog::migrate(conninfo).ok);  // relayctl db migrate's part
    dlog::DeliveryLog::Options o;
    o.conninfo = conninfo;
    o.journal = dir / "spool" / "journal";
    dl.emplace(o);
    dl->start();
    dispatch::gmime_init_once();
    settings.retry.min_backoff = 1;
    settings.retry.max_backoff = 2;
    settings.retry.jitter = 0;
    settings.sweep_interval = 1;
    settings.scan_interval = 1;
    settings.drain_timeout = 1;
    settings.hostname = "relay.test";
    settings.bounces = false;  // tests of bounces turn them on (default on in the config)
  }
  ~Harness() {
    dl->stop();
    uv_run(&loop, UV_RUN_NOWAIT);  // run() re-initialises the loop after each run: close it
    uv_loop_close(&loop);
    std::filesystem::remove_all(dir);
  }

  RecordingProvider& add(const std::string& name) {
    providers.push_back(std::make_unique<RecordingProvider>(name, &loop));
    return *providers.back();
  }

  spool::QueueId enqueue(const std::string& from, std::vector<std::string> rcpts, const std::string& body) {
    spool::Envelope env;
    env.received_at = ::time(nullptr);
    env.client_addr = "127.0.0.1";
    env.mail_from = from;
    for (auto& r : rcpts) env.rcpts.push_back(spool::Recipient{r, "", spool::RcptState::Pending, ""});
    spool::Status st;
    auto e = sp->create(env, &st);
    REQUIRE_MESSAGE(e, st.message);
    REQUIRE(e->append(body).ok());
    REQUIRE(e->prepare().ok());
    REQUIRE(sp->commit(*e).ok());
    return e->id();
  }

  std::size_t count(spool::State s) const { return sp->list(s).size(); }

  // Runs a dispatcher until `pred` holds (or timeout), then shuts it down
  // gracefully and checks that the loop closes cleanly.
  bool run(const std::function<bool(Dispatcher&)>& pred, int timeout_ms = 15000,
           const std::function<void(Dispatcher&)>& after_pred = {}) {
    Dispatcher::ProviderMap map;
    for (auto& p : providers) map[std::string(p->name())] = p.get();
    Dispatcher d(&loop, *sp, map, *dl, settings);
    REQUIRE(d.check().empty());
    bool ok = false, stopped = false;
    d.set_on_stopped([&] { stopped = true; });
    d.start(false);
    uv_timer_t check;
    uv_timer_init(&loop, &check);
    struct Ctx {
      std::function<void()> fn;
    } ctx;
    std::uint64_t deadline = uv_now(&loop) + static_cast<std::uint64_t>(timeout_ms);
    ctx.fn = [&] {
      if (stopped) {
        uv_close(reinterpret_cast<uv_handle_t*>(&check), nullptr);
        return;
      }
      if (d.stopping()) return;
      if (pred(d)) {
        ok = true;
        if (after_pred) after_pred(d);
        d.shutdown();
      } else if (uv_now(&loop) > deadline) {
        d.shutdown();
      }
    };
    check.data = &ctx;
    uv_timer_start(&check, [](uv_timer_t* t) { static_cast<Ctx*>(t->data)->fn(); }, 10, 10);
    uv_run(&loop, UV_RUN_DEFAULT);
    CHECK(stopped);
    CHECK(uv_loop_close(&loop) == 0);  // zero open handles
    uv_loop_init(&loop);
    return ok;
  }
};

provider::Result result(provider::Outcome o, int code, std::string text) {
  provider::Result r;
  r.outcome = o;
  r.code = code;
  r.text = std::move(text);
  return r;
}

}  // namespace

TEST_CASE("delivers every message byte for byte and records each once") {
  Harness h(/*use_db=*/true);
  auto& rec = h.add("rec");
  h.settings.router = dispatch::Router({}, "rec", "", {"rec"});
  h.settings.max_in_flight = 4;
  std::vector<std::string> bodies;
  for (int i = 0; i < 20; ++i) {
    bodies.push_back("From: a@example.com\r\nSubject: m" + std::to_string(i) + "\r\n\r\nbody " + std::to_string(i) + "\r\n");
    h.enqueue("a@example.com", {"x@dest.test", "y@dest.test"}, bodies.back());
  }
  bool ok = h.run([&](Dispatcher& d) {
    return rec.calls.size() == 20 && d.in_flight() == 0 && h.count(spool::State::New) == 0;
  });
  REQUIRE(ok);
  CHECK(h.count(spool::State::Active) == 0);
  CHECK(h.count(spool::State::Deferred) == 0);
  std::set<std::string> got;
  for (auto& c : rec.calls) {
    got.insert(c.bytes);
    CHECK(c.msg.rcpts.size() == 2);
    CHECK(c.msg.header_from == "a@example.com");
  }
  CHECK(got == std::set<std::string>(bodies.begin(), bodies.end()));
  h.dl->flush();
  if (h.conninfo.empty()) {
    test::skip("RELAY_TEST_PG unset: checking the journal instead of PostgreSQL");
    CHECK(dlog::Journal(h.dir / "spool" / "journal").read_all().size() == 40);
  } else {
    CHECK(test::scalar(h.conninfo, "SELECT count(*) FROM attempts WHERE outcome='sent'") == "20");
    CHECK(test::scalar(h.conninfo, "SELECT count(*) FROM messages WHERE status='sent' AND subject LIKE 'm%'") == "20");
  }
}

TEST_CASE("one recipient deferred, one accepted: only the deferred one is retried") {
  Harness h;
  auto& rec = h.add("rec");
  h.settings.router = dispatch::Router({}, "rec", "", {"rec"});
  rec.script_fn = [](const provider::Message& m) {
    auto r = result(provider::Outcome::Sent, 250, "ok");
    if (m.rcpts.size() == 2)
      r.rcpts = {{"x@dest.test", provider::Outcome::Sent, 250, "ok"},
                 {"y@dest.test", provider::Outcome::Transient, 451, "4.3.0 try later"}};
    return r;
  };
  h.enqueue("a@example.com", {"x@dest.test", "y@dest.test"}, "Subject: t\r\n\r\nx\r\n");
  bool ok = h.run([&](Dispatcher& d) { return rec.calls.size() == 2 && d.in_flight() == 0; });
  REQUIRE(ok);
  CHECK(rec.calls[1].msg.rcpts == std::vector<std::string>{"y@dest.test"});
  CHECK(h.count(spool::State::Deferred) == 0);
  CHECK(h.count(spool::State::New) == 0);
  CHECK(h.count(spool::State::Failed) == 0);
}

TEST_CASE("permanent failure: failed/ with reason, one notice with null sender") {
  Harness h;
  auto& rec = h.add("rec");
  h.settings.router = dispatch::Router({}, "rec", "", {"rec"});
  h.settings.failure_notice_to = "ops@example.com";
  h.settings.notice_from = "relay@example.com";  // senders.default_sender
  rec.script_fn = [](const provider::Message& m) {
    if (m.mail_from.empty()) return result(provider::Outcome::Sent, 250, "ok");
    return result(provider::Outcome::Permanent, 550, "5.1.1 no such user");
  };
  auto id = h.enqueue("a@example.com", {"x@dest.test"}, "Subject: doomed\r\n\r\nx\r\n");
  bool ok = h.run([&](Dispatcher& d) { return rec.calls.size() == 2 && d.in_flight() == 0; });
  REQUIRE(ok);
  auto failed = h.sp->scan(spool::State::Failed);
  REQUIRE(failed.size() == 1);
  CHECK(failed[0].id == id);
  REQUIRE(failed[0].envelope);
  CHECK(failed[0].envelope->last_error.find("550") != std::string::npos);
  CHECK(failed[0].envelope->rcpts[0].state == spool::RcptState::Failed);
  CHECK(rec.calls[1].msg.mail_from.empty());
  CHECK(rec.calls[1].msg.rcpts == std::vector<std::string>{"ops@example.com"});
  CHECK(rec.calls[1].bytes.find(id.str()) != std::string::npos);
  CHECK(rec.calls[1].bytes.find("Subject: Undelivered mail: doomed") != std::string::npos);
  // From is the default sender, which API providers can send as.
  CHECK(rec.calls[1].bytes.find("From: Mail Delivery System <relay@example.com>\r\n") == 0);
}

TEST_CASE("a permanent failure bounces once to the envelope sender; a failing bounce is not bounced") {
  Harness h;
  auto& rec = h.add("rec");
  h.settings.router = dispatch::Router({}, "rec", "", {"rec"});
  h.settings.bounces = true;
  h.settings.bounce_from = "postmaster@relay.test";
  rec.script_fn = [](const provider::Message& m) {
    if (m.mail_from.empty()) return result(provider::Outcome::Permanent, 550, "5.1.1 sender unknown");
    auto r = result(provider::Outcome::Sent, 250, "ok");
    r.rcpts = {{"x@dest.test", provider::Outcome::Sent, 250, "2.0.0 ok"},
               {"y@dest.test", provider::Outcome::Permanent, 550, "5.1.1 no such user"}};
    return r;
  };
  h.enqueue("a@example.com", {"x@dest.test", "y@dest.test"}, "Subject: partial\r\n\r\nbody\r\n");
  std::uint64_t bounces = 0;
  bool ok = h.run([&](Dispatcher& d) {
    bounces = d.counters().bounces;
    return rec.calls.size() >= 2 && d.in_flight() == 0 && h.count(spool::State::Failed) == 2;
  });
  REQUIRE(ok);
  CHECK(bounces == 1);
  REQUIRE(rec.calls.size() == 2);  // the message, its DSN; nothing for the DSN's own failure
  CHECK(h.count(spool::State::New) == 0);
  const auto& dsn = rec.calls[1];
  CHECK(dsn.msg.mail_from.empty());
  CHECK(dsn.msg.rcpts == std::vector<std::string>{"a@example.com"});
  CHECK(dsn.bytes.find("Final-Recipient: rfc822; y@dest.test\r\nAction: failed\r\nStatus: 5.1.1\r\n") !=
        std::string::npos);
  CHECK(dsn.bytes.find("x@dest.test") == std::string::npos);
  CHECK(dsn.bytes.find("Subject: partial\r\n") != std::string::npos);  // part 3: the original's headers
  CHECK(dsn.bytes.find("\r\nbody\r\n") == std::string::npos);
}

TEST_CASE("a message GMime cannot parse fails permanently without a provider call") {
  Harness h;
  auto& rec = h.add("rec");
  h.settings.router = dispatch::Router({}, "rec", "", {"rec"});
  h.enqueue("a@example.com", {"x@dest.test"}, "");
  bool ok = h.run([&](Dispatcher& d) { return h.count(spool::State::Failed) == 1 && d.in_flight() == 0; });
  REQUIRE(ok);
  CHECK(rec.calls.empty());
}

TEST_CASE("config_error on the primary goes to the fallback at once") {
  Harness h;
  auto& a = h.add("a");
  auto& b = h.add("b");
  h.settings.router = dispatch::Router({}, "a", "b", {"a", "b"});
  auto r = result(provider::Outcome::Transient, 401, "AADSTS7000222 client secret expired");
  r.config_error = true;
  a.script.push_back(r);
  h.enqueue("a@example.com", {"x@dest.test"}, "Subject: t\r\n\r\nx\r\n");
  bool ok = h.run([&](Dispatcher& d) { return b.calls.size() == 1 && d.in_flight() == 0; });
  REQUIRE(ok);
  CHECK(a.calls.size() == 1);
  CHECK(h.count(spool::State::New) + h.count(spool::State::Deferred) + h.count(spool::State::Active) == 0);
}

TEST_CASE("shutdown waits past the drain timeout for requests the provider may still accept") {
  Harness h;
  auto& rec = h.add("rec");
  h.settings.router = dispatch::Router({}, "rec", "", {"rec"});
  h.settings.in_flight_grace = 30;
  rec.delay_ms = 2500;  // longer than drain_timeout (1 s), shorter than the grace
  for (int i = 0; i < 3; ++i) h.enqueue("a@example.com", {"x@dest.test"}, "Subject: slow\r\n\r\nx\r\n");
  bool ok = h.run([&](Dispatcher&) { return rec.calls.size() == 3; });
  REQUIRE(ok);
  CHECK(h.count(spool::State::New) == 0);  // releasing them would have sent them twice
  CHECK(h.count(spool::State::Active) == 0);
  CHECK(rec.calls.size() == 3);
}

TEST_CASE("shutdown releases what the provider cancelled before any request, at the drain timeout") {
  Harness h;
  auto& rec = h.add("rec");
  h.settings.router = dispatch::Router({}, "rec", "", {"rec"});
  h.settings.in_flight_grace = 60;
  rec.cancellable = true;
  rec.delay_ms = 6000;
  for (int i = 0; i < 3; ++i) h.enqueue("a@example.com", {"x@dest.test"}, "Subject: slow\r\n\r\nx\r\n");
  bool ok = h.run([&](Dispatcher&) { return rec.calls.size() == 3; });
  REQUIRE(ok);  // released well before the 60 s grace: only cancel() can have done it
  CHECK(rec.cancelled.size() == 3);
  CHECK(h.count(spool::State::New) == 3);
  CHECK(h.count(spool::State::Active) == 0);
}

TEST_CASE("shutdown releases deliveries still in flight after drain timeout plus in_flight_grace") {
  Harness h;
  auto& rec = h.add("rec");
  h.settings.router = dispatch::Router({}, "rec", "", {"rec"});
  h.settings.in_flight_grace = 0;
  rec.delay_ms = 6000;
  for (int i = 0; i < 3; ++i) h.enqueue("a@example.com", {"x@dest.test"}, "Subject: slow\r\n\r\nx\r\n");
  bool ok = h.run([&](Dispatcher&) { return rec.calls.size() == 3; });
  REQUIRE(ok);
  CHECK(h.count(spool::State::New) == 3);
  CHECK(h.count(spool::State::Active) == 0);
}

// Disk full while the envelope is rewritten after a partial delivery: the
// write fails (injected: a directory where the spool writes tmp/<id>.upd),
// the entry stays claimed with its progress in memory and the write is
// retried; the delivered recipient is never sent again.
TEST_CASE("a failing envelope rewrite is retried and never resends delivered recipients") {
  Harness h;
  auto& rec = h.add("rec");
  h.settings.router = dispatch::Router({}, "rec", "", {"rec"});
  h.settings.sweep_interval = 1;
  provider::Result partial = result(provider::Outcome::Transient, 451, "one later");
  partial.rcpts = {provider::RcptResult{"a@dest.test", provider::Outcome::Sent, 250, "ok"},
                   provider::RcptResult{"b@dest.test", provider::Outcome::Transient, 451, "later"}};
  rec.script.push_back(partial);
  auto id = h.enqueue("s@example.com", {"a@dest.test", "b@dest.test"}, "Subject: t\r\n\r\nx\r\n");
  auto blocker = h.dir / "spool" / "tmp" / (id.str() + ".upd");
  std::filesystem::create_directories(blocker);  // every rewrite of this envelope fails
  std::uint64_t first_call_ms = 0;
  std::size_t active_while_failing = 0;
  bool unblocked = false;
  bool ok = h.run([&](Dispatcher& d) {
    if (rec.calls.size() == 1 && first_call_ms == 0) first_call_ms = uv_now(&h.loop);
    // Once: after the blocker is gone, tmp/<id>.upd is the retry's own file
    // (created, fdatasync'd, renamed by a worker thread). Removing whatever
    // sat at that path on every check deleted it mid-rewrite whenever the
    // fdatasync was slow (a busy disk), so every retry failed until the
    // deadline ran out.
    if (!unblocked && first_call_ms && uv_now(&h.loop) > first_call_ms + 2500) {
      active_while_failing = h.count(spool::State::Active);  // held, not back in new/
      std::filesystem::remove(blocker);                       // space again
      unblocked = true;
    }
    return rec.calls.size() >= 2 && d.in_flight() == 0 && h.count(spool::State::Active) == 0 &&
           h.count(spool::State::Deferred) + h.count(spool::State::New) == 0;
  }, 60000);  // a deadline only: the run ends as soon as the condition holds
  REQUIRE(ok);
  CHECK(active_while_failing == 1);
  REQUIRE(rec.calls.size() == 2);
  CHECK(rec.calls[0].msg.rcpts == std::vector<std::string>{"a@dest.test", "b@dest.test"});
  CHECK(rec.calls[1].msg.rcpts == std::vector<std::string>{"b@dest.test"});  // a@ got it once
}

TEST_CASE("Retry-After and held results come back at their time, not at the backoff or the sweep interval") {
  for (bool held : {false, true}) {
    Harness h;
    auto& rec = h.add("rec");
    h.settings.router = dispatch::Router({}, "rec", "", {"rec"});
    h.settings.retry.min_backoff = 60;
    h.settings.retry.max_backoff = 600;
    h.settings.sweep_interval = 30;
    h.settings.scan_interval = 30;
    auto r = result(provider::Outcome::Transient, held ? 0 : 429, held ? "mailbox busy" : "throttled");
    r.retry_after = 2;
    r.held = held;
    rec.script.push_back(r);
    std::vector<std::uint64_t> at;
    rec.script_fn = nullptr;
    h.enqueue("a@example.com", {"x@dest.test"}, "Subject: t\r\n\r\nx\r\n");
    bool ok = h.run([&](Dispatcher& d) {
      while (at.size() < rec.calls.size()) at.push_back(uv_now(&h.loop));
      return rec.calls.size() == 2 && d.in_flight() == 0;
    }, 20000);
    REQUIRE(ok);
    const double gap = static_cast<double>(at[1] - at[0]) / 1000.0;
    INFO("held=" << held << " gap=" << gap);
    CHECK(gap >= 1.9);
    CHECK(gap <= 4.0);
    CHECK(h.count(spool::State::Deferred) == 0);
  }
}

// relayctl dispatch pause: with the marker <spool>/control/dispatch-paused
// present no claim starts (also for mail arriving while paused); removing
// it makes the dispatcher claim at once.
TEST_CASE("the pause marker stops claims; removing it resumes at once") {
  Harness h;
  auto& rec = h.add("rec");
  h.settings.router = dispatch::Router({}, "rec", "", {"rec"});
  h.settings.scan_interval = 30;  // only the resume may find the entries quickly
  REQUIRE(spool::pause_dispatch(h.sp->root(), "test").ok());
  h.enqueue("a@example.com", {"x@dest.test"}, "Subject: t\r\n\r\nx\r\n");
  std::uint64_t t0 = 0, resumed_at = 0, sent_at = 0;
  bool stayed_paused = false;
  bool ok = h.run([&](Dispatcher& d) {
    const std::uint64_t now = uv_now(&h.loop);
    if (t0 == 0) t0 = now;
    if (!resumed_at && now > t0 + 1200) {
      stayed_paused = d.paused() && rec.calls.empty() && h.count(spool::State::New) == 1;
      if (stayed_paused) h.enqueue("b@example.com", {"y@dest.test"}, "Subject: t\r\n\r\nx\r\n");
      CHECK(spool::resume_dispatch(h.sp->root()).ok());
      resumed_at = now;
    }
    if (rec.calls.size() == 2 && !sent_at) sent_at = now;
    return rec.calls.size() == 2 && d.in_flight() == 0;
  });
  REQUIRE(ok);
  CHECK(stayed_paused);
  CHECK(sent_at - resumed_at < 1000);  // inotify on control/, not the 1 s check or the 30 s scan
}
