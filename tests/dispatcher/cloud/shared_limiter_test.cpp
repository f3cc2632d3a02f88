// SharedLimiter against a real PostgreSQL (RELAY_TEST_PG; skipped without):
// two limiters with different holders (two "hosts") share 4 slots and a
// rate window; an unreachable database means the static share. The loop
// ends with no open handles.
#include <doctest/doctest.h>
#include <uv.h>

#include <functional>
#include <memory>

#include "dispatcher/dlog/migrate.hpp"
#include "dispatcher/providers/cloud/shared_limiter.hpp"
#include "tests/dispatcher/test_pg.hpp"

using namespace relay::provider::cloud;
using Clock = SharedLimiter::Clock;

namespace {

struct Tally {
  int granted = 0, refused = 0;
  SharedLimiter::Grant grant() {
    return [this](std::optional<Clock::time_point> busy) { busy ? void(++refused) : void(++granted); };
  }
};

SharedLimits limits(const std::string& conninfo, int slots, int rate, int divisor = 1) {
  SharedLimits l;
  l.conninfo = conninfo;
  l.scope = "m365";
  l.who = "test";
  l.slots = slots;
  l.rate = rate;
  l.fallback_divisor = divisor;
  l.ttl_ms = 3000;
  return l;
}

// Runs the loop (pumping the limiters every 10 ms) until pred() or ~5 s.
bool run_until(uv_loop_t* loop, std::vector<SharedLimiter*> ls, const std::function<bool()>& pred) {
  uv_timer_t t;
  uv_timer_init(loop, &t);
  struct Ctx {
    std::vector<SharedLimiter*> ls;
    const std::function<bool()>* pred;
    int ticks = 0;
    bool done = false;
  } ctx{ls, &pred};
  t.data = &ctx;
  uv_timer_start(&t, [](uv_timer_t* h) {
    auto* c = static_cast<Ctx*>(h->data);
    for (auto* l : c->ls) l->pump(Clock::now());
    c->done = (*c->pred)() || ++c->ticks > 500;
  }, 10, 10);
  while (!ctx.done) uv_run(loop, UV_RUN_ONCE);  // the connection's poll keeps the loop alive
  uv_close(reinterpret_cast<uv_handle_t*>(&t), [](uv_handle_t* h) { h->data = nullptr; });
  while (t.data) uv_run(loop, UV_RUN_ONCE);
  return pred();
}

std::string migrated_db() {
  auto db = relay::test::fresh_db();
  if (!db) return "";
  auto r = relay::dlog::migrate(*db);
  REQUIRE_MESSAGE(r.ok, r.error);
  return *db;
}

}  // namespace

TEST_CASE("two holders share 4 slots; a release goes to the other holder") {
  const std::string db = migrated_db();
  if (db.empty()) return relay::test::skip("RELAY_TEST_PG unset: needs PostgreSQL");
  uv_loop_t loop;
  uv_loop_init(&loop);
  {
    SharedLimiter a(&loop, limits(db, 4, 0), std::chrono::seconds(10));
    SharedLimiter b(&loop, limits(db, 4, 0), std::chrono::seconds(10));
    Tally ta, tb;
    for (int i = 0; i < 3; ++i) a.acquire("box@x", Clock::now(), ta.grant());
    CHECK(run_until(&loop, {&a, &b}, [&] { return ta.granted == 3; }));
    for (int i = 0; i < 3; ++i) b.acquire("box@x", Clock::now(), tb.grant());
    CHECK(run_until(&loop, {&a, &b}, [&] { return tb.granted == 1; }));
    CHECK_FALSE(run_until(&loop, {&a, &b}, [&] { return tb.granted > 1; }));  // 3 + 1 = 4: the rest wait
    CHECK(ta.granted + tb.granted == 4);
    a.release("box@x", Clock::now());
    a.release("box@x", Clock::now());
    // A's releases NOTIFY; B's waiters take the two slots.
    CHECK(run_until(&loop, {&a, &b}, [&] { return tb.granted == 3; }));
    CHECK(a.coordinated());
    CHECK(a.statements() + b.statements() > 0);
  }
  uv_run(&loop, UV_RUN_DEFAULT);
  CHECK(uv_loop_close(&loop) == 0);
}

TEST_CASE("the rate window holds across holders") {
  const std::string db = migrated_db();
  if (db.empty()) return relay::test::skip("RELAY_TEST_PG unset: needs PostgreSQL");
  uv_loop_t loop;
  uv_loop_init(&loop);
  {
    SharedLimiter a(&loop, limits(db, 4, 3));
    SharedLimiter b(&loop, limits(db, 4, 3));
    Tally ta, tb;
    for (int i = 0; i < 2; ++i) a.acquire("box@x", Clock::now(), ta.grant());
    CHECK(run_until(&loop, {&a, &b}, [&] { return ta.granted == 2; }));
    for (int i = 0; i < 2; ++i) b.acquire("box@x", Clock::now(), tb.grant());
    // 3 a minute: B gets one, its second is refused (the window frees in ~60 s).
    CHECK(run_until(&loop, {&a, &b}, [&] { return tb.granted == 1 && tb.refused == 1; }));
  }
  uv_run(&loop, UV_RUN_DEFAULT);
  CHECK(uv_loop_close(&loop) == 0);
}

TEST_CASE("an unreachable database means the static share") {
  uv_loop_t loop;
  uv_loop_init(&loop);
  {
    SharedLimiter a(&loop, limits("host=/nonexistent-relay-socket-dir dbname=x", 4, 0, 2),
                    std::chrono::seconds(10));
    Tally t;
    for (int i = 0; i < 4; ++i) a.acquire("box@x", Clock::now(), t.grant());
    // Fallback after the failed connect; the share (4 / 2) starts after the quiet period.
    CHECK(run_until(&loop, {&a}, [&] { return t.granted == 2; }));
    CHECK_FALSE(a.coordinated());
    CHECK_FALSE(run_until(&loop, {&a}, [&] { return t.granted > 2; }));
  }
  uv_run(&loop, UV_RUN_DEFAULT);
  CHECK(uv_loop_close(&loop) == 0);
}
