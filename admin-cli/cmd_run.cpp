// relayctl run — the foreground supervisor (see supervisor.hpp): checks the
// config, finds relay-receiver and relay-dispatcher (programs.hpp), and runs
// them until SIGTERM/SIGINT. Under systemd: Type=simple, KillMode=mixed.
#include <fmt/format.h>

#include "admin-cli/command.hpp"
#include "admin-cli/handlers.hpp"
#include "admin-cli/programs.hpp"
#include "admin-cli/supervisor.hpp"
#include "common/config.hpp"
#include "common/log.hpp"

namespace relay::admin {

int cmd_run(Context& ctx) {
  const config::Config* cfg = ctx.config();
  if (!cfg) return kFail;
  log::set_level(cfg->log.level);
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
  Supervisor sup(std::move(opt));
  return sup.run();
}

}  // namespace relay::admin
