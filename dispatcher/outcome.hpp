// relay::dispatch outcome — what one provider result means for a spool
// entry. Pure functions (no I/O, no clock), unit-tested.
//
// Does: applies a provider::Result to the envelope's recipients (Sent and
// Failed are final, Transient stays Pending so only the remaining ones are
// retried), and decides the entry's next step together with RetryPolicy:
//   no recipient pending, none failed       -> Done   (message status sent)
//   no recipient pending, some failed       -> Fail   (failed, or partial when some were sent)
//   recipients pending, policy gives a time -> Defer  (queued)
//   recipients pending, lifetime exceeded   -> Fail   (pending ones marked failed "expired")
// Does not: touch the spool, the provider or the database.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "dispatcher/providers/provider.hpp"
#include "dispatcher/retry_policy.hpp"
#include "spool/envelope.hpp"

namespace relay::dispatch {

// "421 4.7.0 try later" — code, enhanced code and text, whichever are known.
std::string describe(const provider::Result& r);

// Marks the `attempted` recipients of `env` per `r`; sets last_error (and
// each recipient's last_reply). Returns the number of recipients that
// changed to Sent in this call.
int apply_result(spool::Envelope& env, const std::vector<std::string>& attempted, const provider::Result& r);

enum class Action { Done, Defer, Fail, Hold };  // Hold: to hold/, decided by the dispatcher (no route)
std::string_view to_string(Action a) noexcept;

struct Decision {
  Action action = Action::Done;
  std::string status;  // messages.status: sent | failed | partial | queued
  std::string reason;  // for logs and the failed/ envelope
  RetryDecision retry; // when Defer
};

// `now` in unix seconds. Sets env.next_attempt when deferring and marks
// pending recipients Failed when giving up.
Decision decide(spool::Envelope& env, const RetryPolicy& policy, std::int64_t now,
                std::optional<std::int64_t> retry_after);

}  // namespace relay::dispatch
