#include <doctest/doctest.h>

#include "common/metrics_registry.hpp"
#include "dispatcher/providers/cloud/token_cache.hpp"

using namespace relay::provider::cloud;
using std::chrono::seconds;

namespace {

// A Fetcher whose answers the test gives by hand; a clock it moves by hand.
struct Harness {
  Clock::time_point now = Clock::time_point(seconds(1000000));
  std::vector<FetchDone> pending;
  TokenCache cache{[this](FetchDone d) { pending.push_back(std::move(d)); }, [this] { return now; }};

  void answer(const std::string& token, std::int64_t expires_in = 3600) {
    REQUIRE(!pending.empty());
    auto d = std::move(pending.front());
    pending.erase(pending.begin());
    FetchResult r;
    r.ok = true;
    r.access_token = token;
    r.expires_in = expires_in;
    d(r);
  }
  void fail(bool config) {
    auto d = std::move(pending.front());
    pending.erase(pending.begin());
    FetchResult r;
    r.error.text = "expired client secret";
    r.error.config_error = config;
    d(r);
  }
};

}  // namespace

TEST_CASE("single flight: 50 concurrent gets make one request and all get the token") {
  Harness h;
  int got = 0;
  for (int i = 0; i < 50; ++i)
    h.cache.get([&](const TokenResult& t) { got += t.ok && t.token == "T1"; });
  CHECK(h.cache.requests() == 1);
  CHECK(h.pending.size() == 1);
  CHECK(got == 0);
  h.answer("T1");
  CHECK(got == 50);
  h.cache.get([&](const TokenResult& t) { got += t.ok && t.token == "T1"; });
  CHECK(got == 51);
  CHECK(h.cache.requests() == 1);  // cached
}

TEST_CASE("refresh shortly before expiry, not before") {
  Harness h;
  h.cache.get([](const TokenResult&) {});
  h.answer("T1", 3600);
  h.now += seconds(3600 - 301);
  h.cache.get([](const TokenResult&) {});
  CHECK(h.cache.requests() == 1);
  h.now += seconds(2);  // inside the 5-minute margin
  std::string tok;
  h.cache.get([&](const TokenResult& t) { tok = t.token; });
  CHECK(h.cache.requests() == 2);
  h.answer("T2");
  CHECK(tok == "T2");
}

TEST_CASE("a burst of 401s for the same token makes exactly one new request") {
  Harness h;
  h.cache.get([](const TokenResult&) {});
  h.answer("OLD");
  for (int i = 0; i < 10; ++i) {
    h.cache.invalidate("OLD");
    h.cache.get([](const TokenResult&) {});
  }
  CHECK(h.cache.requests() == 2);
  h.answer("NEW");
  h.cache.invalidate("OLD");  // late 401 of a request that used the old token
  h.cache.get([](const TokenResult&) {});
  CHECK(h.cache.requests() == 2);
}

TEST_CASE("config errors are remembered: no new request for minutes") {
  Harness h;
  TokenResult last;
  h.cache.get([&](const TokenResult& t) { last = t; });
  h.fail(true);
  CHECK_FALSE(last.ok);
  CHECK(last.error.config_error);
  for (int i = 0; i < 100; ++i) h.cache.get([&](const TokenResult& t) { last = t; });
  CHECK(h.cache.requests() == 1);
  CHECK(last.error.retry_after.value_or(0) > 200);
  h.now += seconds(301);
  h.cache.get([&](const TokenResult& t) { last = t; });
  CHECK(h.cache.requests() == 2);
  h.fail(true);  // second failure doubles the backoff
  h.now += seconds(301);
  h.cache.get([&](const TokenResult& t) { last = t; });
  CHECK(h.cache.requests() == 2);
}

TEST_CASE("transient errors back off only seconds") {
  Harness h;
  h.cache.get([](const TokenResult&) {});
  h.fail(false);
  h.cache.get([](const TokenResult&) {});
  CHECK(h.cache.requests() == 1);
  h.now += seconds(11);
  h.cache.get([](const TokenResult&) {});
  CHECK(h.cache.requests() == 2);
}

TEST_CASE("metrics: token requests and failures are counted under the provider name") {
  auto& m = relay::metrics::registry();
  const relay::metrics::Labels p{{"provider", "graph-a"}};
  const double req0 = m.value("relay_token_requests_total", p), fail0 = m.value("relay_token_failures_total", p);
  Harness h;
  h.cache.set_metrics_provider("graph-a");
  h.cache.get([](const TokenResult&) {});
  h.fail(/*config=*/false);
  h.now += seconds(11);
  h.cache.get([](const TokenResult&) {});
  h.answer("T1");
  h.cache.get([](const TokenResult&) {});  // cached: no request
  CHECK(m.value("relay_token_requests_total", p) - req0 == 2);
  CHECK(m.value("relay_token_failures_total", p) - fail0 == 1);
}

