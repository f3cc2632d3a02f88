#include "receiver/server/jobs.hpp"

#include <openssl/crypto.h>

#include "common/log.hpp"
#include "common/password.hpp"
#include "receiver/server/connection.hpp"

namespace relay::receiver {

Job::~Job() {
  if (!password.empty()) OPENSSL_cleanse(password.data(), password.size());
}

namespace {
void work(uv_work_t* req) {
  auto* job = static_cast<Job*>(req->data);
  try {
    if (job->kind == Job::Kind::Auth) {
      if (job->hash.empty()) {
        // Unknown user: spend the same work as a real check so that reply
        // timing does not reveal which user names exist.
        static const std::string dummy = auth::hash_password("relay-unknown-user");
        (void)auth::verify_password(job->password, dummy);
        job->ok = false;
        return;
      }
      job->ok = auth::verify_password(job->password, job->hash);
      return;
    }
    job->status = job->entry->prepare();
    if (job->status.ok()) job->status = job->group->commit(*job->entry);
  } catch (const std::exception& e) {  // never let it escape into libuv's pool
    job->ok = false;
    job->status = spool::Status{EIO, std::string("exception: ") + e.what()};
  }
}

void after(uv_work_t* req, int status) {
  auto* job = static_cast<Job*>(req->data);
  if (status == UV_ECANCELED && job->kind == Job::Kind::Commit) job->status = spool::Status{ECANCELED, "cancelled"};
  if (job->kind == Job::Kind::Auth && job->server) job->server->auth_finished(job->client_key, job->ok);
  if (job->owner) {
    job->owner->job_done(job);  // takes ownership
  } else {
    if (job->kind == Job::Kind::Commit && job->status.ok()) {
      log::info("{} event=committed_after_disconnect", job->queue_id);
    }
    delete job;
  }
}
}  // namespace

void queue_job(uv_loop_t* loop, Job* job) {
  job->req.data = job;
  int r = uv_queue_work(loop, &job->req, work, after);
  if (r != 0) {  // cannot happen with a valid loop; answer as a failure
    job->status = spool::Status{EIO, uv_strerror(r)};
    job->ok = false;
    after(&job->req, r);
  }
}

}  // namespace relay::receiver
