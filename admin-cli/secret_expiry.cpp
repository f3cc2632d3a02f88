// relay::admin secret expiry (see secret_expiry.hpp).
#include "admin-cli/secret_expiry.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <charconv>

#include "common/config.hpp"

namespace relay::admin {

std::optional<std::int64_t> parse_date_days(std::string_view s) {
  if (s.size() != 10 || s[4] != '-' || s[7] != '-') return std::nullopt;
  int y = 0;
  unsigned m = 0, d = 0;
  auto num = [&](std::size_t pos, std::size_t len, auto& out) {
    auto r = std::from_chars(s.data() + pos, s.data() + pos + len, out);
    return r.ec == std::errc() && r.ptr == s.data() + pos + len;
  };
  if (!num(0, 4, y) || !num(5, 2, m) || !num(8, 2, d)) return std::nullopt;
  std::chrono::year_month_day ymd{std::chrono::year{y}, std::chrono::month{m}, std::chrono::day{d}};
  if (!ymd.ok()) return std::nullopt;
  return std::chrono::sys_days(ymd).time_since_epoch().count();
}

SecretExpiry secret_expiry(std::string_view expires, const std::vector<int>& warn_days, std::int64_t today) {
  SecretExpiry out;
  out.expires = std::string(expires);
  auto day = parse_date_days(expires);
  if (!day) {
    out.state = "unknown";
    out.detail = expires.empty() ? "no client_secret_expires configured" : "unreadable date";
    return out;
  }
  out.days_left = *day - today;
  int warn = warn_days.empty() ? 0 : *std::max_element(warn_days.begin(), warn_days.end());
  if (out.days_left < 0) {
    out.state = "expired";
    out.detail = fmt::format("expired {} day{} ago", -out.days_left, out.days_left == -1 ? "" : "s");
  } else if (out.days_left <= warn) {
    out.state = "warning";
    out.detail = fmt::format("expires in {} day{} (warn at {})", out.days_left, out.days_left == 1 ? "" : "s", warn);
  } else {
    out.state = "ok";
    out.detail = fmt::format("expires in {} days", out.days_left);
  }
  return out;
}

bool has_client_secret(const config::Config& cfg, std::string_view provider) {
  for (const auto& p : cfg.providers)
    if (p.name == provider && p.type == config::ProviderType::M365 && !p.m365.client_secret.empty() &&
        p.m365.certificate_file.empty())
      return true;
  return false;
}

}  // namespace relay::admin