TEST_CASE("a 3-second token (smtp xoauth2 tests) is renewed ahead of expiry; its life counts from the request") {
  Harness h;
  std::string tok;
  h.cache.get([&](const TokenResult& t) { tok = t.token; });
  h.now += std::chrono::milliseconds(500);  // the endpoint took half a second to answer
  h.answer("T1", 3);
  CHECK(tok == "T1");
  h.now += std::chrono::milliseconds(1800);  // 2.3 s after the request: before the 2.4 s mark
  h.cache.get([&](const TokenResult& t) { tok = t.token; });
  CHECK(h.cache.requests() == 1);
  h.now += std::chrono::milliseconds(200);  // 2.5 s: inside the last fifth, still valid, renewed now
  tok.clear();
  h.cache.get([&](const TokenResult& t) { tok = t.token; });
  CHECK(h.cache.requests() == 2);
  CHECK(tok.empty());  // waits for the new one, never handed a token about to lapse
  h.answer("T2", 3);
  CHECK(tok == "T2");
}

// A lifetime beyond the clock's range (10^12 s in nanoseconds overflows
// int64) is capped at a day: the token is used, then refreshed, never
// refreshed for every get nor kept forever.
TEST_CASE("absurd expires_in is capped, not overflowed") {
  Harness h;
  int ok = 0;
  h.cache.get([&](const TokenResult& t) { ok += t.ok; });
  h.answer("T1", 1000000000000LL);
  h.now += seconds(3600);
  h.cache.get([&](const TokenResult& t) { ok += t.ok && t.token == "T1"; });
  CHECK(h.cache.requests() == 1);
  h.now += seconds(kMaxTokenLifetime);
  h.cache.get([&](const TokenResult&) {});
  CHECK(h.cache.requests() == 2);
  CHECK(ok == 2);
}

TEST_CASE("token endpoint 200 bodies: access_token and expires_in forms") {
  auto g = [](const char* body) { return parse_token_grant(body); };
  CHECK(g(R"({"access_token":"a","expires_in":3599})").expires_in == 3599);
  CHECK_FALSE(g(R"({"access_token":"a","expires_in":3599})").expires_in_defaulted);
  CHECK(g(R"({"access_token":"a","expires_in":"1800"})").expires_in == 1800);
  for (const char* bad : {R"({"access_token":"a"})", R"({"access_token":"a","expires_in":"soon"})",
                          R"({"access_token":"a","expires_in":0})", R"({"access_token":"a","expires_in":-5})",
                          R"({"access_token":"a","expires_in":null})", R"({"access_token":"a","expires_in":""})"}) {
    CAPTURE(bad);
    auto r = g(bad);
    CHECK(r.ok);
    CHECK(r.expires_in == kDefaultTokenLifetime);
    CHECK(r.expires_in_defaulted);
  }
  CHECK(g(R"({"access_token":"a","expires_in":18446744073709551621})").expires_in == kMaxTokenLifetime);
  CHECK(g(R"({"access_token":"a","expires_in":1e999})").ok == false);  // not JSON nlohmann accepts
  CHECK(g(R"({"access_token":"a","expires_in":1.5e300})").expires_in == kMaxTokenLifetime);
  for (const char* broken : {"<html>login</html>", "{\"access_token\": ", "[]", R"({"access_token":""})",
                             R"({"access_token":42})", ""}) {
    CAPTURE(broken);
    CHECK_FALSE(g(broken).ok);
  }
}

// Graph refuses every token (permissions, audience): the first 401 fetches
// one new token; 401s for that new one do not fetch again for a minute.
TEST_CASE("a persistent 401 costs one new token, not one per message") {
  Harness h;
  std::string tok;
  auto get = [&] { h.cache.get([&](const TokenResult& t) { tok = t.token; }); };
  get();
  h.answer("T1");
  h.cache.invalidate("T1");  // message 1: 401
  get();
  h.answer("T2");
  CHECK(tok == "T2");
  for (int i = 0; i < 20; ++i) {  // messages 1..20 get 401 with T2
    h.cache.invalidate("T2");
    get();
    CHECK(tok == "T2");
    h.now += seconds(1);
  }
  CHECK(h.cache.requests() == 2);
  h.now += seconds(60);  // a minute later a 401 may be a new story
  h.cache.invalidate("T2");
  get();
  CHECK(h.cache.requests() == 3);
}
