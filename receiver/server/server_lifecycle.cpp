// Server: start, idle sweep, SIGTERM drain, SIGHUP reload.
#include <csignal>

#include "common/config_snapshot.hpp"
#include "common/log.hpp"
#include "receiver/server/connection.hpp"
#include "receiver/server/server.hpp"

namespace relay::receiver {

bool Server::start(std::string* error) {
  for (const auto& l : cfg_.receiver.listeners) {
    if (!listen_one(l, error)) return false;
  }
  sweep_ = new uv_timer_t;
  uv_timer_init(loop_, sweep_);
  sweep_->data = this;
  uv_timer_start(sweep_, on_sweep, 1000, 1000);
  for (int sig : {SIGTERM, SIGINT, SIGHUP}) {
    auto* s = new uv_signal_t;
    uv_signal_init(loop_, s);
    s->data = this;
    uv_signal_start(s, on_signal, sig);
    signals_.push_back(s);
  }
  return true;
}

void Server::on_sweep(uv_timer_t* t) {
  auto* self = static_cast<Server*>(t->data);
  std::uint64_t now = uv_now(self->loop_);
  for (Connection* c = self->head_; c;) {
    Connection* next = c->next;  // c may start closing (it stays linked until closed)
    c->check_timeout(now);
    c = next;
  }
  static unsigned ticks = 0;
  if (!self->draining_) self->pool_.tick();
  self->flush_refusals(false);
  if (++ticks % 60 == 0) {
    self->throttle_.prune(static_cast<std::int64_t>(std::time(nullptr)));
    self->rate_.prune(now);
  }
}

void Server::on_signal(uv_signal_t* s, int signum) {
  auto* self = static_cast<Server*>(s->data);
  try {
    if (signum == SIGHUP) {
      self->reload();
    } else {
      self->drain();
    }
  } catch (const std::exception& e) {
    log::error("event=signal_error signal={} error={}", signum, log::quote(e.what()));
  }
}

void Server::drain() {
  if (draining_) return;
  draining_ = true;
  log::info("event=shutdown connections={} grace={}s", count_, policy_->limits.shutdown_grace);
  close_listeners();
  pool_.close();
  grace_ = new uv_timer_t;
  uv_timer_init(loop_, grace_);
  grace_->data = this;
  uv_timer_start(grace_, on_grace, static_cast<std::uint64_t>(policy_->limits.shutdown_grace) * 1000, 0);
  for (Connection* c = head_; c;) {
    Connection* next = c->next;
    c->shutdown_if_idle();
    c = next;
  }
  maybe_finish();
}

void Server::on_grace(uv_timer_t* t) {
  auto* self = static_cast<Server*>(t->data);
  log::warn("event=shutdown_grace_expired connections={}", self->count_);
  for (Connection* c = self->head_; c;) {
    Connection* next = c->next;
    c->force_close();  // also a graceful close whose last write never drained
    c = next;
  }
}

void Server::maybe_finish() {
  if (!draining_ || finished_ || count_ > 0) return;
  finished_ = true;
  flush_refusals(true);
  log::info("event=shutdown_complete");
  close_own_handles();  // the loop ends once queued commits have returned
}

void Server::close_own_handles() {
  auto del_timer = [](uv_handle_t* h) { delete reinterpret_cast<uv_timer_t*>(h); };
  if (sweep_) uv_close(reinterpret_cast<uv_handle_t*>(sweep_), del_timer);
  sweep_ = nullptr;
  // The grace timer stays while closing connections still flush their last
  // reply; unlink() closes it when the last one is gone.
  if (grace_ && !head_) {
    uv_close(reinterpret_cast<uv_handle_t*>(grace_), del_timer);
    grace_ = nullptr;
  }
  for (auto* s : signals_) {
    uv_close(reinterpret_cast<uv_handle_t*>(s), [](uv_handle_t* h) { delete reinterpret_cast<uv_signal_t*>(h); });
  }
  signals_.clear();
}

void Server::reload() {
  log::info("event=reload file={}", cfg_.file.string());
  config::Config next;
  try {
    next = config::load_accepted(cfg_.file, {.expand_secrets = false});  // never read provider credentials
  } catch (const std::exception& e) {
    log::error("event=reload_failed reason={} (keeping the running config)", log::quote(e.what()));
    return;
  }
  std::string err;
  auto policy = smtp::Policy::from_config(next, &err);
  if (!policy) {
    log::error("event=reload_failed reason={} (keeping the running config)", log::quote(err));
    return;
  }
  std::shared_ptr<TlsContext> tls = tls_;
  if (!next.receiver.tls.cert_file.empty()) {
    tls = TlsContext::load(next.receiver.tls, &err);
    if (!tls) {
      log::error("event=reload_failed reason={} (keeping the running config)", log::quote(err));
      return;
    }
  }
  policy_ = std::move(policy);
  tls_ = std::move(tls);
  throttle_.configure(policy_->limits.max_auth_failures_per_ip, policy_->limits.auth_failure_window);
  log::set_level(next.log.level);
  cfg_.receiver = next.receiver;
  cfg_.senders = next.senders;
  log::info("event=reloaded (listener and spool changes need a restart)");
}

}  // namespace relay::receiver
