// RouteTable (common/route_table.hpp): size bounds on routes, each
// provider's own limit, the largest routable size per sender / AUTH user,
// and the loader's errors for size bounds no message can meet.
#include <doctest/doctest.h>

#include "common/password.hpp"
#include "common/route_table.hpp"
#include "tests/common/config_test_support.hpp"

using namespace relay::config;
using relay::config::test::error_of;

namespace {

const std::string kProviders =
    "providers:\n"
    "  small: {type: outbox, directory: s, max_message_size: 100KB}\n"
    "  big: {type: outbox, directory: b}\n"
    "  gm: {type: gmail, service_account_file: sa.json}\n"
    "  up: {type: smtp, host: h, max_message_size: 50MB}\n";

Config load_routes(const std::string& routes, const std::string& extra = "default_provider: small\n") {
  return load_string(kProviders + "receiver: {limits: {max_message_size: 1GB}, users: [{name: erp, password_hash: \"" +
                         relay::auth::hash_password("x", relay::auth::kMinIterations) + "\"}]}\n" + "routes:\n" +
                         routes + extra,
                     "/t.yaml");
}

std::string m365_base() {
  return "providers:\n  m:\n    type: m365\n    tenant_id: t\n    client_id: c\n    client_secret: s\n";
}

std::string to(const RouteTable& t, std::string_view sender, std::string_view user, std::uint64_t size) {
  auto m = t.match(sender, user, size);
  return m ? m->provider : "(none)";
}

}  // namespace

TEST_CASE("providers' own limits: configured, gmail's 35MB, none for outbox/smtp by default") {
  Config c = load_routes("  []\n");
  CHECK(provider_max_size(*c.provider("small")) == 100u << 10);
  CHECK(provider_max_size(*c.provider("big")) == kUnlimited);
  CHECK(provider_max_size(*c.provider("gm")) == 35u << 20);
  CHECK(provider_max_size(*c.provider("up")) == 50u << 20);
  Config m = load_string(m365_base(), "/t.yaml");
  CHECK(provider_max_size(*m.provider("m")) == 35u << 20);  // Exchange Online's default MaxSendSize
}

TEST_CASE("size-only routes: first match wins, bounds inclusive") {
  RouteTable t = RouteTable::from_config(
      load_routes("  - {max_size: 100KB, provider: small}\n  - {min_size: 100KB, provider: big}\n"));
  CHECK(to(t, "a@b.c", "", 1000) == "small");
  CHECK(to(t, "a@b.c", "", 100 << 10) == "small");
  CHECK(to(t, "a@b.c", "", (100 << 10) + 1) == "big");
  CHECK(to(t, "", "", 500u << 20) == "big");
  CHECK(t.match("a@b.c", "", (100 << 10) + 1)->rule == "route[1] min_size=102400");
  CHECK(t.largest("a@b.c", "") == kUnlimited);
}

TEST_CASE("a route never takes a message over its provider's limit; then the next rule or the default") {
  RouteTable t = RouteTable::from_config(
      load_routes("  - {sender: \"@x.com\", provider: gm}\n  - {auth_user: erp, min_size: 1MB, provider: up}\n"));
  CHECK(to(t, "a@x.com", "", 35u << 20) == "gm");
  CHECK(to(t, "a@x.com", "", (35u << 20) + 1) == "(none)");  // default small is 100KB
  CHECK(to(t, "a@x.com", "erp", (35u << 20) + 1) == "up");
  CHECK(to(t, "a@x.com", "erp", (50u << 20) + 1) == "(none)");
  CHECK(to(t, "a@y.com", "", 50 << 10) == "small");
  CHECK(to(t, "a@y.com", "erp", 500 << 10) == "(none)");  // a gap: over small's 100KB, under up's min_size
  CHECK(t.largest("a@x.com", "") == 35u << 20);
  CHECK(t.largest("a@x.com", "erp") == 50u << 20);
  CHECK(t.largest("a@y.com", "") == 100u << 10);
  CHECK(t.largest("", "", false) == 35u << 20);  // null sender at MAIL FROM: the header From may match @x.com
  CHECK(t.largest("", "", true) == 100u << 10);
  CHECK(t.largest_any() == 50u << 20);
}

TEST_CASE("size bounds no message can meet are config errors naming file, line and key") {
  CHECK(error_of(kProviders + "default_provider: big\nroutes:\n  - {min_size: 2MB, max_size: 1MB, provider: big}\n") ==
        "/etc/relay/t.yaml:8: routes[0].min_size: expected a size no larger than routes[0].max_size (1048576 bytes) "
        "(got 2097152 bytes): no message could take this route");
  CHECK(error_of(kProviders + "default_provider: big\nroutes:\n  - {min_size: 1MB, provider: small}\n")
            .find("t.yaml:8: routes[0].min_size: expected a size no larger than providers.small.max_message_size "
                  "(102400 bytes)") != std::string::npos);
  CHECK(error_of(kProviders + "default_provider: big\nroutes:\n  - {min_size: 40MB, provider: big}\n")
            .find("routes[0].min_size: expected a size no larger than receiver.limits.max_message_size") !=
        std::string::npos);
  CHECK(error_of(kProviders + "default_provider: big\nroutes:\n  - {max_size: 1MB, sender: \"@x.com\", auth_user: u, "
                              "provider: big}\n")
            .find("routes[0]: expected at most one of sender or auth_user") != std::string::npos);
  CHECK(error_of(kProviders + "default_provider: big\nroutes:\n  - {max_size: 1 parsec, provider: big}\n")
            .find("routes[0].max_size: expected a size") != std::string::npos);
  CHECK(error_of(m365_base() + "    max_message_size: 151MB\n").find("providers.m.max_message_size") !=
        std::string::npos);
}

TEST_CASE("select_provider asks the same table") {
  Config c = load_routes("  - {max_size: 100KB, provider: small}\n", "default_provider: big\n");
  CHECK(select_provider(c, "a@b.c", "")->name == "small");
}
