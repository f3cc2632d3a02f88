// ConfigAlerts: one alert per provider configuration-error state change.
#include <doctest/doctest.h>

#include "dispatcher/config_alert.hpp"

using relay::dispatch::ConfigAlerts;
using relay::provider::Outcome;
using relay::provider::Result;

namespace {
Result res(Outcome o, bool config_error) {
  Result r;
  r.outcome = o;
  r.config_error = config_error;
  return r;
}
}  // namespace

TEST_CASE("config alerts: raised once, quiet while held, cleared by a delivery, raised again") {
  ConfigAlerts a;
  using C = ConfigAlerts::Change;
  CHECK(a.on_result("m365", res(Outcome::Transient, true)) == C::Raised);
  CHECK(a.active("m365"));
  for (int i = 0; i < 5; ++i) CHECK(a.on_result("m365", res(Outcome::Transient, true)) == C::None);
  CHECK(a.on_result("smtp", res(Outcome::Transient, true)) == C::Raised);  // per provider
  CHECK(a.on_result("m365", res(Outcome::Transient, false)) == C::None);   // a timeout proves nothing
  CHECK(a.on_result("m365", res(Outcome::Permanent, false)) == C::None);
  CHECK(a.active("m365"));
  CHECK(a.on_result("m365", res(Outcome::Sent, false)) == C::Cleared);
  CHECK_FALSE(a.active("m365"));
  CHECK(a.on_result("m365", res(Outcome::Sent, false)) == C::None);
  CHECK(a.on_result("m365", res(Outcome::Transient, true)) == C::Raised);
  Result partial = res(Outcome::Permanent, false);  // one recipient accepted: the credentials work
  partial.rcpts.push_back({"a@x", Outcome::Sent, 250, "ok"});
  partial.rcpts.push_back({"b@x", Outcome::Permanent, 550, "5.1.1 no"});
  CHECK(a.on_result("m365", partial) == C::Cleared);
  CHECK(a.active("smtp"));
}

TEST_CASE("config notice: one key per provider and UTC day, says what is wrong and that mail is held") {
  const std::int64_t now = 1764072000;  // 2025-11-25 12:00:00 UTC
  CHECK(relay::dispatch::config_notice_key("m365", now) == "config-error-m365-2025-11-25");
  CHECK(relay::dispatch::config_notice_key("m365", now + 11 * 3600) == "config-error-m365-2025-11-25");
  CHECK(relay::dispatch::config_notice_key("m365", now + 12 * 3600) == "config-error-m365-2025-11-26");
  CHECK(relay::dispatch::config_notice_key("a/../b", now) == "config-error-a____b-2025-11-25");
  std::string n = relay::dispatch::build_config_notice("m365", "missing permission: access denied\r\nBcc: x@y",
                                                        "ops@example.com", "", "relay.example", "k", now);
  CHECK(n.find("From: Mail Delivery System <MAILER-DAEMON@relay.example>\r\n") == 0);
  CHECK(n.find("To: <ops@example.com>\r\n") != std::string::npos);
  CHECK(n.find("Subject: relay: provider m365 has a configuration error; mail is held\r\n") != std::string::npos);
  CHECK(n.find("missing permission: access denied  Bcc: x@y") != std::string::npos);  // no header injection
  CHECK(n.find("\r\nBcc:") == std::string::npos);
  CHECK(n.find("Auto-Submitted: auto-generated") != std::string::npos);
}
