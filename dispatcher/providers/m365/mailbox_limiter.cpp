// See mailbox_limiter.hpp.
#include "dispatcher/providers/m365/mailbox_limiter.hpp"

#include <algorithm>
#include <vector>

namespace relay::provider::m365 {

using std::chrono::minutes;

MailboxLimiter::MailboxLimiter(int max_concurrent, int rate_per_minute)
    : max_concurrent_(std::max(1, max_concurrent)), rate_(std::max(0, rate_per_minute)) {}

std::optional<MailboxLimiter::Clock::time_point> MailboxLimiter::next_start(Box& b, Clock::time_point now) const {
  while (!b.starts.empty() && b.starts.front() + minutes(1) <= now) b.starts.pop_front();
  if (b.in_flight >= max_concurrent_) return std::nullopt;
  Clock::time_point at = now;
  if (b.slowed_until > at) at = b.slowed_until;
  if (rate_ > 0 && static_cast<int>(b.starts.size()) >= rate_) {
    at = std::max(at, b.starts[b.starts.size() - static_cast<std::size_t>(rate_)] + minutes(1));
  }
  return at;
}

void MailboxLimiter::acquire(const std::string& mailbox, Clock::time_point now, Grant grant) {
  boxes_[mailbox].waiting.push_back(std::move(grant));
  pump(now);
}

void MailboxLimiter::release(const std::string& mailbox, Clock::time_point now) {
  auto it = boxes_.find(mailbox);
  if (it != boxes_.end() && it->second.in_flight > 0) --it->second.in_flight;
  pump(now);
}

void MailboxLimiter::slow_down(const std::string& mailbox, Clock::time_point until) {
  auto& b = boxes_[mailbox];
  b.slowed_until = std::max(b.slowed_until, until);
}

std::optional<MailboxLimiter::Clock::time_point> MailboxLimiter::pump(Clock::time_point now) {
  std::vector<Grant> grants;
  std::optional<Clock::time_point> wake;
  for (auto it = boxes_.begin(); it != boxes_.end();) {
    Box& b = it->second;
    while (!b.waiting.empty()) {
      auto at = next_start(b, now);
      if (!at) break;
      if (*at > now) {
        wake = wake ? std::min(*wake, *at) : *at;
        break;
      }
      ++b.in_flight;
      if (rate_ > 0) b.starts.push_back(now);
      grants.push_back(std::move(b.waiting.front()));
      b.waiting.pop_front();
    }
    const bool idle = b.in_flight == 0 && b.waiting.empty() && b.slowed_until <= now &&
                      (b.starts.empty() || b.starts.back() + minutes(1) <= now);
    it = idle ? boxes_.erase(it) : std::next(it);
  }
  // Grants last: they may re-enter acquire()/release().
  for (auto& g : grants) g();
  return wake;
}

int MailboxLimiter::in_flight(const std::string& mailbox) const {
  auto it = boxes_.find(mailbox);
  return it == boxes_.end() ? 0 : it->second.in_flight;
}

std::size_t MailboxLimiter::queued() const {
  std::size_t n = 0;
  for (const auto& [_, b] : boxes_) n += b.waiting.size();
  return n;
}

}  // namespace relay::provider::m365
