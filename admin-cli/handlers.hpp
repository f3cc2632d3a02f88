// relay::admin handlers — one function per relayctl command, implemented in
// cmd_<concern>.cpp and wired into the table in command_table.cpp.
// Each returns kOk / kFail (see command.hpp) and prints its own errors.
#pragma once

namespace relay::admin {

class Context;

// cmd_run.cpp — foreground supervisor
int cmd_run(Context& ctx);
// cmd_reload.cpp — check, SIGHUP the supervisor, report its verdict
int cmd_reload(Context& ctx);
// cmd_queue.cpp — postqueue/postsuper-like spool tools
int cmd_queue_list(Context& ctx);
int cmd_queue_show(Context& ctx);
int cmd_queue_hold(Context& ctx);
int cmd_queue_release(Context& ctx);
int cmd_queue_requeue(Context& ctx);
int cmd_queue_delete(Context& ctx);
int cmd_queue_flush(Context& ctx);
// cmd_db.cpp — database schema
int cmd_db_migrate(Context& ctx);
// cmd_log.cpp — the delivery log and its filters
int cmd_log(Context& ctx);
// cmd_clients.cpp
int cmd_clients(Context& ctx);
// cmd_stats.cpp
int cmd_stats(Context& ctx);
// cmd_config.cpp
int cmd_config_check(Context& ctx);
int cmd_hash_password(Context& ctx);
// cmd_secrets.cpp
int cmd_secrets(Context& ctx);
// cmd_provider.cpp
int cmd_provider_test(Context& ctx);
// cmd_send_test.cpp
int cmd_send_test(Context& ctx);
// command_table.cpp
int cmd_help(Context& ctx);
// cmd_dispatch.cpp — pause/resume delivery (spool/control.hpp marker)
int cmd_dispatch_pause(Context& ctx);
int cmd_dispatch_resume(Context& ctx);
int cmd_dispatch_status(Context& ctx);
// cmd_config_keys.cpp
int cmd_config_keys(Context& ctx);

}  // namespace relay::admin
