// See shared_limiter.hpp: the statements (one at a time on the limiter's
// own connection), the connection's life, fallback and return.
#include <fmt/format.h>

#include <algorithm>
#include <cstdlib>

#include "common/log.hpp"
#include "dispatcher/providers/cloud/shared_limiter.hpp"

namespace relay::provider::cloud {
namespace {

constexpr const char* kStep =
    "SELECT granted, wait_ms FROM relay_mailbox_step($1, $2, $3::integer, $4::integer, $5::integer,"
    " $6::integer[], $7::integer, $8::integer)";
constexpr const char* kRenew = "SELECT relay_mailbox_renew($1, $2::integer)";
constexpr std::uint64_t kReconnectMs = 5000;

std::string int_array(const std::vector<int>& v) {
  std::string s = "{";
  for (std::size_t i = 0; i < v.size(); ++i) s += (i ? "," : "") + std::to_string(v[i]);
  return s + "}";
}

std::vector<int> parse_int_array(const std::string& s) {  // "{0,3}"
  std::vector<int> out;
  const char* p = s.c_str();
  while (*p) {
    if (*p >= '0' && *p <= '9') {
      char* end = nullptr;
      out.push_back(static_cast<int>(std::strtol(p, &end, 10)));
      p = end;
    } else {
      ++p;
    }
  }
  return out;
}

}  // namespace

void SharedLimiter::schedule(const std::string& mailbox) {
  dirty_.insert(mailbox);
  run_next();
}

void SharedLimiter::run_next() {
  if (mode_ != Mode::Database) return;
  if (!pg_->ready()) {
    if (!pg_->connecting()) pg_->connect([this] { connected(); });
    return;
  }
  if (pg_->busy()) return;
  if (renew_at_ != Clock::time_point{} && renew_at_ <= Clock::now()) return renew();
  while (!dirty_.empty() && !pg_->busy()) {
    const std::string mailbox = *dirty_.begin();
    dirty_.erase(dirty_.begin());
    if (boxes_.count(mailbox)) step(mailbox);
  }
}

void SharedLimiter::step(const std::string& mailbox) {
  Box& b = boxes_[mailbox];
  if (b.in_query) return;
  const auto now = Clock::now();
  const int held = static_cast<int>(b.busy.size() + b.spare.size());
  int want = std::min(static_cast<int>(b.waiting.size()) - static_cast<int>(b.spare.size()), slots_for(mailbox) - held);
  if (b.retry_at > now && b.pause_ms == 0) want = 0;  // the database already said when
  want = std::max(0, want);
  if (want == 0 && b.to_release.empty() && b.pause_ms == 0) return;
  b.in_query = true;
  b.releasing = std::move(b.to_release);
  b.to_release.clear();
  const int pause = b.pause_ms;
  b.pause_ms = 0;
  pg_->exec(kStep,
            {limits_.scope + ":" + mailbox, holder_, std::to_string(slots_for(mailbox)), std::to_string(limits_.rate),
             std::to_string(limits_.ttl_ms), int_array(b.releasing), std::to_string(want), std::to_string(pause)},
            [this, alive = std::weak_ptr<int>(alive_), mailbox, want](PgRows r) {
              if (!alive.expired()) stepped(mailbox, want, r);
            });
}

void SharedLimiter::stepped(const std::string& mailbox, int want, const PgRows& r) {
  auto it = boxes_.find(mailbox);
  if (it == boxes_.end() || mode_ != Mode::Database) return;  // fell back meanwhile: the leases expire
  Box& b = it->second;
  b.in_query = false;
  b.releasing.clear();
  if (!r.ok || r.rows.empty()) {
    if (pg_->ready()) fall_back(r.ok ? "relay_mailbox_step returned no row" : r.error);
    return;  // else the connection is lost: lost() falls back
  }
  const auto now = Clock::now();
  const std::vector<int> got = parse_int_array(r.rows[0][0]);
  const long wait_ms = std::atol(r.rows[0][1].c_str());
  b.spare.insert(b.spare.end(), got.begin(), got.end());
  if (wait_ms > 0) b.retry_at = now + std::chrono::milliseconds(wait_ms);
  // Blocked by other holders' leases: a release NOTIFYs; a lease that only
  // expires (its holder died) is found by asking again after a while.
  const auto poll = std::chrono::milliseconds(std::clamp<std::int64_t>(limits_.ttl_ms / 8, 100, 1000));
  b.poll_at = static_cast<int>(got.size()) < want && wait_ms == 0 ? now + poll : Clock::time_point{};
  if (!got.empty() && renew_at_ == Clock::time_point{}) renew_at_ = now + std::chrono::milliseconds(limits_.ttl_ms / 3);
  hand_out(mailbox, b, now);
  run_next();
  changed();
}

void SharedLimiter::renew() {
  bool held = false;
  for (const auto& [_, b] : boxes_) held = held || !b.busy.empty() || !b.spare.empty();
  if (!held) {
    renew_at_ = Clock::time_point{};
    return run_next();
  }
  renew_at_ = Clock::now() + std::chrono::milliseconds(limits_.ttl_ms / 3);
  pg_->exec(kRenew, {holder_, std::to_string(limits_.ttl_ms)}, [this, alive = std::weak_ptr<int>(alive_)](PgRows r) {
    if (alive.expired() || mode_ != Mode::Database) return;
    if (!r.ok) {
      if (pg_->ready()) fall_back(r.error);
      return;
    }
    run_next();
    changed();
  });
}

void SharedLimiter::connected() {
  pg_->exec("LISTEN relay_mailbox_free", {}, [this, alive = std::weak_ptr<int>(alive_)](PgRows r) {
    if (alive.expired()) return;
    if (!r.ok) return fall_back(r.error);
    if (mode_ == Mode::Fallback) {
      log::info("provider={} event=limiter_coordinated reason=\"database reachable again\" holder={}", limits_.who,
                holder_);
      last_reason_.clear();
      mode_ = Mode::Database;
    }
    run_next();
    changed();
  });
}

void SharedLimiter::lost(const std::string& reason) {
  if (mode_ == Mode::Database) return fall_back(reason);
  log::debug("provider={} event=limiter_reconnect_failed reason={}", limits_.who, log::quote(reason));
  start_retry_timer();
}

void SharedLimiter::fall_back(const std::string& reason) {
  if (reason != last_reason_) {
    log::warn("provider={} event=limiter_fallback reason={} share_concurrency={} share_rate={} divisor={}",
              limits_.who, log::quote(reason), local_.cap(""), limits_.rate > 0 ? std::max(1, limits_.rate / std::max(1, limits_.fallback_divisor)) : 0,
              limits_.fallback_divisor);
    last_reason_ = reason;
  }
  mode_ = Mode::Fallback;
  const auto now = Clock::now();
  // Requests the database granted keep counting against the share until
  // they finish; their leases expire. Waiters queue for the share.
  std::vector<std::pair<std::string, Grant>> waiting;
  Clock::duration quiet = std::chrono::milliseconds(500);
  for (const auto& [_, b] : boxes_) quiet = std::max<Clock::duration>(quiet, 2 * b.mean);
  quiet_until_ = now + std::min<Clock::duration>(quiet, std::chrono::milliseconds(limits_.ttl_ms));
  for (auto& [mailbox, b] : boxes_) {
    local_.hold_until(mailbox, quiet_until_);
    for (std::size_t i = 0; i < b.busy.size(); ++i) local_.adopt(mailbox, now);
    for (auto& w : b.waiting) waiting.emplace_back(mailbox, std::move(w.grant));
  }
  boxes_.clear();
  dirty_.clear();
  renew_at_ = Clock::time_point{};
  caps_ = MailboxLimiter(limits_.slots, 0, limits_.adaptive, max_wait_);
  start_retry_timer();
  for (auto& [mailbox, g] : waiting) local_.acquire(mailbox, now, std::move(g));
  changed();
}

void SharedLimiter::start_retry_timer() {
  uv_timer_start(
      retry_timer_,
      [](uv_timer_t* t) {
        auto* self = static_cast<SharedLimiter*>(t->data);
        if (self->mode_ != Mode::Fallback) return;
        if (self->pg_->ready()) return self->connected();
        self->pg_->connect([self] { self->connected(); });
      },
      kReconnectMs, 0);
}

}  // namespace relay::provider::cloud
