// See token_cache.hpp.
#include "dispatcher/providers/cloud/token_cache.hpp"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <nlohmann/json.hpp>

#include "common/log.hpp"
#include "common/metrics_registry.hpp"
#include "dispatcher/providers/mail_util.hpp"  // first_line

namespace relay::provider::cloud {

using std::chrono::seconds;

TokenCache::TokenCache(Fetcher fetch, Now now, std::string log_name)
    : fetch_(std::move(fetch)), now_(std::move(now)), log_name_(std::move(log_name)) {}

bool TokenCache::fresh(Clock::time_point now) const {
  return !token_.empty() && now < refresh_at_;
}

void TokenCache::get(Callback cb) {
  const auto now = now_();
  if (fresh(now)) {
    cb(TokenResult{true, token_, {}});
    return;
  }
  if (!in_flight_ && now < retry_at_) {
    // Still backing off after a failure: answer from memory, do not ask again.
    if (!token_.empty() && now < expires_at_) {
      cb(TokenResult{true, token_, {}});  // old token still valid: use it meanwhile
      return;
    }
    TokenResult r{false, {}, last_error_};
    r.error.retry_after = std::chrono::duration_cast<seconds>(retry_at_ - now).count() + 1;
    cb(r);
    return;
  }
  waiters_.push_back(std::move(cb));
  if (!in_flight_) start_fetch();
}

bool TokenCache::invalidate(const std::string& token) {
  if (token.empty()) return false;
  if (token != token_) return true;  // already replaced: the caller's retry gets the new one
  const auto now = now_();
  if (after_401_ && now - acquired_at_ < kRefetchAfter401) {
    // This token was itself fetched because of a 401 and is refused too: a
    // new one would be refused the same way (permissions, audience). Keep
    // it; the delivery is held as a configuration error, and a burst of
    // 401s costs no token request per message.
    log::info("{} event=token_kept reason=\"a token fetched after a 401 was refused again; not asking for another "
              "within {}s\"", log_name_, kRefetchAfter401.count());
    return false;
  }
  log::info("{} event=token_invalidated reason=\"the API answered 401\"", log_name_);
  token_.clear();
  retry_at_ = {};  // a 401 is a reason to ask now, not to wait
  refetch_for_401_ = true;
  return true;
}

void TokenCache::start_fetch() {
  in_flight_ = true;
  fetch_after_401_ = refetch_for_401_;
  refetch_for_401_ = false;
  fetch_started_ = now_();
  ++requests_;
  if (!metrics_provider_.empty()) metrics::registry().add("relay_token_requests_total", {{"provider", metrics_provider_}});
  log::debug("{} event=token_request n={}", log_name_, requests_);
  fetch_([this](FetchResult r) { finish(std::move(r)); });
}

void TokenCache::finish(FetchResult r) {
  const auto now = now_();
  in_flight_ = false;
  if (r.ok) {
    // Clamped: a lifetime of centuries would overflow the clock's nanoseconds.
    const auto life = seconds(std::clamp<std::int64_t>(r.expires_in, 1, kMaxTokenLifetime));
    const auto margin = std::min<std::chrono::milliseconds>(seconds(300), std::chrono::milliseconds(life) / 5);
    token_ = std::move(r.access_token);
    expires_at_ = std::min(now, fetch_started_) + life;
    refresh_at_ = expires_at_ - margin;
    config_backoff_ = seconds(0);
    retry_at_ = {};
    acquired_at_ = now;
    after_401_ = fetch_after_401_;
    log::info("{} event=token_acquired expires_in={}", log_name_, life.count());
  } else {
    last_error_ = r.error;
    if (!metrics_provider_.empty()) metrics::registry().add("relay_token_failures_total", {{"provider", metrics_provider_}});
    if (r.error.config_error) {
      config_backoff_ = config_backoff_.count() == 0 ? seconds(300) : std::min(config_backoff_ * 2, seconds(3600));
      retry_at_ = now + config_backoff_;
      log::error("{} event=token_config_error status={} reason={} backoff={}s action=\"mail stays queued; fix the "
                 "provider configuration\"",
                 log_name_, r.error.code, log::quote(r.error.text), config_backoff_.count());
    } else {
      retry_at_ = now + seconds(10);
      log::warn("{} event=token_error status={} reason={}", log_name_, r.error.code, log::quote(r.error.text));
    }
  }
  auto waiters = std::move(waiters_);
  waiters_.clear();
  for (auto& w : waiters) {
    if (!token_.empty() && r.ok) {
      w(TokenResult{true, token_, {}});
    } else {
      TokenResult tr{false, {}, last_error_};
      tr.error.retry_after = std::chrono::duration_cast<seconds>(retry_at_ - now).count();
      w(tr);
    }
  }
}

TokenError parse_token_error(std::string_view body) {
  TokenError e;
  nlohmann::json j = nlohmann::json::parse(body, nullptr, false);
  if (j.is_discarded() || !j.is_object()) return e;
  if (auto it = j.find("error"); it != j.end() && it->is_string()) e.error = first_line(it->get<std::string>());
  if (auto it = j.find("error_description"); it != j.end() && it->is_string()) {
    e.description = first_line(it->get<std::string>());
  }
  if (auto it = j.find("error_codes"); it != j.end() && it->is_array() && !it->empty() && (*it)[0].is_number_integer()) {
    e.aadsts = (*it)[0].get<long>();
  } else if (e.description.rfind("AADSTS", 0) == 0) {
    e.aadsts = std::strtol(e.description.c_str() + 6, nullptr, 10);
  }
  return e;
}

TokenGrant parse_token_grant(std::string_view body) {
  TokenGrant g;
  nlohmann::json j = nlohmann::json::parse(body, nullptr, false);
  if (j.is_discarded() || !j.is_object()) return g;
  auto tok = j.find("access_token");
  if (tok == j.end() || !tok->is_string() || tok->get_ref<const std::string&>().empty()) return g;
  g.ok = true;
  g.access_token = tok->get<std::string>();
  double v = 0;  // as a double: an integer beyond int64 must not wrap
  if (auto it = j.find("expires_in"); it != j.end()) {
    if (it->is_number()) v = it->get<double>();
    if (it->is_string()) {
      const std::string& s = it->get_ref<const std::string&>();
      char* end = nullptr;
      v = std::strtod(s.c_str(), &end);
      if (s.empty() || !end || *end != '\0') v = 0;
    }
  }
  if (!std::isfinite(v) || v < 1) {
    g.expires_in_defaulted = true;
    return g;
  }
  g.expires_in = static_cast<std::int64_t>(std::min(v, static_cast<double>(kMaxTokenLifetime)));
  return g;
}

}  // namespace relay::provider::cloud
