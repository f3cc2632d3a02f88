// relay::admin health (see health.hpp).
#include "admin-cli/health.hpp"

#include <fcntl.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>

#include <fmt/format.h>

namespace relay::admin {
namespace {

std::string one_line(std::string s) {
  for (char& c : s)
    if (c == '\r' || c == '\n' || static_cast<unsigned char>(c) < 0x20) c = ' ';
  if (s.size() > 300) s.resize(300);
  return s;
}

}  // namespace

std::string spool_write_problem(const std::filesystem::path& spool_dir) {
  static std::atomic<unsigned> seq{0};
  const auto path = spool_dir / "tmp" / fmt::format(".healthz-{}-{}", ::getpid(), seq++);
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd < 0) return fmt::format("tmp/: {}", std::strerror(errno));
  bool wrote = ::write(fd, "x", 1) == 1;
  int err = errno;
  ::close(fd);
  ::unlink(path.c_str());
  if (!wrote) return fmt::format("tmp/: write: {}", std::strerror(err));
  return {};
}

std::string spool_space_problem(const std::filesystem::path& spool_dir, std::uint64_t min_free) {
  if (min_free == 0) return {};
  struct statvfs vfs{};
  if (::statvfs(spool_dir.c_str(), &vfs) != 0) return {};  // spool_write_problem() names that
  if (vfs.f_files > 0 && vfs.f_favail < 64) {
    return fmt::format("spool out of inodes: {} free (MAIL is answered 452 4.3.1)", vfs.f_favail);
  }
  const std::uint64_t free = static_cast<std::uint64_t>(vfs.f_bavail) * vfs.f_frsize;
  if (free >= min_free) return {};
  constexpr std::uint64_t kMB = 1024 * 1024;
  return fmt::format("spool short of space: {} MB free, receiver.limits.min_free_space is {} MB (MAIL is answered "
                     "452 4.3.1)",
                     free / kMB, (min_free + kMB - 1) / kMB);
}

Health evaluate_health(const Collected& c, const std::string& spool_problem, bool draining) {
  if (draining) return {503, "draining"};
  if (!spool_problem.empty()) return {503, one_line("spool not writable: " + spool_problem)};
  bool receiver = false, dispatcher = false;
  for (const auto& s : c.slots) {
    if (s.up && s.role == "receiver") receiver = true;
    if (s.up && s.role == "dispatcher") dispatcher = true;
  }
  if (!receiver) return {503, "receiver not running"};
  if (!dispatcher) return {503, "no dispatcher running"};
  for (const auto& [key, s] : c.gauges) {
    if (s.name != "relay_provider_config_error") continue;
    std::string provider, reason;
    for (const auto& [k, v] : s.labels) {
      if (k == "provider") provider = v;
      if (k == "reason") reason = v;
    }
    return {503, one_line("provider " + provider + " fails authentication or configuration: " + reason)};
  }
  return {200, c.paused ? "ok (delivery paused)" : "ok"};
}

}  // namespace relay::admin
