// Connection: the SessionHost side (spool entry, jobs), timeouts and close.
#include <sys/socket.h>

#include <cerrno>
#include <ctime>

#include "common/log.hpp"
#include "receiver/server/connection.hpp"
#include "receiver/server/jobs.hpp"

namespace relay::receiver {

namespace {
bool is_disk_full(int err) { return err == ENOSPC || err == EDQUOT; }
}  // namespace

std::optional<std::string> Connection::open_message(const smtp::Transaction& t) {
  spool::Envelope env;
  env.received_at = static_cast<std::int64_t>(std::time(nullptr));
  env.client_addr = t.client_ip;
  env.client_helo = t.helo;
  env.tls = t.tls;
  env.auth_user = t.auth_user;
  env.mail_from = t.mail_from;
  env.mail_params = t.mail_params;
  env.rcpts.reserve(t.rcpts.size());
  for (const auto& r : t.rcpts) {
    spool::Recipient rc;
    rc.address = r.address;
    rc.params = r.params;
    env.rcpts.push_back(std::move(rc));
  }
  if (auto pooled = server_.entry_pool().take()) {
    env.id = pooled->id();
    pooled->envelope() = std::move(env);
    entry_.emplace(std::move(*pooled));
    return entry_->id().str();
  }
  spool::Status st;  // pool empty (burst or spool trouble): create here
  auto e = server_.spool().create(std::move(env), &st);
  storage_full_ = is_disk_full(st.err);
  if (!e) {
    log::error("{} event=spool_error op=create error={}", id_, log::quote(st.message));
    return std::nullopt;
  }
  entry_.emplace(std::move(*e));
  return entry_->id().str();
}

bool Connection::write_message(std::string_view bytes) {
  if (!entry_) return false;
  spool::Status st = entry_->append(bytes);
  storage_full_ = is_disk_full(st.err);
  if (!st.ok()) {
    log::error("{} event=spool_error op=append id={} error={}", id_, entry_->id().str(), log::quote(st.message));
    return false;
  }
  return true;
}

void Connection::commit_message() {
  auto* job = new Job;
  job->kind = Job::Kind::Commit;
  job->owner = this;
  job->group = &server_.group_commit();
  job->queue_id = entry_->id().str();
  job->entry.emplace(std::move(*entry_));
  entry_.reset();
  job_ = job;
  queue_job(server_.loop(), job);
}

void Connection::discard_message() { entry_.reset(); }  // NewEntry's destructor rolls back

std::uint64_t Connection::storage_free() { return server_.storage_free(); }

void Connection::verify_password(const std::string& user, std::string password) {
  auto job = std::make_unique<Job>();
  job->kind = Job::Kind::Auth;
  job->owner = this;
  job->server = &server_;
  job->client_key = key_;
  job->password = std::move(password);
  if (const auto* u = session_ ? server_.policy()->find_user(user) : nullptr) job->hash = u->password_hash;
  auth_job_ = job.release();
  server_.auth_request(this);  // starts now or when the client's earlier checks end
}

void Connection::auth_start() {
  job_ = auth_job_;
  auth_job_ = nullptr;
  queue_job(server_.loop(), job_);
}

void Connection::auth_refused() {
  std::unique_ptr<Job> job(auth_job_);
  auth_job_ = nullptr;
  guarded([this] {
    if (session_) session_->auth_throttled();
  });
}

bool Connection::auth_blocked() { return server_.throttle().blocked(key_, now()); }

void Connection::job_done(Job* job) {
  std::unique_ptr<Job> owned(job);
  job_ = nullptr;
  guarded([this, job] {
    if (!session_) return;
    if (job->kind == Job::Kind::Auth) {  // the failure is counted by Server::auth_finished
      session_->auth_result(job->ok);
      return;
    }
    smtp::CommitResult r;
    r.ok = job->status.ok();
    r.error = job->status.message;
    r.storage_full = is_disk_full(job->status.err);
    if (r.ok) ++messages_;
    else log::error("{} event=spool_error op=commit id={} error={}", id_, job->queue_id, log::quote(r.error));
    session_->commit_result(r, job->queue_id);
  });
}

void Connection::reap_if_disconnected() {
  if (closing_ || peer_eof_) return;  // a half-closed client is answered, then closed
  uv_os_fd_t fd;
  if (uv_fileno(reinterpret_cast<uv_handle_t*>(&tcp_), &fd) != 0) return;
  char b;
  ssize_t n = ::recv(fd, &b, 1, MSG_PEEK | MSG_DONTWAIT);
  if (n == 0) abort("client disconnected");
}

void Connection::shutdown_if_idle() {
  if (closing_ || !session_ || session_->in_transfer() || job_) return;
  session_->shutdown();
  flush();
  if (close_after_flush_) finish_close();
}

void Connection::close(std::string_view reason) {
  close_after_flush_ = true;
  if (close_reason_.empty()) close_reason_ = reason;
}

void Connection::begin_closing() {
  closing_ = true;
  closing_since_ = uv_now(server_.loop());
  if (attached_) {
    std::uint64_t ms = closing_since_ - connected_at_;
    log::info("{} event=disconnect client={} messages={} duration_ms={} reason={}", id_, ip_, messages_, ms,
              log::quote(close_reason_));
    server_.release(key_);
  }
  if (auth_job_) {
    server_.auth_cancel(this);
    delete auth_job_;
    auth_job_ = nullptr;
  }
  if (job_) job_->owner = nullptr;
  job_ = nullptr;
  entry_.reset();
}

void Connection::finish_close() {
  if (closing_) return;
  flush();
  begin_closing();
  auto* stream = reinterpret_cast<uv_stream_t*>(&tcp_);
  auto* handle = reinterpret_cast<uv_handle_t*>(&tcp_);
  if (uv_is_closing(handle)) return;
  uv_read_stop(stream);
  auto* req = new uv_shutdown_t;
  req->data = this;
  if (uv_shutdown(req, stream, on_shutdown) != 0) {
    delete req;
    uv_close(handle, on_closed);
  }
}

void Connection::on_shutdown(uv_shutdown_t* req, int) {
  auto* c = static_cast<Connection*>(req->data);
  delete req;
  auto* h = reinterpret_cast<uv_handle_t*>(&c->tcp_);
  if (!uv_is_closing(h)) uv_close(h, on_closed);
}

void Connection::abort(std::string_view reason) {
  if (closing_) return;
  if (close_reason_.empty()) close_reason_ = reason;
  out_.clear();
  begin_closing();
  auto* handle = reinterpret_cast<uv_handle_t*>(&tcp_);
  if (!uv_is_closing(handle)) uv_close(handle, on_closed);
}

void Connection::force_close() {
  auto* h = reinterpret_cast<uv_handle_t*>(&tcp_);
  if (!closing_) return abort("forced close");
  if (!uv_is_closing(h)) uv_close(h, on_closed);
}

void Connection::on_closed(uv_handle_t* h) {
  auto* c = static_cast<Connection*>(h->data);
  if (c->attached_) c->server_.unlink(c);
  delete c;
}

}  // namespace relay::receiver
