// See secret_expiry.hpp.
#include "dispatcher/providers/m365/secret_expiry.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <nlohmann/json.hpp>

namespace relay::provider::m365 {
namespace {

// Howard Hinnant's days_from_civil.
long days_from_civil(long y, unsigned m, unsigned d) {
  y -= m <= 2;
  const long era = (y >= 0 ? y : y - 399) / 400;
  const unsigned yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<long>(doe) - 719468;
}

}  // namespace

std::optional<long> parse_day(std::string_view date) {
  if (date.size() < 10 || date[4] != '-' || date[7] != '-') return std::nullopt;
  for (int i : {0, 1, 2, 3, 5, 6, 8, 9})
    if (!std::isdigit(static_cast<unsigned char>(date[static_cast<std::size_t>(i)]))) return std::nullopt;
  const long y = std::stol(std::string(date.substr(0, 4)));
  const unsigned m = static_cast<unsigned>(std::stoi(std::string(date.substr(5, 2))));
  const unsigned d = static_cast<unsigned>(std::stoi(std::string(date.substr(8, 2))));
  if (m < 1 || m > 12 || d < 1 || d > 31) return std::nullopt;
  return days_from_civil(y, m, d);
}

std::optional<int> warn_threshold(long days_left, const std::vector<int>& warn_days) {
  std::optional<int> best;
  for (int w : warn_days)
    if (days_left <= w && (!best || w < *best)) best = w;
  return best;
}

SecretStatus secret_status_from(std::string_view expires, std::string_view source, std::time_t now,
                                const std::vector<int>& warn_days) {
  SecretStatus s;
  s.source = std::string(source);
  auto day = parse_day(expires);
  if (!day) {
    s.state = "unknown";
    s.detail = "client secret expiry unknown (set client_secret_expires or grant Application.Read.All)";
    return s;
  }
  s.expires = std::string(expires.substr(0, 10));
  const long today = static_cast<long>(now / 86400);
  s.days_left = *day - today;
  if (s.days_left < 0) {
    s.state = "expired";
    s.detail = fmt::format("client secret expired {} days ago ({})", -s.days_left, s.expires);
  } else if (auto w = warn_threshold(s.days_left, warn_days)) {
    s.state = "warning";
    s.detail = fmt::format("client secret expires in {} days on {} (warn at {})", s.days_left, s.expires, *w);
  } else {
    s.state = "ok";
    s.detail = fmt::format("client secret expires in {} days on {}", s.days_left, s.expires);
  }
  return s;
}

std::optional<std::string> expiry_from_graph(std::string_view body, std::string_view client_secret) {
  auto j = nlohmann::json::parse(body, nullptr, false);
  if (j.is_discarded() || !j.is_object() || !j.contains("passwordCredentials") || !j["passwordCredentials"].is_array()) {
    return std::nullopt;
  }
  std::optional<std::string> matched, latest;
  const std::string hint(client_secret.substr(0, std::min<std::size_t>(3, client_secret.size())));
  for (const auto& c : j["passwordCredentials"]) {
    if (!c.is_object() || !c.contains("endDateTime") || !c["endDateTime"].is_string()) continue;
    std::string end = c["endDateTime"].get<std::string>();
    if (!parse_day(end)) continue;
    end = end.substr(0, 10);
    if (!latest || end > *latest) latest = end;
    if (c.contains("hint") && c["hint"].is_string() && !hint.empty() && c["hint"].get<std::string>() == hint) {
      if (!matched || end < *matched) matched = end;
    }
  }
  return matched ? matched : latest;
}

}  // namespace relay::provider::m365
