// Router: rules by sender pattern and AUTH user, default and fallback.
#include <doctest/doctest.h>

#include "dispatcher/router.hpp"

using relay::config::Route;
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
