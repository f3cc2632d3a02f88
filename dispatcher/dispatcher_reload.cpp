// See dispatcher.hpp. This file: signals and SIGHUP reload, including the
// rebuilt provider set and the retirement of the old one.
#include <algorithm>
#include <utility>

#include "common/config_snapshot.hpp"
#include "common/log.hpp"
#include "dispatcher/dispatcher.hpp"
#include "dispatcher/job.hpp"

namespace relay::dispatch {

void Dispatcher::on_signal(int signum) {
  if (signum == SIGHUP) {
    if (config_file_.empty()) {
      log::warn("- event=reload_skipped reason=\"no config file\"");
      return;
    }
    std::string error;
    try {
      config::Config cfg = config::load_accepted(config_file_);
      if (reload(cfg, &error)) {
        log::info("- event=reloaded config={} providers={} rebuilt={}", config_file_.string(), providers_->map.size(),
                  factory_ ? "yes" : "no");
        return;
      }
    } catch (const std::exception& e) {
      error = e.what();
    }
    log::error("- event=reload_failed config={} reason={} action=keep_old", config_file_.string(), log::quote(error));
    return;
  }
  log::info("- event=signal signal={} action=shutdown", signum == SIGTERM ? "TERM" : "INT");
  shutdown();
}

bool Dispatcher::reload(const config::Config& cfg, std::string* error) {
  if (stopping_) {
    *error = "stopping";
    return false;
  }
  Settings s = Settings::from_config(cfg);
  s.heartbeat_interval = settings_.heartbeat_interval;
  s.secret_interval = settings_.secret_interval;
  // drain_timeout / in_flight_grace follow the reload: `relayctl run` sizes
  // its stop timeout from the same accepted config (docs/systemd.md).
  std::unique_ptr<ProviderSet> fresh;
  if (factory_) {
    fresh = factory_(std::make_shared<const config::Config>(cfg), error);
    if (!fresh) return false;
  }
  const ProviderSet& next = fresh ? *fresh : *providers_;
  std::set<std::string> names;
  for (const auto& [name, p] : next.map) names.insert(name);
  if (std::string e = s.router.validate(names); !e.empty()) {
    *error = e;
    return false;  // `fresh` has started nothing yet: destroyed here
  }
  if (!fresh)
    for (const auto& p : cfg.providers)
      if (!providers_->map.count(p.name))
        log::warn("- event=reload_note provider={} reason=\"providers are not rebuilt in this process\"", p.name);
  settings_ = std::move(s);
  policy_ = RetryPolicy(settings_.retry);
  log::set_level(cfg.log.level);
  dlog_.set_connect_timeout(cfg.database.connect_timeout);
  if (fresh) {
    retire(std::exchange(providers_, std::move(fresh)));
    secret_reported_.clear();  // report the new providers' state (a rotated secret, a removed provider)
    report_secrets();
  }
  if (scan_timer_.open()) uv_timer_set_repeat(scan_timer_.get(), settings_.scan_interval * 1000);
  if (sweep_timer_.open()) uv_timer_set_repeat(sweep_timer_.get(), settings_.sweep_interval * 1000);
  pump();
  return true;
}

void Dispatcher::retire(std::unique_ptr<ProviderSet> set) {
  retired_.push_back(std::move(set));
  collect_retired();
}

// Destroys retired sets no delivery is sending through any more (a set's
// destructor cancels its transfers still running: only released entries'
// ones, which the dispatcher no longer waits for).
void Dispatcher::collect_retired() {
  std::erase_if(retired_, [this](const std::unique_ptr<ProviderSet>& set) {
    for (const auto& [id, job] : jobs_)
      if (job->stage == Job::Stage::Sending && job->set == set.get()) return false;
    log::info("- event=providers_retired providers={}", set->map.size());
    return true;
  });
}

}  // namespace relay::dispatch
