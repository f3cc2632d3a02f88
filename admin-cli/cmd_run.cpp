// relayctl run — the foreground supervisor (see supervisor.hpp): checks the
// config, finds relay-receiver and relay-dispatcher (programs.hpp), and runs
// them until SIGTERM/SIGINT. Under systemd: Type=simple, KillMode=mixed.
// Started as root with `user:` set, it becomes that user first (keeping
// only CAP_NET_BIND_SERVICE for the receiver).
#include <fmt/format.h>

#include "admin-cli/admin_http.hpp"
#include "admin-cli/command.hpp"
#include "admin-cli/handlers.hpp"
#include "admin-cli/programs.hpp"
#include "admin-cli/supervisor.hpp"
#include "common/config.hpp"
#include "common/log.hpp"
#include "common/run_as.hpp"

namespace relay::admin {

int cmd_run(Context& ctx) {
  const config::Config* cfg = ctx.config();
  if (!cfg) return kFail;
  log::set_level(cfg->log.level);
  for (const auto& w : cfg->warnings) log::warn("supervisor event=config_warning reason={}", log::quote(w));
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
  std::filesystem::path config_path = std::filesystem::absolute(ctx.config_path());
  opt.receiver = *receiver;
  opt.dispatcher = *dispatcher;
  opt.child_args = {"-c", config_path.string()};
  opt.dispatchers = cfg->dispatcher.processes;
  opt.receiver_stop_ms = (cfg->receiver.limits.shutdown_grace + 5) * 1000;
  // The dispatchers' own bound plus time to release what is left.
  opt.dispatcher_stop_ms = (cfg->dispatcher.drain_timeout + cfg->dispatcher.in_flight_grace + 5) * 1000;
  opt.reload_check = [config_path](std::string* error) -> std::optional<int> {
    try {
      auto fresh = config::load(config_path);
      log::set_level(fresh.log.level);
      return fresh.dispatcher.processes;
    } catch (const std::exception& e) {
      *error = e.what();
      return std::nullopt;
    }
  };
  log::info("supervisor event=config file={} receiver={} dispatcher={}", config_path.string(), receiver->string(),
            dispatcher->string());
  // Started as root with `user:`: the whole tree runs as that user. Only
  // CAP_NET_BIND_SERVICE is kept (ambient), and only the receiver inherits
  // it (spawn_process clears it for the dispatchers).
  std::string error;
  auto start_as = priv::prepare_start(*cfg, &error);
  if (!start_as || (start_as->switch_user && !priv::drop_to_keeping_bind(start_as->account, &error))) {
    fmt::print(ctx.err(), "relayctl: {}\n", error);
    return kFail;
  }
  if (start_as->switch_user)
    log::info("supervisor event=user_switched user={} kept=CAP_NET_BIND_SERVICE", start_as->account.name);
  // admin_http (docs/metrics.md): own thread, from here until run() returns;
  // its address is read at start only (a SIGHUP does not move it).
  std::unique_ptr<AdminHttp> admin;
  if (cfg->admin_http.enabled() && !(admin = AdminHttp::start(*cfg, &error))) {
    fmt::print(ctx.err(), "relayctl: {}\n", error);
    return kFail;
  }
  Supervisor sup(std::move(opt));
  return sup.run();
}

}  // namespace relay::admin
