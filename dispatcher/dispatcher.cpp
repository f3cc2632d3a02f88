// See dispatcher.hpp. This file: construction, intake (fs events, scans),
// claims. Delivery is in dispatcher_send.cpp, housekeeping and shutdown in
// dispatcher_timers.cpp.
#include "dispatcher/dispatcher.hpp"

#include <unistd.h>

#include <utility>

#include "common/log.hpp"
#include "dispatcher/job.hpp"
#include "dispatcher/providers/post.hpp"
#include "spool/control.hpp"

namespace relay::dispatch {

Settings Settings::from_config(const config::Config& cfg) {
  Settings s;
  s.max_in_flight = std::max(1, cfg.dispatcher.max_in_flight);
  s.scan_interval = std::max<std::int64_t>(1, cfg.dispatcher.scan_interval);
  s.sweep_interval = std::max<std::int64_t>(1, cfg.dispatcher.sweep_interval);
  s.drain_timeout = cfg.dispatcher.drain_timeout;
  s.in_flight_grace = cfg.dispatcher.in_flight_grace;
  s.orphan_grace = cfg.spool.orphan_grace;
  s.failed_keep = cfg.spool.failed_keep;
  s.retry = cfg.dispatcher.retry;
  s.router = Router::from_config(cfg);
  s.failure_notice_to = cfg.dispatcher.failure_notice_to;
  s.hostname = cfg.receiver.hostname;
  s.host_name = cfg.cluster.host_name;
  for (const auto& p : cfg.providers)
    if (p.type == config::ProviderType::M365 && !p.m365.expiry_notice_to.empty())
      s.secret_notices[p.name] = SecretNoticeConfig{p.m365.expiry_notice_to, p.m365.expiry_warn_days};
  s.notice_from = cfg.senders.default_sender;
  s.bounces = cfg.dispatcher.bounces;
  s.bounce_from = dispatch::bounce_from(cfg);
  s.bounce_sources = dispatch::bounce_sources(cfg);
  return s;
}

namespace {

std::unique_ptr<ProviderSet> borrowed(ProviderMap map) {
  auto set = std::make_unique<ProviderSet>();
  set->map = std::move(map);
  return set;
}

}  // namespace

Dispatcher::Dispatcher(uv_loop_t* loop, spool::Spool spool, ProviderMap providers, dlog::DeliveryLog& dlog,
                       Settings settings)
    : Dispatcher(loop, std::move(spool), borrowed(std::move(providers)), dlog, std::move(settings)) {}

Dispatcher::Dispatcher(uv_loop_t* loop, spool::Spool spool, std::unique_ptr<ProviderSet> providers,
                       dlog::DeliveryLog& dlog, Settings settings)
    : loop_(loop),
      spool_(std::move(spool)),
      providers_(std::move(providers)),
      dlog_(dlog),
      settings_(std::move(settings)),
      policy_(settings_.retry),
      poster_(loop) {
  char host[256] = {0};
  ::gethostname(host, sizeof host - 1);
  host_ = settings_.host_name.empty() ? host : settings_.host_name;
}

Dispatcher::~Dispatcher() {
  // Claims still held are dropped unfinished: their entries stay in active/
  // unlocked and the next sweeper returns them to new/ (crash semantics).
  // Providers (ours) go before the caller's CurlMulti: their transfers
  // still running are cancelled.
  dlog_.watch_schema({});
  poster_.close();
  retired_.clear();
  providers_.reset();
}

std::string Dispatcher::check() const {
  std::set<std::string> names;
  for (const auto& [name, p] : providers_->map) names.insert(name);
  return settings_.router.validate(names);
}

void Dispatcher::start(bool install_signals) {
  started_us_ = dlog::now_us();
  watch_new();
  auto sink = poster_.sink();
  auto now = dlog_.watch_schema([this, sink](dlog::DeliveryLog::Schema s, const std::string& missing) {
    sink([this, s, missing] { on_schema(s, missing); });
  });
  on_schema(now, dlog_.stats().schema_missing);
  start_timers();
  start_pause_watch();
  if (install_signals) {
    for (auto* sig : {&sigterm_, &sigint_, &sighup_}) {
      uv_signal_init(loop_, sig->get());
      sig->get()->data = this;
    }
    auto cb = [](uv_signal_t* h, int signum) { static_cast<Dispatcher*>(h->data)->on_signal(signum); };
    uv_signal_start(sigterm_.get(), cb, SIGTERM);
    uv_signal_start(sigint_.get(), cb, SIGINT);
    uv_signal_start(sighup_.get(), cb, SIGHUP);
  }
  log::info("- event=dispatcher_started spool={} providers={} max_in_flight={} host={} pid={}",
            spool_.root().string(), providers_->map.size(), settings_.max_in_flight, host_, ::getpid());
}

// One uv_fs_event per bucket of new/ (the spool hashes its directories):
// an entry can appear in any of them. A watch that cannot be set only
// delays its bucket's entries until the periodic scan.
void Dispatcher::watch_new() {
  int failed = 0, first_error = 0;
  for (const auto& dir : spool_.watch_dirs(spool::State::New)) {
    UvHandle<uv_fs_event_t> w;
    uv_fs_event_init(loop_, w.get());
    w.get()->data = this;
    int rc = uv_fs_event_start(
        w.get(),
        [](uv_fs_event_t* h, const char* filename, int, int status) {
          auto* self = static_cast<Dispatcher*>(h->data);
          if (status < 0 || !filename) {
            self->schedule_scan();  // lost track: rescan
            return;
          }
          std::string_view f(filename);
          if (f.size() <= 4 || f.substr(f.size() - 4) != ".env" || self->stopping_) return;
          auto id = spool::QueueId::parse(f.substr(0, f.size() - 4));
          // inotify reports renames out of new/ (every claim) like renames
          // in; one access(2) on the local spool tells them apart and saves
          // a threadpool round trip per message per dispatcher.
          if (!id || ::access(self->spool_.path_of(spool::State::New, *id).c_str(), F_OK) != 0) return;
          self->add_candidate(id->str());
          self->pump();
        },
        dir.c_str(), 0);
    if (rc != 0 && failed++ == 0) first_error = rc;
    watches_.push_back(std::move(w));
  }
  if (failed > 0)
    log::warn("- event=watch_failed dir={} failed={} reason={} fallback=scan", (spool_.root() / "new").string(), failed,
              log::quote(uv_strerror(first_error)));
}

void Dispatcher::schedule_scan() {
  if (stopping_) return;
  if (scan_running_) {
    scan_again_ = true;  // what arrived since this scan listed new/ is seen by the next
    return;
  }
  scan_running_ = true;
  ++background_work_;
  auto ids = std::make_shared<std::vector<spool::QueueId>>();
  provider::offload(
      loop_, [this, ids] { *ids = spool_.list(spool::State::New); },
      [this, ids] {
        scan_running_ = false;
        --background_work_;
        for (const auto& id : *ids) add_candidate(id.str());
        if (!ids->empty()) log::debug("- event=scan found={}", ids->size());
        pump();
        if (std::exchange(scan_again_, false)) schedule_scan();
      });
}

void Dispatcher::add_candidate(const std::string& id) {
  if (stopping_ || paused_ || jobs_.count(id) || candidate_set_.count(id)) return;
  candidate_set_.insert(id);
  candidates_.push_back(id);
}

// Mail waits in new/ while the database's schema is unknown (first check
// not done) or old; see dispatcher.hpp.
void Dispatcher::on_schema(dlog::DeliveryLog::Schema s, const std::string& missing) {
  using S = dlog::DeliveryLog::Schema;
  const bool hold = s == S::Pending || s == S::Old;
  if (s == S::Old)
    log::error("- event=queue_held missing={} reason={}", missing,
               log::quote("the database lacks migration(s) " + missing + ": run `relayctl db migrate`; mail stays queued"));
  if (hold == schema_hold_) return;
  schema_hold_ = hold;
  if (!hold) {
    log::info("- event=queue_resumed schema={}", s == S::Current ? "current" : "unchecked(database unreachable)");
    schedule_scan();
  }
}

void Dispatcher::pump() {
  while (!stopping_ && !schema_hold_ && !paused_ && static_cast<int>(jobs_.size()) < settings_.max_in_flight && !candidates_.empty()) {
    std::string id = std::move(candidates_.front());
    candidates_.pop_front();
    candidate_set_.erase(id);
    if (jobs_.count(id)) continue;
    auto qid = spool::QueueId::parse(id);
    if (!qid) continue;  // a stray file in new/: the sweeper quarantines what it cannot read
    start_claim(*qid);
  }
}

void Dispatcher::start_claim(const spool::QueueId& id) {
  auto owned = std::make_unique<Job>(id);
  Job* job = owned.get();
  jobs_.emplace(id.str(), std::move(owned));
  provider::offload(
      loop_,
      [this, job] {
        // The pause marker is checked here too, right before the claim: a
        // pause takes effect for every claim that starts after it.
        if (spool::dispatch_paused(spool_.root())) {
          job->paused = true;
          return;
        }
        job->claim = spool_.claim(job->id, &job->claim_error);
        if (job->claim) job->info = inspect_message(job->claim->data_path());
      },
      [this, job] { on_claimed(*job); });
}

void Dispatcher::on_claimed(Job& job) {
  if (job.paused) {  // not claimed; the scan after resume finds it again
    std::string id = job.id.str();
    jobs_.erase(id);
    check_pause();  // the marker may be gone again already
    if (!paused_) {
      add_candidate(id);
      pump();
    }
    return;
  }
  if (!job.claim) {
    if (!job.claim_error.empty())
      log::warn("{} event=claim_failed reason={}", job.id.str(), log::quote(job.claim_error));
    jobs_.erase(job.id.str());  // lost the race to another dispatcher: normal
    pump();
    return;
  }
  ++counters_.claimed;
  if (stopping_) {
    job.release = true;
    finish(job.id.str(), true);
    return;
  }
  begin_attempt(job);
}

}  // namespace relay::dispatch
