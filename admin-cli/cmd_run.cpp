// relayctl run — the foreground supervisor (see supervisor.hpp): loads the
// config, finds relay-receiver and relay-dispatcher (programs.hpp), and runs
// them until SIGTERM/SIGINT. Under systemd: Type=notify, KillMode=mixed
// (docs/systemd.md). Started as root with `user:` set, it becomes that user
// first (keeping only CAP_NET_BIND_SERVICE for the receiver).
// The config is read once as bytes; those bytes are what is validated and
// what the children load (RunDir snapshot). A reload that changes a
// [restart] key is refused: every child, old or new, runs one config.
#include <fmt/format.h>
#include <fmt/ranges.h>

#include <memory>

#include "admin-cli/admin_http.hpp"
#include "admin-cli/command.hpp"
#include "admin-cli/handlers.hpp"
#include "admin-cli/host_heartbeat.hpp"
#include "admin-cli/programs.hpp"
#include "admin-cli/run_dir.hpp"
#include "admin-cli/supervisor.hpp"
#include "common/config.hpp"
#include "common/config_snapshot.hpp"
#include "common/host_name.hpp"
#include "common/log.hpp"
#include "common/run_as.hpp"

namespace relay::admin {
namespace {

SupervisorPlan plan_of(const config::Config& cfg, std::string bytes) {
  SupervisorPlan p;
  p.dispatchers = cfg.dispatcher.processes;
  p.receiver_stop_ms = (cfg.receiver.limits.shutdown_grace + 5) * 1000;
  // The dispatchers' own bound plus time to release what is left.
  p.dispatcher_stop_ms = (cfg.dispatcher.drain_timeout + cfg.dispatcher.in_flight_grace + 5) * 1000;
  p.max_start_failures = cfg.supervisor.max_start_failures;
  p.start_timeout_ms = cfg.supervisor.start_timeout * 1000;
  p.config_bytes = std::move(bytes);
  return p;
}

// Reads and validates the file as it is now; refuses [restart] changes.
std::optional<SupervisorPlan> reload_plan(const std::filesystem::path& file, config::Config& accepted,
                                          std::string* error) {
  try {
    std::string bytes = config::read_bytes(file);
    config::Config fresh = config::load_string(bytes, file);
    auto changed = config::restart_needed(accepted, fresh);
    if (!changed.empty()) {
      *error = fmt::format("{}: {}: changed, and only a restart applies it ([restart] key); nothing was reloaded",
                           file.string(), fmt::join(changed, ", "));
      return std::nullopt;
    }
    log::set_level(fresh.log.level);
    accepted = std::move(fresh);
    return plan_of(accepted, std::move(bytes));
  } catch (const std::exception& e) {
    *error = e.what();
    return std::nullopt;
  }
}

}  // namespace

int cmd_run(Context& ctx) {
  std::filesystem::path config_path = std::filesystem::absolute(ctx.config_path());
  auto accepted = std::make_shared<config::Config>();
  std::string bytes;
  try {
    bytes = config::read_bytes(config_path);
    *accepted = config::load_string(bytes, config_path);
  } catch (const std::exception& e) {
    fmt::print(ctx.err(), "relayctl: {}\n", e.what());
    return kFail;
  }
  const config::Config& cfg = *accepted;
  log::set_level(cfg.log.level);
  for (const auto& w : cfg.warnings) log::warn("supervisor event=config_warning reason={}", log::quote(w));
  SupervisorOptions opt;
  std::string tried;
  auto receiver = find_program("relay-receiver", "receiver", "RELAY_RECEIVER_BIN", &tried);
  if (!receiver) {
    fmt::print(ctx.err(), "relayctl: cannot find relay-receiver (tried {})\n", tried);
    return kFail;
  }
  auto dispatcher = find_program("relay-dispatcher", "dispatcher", "RELAY_DISPATCHER_BIN", &tried);
  if (!dispatcher) {
    fmt::print(ctx.err(), "relayctl: cannot find relay-dispatcher (tried {})\n", tried);
    return kFail;
  }
  opt.receiver = *receiver;
  opt.dispatcher = *dispatcher;
  opt.child_args = {"-c", config_path.string()};
  opt.run_dir = RunDir::for_config(cfg);
  opt.plan = plan_of(cfg, std::move(bytes));
  // admin_http (docs/metrics.md): own thread, from below until run() returns;
  // its address is read at start only (a SIGHUP does not move it).
  std::unique_ptr<AdminHttp> admin;
  opt.reload_check = [config_path, accepted, &admin](std::string* error) {
    auto plan = reload_plan(config_path, *accepted, error);
    if (plan && admin) admin->set_min_free_space(accepted->receiver.limits.min_free_space);
    return plan;
  };
  log::info("supervisor event=config file={} receiver={} dispatcher={}", config_path.string(), receiver->string(),
            dispatcher->string());
  // Started as root with `user:`: the whole tree runs as that user. Only
  // CAP_NET_BIND_SERVICE is kept (ambient), and only the receiver inherits
  // it (spawn_process clears it for the dispatchers).
  std::string error;
  auto start_as = priv::prepare_start(cfg, &error);
  if (!start_as || (start_as->switch_user && !priv::drop_to_keeping_bind(start_as->account, &error))) {
    fmt::print(ctx.err(), "relayctl: {}\n", error);
    return kFail;
  }
  if (start_as->switch_user)
    log::info("supervisor event=user_switched user={} kept=CAP_NET_BIND_SERVICE", start_as->account.name);
  if (cfg.admin_http.enabled() && !(admin = AdminHttp::start(cfg, &error))) {
    fmt::print(ctx.err(), "relayctl: {}\n", error);
    return kFail;
  }
  // The hosts row (docs/scale-out.md): own thread; "stopped" when it goes.
  HostHeartbeat::Options hb;
  hb.conninfo = cfg.database.conninfo;
  hb.connect_timeout = cfg.database.connect_timeout;
  hb.host = config::host_name(cfg);
  hb.interval_s = cfg.cluster.heartbeat_interval;
  hb.collect.spool_dir = cfg.spool.directory;
  hb.collect.journal = cfg.dispatcher.journal;
  hb.collect.dispatchers = cfg.dispatcher.processes;
  auto heartbeat = HostHeartbeat::start(std::move(hb));
  opt.on_stop = [&admin, &heartbeat] {
    if (admin) admin->set_draining();
    if (heartbeat) heartbeat->set_state("draining");
  };
  Supervisor sup(std::move(opt));
  return sup.run();
}

}  // namespace relay::admin
