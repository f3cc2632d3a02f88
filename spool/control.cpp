// relay::spool control switches (see control.hpp).
#include "spool/control.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <ctime>

namespace relay::spool {
namespace {

constexpr const char* kMarker = "dispatch-paused";

Status fail_errno(int err, const std::string& what) { return Status{err, what + ": " + std::strerror(err)}; }

// Writes `text` to dir/name via a hidden tmp file, fsync, rename, fsync(dir).
Status write_atomically(const std::filesystem::path& dir, const std::string& name, const std::string& text) {
  const std::filesystem::path tmp = dir / ("." + name + "." + std::to_string(::getpid()));
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0640);
  if (fd < 0) return fail_errno(errno, "create " + tmp.string());
  std::size_t off = 0;
  while (off < text.size()) {
    ssize_t n = ::write(fd, text.data() + off, text.size() - off);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      int err = errno;
      ::close(fd);
      ::unlink(tmp.c_str());
      return fail_errno(err, "write " + tmp.string());
    }
    off += static_cast<std::size_t>(n);
  }
  if (::fsync(fd) != 0 || ::close(fd) != 0) {
    int err = errno;
    ::unlink(tmp.c_str());
    return fail_errno(err, "fsync " + tmp.string());
  }
  const std::filesystem::path target = dir / name;
  if (::rename(tmp.c_str(), target.c_str()) != 0) {
    int err = errno;
    ::unlink(tmp.c_str());
    return fail_errno(err, "rename " + tmp.string() + " -> " + target.string());
  }
  int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd >= 0) {
    ::fsync(dfd);
    ::close(dfd);
  }
  return Status::success();
}

std::string one_line(std::string_view s) {
  std::string out(s.substr(0, 200));
  for (char& c : out)
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) c = ' ';
  return out;
}

}  // namespace

std::filesystem::path control_dir(const std::filesystem::path& root) { return root / "control"; }

std::filesystem::path dispatch_pause_marker(const std::filesystem::path& root) { return control_dir(root) / kMarker; }

Status ensure_control_dir(const std::filesystem::path& root) {
  const auto dir = control_dir(root);
  if (::mkdir(dir.c_str(), 0750) == 0) return Status::success();
  int err = errno;
  struct stat st{};
  if (err == EEXIST && ::lstat(dir.c_str(), &st) == 0 && S_ISDIR(st.st_mode)) return Status::success();
  if (err == EEXIST) return Status{ENOTDIR, dir.string() + " exists and is not a directory"};
  return fail_errno(err, "mkdir " + dir.string());
}

Status pause_dispatch(const std::filesystem::path& root, std::string_view by) {
  if (Status st = ensure_control_dir(root); !st.ok()) return st;
  std::string text = "paused-at: " + std::to_string(std::time(nullptr)) + "\nby: " + one_line(by) + "\n";
  return write_atomically(control_dir(root), kMarker, text);
}

Status resume_dispatch(const std::filesystem::path& root) {
  const auto marker = dispatch_pause_marker(root);
  if (::unlink(marker.c_str()) != 0 && errno != ENOENT) return fail_errno(errno, "remove " + marker.string());
  return Status::success();
}

bool dispatch_paused(const std::filesystem::path& root) noexcept {
  struct stat st{};
  return ::lstat(dispatch_pause_marker(root).c_str(), &st) == 0;
}

std::optional<PauseInfo> dispatch_pause_info(const std::filesystem::path& root) {
  const auto marker = dispatch_pause_marker(root);
  struct stat st{};
  if (::lstat(marker.c_str(), &st) != 0) return std::nullopt;
  PauseInfo info;
  info.since = static_cast<std::int64_t>(st.st_mtime);
  if (!S_ISREG(st.st_mode)) return info;  // a FIFO or symlink planted there: never opened
  int fd = ::open(marker.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
  if (fd < 0) return info;
  char buf[512];
  ssize_t n = ::read(fd, buf, sizeof buf);
  ::close(fd);
  std::string_view text(buf, n > 0 ? static_cast<std::size_t>(n) : 0);
  while (!text.empty()) {
    auto eol = text.find('\n');
    std::string_view line = text.substr(0, eol);
    if (line.starts_with("paused-at: ")) {
      std::string v(line.substr(11));
      char* end = nullptr;
      long long t = std::strtoll(v.c_str(), &end, 10);
      if (end && *end == '\0' && t > 0) info.since = t;
    } else if (line.starts_with("by: ")) {
      info.by = one_line(line.substr(4));
    }
    if (eol == std::string_view::npos) break;
    text.remove_prefix(eol + 1);
  }
  return info;
}

}  // namespace relay::spool
