// Secret-expiry notice keys and text (dispatcher/secret_notice.hpp): once
// per threshold, once per day when expired, nothing when ok/unknown; the
// marker makes a second enqueue a no-op.
#include <doctest/doctest.h>

#include <unistd.h>

#include <filesystem>

#include "dispatcher/secret_notice.hpp"

using relay::dispatch::build_secret_notice;
using relay::dispatch::enqueue_secret_notice;
using relay::dispatch::secret_notice_key;
using relay::provider::SecretStatus;

namespace {
const std::vector<int> kWarn{30, 14, 7, 3, 1};
constexpr std::int64_t kNow = 1795000000;  // 2026-11-18
}  // namespace

TEST_CASE("secret notice key: one per threshold, daily when expired, none when ok") {
  SecretStatus s{"2026-11-23", 5, "config", "warning", "expires in 5 days (warn at 30)"};
  CHECK(secret_notice_key("m365", s, kWarn, kNow) == "m365.2026-11-23.warn7");
  s.days_left = 6;
  CHECK(secret_notice_key("m365", s, kWarn, kNow) == "m365.2026-11-23.warn7");  // same threshold: same key
  s.days_left = 3;
  CHECK(secret_notice_key("m365", s, kWarn, kNow) == "m365.2026-11-23.warn3");
  s.days_left = 20;
  CHECK(secret_notice_key("m/x y", s, kWarn, kNow) == "m_x_y.2026-11-23.warn30");
  s.state = "expired";
  CHECK(secret_notice_key("m365", s, kWarn, kNow) == "m365.2026-11-23.expired.2026-11-18");
  CHECK(secret_notice_key("m365", s, kWarn, kNow + 86400) == "m365.2026-11-23.expired.2026-11-19");
  s.state = "ok";
  CHECK(secret_notice_key("m365", s, kWarn, kNow).empty());
  s.state = "unknown";
  CHECK(secret_notice_key("m365", s, kWarn, kNow).empty());
}

TEST_CASE("secret notice text and once-only enqueue") {
  SecretStatus s{"2026-11-23", 5, "graph", "warning", "expires in 5 days (warn at 30)"};
  std::string text = build_secret_notice("m365", s, "ops@example.com", "relay@example.com", "relay.test", "k", kNow);
  CHECK(text.find("From: relay <relay@example.com>\r\n") == 0);
  CHECK(text.find("Subject: relay: client secret of provider m365 expires in 5 days (2026-11-23)\r\n") !=
        std::string::npos);
  CHECK(text.find("\r\n\r\n") != std::string::npos);
  CHECK(text.find('\n') == text.find("\r\n") + 1);
  auto dir = std::filesystem::temp_directory_path() / ("secret-notice-" + std::to_string(::getpid()));
  std::string error;
  auto spool = relay::spool::Spool::open(dir, &error);
  REQUIRE(spool);
  std::string id;
  bool already = true;
  CHECK(enqueue_secret_notice(*spool, "m365.2026-11-23.warn7", "ops@example.com", text, &id, &already).ok());
  CHECK_FALSE(already);
  CHECK_FALSE(id.empty());
  CHECK(std::filesystem::exists(spool->path_of(relay::spool::State::New, *relay::spool::QueueId::parse(id))));
  std::string id2;
  CHECK(enqueue_secret_notice(*spool, "m365.2026-11-23.warn7", "ops@example.com", text, &id2, &already).ok());
  CHECK(already);
  CHECK(id2.empty());
  std::filesystem::remove_all(dir);
}
