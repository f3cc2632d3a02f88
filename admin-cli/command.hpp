// relay::admin — the relayctl command table and the small parser each
// command uses for its own options (OpenSMTPD smtpctl cmd_install style).
//
// Does: maps the words on the command line ("queue list", "db migrate") to
// one entry of one table (name, synopsis, help, handler, options), parses
// the options that entry declares, resolves the config file (-c FILE, else
// $RELAY_CONFIG, else /etc/relay/relay.yaml) and calls the handler.
// Does not: know what any command does; handlers live in cmd_*.cpp by concern.
// Runs on: the main thread of a short-lived CLI process (`run` excepted).
// Fails: usage errors print the command's synopsis and return kUsage (2);
// handlers return kOk (0) or kFail (1) and print their own clear error.
#pragma once
#include <cstdio>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace relay::config {
struct Config;
}

namespace relay::admin {

inline constexpr int kOk = 0;
inline constexpr int kFail = 1;
inline constexpr int kUsage = 2;

// One option a command accepts. `value` = takes an argument (--limit 10,
// --limit=10); otherwise a flag (--json).
struct OptionSpec {
  std::string_view name;   // long name without dashes: "state"
  char short_name = 0;     // e.g. 'c'; 0 = none
  bool value = false;
};

// Parsed command-line arguments of one command.
class Args {
 public:
  // Parses argv (everything after the command words). Every command also
  // accepts -c/--config FILE. Returns nullopt and sets *error on unknown
  // options, a missing value, or a positional count outside [min_pos, max_pos].
  static std::optional<Args> parse(std::span<const std::string> argv, std::span<const OptionSpec> spec,
                                   int min_pos, int max_pos, std::string* error);

  bool has(std::string_view name) const;
  std::optional<std::string> get(std::string_view name) const;
  std::string get_or(std::string_view name, std::string_view fallback) const;
  const std::vector<std::string>& positional() const noexcept { return positional_; }

 private:
  std::map<std::string, std::string, std::less<>> options_;  // flags map to ""
  std::vector<std::string> positional_;
};

// Which ${env:}/${file:} secret references a command resolves when it loads
// the config. An admin shell without the daemons' environment (no
// RELAY_* variables, no access to the secret files) must still be able to
// run the commands that need none. Declared per row of the command table.
//  None:     no secret is read (spool tools); secret keys keep their text.
//  Database: database.conninfo only (log, stats, db migrate, send-test).
//  All:      every secret, as the daemons load them (run, config check,
//            provider test). The default for a row that says nothing.
enum class Secrets { None, Database, All };

// What a handler gets: its arguments, the config path and output streams
// (tests swap them for temporary files).
class Context {
 public:
  Context(Args args, std::filesystem::path config_path, std::FILE* out = stdout, std::FILE* err = stderr);
  ~Context();
  Context(const Context&) = delete;
  Context& operator=(const Context&) = delete;

  const Args& args() const noexcept { return args_; }
  const std::filesystem::path& config_path() const noexcept { return config_path_; }
  // What config() resolves (the command's row; All unless set).
  void set_secrets(Secrets s) noexcept { secrets_ = s; }
  std::FILE* out() const noexcept { return out_; }
  std::FILE* err() const noexcept { return err_; }
  // Loads the config once, resolving the secrets set_secrets() allows. A
  // path that is not a readable regular file is an error (never "defaults").
  // On error prints "relayctl: FILE:LINE: KEY: ..." to err() and returns
  // nullptr; the handler then returns kFail.
  const config::Config* config();

 private:
  Args args_;
  std::filesystem::path config_path_;
  std::FILE* out_;
  std::FILE* err_;
  std::unique_ptr<config::Config> config_;
  Secrets secrets_ = Secrets::All;
};

using Handler = int (*)(Context&);

struct Command {
  std::string_view name;      // words, space separated: "queue list"
  std::string_view synopsis;  // "[--state STATE]"
  std::string_view help;      // one line
  Handler handler;
  std::span<const OptionSpec> options;
  int min_pos = 0;
  int max_pos = 0;
  Secrets secrets = Secrets::All;
};

// The table (command_table.cpp), in the order `relayctl help` prints it.
std::span<const Command> commands();

// Finds the command whose words are the longest prefix of argv. Sets
// *consumed to the number of words used. nullptr when none matches.
const Command* find_command(std::span<const std::string> argv, std::size_t* consumed);

// Resolves the config path: explicit (-c) > $RELAY_CONFIG > /etc/relay/relay.yaml.
std::filesystem::path resolve_config_path(const std::optional<std::string>& explicit_path);

// Looks up and runs one command. `global_config` is -c given before the
// command words. Returns the process exit code.
int dispatch(std::span<const std::string> argv, const std::optional<std::string>& global_config,
             std::FILE* out = stdout, std::FILE* err = stderr);

// Prints the command list (relayctl help).
void print_usage(std::FILE* to);

}  // namespace relay::admin
