// relay::spool::detail — POSIX helpers (see file_util.hpp).
#include "spool/file_util.hpp"

#include "spool/layout.hpp"

#include <fcntl.h>
#include <stdio.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <dirent.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>

namespace relay::spool::detail {

Fd& Fd::operator=(Fd&& o) noexcept {
  if (this != &o) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = o.release();
  }
  return *this;
}

Fd::~Fd() {
  if (fd_ >= 0) ::close(fd_);
}

int Fd::close_checked() noexcept {
  if (fd_ < 0) return 0;
  int rc = ::close(fd_);
  fd_ = -1;
  // Linux closes the descriptor even when close() fails (EINTR included);
  // the error still means written data may be lost.
  return rc == 0 ? 0 : errno;
}

Dirs::~Dirs() {
  for (int f : fd)
    if (f >= 0) ::close(f);
}

int Dirs::of(State s) const noexcept {
  switch (s) {
    case State::New: return fd[New];
    case State::Active: return fd[Active];
    case State::Deferred: return fd[Deferred];
    case State::Hold: return fd[Hold];
    case State::Failed: return fd[Failed];
    case State::Corrupt: return fd[Corrupt];
  }
  return -1;
}

const char* dir_label(int index) noexcept {
  static const char* const names[Dirs::kCount] = {"tmp",    "data",   "new",     "active", "deferred",
                                                  "hold",   "failed", "corrupt", "recycle"};
  return index >= 0 && index < static_cast<int>(Dirs::kCount) ? names[index] : "?";
}

