#include <doctest/doctest.h>

#include "dispatcher/providers/m365/mailbox_limiter.hpp"

using namespace relay::provider::m365;
using Clock = MailboxLimiter::Clock;
using std::chrono::seconds;

TEST_CASE("at most 4 in flight per mailbox; other mailboxes unaffected") {
  MailboxLimiter l(4, 0);
  auto now = Clock::now();
  int a = 0, b = 0;
  for (int i = 0; i < 10; ++i) l.acquire("a@x", now, [&] { ++a; });
  l.acquire("b@x", now, [&] { ++b; });
  CHECK(a == 4);
  CHECK(b == 1);
  CHECK(l.in_flight("a@x") == 4);
  l.release("a@x", now);
  CHECK(a == 5);
  CHECK(l.in_flight("a@x") == 4);
  CHECK(l.queued() == 5);
}

TEST_CASE("rate per minute: sliding window") {
  MailboxLimiter l(100, 3);
  auto now = Clock::now();
  int n = 0;
  for (int i = 0; i < 5; ++i) l.acquire("a@x", now, [&] { ++n; });
  CHECK(n == 3);
  for (int i = 0; i < 3; ++i) l.release("a@x", now);
  CHECK(n == 3);
  auto wake = l.pump(now);
  REQUIRE(wake);
  CHECK(*wake == now + seconds(60));
  l.pump(now + seconds(60));
  CHECK(n == 5);
}

TEST_CASE("slow_down holds a mailbox until Retry-After has passed") {
  MailboxLimiter l(4, 0);
  auto now = Clock::now();
  l.slow_down("a@x", now + seconds(30));
  int n = 0;
  l.acquire("a@x", now, [&] { ++n; });
  CHECK(n == 0);
  auto wake = l.pump(now + seconds(10));
  REQUIRE(wake);
  CHECK(*wake == now + seconds(30));
  l.pump(now + seconds(30));
  CHECK(n == 1);
}
