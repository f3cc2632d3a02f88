// relay::admin::RunDir (see run_dir.hpp).
#include "admin-cli/run_dir.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>

#include "admin-cli/unique_fd.hpp"
#include "common/config.hpp"

namespace relay::admin {
namespace {

// tmp file, write, fsync, rename: a reader sees the old or the new file.
bool write_atomic(const std::filesystem::path& path, const std::string& bytes, std::string* error) {
  std::filesystem::path tmp = path;
  tmp += ".tmp";
  UniqueFd fd(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600));
  bool ok = bool(fd);
  for (std::size_t off = 0; ok && off < bytes.size();) {
    ssize_t n = ::write(fd.get(), bytes.data() + off, bytes.size() - off);
    if (n < 0 && errno == EINTR) continue;
    ok = n > 0;
    if (ok) off += static_cast<std::size_t>(n);
  }
  ok = ok && ::fsync(fd.get()) == 0;
  ok = ok && ::close(fd.release()) == 0;
  ok = ok && ::rename(tmp.c_str(), path.c_str()) == 0;
  if (!ok) {
    *error = path.string() + ": " + std::strerror(errno);
    ::unlink(tmp.c_str());
  }
  return ok;
}

std::optional<std::string> slurp(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return std::nullopt;
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

}  // namespace

std::filesystem::path RunDir::for_config(const config::Config& cfg) { return cfg.spool.directory / "run"; }

RunDir::~RunDir() {
  if (!opened_) return;
  ::unlink((dir_ / "supervisor.pid").c_str());
  ::unlink(snapshot().c_str());
}

bool RunDir::open(std::string* error) {
  std::error_code ec;
  std::filesystem::create_directories(dir_, ec);
  if (ec) {
    *error = dir_.string() + ": " + ec.message();
    return false;
  }
  ::chmod(dir_.c_str(), 0700);  // the snapshot may hold inline secrets
  opened_ = write_atomic(dir_ / "supervisor.pid", std::to_string(::getpid()) + "\n", error);
  return opened_;
}

bool RunDir::write_snapshot(const std::string& bytes, std::string* error) {
  return write_atomic(snapshot(), bytes, error);
}

bool RunDir::write_verdict(const ReloadVerdict& v, std::string* error) {
  std::string one_line = v.error;
  for (char& c : one_line)
    if (c == '\n' || c == '\r') c = ' ';
  std::string text = "pid=" + std::to_string(::getpid()) + "\ngeneration=" + std::to_string(v.generation) + "\nresult=" + (v.ok ? "ok" : "refused") +
                     "\nerror=" + one_line + "\n";
  return write_atomic(dir_ / "reload.status", text, error);
}

std::optional<pid_t> RunDir::read_pid(const std::filesystem::path& dir) {
  auto text = slurp(dir / "supervisor.pid");
  if (!text) return std::nullopt;
  char* end = nullptr;
  long pid = std::strtol(text->c_str(), &end, 10);
  if (pid <= 1 || end == text->c_str()) return std::nullopt;
  return static_cast<pid_t>(pid);
}

std::optional<ReloadVerdict> RunDir::read_verdict(const std::filesystem::path& dir) {
  auto text = slurp(dir / "reload.status");
  if (!text) return std::nullopt;
  ReloadVerdict v;
  std::istringstream in(*text);
  for (std::string line; std::getline(in, line);) {
    if (line.starts_with("pid=")) v.pid = static_cast<pid_t>(std::strtol(line.c_str() + 4, nullptr, 10));
    else if (line.starts_with("generation=")) v.generation = std::strtoull(line.c_str() + 11, nullptr, 10);
    else if (line.starts_with("result=")) v.ok = line == "result=ok";
    else if (line.starts_with("error=")) v.error = line.substr(6);
  }
  return v;
}

}  // namespace relay::admin
