#include <doctest/doctest.h>

#include <vector>

#include "dispatcher/providers/cloud/mailbox_limiter.hpp"

using namespace relay::provider::cloud;
using Clock = MailboxLimiter::Clock;
using std::chrono::milliseconds;
using std::chrono::seconds;

namespace {

// Records what each acquire() got: granted, or refused until a time.
struct Tally {
  int granted = 0;
  std::vector<Clock::time_point> refused;
  MailboxLimiter::Grant grant() {
    return [this](std::optional<Clock::time_point> busy) { busy ? refused.push_back(*busy) : void(++granted); };
  }
};

}  // namespace

TEST_CASE("at most 4 in flight per mailbox; other mailboxes unaffected") {
  MailboxLimiter l(4, 0);
  auto now = Clock::now();
  Tally a, b;
  for (int i = 0; i < 6; ++i) l.acquire("a@x", now, a.grant());
  l.acquire("b@x", now, b.grant());
  CHECK(a.granted == 4);
  CHECK(b.granted == 1);
  CHECK(l.in_flight("a@x") == 4);
  CHECK(a.refused.empty());  // two short waits (mean 200 ms / 4 each) stay queued
  l.release("a@x", now + milliseconds(100));
  CHECK(a.granted == 5);
  CHECK(l.in_flight("a@x") == 4);
  CHECK(l.queued() == 1);
}

TEST_CASE("a long queue for one mailbox is refused with spaced times, not held") {
  MailboxLimiter l(4, 0, false, seconds(2));
  auto now = Clock::now();
  Tally a;
  for (int i = 0; i < 100; ++i) l.acquire("a@x", now, a.grant());
  CHECK(a.granted == 4);
  // mean 200 ms / cap 4 = 50 ms a place: 40 places fit in 2 s.
  CHECK(l.queued() == 40);
  REQUIRE(a.refused.size() == 56);
  CHECK(a.refused.front() > now + seconds(2));
  CHECK(a.refused.back() < now + seconds(3));  // all come back as the queue is expected to drain
}

TEST_CASE("rate per minute: waits within max_wait, refuses beyond, spaced by 60 s / rate") {
  MailboxLimiter l(100, 3);
  auto now = Clock::now();
  Tally t;
  for (int i = 0; i < 5; ++i) l.acquire("a@x", now, t.grant());
  CHECK(t.granted == 3);
  REQUIRE(t.refused.size() == 2);  // the 4th may start in 60 s: far beyond max_wait
  CHECK(t.refused[0] == now + seconds(60));
  CHECK(t.refused[1] == now + seconds(80));
  for (int i = 0; i < 3; ++i) l.release("a@x", now);
  CHECK(!l.pump(now));  // nothing waits
}

TEST_CASE("slow_down: a short Retry-After waits, a long one refuses the waiters at once") {
  MailboxLimiter l(4, 0);
  auto now = Clock::now();
  l.slow_down("a@x", now, now + seconds(1));
  Tally t;
  l.acquire("a@x", now, t.grant());
  CHECK(t.granted == 0);
  CHECK(t.refused.empty());
  auto wake = l.pump(now + milliseconds(500));
  REQUIRE(wake);
  CHECK(*wake == now + seconds(1));
  l.pump(now + seconds(1));
  CHECK(t.granted == 1);
  l.slow_down("a@x", now + seconds(1), now + seconds(30));
  Tally u, other;
  l.acquire("a@x", now + seconds(1), u.grant());
  l.acquire("b@x", now + seconds(1), other.grant());
  CHECK(u.granted == 0);
  REQUIRE(u.refused.size() == 1);
  CHECK(u.refused[0] == now + seconds(30));
  CHECK(other.granted == 1);
}

TEST_CASE("adaptive: a 429 halves the cap once per burst, successes raise it back below the cap that drew it") {
  MailboxLimiter l(16, 0, true);
  auto now = Clock::now();
  Tally t;
  for (int i = 0; i < 16; ++i) l.acquire("u", now, t.grant());
  CHECK(t.granted == 16);
  l.slow_down("u", now, now);  // six 429s in the same burst: one cut
  for (int i = 0; i < 5; ++i) l.slow_down("u", now + milliseconds(10), now);
  CHECK(l.cap("u") == 8);
  auto later = now + seconds(2);
  for (int i = 0; i < 16; ++i) l.release("u", later, true);
  CHECK(l.cap("u") == 9);  // +1 per `cap` successes
  Tally r;
  for (int round = 0; round < 20; ++round) {
    const int c = l.cap("u");
    for (int i = 0; i < c; ++i) l.acquire("u", later, r.grant());
    for (int i = 0; i < c; ++i) l.release("u", later, true);
  }
  CHECK(r.refused.empty());
  CHECK(l.cap("u") == 15);  // the ceiling: one below the cap that drew the 429
  l.slow_down("u", later + seconds(5), later + seconds(5));
  CHECK(l.cap("u") == 7);
  CHECK(l.cap("nobody") == 16);
}

TEST_CASE("held(): transient, not an attempt, whole seconds rounded up") {
  auto r = held("mailbox a@x", milliseconds(2100));
  CHECK(r.held);
  CHECK(r.outcome == relay::provider::Outcome::Transient);
  CHECK(r.retry_after == 3);
  CHECK(held("u", milliseconds(10)).retry_after == 1);
}
