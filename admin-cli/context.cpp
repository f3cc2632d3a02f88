// relay::admin::Context — what a relayctl handler gets (see command.hpp).
// Loading the config: the file must be a readable regular file (a wrong -c
// is an error, never an empty config of defaults), and only the secrets the
// command's table row asks for are resolved (Secrets::None/Database/All).
#include <fmt/format.h>
#include <sys/stat.h>

#include <cerrno>
#include <cstring>

#include "admin-cli/command.hpp"
#include "common/config.hpp"
#include "common/config_values.hpp"

namespace relay::admin {

Context::Context(Args args, std::filesystem::path config_path, std::FILE* out, std::FILE* err)
    : args_(std::move(args)), config_path_(std::move(config_path)), out_(out), err_(err) {}
Context::~Context() = default;

namespace {

// "" when `p` can be a config file, else why not.
std::string unusable_config(const std::filesystem::path& p) {
  struct stat st{};
  if (::stat(p.c_str(), &st) != 0) return std::strerror(errno);
  if (S_ISDIR(st.st_mode)) return "is a directory, not a configuration file";
  if (!S_ISREG(st.st_mode)) return "not a regular file";
  return "";
}

}  // namespace

const config::Config* Context::config() {
  if (config_) return config_.get();
  if (std::string why = unusable_config(config_path_); !why.empty()) {
    fmt::print(err_, "relayctl: config {}: {} (give the file with -c FILE or $RELAY_CONFIG)\n", config_path_.string(),
               why);
    return nullptr;
  }
  config::LoadOptions opt;
  opt.expand_secrets = secrets_ == Secrets::All;
  try {
    auto cfg = std::make_unique<config::Config>(config::load(config_path_, opt));
    if (secrets_ == Secrets::Database) {
      std::string why;
      auto conninfo = config::expand_secrets(cfg->database.conninfo, cfg->file.parent_path(), &why);
      if (!conninfo) {
        fmt::print(err_, "relayctl: {}: database.conninfo: {}\n", cfg->file.string(), why);
        return nullptr;
      }
      cfg->database.conninfo = std::move(*conninfo);
    }
    config_ = std::move(cfg);
  } catch (const config::ConfigError& e) {
    fmt::print(err_, "relayctl: {}\n", e.what());
    return nullptr;
  } catch (const std::exception& e) {
    fmt::print(err_, "relayctl: {}: {}\n", config_path_.string(), e.what());
    return nullptr;
  }
  return config_.get();
}

}  // namespace relay::admin
