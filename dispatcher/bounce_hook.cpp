// See dispatcher.hpp / bounce.hpp. This file: the Dispatcher's side of
// bounces: whether a failed entry gets a DSN, what the DSN says about its
// provider, and the log line of the outcome (queued, skipped with its
// reason, or the spool error). Dispatcher::finish queues it on the
// threadpool right after Claim::fail (dispatcher_send.cpp).
#include "common/log.hpp"
#include "dispatcher/dispatcher.hpp"
#include "dispatcher/job.hpp"

namespace relay::dispatch {

bool Dispatcher::wants_bounce(const Job& job) const {
  return bounce_reason(settings_.bounces, job.env, job.info).empty();
}

BounceContext Dispatcher::bounce_context(const Job& job) const {
  BounceContext ctx;
  ctx.from = settings_.bounce_from.empty() ? "postmaster@" + settings_.hostname : settings_.bounce_from;
  ctx.hostname = settings_.hostname;
  if (auto it = settings_.bounce_sources.find(job.env.provider); it != settings_.bounce_sources.end()) {
    ctx.diagnostic_type = it->second.diagnostic_type;
    ctx.remote_mta = it->second.remote_mta;
  }
  return ctx;
}

// A bounce that is not sent is logged with its reason too: a failed DSN
// (null sender) shows event=bounce_skipped reason="null sender".
void Dispatcher::log_bounce(const Job& job) {
  const std::string id = job.id.str();
  int failed = 0;
  for (const auto& r : job.env.rcpts) failed += r.state == spool::RcptState::Failed;
  if (!job.bounce_id.empty() && job.bounce_error.empty()) {
    ++counters_.bounces;
    log::info("{} event=bounce_queued bounce_id={} to=<{}> failed_rcpts={}", id, job.bounce_id, job.env.mail_from,
              failed);
    return;
  }
  if (!job.bounce_error.empty()) {
    log::error("{} event=bounce_error to=<{}> reason={}", id, job.env.mail_from, log::quote(job.bounce_error));
    return;
  }
  std::string why = bounce_reason(settings_.bounces, job.env, job.info);
  if (why.empty()) why = "the failed entry could not be written to the spool";
  log::info("{} event=bounce_skipped reason={}", id, log::quote(why));
}

}  // namespace relay::dispatch
