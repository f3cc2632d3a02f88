// See outcome.hpp.
#include "dispatcher/outcome.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <strings.h>

namespace relay::dispatch {
namespace {

bool same_address(const std::string& a, const std::string& b) {
  return a.size() == b.size() && strncasecmp(a.c_str(), b.c_str(), a.size()) == 0;
}

spool::RcptState state_of(provider::Outcome o) {
  switch (o) {
    case provider::Outcome::Sent: return spool::RcptState::Sent;
    case provider::Outcome::Permanent: return spool::RcptState::Failed;
    case provider::Outcome::Transient: break;
  }
  return spool::RcptState::Pending;
}

}  // namespace

std::string describe(const provider::Result& r) {
  std::string out;
  if (r.code) out = std::to_string(r.code);
  if (!r.enhanced.empty()) out += (out.empty() ? "" : " ") + r.enhanced;
  if (!r.text.empty()) out += (out.empty() ? "" : " ") + r.text;
  return out.empty() ? std::string(provider::to_string(r.outcome)) : out;
}

int apply_result(spool::Envelope& env, const std::vector<std::string>& attempted, const provider::Result& r) {
  int newly_sent = 0;
  std::string overall = describe(r);
  for (auto& rc : env.rcpts) {
    if (rc.state != spool::RcptState::Pending) continue;
    if (std::find(attempted.begin(), attempted.end(), rc.address) == attempted.end()) continue;
    provider::Outcome o = r.outcome;
    std::string reply = overall;
    for (const auto& rr : r.rcpts) {
      if (!same_address(rr.address, rc.address)) continue;
      o = rr.outcome;
      reply = rr.code ? fmt::format("{} {}", rr.code, rr.text) : rr.text;
      if (reply.empty()) reply = std::string(provider::to_string(rr.outcome));
      break;
    }
    rc.state = state_of(o);
    rc.last_reply = reply;
    if (rc.state == spool::RcptState::Sent) ++newly_sent;
    if (o != provider::Outcome::Sent) env.last_error = r.rcpts.empty() ? overall : rc.address + ": " + reply;
  }
  return newly_sent;
}

std::string_view to_string(Action a) noexcept {
  switch (a) {
    case Action::Done: return "done";
    case Action::Defer: return "defer";
    case Action::Fail: return "fail";
    case Action::Hold: return "hold";
  }
  return "?";
}

Decision decide(spool::Envelope& env, const RetryPolicy& policy, std::int64_t now,
                std::optional<std::int64_t> retry_after) {
  Decision d;
  int sent = 0, failed = 0, pending = 0;
  for (const auto& rc : env.rcpts)
    (rc.state == spool::RcptState::Sent ? sent : rc.state == spool::RcptState::Failed ? failed : pending)++;
  if (pending > 0) {
    d.retry = policy.next(now, env.received_at, env.attempts, retry_after, retry_seed(env.id.str(), env.attempts));
    if (!d.retry.give_up) {
      d.action = Action::Defer;
      d.status = "queued";
      d.reason = env.last_error;
      env.next_attempt = d.retry.next_attempt;
      return d;
    }
    std::string why = fmt::format("expired after {} attempts (max_lifetime {}s): {}", env.attempts,
                                  policy.config().max_lifetime, env.last_error);
    for (auto& rc : env.rcpts)
      if (rc.state == spool::RcptState::Pending) {
        rc.state = spool::RcptState::Failed;
        rc.last_reply = why;
      }
    env.last_error = why;
    failed += pending;
  }
  if (failed == 0) {
    d.action = Action::Done;
    d.status = "sent";
    return d;
  }
  d.action = Action::Fail;
  d.status = sent > 0 ? "partial" : "failed";
  d.reason = env.last_error;
  return d;
}

}  // namespace relay::dispatch
