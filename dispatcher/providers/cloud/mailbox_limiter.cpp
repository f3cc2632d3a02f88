// See mailbox_limiter.hpp.
#include "dispatcher/providers/cloud/mailbox_limiter.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <vector>

namespace relay::provider::cloud {

using std::chrono::minutes;
using std::chrono::seconds;

MailboxLimiter::MailboxLimiter(int max_concurrent, int rate_per_minute, bool adaptive, Clock::duration max_wait)
    : max_concurrent_(std::max(1, max_concurrent)), rate_(std::max(0, rate_per_minute)), adaptive_(adaptive),
      max_wait_(max_wait) {}

MailboxLimiter::Box& MailboxLimiter::box(const std::string& mailbox) {
  Box& b = boxes_[mailbox];
  if (b.cap == 0) b.cap = b.ceiling = max_concurrent_;
  return b;
}

std::optional<MailboxLimiter::Clock::time_point> MailboxLimiter::next_start(Box& b, Clock::time_point now) const {
  while (!b.starts.empty() && b.starts.front() + minutes(1) <= now) b.starts.pop_front();
  if (b.in_flight >= b.cap) return std::nullopt;
  Clock::time_point at = now;
  if (b.slowed_until > at) at = b.slowed_until;
  if (rate_ > 0 && static_cast<int>(b.starts.size()) >= rate_) {
    at = std::max(at, b.starts[b.starts.size() - static_cast<std::size_t>(rate_)] + minutes(1));
  }
  return at;
}

MailboxLimiter::Clock::duration MailboxLimiter::pace(const Box& b) const {
  Clock::duration p = b.mean / std::max(1, b.cap);
  if (rate_ > 0) p = std::max<Clock::duration>(p, std::chrono::duration_cast<Clock::duration>(minutes(1)) / rate_);
  return p;
}

void MailboxLimiter::acquire(const std::string& mailbox, Clock::time_point now, Grant grant) {
  box(mailbox).waiting.push_back(std::move(grant));
  pump(now);
}

void MailboxLimiter::adopt(const std::string& mailbox, Clock::time_point now) {
  Box& b = box(mailbox);
  ++b.in_flight;
  if (rate_ > 0) b.starts.push_back(now);
  b.running.push_back(now);
}

void MailboxLimiter::release(const std::string& mailbox, Clock::time_point now, bool ok) {
  auto it = boxes_.find(mailbox);
  if (it != boxes_.end() && it->second.in_flight > 0) {
    Box& b = it->second;
    --b.in_flight;
    if (!b.running.empty()) {  // FIFO is close enough for a moving average
      b.mean = (b.mean * 7 + (now - b.running.front())) / 8;
      b.running.pop_front();
    }
    if (now >= b.ceiling_until) b.ceiling = max_concurrent_;
    if (adaptive_ && ok && b.cap < b.ceiling && ++b.successes >= b.cap) {
      ++b.cap;
      b.successes = 0;
    }
  }
  pump(now);
}

void MailboxLimiter::slow_down(const std::string& mailbox, Clock::time_point now, Clock::time_point until) {
  Box& b = box(mailbox);
  b.slowed_until = std::max(b.slowed_until, until);
  if (!adaptive_ || now < b.next_shrink) return;  // one cut per burst of 429s
  b.ceiling = std::max(1, b.cap - 1);
  b.ceiling_until = now + minutes(5);
  b.cap = std::max(1, b.cap / 2);
  b.successes = 0;
  b.next_shrink = now + std::max<Clock::duration>(seconds(1), b.mean);
}

void MailboxLimiter::hold_until(const std::string& mailbox, Clock::time_point until) {
  Box& b = box(mailbox);
  b.slowed_until = std::max(b.slowed_until, until);
}

void MailboxLimiter::refuse_long_waits(Box& b, Clock::time_point now, std::optional<Clock::time_point> at,
                                       std::vector<std::pair<Grant, Clock::time_point>>* refused) {
  // Waiter k (0 = first in line) expects to start after first + k * pace.
  const Clock::duration first = at ? *at - now : pace(b);
  const Clock::duration step = pace(b);
  std::size_t keep = 0;
  while (keep < b.waiting.size() && first + step * static_cast<long>(keep) <= max_wait_) ++keep;
  for (std::size_t k = keep; k < b.waiting.size(); ++k) {
    Clock::time_point until = now + first + step * static_cast<long>(k);
    if (at) {  // blocked by time (rate, Retry-After): later refusals queue up behind earlier ones
      until = std::max(until, b.reserved_until + step);
      b.reserved_until = until;
    }  // blocked by requests in flight: they come back as the queue drains, no reservations piling up
    refused->emplace_back(std::move(b.waiting[k]), until);
  }
  b.waiting.resize(keep);
}

std::optional<MailboxLimiter::Clock::time_point> MailboxLimiter::pump(Clock::time_point now) {
  std::vector<Grant> grants;
  std::vector<std::pair<Grant, Clock::time_point>> refused;
  std::optional<Clock::time_point> wake;
  for (auto it = boxes_.begin(); it != boxes_.end();) {
    Box& b = it->second;
    while (!b.waiting.empty()) {
      auto at = next_start(b, now);
      if (at && *at <= now) {
        ++b.in_flight;
        if (rate_ > 0) b.starts.push_back(now);
        b.running.push_back(now);
        grants.push_back(std::move(b.waiting.front()));
        b.waiting.pop_front();
        continue;
      }
      refuse_long_waits(b, now, at, &refused);
      if (at && !b.waiting.empty()) wake = wake ? std::min(*wake, *at) : *at;
      break;
    }
    const bool idle = b.in_flight == 0 && b.waiting.empty() && b.slowed_until <= now && b.reserved_until <= now &&
                      b.ceiling_until <= now && (b.starts.empty() || b.starts.back() + minutes(1) <= now);
    it = idle ? boxes_.erase(it) : std::next(it);
  }
  // Callbacks last: they may re-enter acquire()/release().
  for (auto& g : grants) g(std::nullopt);
  for (auto& [g, until] : refused) g(until);
  return wake;
}

int MailboxLimiter::in_flight(const std::string& mailbox) const {
  auto it = boxes_.find(mailbox);
  return it == boxes_.end() ? 0 : it->second.in_flight;
}

int MailboxLimiter::cap(const std::string& mailbox) const {
  auto it = boxes_.find(mailbox);
  return it == boxes_.end() ? max_concurrent_ : it->second.cap;
}

std::size_t MailboxLimiter::queued() const {
  std::size_t n = 0;
  for (const auto& [_, b] : boxes_) n += b.waiting.size();
  return n;
}

Result held(std::string_view who, MailboxLimiter::Clock::duration wait) {
  Result r;
  r.outcome = Outcome::Transient;
  r.held = true;
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(wait).count();
  r.retry_after = std::max<std::int64_t>(1, (ms + 999) / 1000);
  r.text = fmt::format("{} is at its limit (in flight, rate or Retry-After): held back unsent for {}s", who,
                       *r.retry_after);
  return r;
}

}  // namespace relay::provider::cloud
