// relayctl reload — what `systemctl reload relay` runs (ExecReload=): checks
// the config (a broken one is reported as FILE:LINE: KEY and nothing is
// signalled), sends SIGHUP to the running `relayctl run` (its pid from
// <spool.directory>/run/supervisor.pid), and waits for the supervisor's
// verdict in reload.status: exit 0 when it took the config, 1 with its
// reason when it refused (e.g. a [restart] key changed) or did not answer.
#include <fmt/format.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>

#include <cerrno>

#include "admin-cli/command.hpp"
#include "admin-cli/handlers.hpp"
#include "admin-cli/run_dir.hpp"
#include "common/config.hpp"

namespace relay::admin {
namespace {

// The verdict newer than `after` from supervisor `pid`, or nullopt at the timeout.
std::optional<ReloadVerdict> wait_verdict(const std::filesystem::path& dir, pid_t pid, std::uint64_t after,
                                          std::int64_t timeout_s) {
  for (std::int64_t waited_ms = 0; waited_ms < timeout_s * 1000; waited_ms += 50) {
    auto v = RunDir::read_verdict(dir);
    if (v && v->pid == pid && v->generation > after) return v;
    if (kill(pid, 0) != 0) return std::nullopt;
    usleep(50 * 1000);
  }
  return std::nullopt;
}

}  // namespace

int cmd_reload(Context& ctx) {
  const config::Config* cfg = ctx.config();  // prints "relayctl: FILE:LINE: KEY: ..."
  if (!cfg) {
    fmt::print(ctx.err(), "relayctl: reload not sent: the configuration does not load\n");
    return kFail;
  }
  auto timeout = config::parse_duration(ctx.args().get_or("timeout", "30s"));
  if (!timeout || *timeout <= 0) {
    fmt::print(ctx.err(), "relayctl reload: --timeout: expected a duration like 30s\n");
    return kUsage;
  }
  const std::filesystem::path dir = RunDir::for_config(*cfg);
  auto pid = RunDir::read_pid(dir);
  if (!pid || kill(*pid, 0) != 0) {
    fmt::print(ctx.err(), "relayctl: no running `relayctl run` for this spool ({} names none alive)\n",
               (dir / "supervisor.pid").string());
    return kFail;
  }
  auto before = RunDir::read_verdict(dir);
  std::uint64_t after = before && before->pid == *pid ? before->generation : 0;
  if (kill(*pid, SIGHUP) != 0) {
    fmt::print(ctx.err(), "relayctl: cannot signal pid {}: {}\n", *pid, strerror(errno));
    return kFail;
  }
  auto v = wait_verdict(dir, *pid, after, *timeout);
  if (!v) {
    fmt::print(ctx.err(), "relayctl: no reload verdict from pid {} within {}s\n", *pid, *timeout);
    return kFail;
  }
  if (!v->ok) {
    fmt::print(ctx.err(), "relayctl: reload refused: {}\n", v->error);
    return kFail;
  }
  fmt::print(ctx.out(), "reloaded: {} (supervisor pid {})\n", cfg->file.string(), *pid);
  return kOk;
}

}  // namespace relay::admin
