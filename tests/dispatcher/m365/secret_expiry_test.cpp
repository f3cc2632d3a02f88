#include <doctest/doctest.h>

#include "dispatcher/providers/m365/secret_expiry.hpp"

using namespace relay::provider::m365;

TEST_CASE("status from a configured date") {
  const std::time_t now = 1764072000;  // 2025-11-25
  std::vector<int> warn{30, 14, 7, 3, 1};
  auto s = secret_status_from("2026-06-30", "config", now, warn);
  CHECK(s.state == "ok");
  CHECK(s.days_left == 217);
  s = secret_status_from("2025-12-01", "config", now, warn);
  CHECK(s.state == "warning");
  CHECK(s.days_left == 6);
  CHECK(s.detail == "client secret expires in 6 days on 2025-12-01 (warn at 7)");
  s = secret_status_from("2025-11-20", "config", now, warn);
  CHECK(s.state == "expired");
  CHECK(secret_status_from("", "config", now, warn).state == "unknown");
  CHECK(secret_status_from("2025-13-01", "config", now, warn).state == "unknown");
  CHECK(warn_threshold(6, warn) == 7);
  CHECK(warn_threshold(31, warn) == std::nullopt);
}

TEST_CASE("expiry from Graph passwordCredentials picks the credential by hint") {
  std::string body = R"({"passwordCredentials":[
     {"hint":"abc","endDateTime":"2026-01-10T00:00:00Z","keyId":"1"},
     {"hint":"xyz","endDateTime":"2027-03-01T10:00:00.000Z","keyId":"2"}]})";
  CHECK(expiry_from_graph(body, "xyz-secret-value") == "2027-03-01");
  CHECK(expiry_from_graph(body, "abc~secret") == "2026-01-10");
  CHECK(expiry_from_graph(body, "nomatch") == "2027-03-01");
  CHECK_FALSE(expiry_from_graph("{}", "x"));
  CHECK_FALSE(expiry_from_graph("not json", "x"));
}
