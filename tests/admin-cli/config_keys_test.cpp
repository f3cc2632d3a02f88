// relayctl config keys: prints the key table (the source of
// docs/configuration.md) without needing a config file.
#include <doctest/doctest.h>

#include <cstdio>
#include <sstream>
#include <string>
#include <vector>

#include "admin-cli/command.hpp"
#include "tests/admin-cli/dispatch_capture.hpp"
#include "common/config_reference.hpp"
#include "common/config_table.hpp"

using namespace relay::admin;

namespace {
test::Captured run(std::vector<std::string> argv) { return test::run_captured(argv, std::string("/nonexistent/relay.yaml")); }
std::vector<std::string> lines(const std::string& s) {
  std::vector<std::string> v;
  std::istringstream in(s);
  for (std::string l; std::getline(in, l);) v.push_back(l);
  return v;
}
}  // namespace

TEST_CASE("config keys --markdown prints one row per key, in table order, with a header") {
  test::Captured r = run({"config", "keys", "--markdown"});
  CHECK(r.rc == kOk);
  CHECK(r.err.empty());
  auto got = lines(r.out);
  std::vector<std::string> want = {"| key | default | type | reload | meaning |", "|---|---|---|---|---|"};
  for (const auto& k : relay::config::detail::keys())
    if (!relay::config::reference::full_path(k).empty()) want.push_back(relay::config::reference::row_prefix(k) + " |");
  CHECK(got == want);
  CHECK(got.size() > 100);
  CHECK(r.out.find("| `receiver.limits.max_message_size` | `35MB` | size 1KB..1TB | yes | |") != std::string::npos);
  CHECK(r.out.find("| `spool.directory` | `/var/spool/relay` | path | restart |") != std::string::npos);
  CHECK(r.out.find("| `providers.<name>.client_id` | required | string | yes |") != std::string::npos);
  CHECK(r.out.find("| `receiver.limits` |") == std::string::npos);  // sections are not keys
}

TEST_CASE("config keys prints an aligned table with the scope of each key") {
  test::Captured r = run({"config", "keys"});
  CHECK(r.rc == kOk);
  auto got = lines(r.out);
  REQUIRE(!got.empty());
  CHECK(got[0].rfind("KEY", 0) == 0);
  bool found = false;
  for (const auto& l : got)
    if (l.rfind("providers.<name>.tenant_id ", 0) == 0) {
      found = true;
      CHECK(l.find("required") != std::string::npos);
      CHECK(l.find("m365 provider") != std::string::npos);
    }
  CHECK(found);
  CHECK(run({"config", "keys", "--bogus"}).rc == kUsage);
}
