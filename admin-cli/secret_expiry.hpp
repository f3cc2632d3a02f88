// relay::admin secret expiry — the config-side computation behind
// `relayctl secrets` when the dispatcher has not stored a secret_status row
// yet: days left until client_secret_expires and the resulting state.
// Pure (today is a parameter), unit-tested.
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace relay::config {
struct Config;
}

namespace relay::admin {

struct SecretExpiry {
  std::string expires;        // as configured
  std::int64_t days_left = 0;
  std::string state;          // ok | warning | expired | unknown
  std::string detail;
};

// Days since 1970-01-01 of "YYYY-MM-DD"; nullopt when malformed.
std::optional<std::int64_t> parse_date_days(std::string_view ymd);
// `today_days` is days since the epoch (UTC). An empty/malformed date gives
// state "unknown". Warning when days_left <= the largest warn day.
SecretExpiry secret_expiry(std::string_view expires, const std::vector<int>& warn_days, std::int64_t today_days);

// True when `provider` is, in this config, an m365 provider authenticating
// with a client secret. A stored secret_status row of any other name is
// stale (provider renamed or removed, or switched to a certificate) and is
// not shown by `secrets` or `stats`.
bool has_client_secret(const config::Config& cfg, std::string_view provider);

}  // namespace relay::admin
