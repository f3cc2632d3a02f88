// relayctl command table and option parsing.
#include <doctest/doctest.h>

#include <cstdio>
#include <set>
#include <string>
#include <vector>

#include "admin-cli/command.hpp"
#include "tests/admin-cli/dispatch_capture.hpp"

using namespace relay::admin;

namespace {
std::optional<Args> parse(std::vector<std::string> argv, std::span<const OptionSpec> spec, int min_pos, int max_pos,
                          std::string* err) {
  return Args::parse(argv, spec, min_pos, max_pos, err);
}

test::Captured run(std::vector<std::string> argv, std::optional<std::string> cfg = std::nullopt) {
  return test::run_captured(argv, std::move(cfg));
}
}  // namespace

TEST_CASE("every command in the table is unique and has help and a handler") {
  std::set<std::string_view> names;
  for (const Command& c : commands()) {
    CHECK(names.insert(c.name).second);
    CHECK(!c.help.empty());
    CHECK(bool(c.handler));
    CHECK(c.min_pos <= c.max_pos);
  }
  for (auto n : {"run", "queue list", "queue show", "queue hold", "queue release", "queue requeue", "queue delete",
                 "queue flush", "db migrate", "stats", "log", "config check", "hash-password", "secrets",
                 "provider test", "send-test"})
    CHECK_MESSAGE(names.count(n) == 1, n);
}

TEST_CASE("find_command takes the longest matching word prefix") {
  std::size_t used = 0;
  std::vector<std::string> a{"queue", "list", "--state", "new"};
  const Command* c = find_command(a, &used);
  REQUIRE(c);
  CHECK(c->name == "queue list");
  CHECK(used == 2);
  std::vector<std::string> b{"queue"};
  CHECK(find_command(b, &used) == nullptr);
  std::vector<std::string> d{"stats", "--json"};
  c = find_command(d, &used);
  REQUIRE(c);
  CHECK(c->name == "stats");
  CHECK(used == 1);
}

TEST_CASE("Args: long, short, inline values, flags, positionals") {
  constexpr OptionSpec spec[] = {{"limit", 'n', true}, {"failed", 0, false}, {"id", 0, true}};
  std::string err;
  auto a = parse({"--limit", "5", "--failed", "--id=ABC", "pos"}, spec, 0, 1, &err);
  REQUIRE(a);
  CHECK(a->get("limit") == "5");
  CHECK(a->has("failed"));
  CHECK(a->get("id") == "ABC");
  CHECK(a->positional() == std::vector<std::string>{"pos"});
  auto b = parse({"-n10", "-c", "/x.yaml"}, spec, 0, 0, &err);
  REQUIRE(b);
  CHECK(b->get("limit") == "10");
  CHECK(b->get("config") == "/x.yaml");
  CHECK(b->get_or("id", "none") == "none");
  auto c = parse({"--", "--not-an-option"}, spec, 1, 1, &err);
  REQUIRE(c);
  CHECK(c->positional()[0] == "--not-an-option");
}

TEST_CASE("Args: errors name the problem") {
  constexpr OptionSpec spec[] = {{"limit", 'n', true}, {"failed", 0, false}};
  std::string err;
  CHECK_FALSE(parse({"--bogus"}, spec, 0, 0, &err));
  CHECK(err == "unknown option --bogus");
  CHECK_FALSE(parse({"--limit"}, spec, 0, 0, &err));
  CHECK(err == "option --limit needs a value");
  CHECK_FALSE(parse({"--failed=yes"}, spec, 0, 0, &err));
  CHECK(err == "option --failed takes no value");
  CHECK_FALSE(parse({}, spec, 1, 1, &err));
  CHECK(err == "missing argument");
  CHECK_FALSE(parse({"a", "b"}, spec, 1, 1, &err));
  CHECK(err == "unexpected argument 'b'");
  // An option given twice with two values: which one was meant? (was: the last won)
  CHECK_FALSE(parse({"--limit", "5", "-n10"}, spec, 0, 0, &err));
  CHECK(err == "option --limit given twice ('5' and '10')");
  CHECK(parse({"--limit", "5", "--limit=5", "--failed", "--failed"}, spec, 0, 0, &err));  // the same twice: harmless
}

TEST_CASE("dispatch: usage errors exit 2, help exits 0") {
  auto r = run({"frobnicate"});
  CHECK(r.rc == kUsage);
  CHECK(r.err.find("unknown command 'frobnicate'") != std::string::npos);
  r = run({"queue"});
  CHECK(r.rc == kUsage);
  CHECK(r.err.find("queue list") != std::string::npos);
  r = run({"queue", "show"});
  CHECK(r.rc == kUsage);
  CHECK(r.err.find("usage: relayctl [-c FILE] queue show ID") != std::string::npos);
  r = run({"log", "--bogus"});
  CHECK(r.rc == kUsage);
  r = run({"help"});
  CHECK(r.rc == kOk);
  CHECK(r.out.find("send-test") != std::string::npos);
  r = run({"queue", "list", "--help"});
  CHECK(r.rc == kOk);
  CHECK(r.out.find("usage: relayctl [-c FILE] queue list") != std::string::npos);
}

TEST_CASE("dispatch: a config that does not load fails with exit 1 and names the file") {
  auto r = run({"config", "check"}, "/nonexistent/relay.yaml");
  CHECK(r.rc == kFail);
  CHECK(r.err.find("/nonexistent/relay.yaml") != std::string::npos);
}

TEST_CASE("config path: -c wins, then $RELAY_CONFIG, then /etc/relay/relay.yaml") {
  CHECK(resolve_config_path(std::string("a.yaml")) == "a.yaml");
  unsetenv("RELAY_CONFIG");
  CHECK(resolve_config_path(std::nullopt) == "/etc/relay/relay.yaml");
  setenv("RELAY_CONFIG", "/env.yaml", 1);
  CHECK(resolve_config_path(std::nullopt) == "/env.yaml");
  CHECK(resolve_config_path(std::string("b.yaml")) == "b.yaml");
  unsetenv("RELAY_CONFIG");
}
