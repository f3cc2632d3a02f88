// See dispatcher.hpp / bounce.hpp. This file: the Dispatcher's side of
// bounces: whether a failed entry gets a DSN, what the DSN says about its
// provider, and the log line of the outcome (queued, skipped with its
// reason). Dispatcher::finish runs fail_with_notices on the threadpool:
// the notice and the DSN are committed to the spool before Claim::fail, so
// a full or unwritable spool keeps the failed entry claimed and retried
// (retry_finish) instead of moving it to failed/ with its DSN lost. A crash
// between the two may queue a DSN twice (at-least-once, like delivery).
#include "common/log.hpp"
#include "dispatcher/dispatcher.hpp"
#include "dispatcher/job.hpp"
#include "dispatcher/notice.hpp"

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

spool::Status Dispatcher::fail_with_notices(Job& job, const std::string* notice_to, const std::string& notice_from,
                                            const std::string& hostname, const BounceContext* bounce,
                                            const std::string& headers) {
  if (notice_to && job.notice_id.empty()) {
    spool::Status ns = enqueue_failure_notice(spool_, job.env, job.info, *notice_to, notice_from, hostname,
                                              &job.notice_id);
    if (!ns.ok()) return {ns.err, "failure notice not queued: " + ns.message};
  }
  if (bounce && job.bounce_id.empty()) {
    spool::Status bs = enqueue_bounce(spool_, job.env, job.info, headers, *bounce, &job.bounce_id);
    if (!bs.ok()) return {bs.err, "bounce not queued: " + bs.message};
  }
  return job.claim->fail(job.env);
}

// A bounce that is not sent is logged with its reason too: a failed DSN
// (null sender) shows event=bounce_skipped reason="null sender".
void Dispatcher::log_bounce(const Job& job) {
  const std::string id = job.id.str();
  int failed = 0;
  for (const auto& r : job.env.rcpts) failed += r.state == spool::RcptState::Failed;
  if (!job.bounce_id.empty()) {
    ++counters_.bounces;
    log::info("{} event=bounce_queued bounce_id={} to=<{}> failed_rcpts={}", id, job.bounce_id, job.env.mail_from,
              failed);
    return;
  }
  std::string why = bounce_reason(settings_.bounces, job.env, job.info);
  if (why.empty()) why = "the failed entry could not be written to the spool";
  log::info("{} event=bounce_skipped reason={}", id, log::quote(why));
}

}  // namespace relay::dispatch
