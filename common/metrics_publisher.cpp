// relay::metrics::Publisher (see metrics_publisher.hpp).
#include "common/metrics_publisher.hpp"

#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <fstream>
#include <sstream>

#include "common/log.hpp"
#include "common/metrics_registry.hpp"

namespace relay::metrics {
namespace {

constexpr int kMaxSlots = 128;
constexpr std::size_t kMaxFile = 4 << 20;  // a predecessor's file larger than this is ignored

struct flock write_lock() {
  struct flock fl{};
  fl.l_type = F_WRLCK;
  fl.l_whence = SEEK_SET;
  return fl;
}

std::string read_small(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::string out(kMaxFile, '\0');
  in.read(out.data(), static_cast<std::streamsize>(out.size()));
  out.resize(static_cast<std::size_t>(in.gcount()));
  return out.size() == kMaxFile ? std::string() : out;
}

bool write_all(int fd, std::string_view s) {
  while (!s.empty()) {
    ssize_t n = ::write(fd, s.data(), s.size());
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    s.remove_prefix(static_cast<std::size_t>(n));
  }
  return true;
}

}  // namespace

std::filesystem::path metrics_dir(const std::filesystem::path& spool_dir) { return spool_dir / "run" / "metrics"; }

int slot_locked(const std::filesystem::path& lock_path) {
  int fd = ::open(lock_path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0) return -1;
  struct flock fl = write_lock();
  int rc = ::fcntl(fd, F_OFD_GETLK, &fl);
  ::close(fd);
  if (rc != 0) return -1;
  return fl.l_type == F_UNLCK ? 0 : 1;
}

std::unique_ptr<Publisher> Publisher::open(const std::filesystem::path& dir, std::string_view role,
                                           std::string* error, int interval_ms) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) {
    *error = dir.string() + ": " + ec.message();
    return nullptr;
  }
  std::unique_ptr<Publisher> p(new Publisher());
  p->interval_ms_ = interval_ms;
  for (int n = 1; n <= kMaxSlots && p->index_ == 0; ++n) {
    auto lock = dir / fmt::format("{}-{}.lock", role, n);
    int fd = ::open(lock.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0644);
    if (fd < 0) {
      *error = lock.string() + ": " + std::strerror(errno);
      return nullptr;
    }
    struct flock fl = write_lock();
    if (::fcntl(fd, F_OFD_SETLK, &fl) != 0) {
      ::close(fd);
      continue;
    }
    p->lock_fd_ = fd;
    p->index_ = n;
    p->file_ = dir / fmt::format("{}-{}", role, n);
  }
  if (p->index_ == 0) {
    *error = fmt::format("{}: no free {} slot of {}", dir.string(), role, kMaxSlots);
    return nullptr;
  }
  Registry& r = registry();
  int restored = r.restore(read_small(p->file_));
  r.add("relay_process_starts_total", {{"role", std::string(role)}, {"index", std::to_string(p->index_)}});
  log::info("- event=metrics_slot role={} index={} restored_counters={}", role, p->index_, restored);
  std::string werr;
  if (!p->publish(&werr)) log::warn("- event=metrics_write_failed reason={}", log::quote(werr));
  p->thread_ = std::thread([raw = p.get()] { raw->run(); });
  return p;
}

Publisher::~Publisher() {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
  std::string err;
  if (!publish(&err)) log::warn("- event=metrics_write_failed reason={}", log::quote(err));
  if (lock_fd_ >= 0) ::close(lock_fd_);
}

bool Publisher::publish(std::string* error) {
  const std::string text = registry().serialize();
  auto tmp = file_;
  tmp += ".tmp";
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0644);
  if (fd < 0) {
    *error = tmp.string() + ": " + std::strerror(errno);
    return false;
  }
  bool ok = write_all(fd, text);
  int werr = errno;
  if (::close(fd) != 0 && ok) {
    ok = false;
    werr = errno;
  }
  if (ok && ::rename(tmp.c_str(), file_.c_str()) != 0) {
    ok = false;
    werr = errno;
  }
  if (!ok) {
    *error = file_.string() + ": " + std::strerror(werr);
    ::unlink(tmp.c_str());
  }
  return ok;
}

void Publisher::run() {
  sigset_t all;
  sigfillset(&all);
  pthread_sigmask(SIG_BLOCK, &all, nullptr);  // signals belong to the loop thread
  bool failing = false;
  std::unique_lock lock(mu_);
  while (!cv_.wait_for(lock, std::chrono::milliseconds(interval_ms_), [this] { return stop_; })) {
    lock.unlock();
    std::string err;
    bool ok = publish(&err);
    if (!ok && !failing) log::warn("- event=metrics_write_failed reason={}", log::quote(err));
    if (ok && failing) log::info("- event=metrics_write_recovered");
    failing = !ok;
    lock.lock();
  }
}

}  // namespace relay::metrics