int take_recycled(const Dirs& dirs, const std::string& tmp_name) noexcept {
  constexpr std::int64_t kRescanMs = 200;  // an empty recycle/ is not listed again sooner
  try {
    std::unique_lock lk(dirs.recycle_mu);
    for (int attempts = 0; attempts < 8; ++attempts) {
      if (dirs.recycle_names.empty()) {
        timespec ts{};
        ::clock_gettime(CLOCK_MONOTONIC, &ts);
        const std::int64_t now = static_cast<std::int64_t>(ts.tv_sec) * 1000 + ts.tv_nsec / 1000000;
        if (dirs.recycle_scanned_ms != 0 && now - dirs.recycle_scanned_ms < kRescanMs) return -1;
        dirs.recycle_scanned_ms = now;
        if (list_names(dirs.fd[Dirs::Recycle], &dirs.recycle_names) != 0 || dirs.recycle_names.empty()) return -1;
      }
      std::string name = std::move(dirs.recycle_names.back());
      dirs.recycle_names.pop_back();
      lk.unlock();
      // Its mtime must say "made now" *before* it appears in tmp/: the
      // orphan sweep removes tmp/ files by age, and this one may have
      // waited in recycle/ for hours (the sweep also looks at ctime, which
      // the rename refreshes; this keeps the mtime honest too).
      (void)::utimensat(dirs.fd[Dirs::Recycle], name.c_str(), nullptr, AT_SYMLINK_NOFOLLOW);
      if (rename_noreplace(dirs.fd[Dirs::Recycle], name, dirs.fd[Dirs::Tmp], tmp_name) == 0) {
        int fd = ::openat(dirs.fd[Dirs::Tmp], tmp_name.c_str(), O_WRONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
        // Only a plain file with no other name is overwritten (never a
        // FIFO, device or a hard link to something else).
        struct stat st{};
        if (fd >= 0 && ::fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_nlink == 1 &&
            ::fcntl(fd, F_SETFL, 0) == 0) {
          return fd;
        }
        if (fd >= 0) ::close(fd);
        ::unlinkat(dirs.fd[Dirs::Tmp], tmp_name.c_str(), 0);
      }
      lk.lock();  // gone meanwhile (another process, the sweeper's trim): next name
    }
  } catch (...) {  // allocation failure: just create a new file
  }
  return -1;
}

int retire(const Dirs& dirs, int dir, const std::string& rel, const std::string& name, std::int64_t size) noexcept {
  if (size >= 0 && size <= kRecycleMaxBytes) {
    int err = rename_noreplace(dirs.fd[dir], rel, dirs.fd[Dirs::Recycle], name);
    if (err == 0 || err == ENOENT) return err;
    // EEXIST (a name left over from a crash) or anything else: unlink instead
  }
  return ::unlinkat(dirs.fd[dir], rel.c_str(), 0) == 0 ? 0 : errno;
}

std::string env_name(const QueueId& id) { return id.str() + ".env"; }
std::string data_name(const QueueId& id) { return id.str() + ".eml"; }

int write_all(int fd, std::string_view bytes) noexcept {
  const char* p = bytes.data();
  std::size_t left = bytes.size();
  while (left > 0) {
    ssize_t n = ::write(fd, p, left);
    if (n < 0) {
      if (errno == EINTR) continue;
      return errno;
    }
    p += n;
    left -= static_cast<std::size_t>(n);
  }
  return 0;
}

int read_file(int dirfd, const std::string& name, std::string* out) {
  // Never through a symlink, never blocking on a FIFO planted in the spool.
  Fd fd(::openat(dirfd, name.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY));
  if (!fd) return errno;
  struct stat st{};
  if (::fstat(fd.get(), &st) != 0) return errno;
  if (!S_ISREG(st.st_mode)) return EINVAL;
  if (st.st_size > kMaxSmallFile) return EFBIG;
  out->clear();
  char buf[8192];
  for (;;) {
    ssize_t n = ::read(fd.get(), buf, sizeof buf);
    if (n < 0) {
      if (errno == EINTR) continue;
      return errno;
    }
    if (n == 0) return 0;
    out->append(buf, static_cast<std::size_t>(n));
    if (out->size() > static_cast<std::size_t>(kMaxSmallFile)) return EFBIG;
  }
}

Status write_new_file(int dirfd, int label, const std::string& name, std::string_view bytes,
                      std::int64_t mtime) {
  std::string what = std::string(dir_label(label)) + "/" + name;
  Fd fd(::openat(dirfd, name.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0640));
  if (!fd) return fail(errno, "create " + what);
  int err = write_all(fd.get(), bytes);
  if (err == 0 && mtime != 0) {
    struct timespec ts[2] = {{0, UTIME_OMIT}, {static_cast<time_t>(mtime), 0}};
    if (::futimens(fd.get(), ts) != 0) err = errno;
  }
  if (err == 0 && ::fdatasync(fd.get()) != 0) err = errno;
  int cerr = fd.close_checked();
  if (err == 0) err = cerr;
  if (err != 0) {
    ::unlinkat(dirfd, name.c_str(), 0);
    return fail(err, "write " + what);
  }
  return Status::success();
}

int rename_noreplace(int from_dir, const std::string& from, int to_dir, const std::string& to) noexcept {
#ifdef RENAME_NOREPLACE
  if (::renameat2(from_dir, from.c_str(), to_dir, to.c_str(), RENAME_NOREPLACE) == 0) return 0;
  if (errno != EINVAL && errno != ENOSYS) return errno;
  // Filesystem without RENAME_NOREPLACE: check, then rename (racy only
  // against a process that ignores the lock protocol).
  struct stat st;
  if (::fstatat(to_dir, to.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0) return EEXIST;
#endif
  return ::renameat(from_dir, from.c_str(), to_dir, to.c_str()) == 0 ? 0 : errno;
}

int lock_data(const Dirs& dirs, const QueueId& id, Fd* out) {
  Fd fd(::openat(dirs.fd[Dirs::Data], data_rel(id).c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW));
  if (!fd) return errno;
  while (::flock(fd.get(), LOCK_EX | LOCK_NB) != 0) {
    if (errno == EINTR) continue;
    return errno == EWOULDBLOCK ? EWOULDBLOCK : errno;
  }
  // The previous holder may have finished (unlinked the file) between our
  // open and our lock: a lock on an unlinked inode protects nothing.
  struct stat st;
  if (::fstat(fd.get(), &st) != 0) return errno;
  if (st.st_nlink == 0) return ENOENT;
  *out = std::move(fd);
  return 0;
}

int list_names(int dirfd, std::vector<std::string>* out) {
  out->clear();
  int fd = ::openat(dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return errno;
  DIR* d = ::fdopendir(fd);
  if (!d) {
    int err = errno;
    ::close(fd);
    return err;
  }
  errno = 0;
  while (dirent* de = ::readdir(d)) {
    const char* n = de->d_name;
    if (n[0] == '.' && (n[1] == 0 || (n[1] == '.' && n[2] == 0))) continue;
    out->emplace_back(n);
  }
  int err = errno;
  ::closedir(d);
  return err;
}

void append_ids(int dirfd, std::string_view suffix, std::vector<QueueId>* ids) {
  std::vector<std::string> names;
  (void)list_names(dirfd, &names);
  ids->reserve(ids->size() + names.size());
  for (const auto& n : names) {
    if (n.size() != QueueId::kLength + suffix.size()) continue;
    if (std::string_view(n).substr(QueueId::kLength) != suffix) continue;
    if (auto id = QueueId::parse(std::string_view(n).substr(0, QueueId::kLength))) ids->push_back(*id);
  }
}

std::vector<QueueId> list_ids(int dirfd, std::string_view suffix) {
  std::vector<QueueId> ids;
  append_ids(dirfd, suffix, &ids);
  std::sort(ids.begin(), ids.end());
  return ids;
}

Status rewrite_envelope(const Dirs& dirs, State dir, const Envelope& env, std::int64_t mtime) {
  const int tmp = dirs.fd[Dirs::Tmp];
  std::string upd = env.id.str() + ".upd";
  ::unlinkat(tmp, upd.c_str(), 0);  // leftover of a crashed owner; we hold the lock
  Status st = write_new_file(tmp, Dirs::Tmp, upd, serialize(env), mtime);
  if (!st.ok()) return st;
  if (::renameat(tmp, upd.c_str(), dirs.of(dir), env_rel(env.id).c_str()) != 0) {
    int err = errno;
    ::unlinkat(tmp, upd.c_str(), 0);
    return fail(err, "rename tmp/" + upd + " -> " + std::string(dir_name(dir)) + "/");
  }
  return Status::success();
}

namespace {
std::atomic<std::uint64_t> g_sync_errors{0};
}

std::uint64_t sync_error_epoch() noexcept { return g_sync_errors.load(std::memory_order_acquire); }
void note_sync_error() noexcept { g_sync_errors.fetch_add(1, std::memory_order_acq_rel); }

std::string errstr(int err) {
  char buf[128];
  return std::string(::strerror_r(err, buf, sizeof buf));
}

Status fail(int err, std::string_view what) {
  return Status{err, std::string(what) + ": " + errstr(err)};
}

}  // namespace relay::spool::detail
