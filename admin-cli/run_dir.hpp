// relay::admin::RunDir — the supervisor's private state directory,
// <spool.directory>/run (mode 0700; under systemd the spool is the unit's
// ReadWritePaths, and relayctl finds it from the config alone):
//   supervisor.pid  the pid of `relayctl run` (for `relayctl reload`)
//   config.yaml     the config bytes the supervisor last accepted (0600);
//                   children load it (common/config_snapshot.hpp)
//   reload.status   the verdict on the last SIGHUP: pid=P, generation=N,
//                   result=ok|refused, error=...  (for `relayctl reload`)
// Does: writes each file atomically (temporary file + rename).
// Does not: lock (one supervisor per spool is the operator's contract).
// Fails: open()/write_*() return false with *error set.
#pragma once
#include <sys/types.h>

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>

namespace relay::config {
struct Config;
}

namespace relay::admin {

struct ReloadVerdict {
  std::uint64_t generation = 0;  // counts SIGHUPs the supervisor handled (0: just started)
  pid_t pid = 0;                 // the supervisor that wrote it (set by write_verdict)
  bool ok = false;
  std::string error;             // one line: why the reload was refused
};

class RunDir {
 public:
  static std::filesystem::path for_config(const config::Config& cfg);

  explicit RunDir(std::filesystem::path dir) : dir_(std::move(dir)) {}
  ~RunDir();  // removes the pid file and the snapshot
  RunDir(const RunDir&) = delete;
  RunDir& operator=(const RunDir&) = delete;

  // Creates the directory and writes supervisor.pid.
  bool open(std::string* error);
  bool write_snapshot(const std::string& bytes, std::string* error);
  bool write_verdict(const ReloadVerdict& v, std::string* error);
  std::filesystem::path snapshot() const { return dir_ / "config.yaml"; }
  const std::filesystem::path& dir() const noexcept { return dir_; }

  // For `relayctl reload` (any process): what the files say.
  static std::optional<pid_t> read_pid(const std::filesystem::path& dir);
  static std::optional<ReloadVerdict> read_verdict(const std::filesystem::path& dir);

 private:
  std::filesystem::path dir_;
  bool opened_ = false;
};

}  // namespace relay::admin
