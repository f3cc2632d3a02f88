// Router: rules by sender pattern and AUTH user, default and fallback.
#include <doctest/doctest.h>

#include "dispatcher/router.hpp"

using relay::config::Route;
using relay::dispatch::RouteChoice;
using relay::dispatch::RouteInput;
using relay::dispatch::Router;

namespace {
Router make() {
  std::vector<Route> routes{{"@example.com", "", "m365"}, {"", "erp", "upstream"}, {"*.example.org", "", "gmail"},
                            {"printer@example.net", "", "upstream"}};
  return Router(routes, "outbox", "upstream", {"m365", "upstream", "gmail", "outbox"});
}
}  // namespace

TEST_CASE("first matching route wins; default otherwise") {
  Router r = make();
  CHECK(r.primary(RouteInput{"scan@example.com", "", ""}).provider == "m365");
  CHECK(r.primary(RouteInput{"Scan@EXAMPLE.COM", "", ""}).provider == "m365");
  CHECK(r.primary(RouteInput{"scan@example.com", "", "erp"}).provider == "m365");  // order matters
  CHECK(r.primary(RouteInput{"x@other.com", "", "erp"}).provider == "upstream");
  CHECK(r.primary(RouteInput{"a@sub.example.org", "", ""}).provider == "gmail");
  CHECK(r.primary(RouteInput{"a@example.org", "", ""}).provider == "gmail");
  CHECK(r.primary(RouteInput{"printer@example.net", "", ""}).provider == "upstream");
  CHECK(r.primary(RouteInput{"other@example.net", "", ""}).provider == "outbox");
  CHECK(r.primary(RouteInput{"x@other.com", "", ""}).rule == "default");
  // Null envelope sender: the header From decides.
  CHECK(r.primary(RouteInput{"", "boss@example.com", ""}).provider == "m365");
}

TEST_CASE("fallback after repeated transient failures, never for itself") {
  Router r = make();
  RouteInput in{"x@other.com", "", ""};
  CHECK(r.choose(in, 0).provider == "outbox");
  CHECK(r.choose(in, Router::kFallbackAfter - 1).provider == "outbox");
  auto c = r.choose(in, Router::kFallbackAfter);
  CHECK(c.provider == "upstream");
  CHECK(c.fallback);
  RouteInput erp{"x@other.com", "", "erp"};  // primary is the fallback itself
  CHECK_FALSE(r.choose(erp, 10).fallback);
  CHECK(r.fallback_on_config_error("m365"));
  CHECK_FALSE(r.fallback_on_config_error("upstream"));
}

TEST_CASE("validate names unknown providers; single provider is the default") {
  Router r = make();
  CHECK(r.validate({"m365", "upstream", "gmail", "outbox"}).empty());
  CHECK(r.validate({"m365", "upstream", "outbox"}).find("gmail") != std::string::npos);
  Router single({}, "", "", {"outbox"});
  CHECK(single.default_provider() == "outbox");
  CHECK(single.validate({"outbox"}).empty());
  Router none({}, "", "", {"a", "b"});
  CHECK_FALSE(none.validate({"a", "b"}).empty());
  CHECK_FALSE(Router({}, "a", "zz", {"a"}).validate({"a"}).empty());
}

TEST_CASE("size-aware routes: bounds, providers' own limits, no provider at all") {
  Route small_only{"", "", "small", 0, 100 << 10};
  Route big_only{"", "", "big", 100 << 10, 0};
  Router r({small_only, big_only}, "m365", "gmail", {"small", "big", "m365", "gmail"},
           {{"small", 100 << 10}, {"big", 150u << 20}, {"m365", 35u << 20}, {"gmail", 35u << 20}});
  CHECK(r.primary(RouteInput{"a@x.com", "", "", 4000}).provider == "small");
  CHECK(r.primary(RouteInput{"a@x.com", "", "", 200 << 10}).provider == "big");
  CHECK(r.primary(RouteInput{"a@x.com", "", "", 200 << 10}).rule == "route[1] min_size=102400");
  RouteChoice none = r.primary(RouteInput{"a@x.com", "", "", 151u << 20});
  CHECK(none.provider.empty());
  CHECK(none.rule == "no route carries a message of 158334976 bytes (largest for this sender: 157286400 bytes)");
  CHECK(r.choose(RouteInput{"a@x.com", "", "", 151u << 20}, 5).provider.empty());  // no fallback either
  // The fallback (gmail, 35MB) is never chosen for a message it cannot carry.
  CHECK(r.choose(RouteInput{"a@x.com", "", "", 40u << 20}, Router::kFallbackAfter).provider == "big");
  CHECK(r.choose(RouteInput{"a@x.com", "", "", 1u << 20}, Router::kFallbackAfter).provider == "gmail");
  CHECK(r.fallback_on_config_error("big", 1u << 20));
  CHECK_FALSE(r.fallback_on_config_error("big", 40u << 20));
}

TEST_CASE("from_config takes each provider's max_message_size") {
  auto cfg = relay::config::load_string(
      "providers:\n  small: {type: outbox, directory: s, max_message_size: 1KB}\n  big: {type: outbox, directory: b}\n"
      "routes: [{max_size: 100KB, provider: small}]\ndefault_provider: big\n",
      "/t.yaml");
  Router r = Router::from_config(cfg);
  CHECK(r.primary(RouteInput{"a@x.com", "", "", 1024}).provider == "small");
  CHECK(r.primary(RouteInput{"a@x.com", "", "", 1025}).provider == "big");  // over small's own limit
}
