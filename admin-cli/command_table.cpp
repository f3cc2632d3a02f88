// The relayctl command table and its dispatcher (see command.hpp).
#include <cstdlib>
#include <fmt/format.h>

#include "admin-cli/command.hpp"
#include "admin-cli/handlers.hpp"
#include "common/config.hpp"

namespace relay::admin {
namespace {

constexpr OptionSpec kQueueList[] = {{"state", 's', true}, {"json", 0, false}, {"limit", 'n', true}};
constexpr OptionSpec kQueueShow[] = {{"body", 0, false}};
constexpr OptionSpec kLog[] = {{"limit", 'n', true},   {"id", 0, true},       {"failed", 0, false},
                               {"json", 0, false},    {"since", 0, true},    {"until", 0, true},
                               {"from", 0, true},     {"to", 0, true},       {"status", 0, true},
                               {"message-id", 0, true}, {"subject", 0, true}, {"provider", 0, true},
                               {"explain", 0, false}, {"host", 0, true}};
constexpr OptionSpec kDbMigrate[] = {{"url", 0, true}, {"grant", 0, true}};
constexpr OptionSpec kClients[] = {{"json", 0, false}, {"host", 0, true}};
constexpr OptionSpec kStats[] = {{"json", 0, false}, {"host", 0, true}};
constexpr OptionSpec kReload[] = {{"timeout", 0, true}};
constexpr OptionSpec kSecrets[] = {{"json", 0, false}};
constexpr OptionSpec kCluster[] = {{"json", 0, false}};
constexpr OptionSpec kConfigKeys[] = {{"markdown", 0, false}};
constexpr OptionSpec kSendTest[] = {
    {"to", 0, true},      {"from", 0, true},     {"timeout", 0, true},  {"user", 0, true},
    {"password", 0, true}, {"server", 0, true},  {"ca-file", 0, true},  {"insecure", 0, false},
    {"subject", 0, true}, {"password-file", 0, true}};

constexpr OptionSpec kDispatchPause[] = {{"reason", 0, true}};
constexpr OptionSpec kDispatchStatus[] = {{"json", 0, false}};

std::span<const OptionSpec> none() { return {}; }

const Command kCommands[] = {
    {"run", "", "run receiver and dispatchers in the foreground (supervisor)", cmd_run, none()},
    {"reload", "[--timeout 30s]", "check the config, reload the running supervisor, report its verdict", cmd_reload,
     kReload},
    {"queue list", "[--state new|deferred|hold|failed|active|corrupt|all] [--limit N] [--json]",
     "list spool entries (like mailq)", cmd_queue_list, kQueueList, 0, 0, Secrets::None},
    {"queue show", "ID [--body]", "show an entry's envelope and message headers", cmd_queue_show, kQueueShow, 1, 1,
     Secrets::None},
    {"queue hold", "ID|ALL", "put new/deferred entries on hold", cmd_queue_hold, none(), 1, 1000000, Secrets::None},
    {"queue release", "ID|ALL", "release held entries to new/", cmd_queue_release, none(), 1, 1000000, Secrets::None},
    {"queue requeue", "ID|ALL", "move deferred/failed entries to new/ (attempt now)", cmd_queue_requeue, none(), 1,
     1000000, Secrets::None},
    {"queue delete", "ID|ALL", "delete entries (not while a dispatcher works on them)", cmd_queue_delete, none(), 1,
     1000000, Secrets::None},
    {"queue flush", "", "attempt every deferred entry now", cmd_queue_flush, none(), 0, 0, Secrets::None},
    {"db migrate", "[--url CONNINFO] [--grant ROLE]",
     "apply the SQL migrations in schema/ (idempotent) as the schema owner (--url, else database.conninfo)",
     cmd_db_migrate, kDbMigrate, 0, 0, Secrets::Database},
    {"log",
     "[--limit N] [--id ID] [--since WHEN] [--until WHEN] [--from ADDR] [--to ADDR|@DOMAIN]"
     " [--status sent|failed|partial|queued] [--failed] [--message-id ID] [--subject TEXT] [--provider NAME] [--host NAME] [--json] [--explain]",
     "deliveries from the database, newest first, with each recipient's state", cmd_log, kLog, 0, 0, Secrets::Database},
    {"clients", "[--host NAME] [--json]", "senders per AUTH user and client address: last seen, volume, TLS, refusals",
     cmd_clients, kClients, 0, 0, Secrets::Database},
    {"stats", "[--host NAME] [--json]", "sent/failed counts, error rate, last error, queue sizes", cmd_stats, kStats, 0, 0,
     Secrets::Database},
    {"config check", "", "validate the configuration file", cmd_config_check, none()},
    {"hash-password", "", "hash a password read from stdin or the terminal", cmd_hash_password, none(), 0, 0,
     Secrets::None},
    {"secrets", "[--json]", "client secret expiry per provider", cmd_secrets, kSecrets, 0, 0, Secrets::Database},
    {"provider test", "[NAME]", "test a provider's credentials and reachability", cmd_provider_test, none(), 0, 1},
    {"send-test",
     "--to ADDR [--from ADDR] [--timeout 60s] [--user U [--password-file F]] [--server HOST:PORT] "
     "[--ca-file F|--insecure]",
     "send a test mail through the receiver and wait for its outcome", cmd_send_test, kSendTest, 0, 0,
     Secrets::Database},
    {"help", "", "show this list", cmd_help, none(), 0, 0, Secrets::None},
    {"dispatch pause", "[--reason TEXT]", "stop starting deliveries (in-flight ones finish; mail is still accepted)",
     cmd_dispatch_pause, kDispatchPause, 0, 0, Secrets::None},
    {"dispatch resume", "", "start delivering again", cmd_dispatch_resume, none(), 0, 0, Secrets::None},
    {"dispatch status", "[--json]", "paused or running, deliveries in flight", cmd_dispatch_status, kDispatchStatus,
     0, 0, Secrets::None},
    {"cluster", "[--json]", "every relay host sharing the database: last heartbeat, state, version, queue sizes",
     cmd_cluster, kCluster, 0, 0, Secrets::Database},
    {"config keys", "[--markdown]", "list every configuration key: default, type, reloadable", cmd_config_keys,
     kConfigKeys, 0, 0, Secrets::None},
};

std::size_t word_count(std::string_view name) {
  std::size_t n = 1;
  for (char c : name) n += c == ' ';
  return n;
}

bool matches(std::string_view name, std::span<const std::string> argv, std::size_t words) {
  if (argv.size() < words) return false;
  std::string joined;
  for (std::size_t i = 0; i < words; ++i) {
    if (i) joined += ' ';
    joined += argv[i];
  }
  return joined == name;
}

void print_synopsis(std::FILE* to, const Command& c) {
  fmt::print(to, "usage: relayctl [-c FILE] {}{}{}\n", c.name, c.synopsis.empty() ? "" : " ", c.synopsis);
}

}  // namespace

std::span<const Command> commands() { return kCommands; }

const Command* find_command(std::span<const std::string> argv, std::size_t* consumed) {
  const Command* best = nullptr;
  std::size_t best_words = 0;
  for (const Command& c : kCommands) {
    std::size_t w = word_count(c.name);
    if (w > best_words && matches(c.name, argv, w)) {
      best = &c;
      best_words = w;
    }
  }
  *consumed = best_words;
  return best;
}

std::filesystem::path resolve_config_path(const std::optional<std::string>& explicit_path) {
  if (explicit_path && !explicit_path->empty()) return *explicit_path;
  if (const char* env = std::getenv("RELAY_CONFIG"); env && *env) return env;
  return "/etc/relay/relay.yaml";
}

void print_usage(std::FILE* to) {
  fmt::print(to, "usage: relayctl [-c FILE] COMMAND [ARGS]\n\n"
                 "  -c FILE   configuration (default $RELAY_CONFIG, else /etc/relay/relay.yaml)\n\n"
                 "commands:\n");
  for (const Command& c : kCommands) {
    std::string head = fmt::format("{}{}{}", c.name, c.synopsis.empty() ? "" : " ", c.synopsis);
    fmt::print(to, "  {}\n      {}\n", head, c.help);
  }
}

int cmd_help(Context& ctx) {
  print_usage(ctx.out());
  return kOk;
}

int dispatch(std::span<const std::string> argv, const std::optional<std::string>& global_config, std::FILE* out,
             std::FILE* err) {
  std::size_t consumed = 0;
  const Command* cmd = find_command(argv, &consumed);
  if (!cmd) {
    if (argv.empty()) {
      print_usage(err);
    } else {
      // "relayctl queue" alone: list the subcommands of that word.
      bool group = false;
      for (const Command& c : kCommands) group = group || c.name.starts_with(argv[0] + " ");
      if (group)
        fmt::print(err, "relayctl: '{}' needs a subcommand:\n", argv[0]);
      else
        fmt::print(err, "relayctl: unknown command '{}'\n", argv[0]);
      for (const Command& c : kCommands)
        if (c.name.starts_with(argv[0] + " ")) print_synopsis(err, c);
    }
    return kUsage;
  }
  std::string error;
  auto args = Args::parse(argv.subspan(consumed), cmd->options, cmd->min_pos, cmd->max_pos, &error);
  if (!args) {
    fmt::print(err, "relayctl {}: {}\n", cmd->name, error);
    print_synopsis(err, *cmd);
    return kUsage;
  }
  if (args->has("help")) {
    print_synopsis(out, *cmd);
    fmt::print(out, "  {}\n", cmd->help);
    return kOk;
  }
  auto local = args->get("config");
  Context ctx(std::move(*args), resolve_config_path(local ? local : global_config), out, err);
  ctx.set_secrets(cmd->secrets);
  return cmd->handler(ctx);
}

}  // namespace relay::admin
