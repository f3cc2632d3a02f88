// relayctl dispatch pause|resume|status — stop and restart delivery without
// stopping the daemons. The switch is the marker file
// <spool>/control/dispatch-paused (spool/control.hpp): every dispatcher
// stops claiming within a second of its creation (deliveries in flight
// finish), the receiver keeps accepting, and removing it restarts claiming
// at once. It survives restarts: a dispatcher started while it exists stays
// paused. Like the queue commands these need no secret and never create a
// spool; as root they act as the spool's owner.
#include <fmt/format.h>
#include <unistd.h>

#include <cstdlib>
#include <ctime>

#include "admin-cli/command.hpp"
#include "admin-cli/format.hpp"
#include "admin-cli/handlers.hpp"
#include "admin-cli/safe_output.hpp"
#include "admin-cli/spool_access.hpp"
#include "common/config.hpp"
#include "spool/control.hpp"

namespace relay::admin {
namespace {

// Who paused, for `dispatch status` and the marker's text.
std::string who(const Context& ctx) {
  const char* sudo = std::getenv("SUDO_USER");
  const char* user = std::getenv("USER");
  std::string out = fmt::format("relayctl pid={} uid={}", ::getpid(), ::getuid());
  if (sudo && *sudo) out += fmt::format(" sudo_user={}", sudo);
  else if (user && *user) out += fmt::format(" user={}", user);
  if (auto reason = ctx.args().get("reason"); reason && !reason->empty()) out += " reason=" + *reason;
  return out;
}

std::optional<spool::Spool> spool_for(Context& ctx) {
  const config::Config* cfg = ctx.config();
  if (!cfg) return std::nullopt;
  return open_spool(*cfg, ctx.err());
}

}  // namespace

int cmd_dispatch_pause(Context& ctx) {
  auto sp = spool_for(ctx);
  if (!sp) return kFail;
  if (auto info = spool::dispatch_pause_info(sp->root())) {
    fmt::print(ctx.out(), "dispatch already paused since {} ({})\n", utc_time(info->since),
               info->by.empty() ? "-" : printable(info->by));
    return kOk;
  }
  if (spool::Status st = spool::pause_dispatch(sp->root(), who(ctx)); !st.ok()) {
    fmt::print(ctx.err(), "relayctl: dispatch pause: {}\n", printable(st.message));
    return kFail;
  }
  fmt::print(ctx.out(),
             "dispatch paused: dispatchers start no new delivery within 1 s; deliveries in flight finish; the "
             "receiver keeps accepting (marker {})\n",
             spool::dispatch_pause_marker(sp->root()).string());
  return kOk;
}

int cmd_dispatch_resume(Context& ctx) {
  auto sp = spool_for(ctx);
  if (!sp) return kFail;
  bool was = spool::dispatch_paused(sp->root());
  if (spool::Status st = spool::resume_dispatch(sp->root()); !st.ok()) {
    fmt::print(ctx.err(), "relayctl: dispatch resume: {}\n", printable(st.message));
    return kFail;
  }
  fmt::print(ctx.out(), "{}\n", was ? "dispatch resumed: dispatchers claim the queue again" : "dispatch was not paused");
  return kOk;
}

int cmd_dispatch_status(Context& ctx) {
  auto sp = spool_for(ctx);
  if (!sp) return kFail;
  auto info = spool::dispatch_pause_info(sp->root());
  std::size_t active = sp->list(spool::State::Active).size();
  std::size_t waiting = sp->list(spool::State::New).size();
  if (ctx.args().has("json")) {
    fmt::print(ctx.out(), "{{\"paused\":{},\"since\":{},\"by\":{},\"active\":{},\"new\":{}}}\n",
               info ? "true" : "false", info ? std::to_string(info->since) : "null",
               info ? json_string(info->by) : "null", active, waiting);
    return kOk;
  }
  if (info) {
    fmt::print(ctx.out(), "dispatch: paused since {} ({})\n", utc_time(info->since),
               info->by.empty() ? "-" : printable(info->by));
  } else {
    fmt::print(ctx.out(), "dispatch: running\n");
  }
  fmt::print(ctx.out(), "active: {} (deliveries in flight)\nnew: {} (waiting to be claimed)\n", active, waiting);
  return kOk;
}

}  // namespace relay::admin
