// See shared_limiter.hpp. The statements and the connection's life are in
// shared_limiter_db.cpp.
#include "dispatcher/providers/cloud/shared_limiter.hpp"

#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <fstream>
#include <random>

#include "common/log.hpp"

namespace relay::provider::cloud {
namespace {

int share(int limit, int divisor, bool zero_is_unlimited) {
  if (divisor <= 1 || (zero_is_unlimited && limit <= 0)) return limit;
  return std::max(1, limit / divisor);
}

// host:pid:boot:nonce — who holds a lease, readable in mailbox_lease.
std::string make_holder() {
  char host[256] = {};
  ::gethostname(host, sizeof host - 1);
  std::string boot;
  std::ifstream f("/proc/sys/kernel/random/boot_id");
  std::getline(f, boot);
  std::random_device rd;
  return fmt::format("{}:{}:{}:{:04x}", host, ::getpid(), boot.substr(0, 8), rd() & 0xffff);
}

}  // namespace

SharedLimits shared_limits(const Context& ctx, std::string scope, std::string who, int slots, int rate,
                           bool adaptive) {
  SharedLimits l;
  l.scope = std::move(scope);
  l.who = std::move(who);
  l.slots = std::max(1, slots);
  l.rate = std::max(0, rate);
  l.adaptive = adaptive;
  if (!ctx.config) return l;
  const config::Config& c = *ctx.config;
  if (ctx.loop && c.limits.coordination == "database") l.conninfo = c.database.conninfo;
  l.ttl_ms = c.limits.lease_ttl * 1000;
  l.fallback_divisor = std::max(1, c.dispatcher.processes) * std::max(1, c.limits.hosts);
  return l;
}

SharedLimiter::SharedLimiter(uv_loop_t* loop, SharedLimits limits, Clock::duration max_wait)
    : loop_(loop),
      limits_(std::move(limits)),
      max_wait_(max_wait),
      mode_(limits_.conninfo.empty() ? Mode::Local : Mode::Database),
      local_(share(limits_.slots, limits_.fallback_divisor, false), share(limits_.rate, limits_.fallback_divisor, true),
             limits_.adaptive, max_wait),
      caps_(limits_.slots, 0, limits_.adaptive, max_wait),
      holder_(make_holder()) {
  if (mode_ == Mode::Local) return;
  // The statement deadline: long enough for a busy server, short next to the TTL.
  // (1 s fell back under a loaded test machine; past the TTL our leases lapse anyway.)
  const std::int64_t deadline = std::clamp<std::int64_t>(limits_.ttl_ms / 2, 1500, 10000);
  pg_ = std::make_unique<AsyncPg>(
      loop_, limits_.conninfo, deadline,
      [this](const std::string&, const std::string& key) {
        const std::string prefix = limits_.scope + ":";
        if (key.rfind(prefix, 0) != 0) return;
        auto it = boxes_.find(key.substr(prefix.size()));
        if (it != boxes_.end() && !it->second.waiting.empty()) schedule(it->first);
      },
      [this](const std::string& reason) { lost(reason); });
  retry_timer_ = new uv_timer_t;
  uv_timer_init(loop_, retry_timer_);
  retry_timer_->data = this;
  uv_unref(reinterpret_cast<uv_handle_t*>(retry_timer_));
}

SharedLimiter::~SharedLimiter() {
  pg_.reset();  // drops its callbacks; our leases expire (or were released)
  if (retry_timer_) {
    uv_timer_stop(retry_timer_);
    uv_close(reinterpret_cast<uv_handle_t*>(retry_timer_),
             [](uv_handle_t* h) { delete reinterpret_cast<uv_timer_t*>(h); });
  }
}

std::uint64_t SharedLimiter::statements() const noexcept { return pg_ ? pg_->statements() : 0; }

int SharedLimiter::slots_for(const std::string& mailbox) const { return caps_.cap(mailbox); }

int SharedLimiter::cap(const std::string& mailbox) const {
  return mode_ == Mode::Database ? caps_.cap(mailbox) : local_.cap(mailbox);
}

void SharedLimiter::acquire(const std::string& mailbox, Clock::time_point now, Grant grant) {
  // Requests granted under the share (before the database came back) are
  // unknown to it: the share serves this mailbox until they are done.
  if (mode_ != Mode::Database || local_.in_flight(mailbox) > 0) {
    // Just fallen back: other hosts' requests granted by the database may
    // still run; the share starts once they are likely done.
    if (now < quiet_until_) local_.hold_until(mailbox, quiet_until_);
    return local_.acquire(mailbox, now, std::move(grant));
  }
  Box& b = boxes_[mailbox];
  b.waiting.push_back({std::move(grant), now});
  hand_out(mailbox, b, now);
  if (!b.waiting.empty()) schedule(mailbox);
}

void SharedLimiter::release(const std::string& mailbox, Clock::time_point now, bool ok) {
  if (local_.in_flight(mailbox) > 0) return local_.release(mailbox, now, ok);  // granted by the share
  auto it = boxes_.find(mailbox);
  if (it == boxes_.end() || it->second.busy.empty()) return;
  Box& b = it->second;
  const int slot = b.busy.back();
  b.busy.pop_back();
  if (!b.running.empty()) {  // FIFO is close enough for a moving average
    b.mean = (b.mean * 7 + (now - b.running.front())) / 8;
    b.running.pop_front();
  }
  caps_.release(mailbox, now, ok);
  // Without a rate limit (nor a pause, nor a lowered cap) the lease goes
  // straight to the next request waiting here: no statement at all.
  const bool keep = limits_.rate <= 0 && b.retry_at <= now && b.pause_ms == 0 && !b.waiting.empty() &&
                    static_cast<int>(b.busy.size() + b.spare.size()) < slots_for(mailbox);
  (keep ? b.spare : b.to_release).push_back(slot);
  hand_out(mailbox, b, now);
  if (!b.to_release.empty() || !b.waiting.empty()) schedule(mailbox);
}

void SharedLimiter::slow_down(const std::string& mailbox, Clock::time_point now, Clock::time_point until) {
  local_.slow_down(mailbox, now, until);
  if (mode_ != Mode::Database) return;
  caps_.slow_down(mailbox, now, until);
  Box& b = boxes_[mailbox];
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(until - now).count();
  b.pause_ms = std::max<int>(b.pause_ms, static_cast<int>(std::max<long long>(1, ms)));
  b.retry_at = std::max(b.retry_at, until);
  schedule(mailbox);
}

void SharedLimiter::hand_out(const std::string& mailbox, Box& b, Clock::time_point now) {
  std::vector<Grant> grants;
  while (!b.spare.empty() && !b.waiting.empty()) {
    b.busy.push_back(b.spare.back());
    b.spare.pop_back();
    b.running.push_back(now);
    caps_.adopt(mailbox, now);
    grants.push_back(std::move(b.waiting.front().grant));
    b.waiting.pop_front();
    ++granted_;
  }
  if (b.waiting.empty() && !b.spare.empty()) {  // more than needed (a waiter was refused meanwhile)
    b.to_release.insert(b.to_release.end(), b.spare.begin(), b.spare.end());
    b.spare.clear();
    schedule(mailbox);
  }
  for (auto& g : grants) g(std::nullopt);  // last: they may re-enter
}

SharedLimiter::Clock::duration SharedLimiter::pace(const Box& b) const {
  Clock::duration p = b.mean / std::max(1, limits_.slots);
  if (limits_.rate > 0) {
    p = std::max<Clock::duration>(p, std::chrono::duration_cast<Clock::duration>(std::chrono::minutes(1)) /
                                         limits_.rate);
  }
  return p;
}

// As MailboxLimiter::refuse_long_waits, with the database's answer (retry_at)
// standing for the rate window and Retry-After, and a waiter's own age
// bounding its wait (other hosts' requests are not seen here).
void SharedLimiter::refuse_long_waits(const std::string& mailbox, Box& b, Clock::time_point now) {
  const bool by_time = b.retry_at > now;
  const Clock::duration step = pace(b);
  // Up to the free slots may start at once (one statement away); the rest
  // one pace after another behind them.
  const int free = by_time ? 0 : std::max(0, slots_for(mailbox) - static_cast<int>(b.busy.size() + b.spare.size()));
  const Clock::duration first = by_time ? b.retry_at - now : step;
  std::vector<std::pair<Grant, Clock::time_point>> refused;
  std::deque<Waiter> keep;
  for (std::size_t k = 0; k < b.waiting.size(); ++k) {
    Waiter& w = b.waiting[k];
    const long behind = static_cast<long>(keep.size()) - free;
    const Clock::duration expect = behind < 0 ? Clock::duration::zero() : first + step * behind;
    if (expect <= max_wait_ && now - w.since < max_wait_) {
      keep.push_back(std::move(w));
      continue;
    }
    Clock::time_point until = now + expect;
    if (by_time) {
      until = std::max(until, b.reserved_until + step);
      b.reserved_until = until;
    }
    refused.emplace_back(std::move(w.grant), until);
  }
  b.waiting = std::move(keep);
  for (auto& [g, until] : refused) g(until);
}

std::optional<SharedLimiter::Clock::time_point> SharedLimiter::pump(Clock::time_point now) {
  std::optional<Clock::time_point> wake = local_.pump(now);
  caps_.pump(now);  // forgets idle mailboxes
  auto sooner = [&](Clock::time_point t) {  // past times are acted on now, not woken for
    if (t > now) wake = wake ? std::min(*wake, t) : t;
  };
  for (auto it = boxes_.begin(); it != boxes_.end();) {
    const std::string& mailbox = it->first;
    Box& b = it->second;
    if (!b.waiting.empty()) {
      refuse_long_waits(mailbox, b, now);
      if (!b.waiting.empty()) {
        if ((b.retry_at <= now && b.poll_at <= now) && !b.in_query) schedule(mailbox);
        sooner(std::max(b.retry_at, b.poll_at));
        sooner(b.waiting.front().since + max_wait_);
      }
    }
    const bool idle = b.waiting.empty() && b.busy.empty() && b.spare.empty() && b.to_release.empty() &&
                      !b.in_query && b.pause_ms == 0 && b.retry_at <= now && b.reserved_until <= now;
    it = idle && !dirty_.count(mailbox) ? boxes_.erase(it) : std::next(it);
  }
  if (mode_ == Mode::Database && renew_at_ != Clock::time_point{}) {
    if (renew_at_ <= now) run_next();
    sooner(renew_at_);
  }
  return wake;
}

void SharedLimiter::changed() {
  if (wake_) wake_();
}

}  // namespace relay::provider::cloud
