// relay::spool::detail — small POSIX helpers shared by the spool sources.
//
// Does: an owning file descriptor (Fd), write-all / read-all loops that
// retry EINTR and short writes, the spool's directory handles (opened once
// per Spool and shared by copies), and errno -> Status formatting.
// Does not: buffer, log, or throw. Internal to relay_spool (not installed).
// Thread-safety: Fd is a plain owner; Dirs is immutable after open.
// Fails: every function returns an errno (0 = ok) or a Status.
#pragma once
#include <sys/types.h>

#include <array>
#include <cstdint>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "spool/spool.hpp"

namespace relay::spool::detail {

// Owns one file descriptor; closes it on destruction (close errors are
// reported only through close_checked()).
class Fd {
 public:
  Fd() = default;
  explicit Fd(int fd) noexcept : fd_(fd) {}
  Fd(Fd&& o) noexcept : fd_(o.release()) {}
  Fd& operator=(Fd&& o) noexcept;
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  ~Fd();

  int get() const noexcept { return fd_; }
  explicit operator bool() const noexcept { return fd_ >= 0; }
  int release() noexcept {
    int fd = fd_;
    fd_ = -1;
    return fd;
  }
  // close(2) with its result: 0 or errno. The Fd is empty afterwards.
  int close_checked() noexcept;

 private:
  int fd_ = -1;
};

// The spool's directories, opened once (O_DIRECTORY) so that every
// operation uses *at() calls with short relative names.
struct Dirs {
  static constexpr std::size_t kCount = 9;
  enum Index { Tmp = 0, Data, New, Active, Deferred, Hold, Failed, Corrupt, Recycle };
  std::array<int, kCount> fd{-1, -1, -1, -1, -1, -1, -1, -1, -1};
  bool sync_filesystem = false;  // SyncMode::Filesystem
  // Names seen in recycle/ and not handed out yet (take_recycled), shared by
  // the threads of one process; refilled by one readdir when empty.
  mutable std::mutex recycle_mu;
  mutable std::vector<std::string> recycle_names;
  mutable std::int64_t recycle_scanned_ms = 0;
  ~Dirs();
  int of(State s) const noexcept;
};
const char* dir_label(int index) noexcept;  // "tmp", "data", ...

// Flat names (tmp/, recycle/); entries in data/ and the state directories
// sit in a bucket: env_rel()/data_rel() in spool/layout.hpp.
std::string env_name(const QueueId& id);   // "<id>.env"
std::string data_name(const QueueId& id);  // "<id>.eml"

// Inode recycling (see spool/README.md, "recycle/"): a finished entry's
// files are renamed into recycle/ instead of being unlinked, and new files
// are made by renaming one of them into tmp/ and overwriting it in place.
// Only files up to kRecycleMaxBytes are kept.
inline constexpr std::int64_t kRecycleMaxBytes = 1 << 20;
// Renames a recycle/ file to tmp/<tmp_name> and opens it for writing (not
// truncated: the caller overwrites from offset 0 and truncates to its own
// size). Returns the fd, or -1 when recycle/ has nothing (errors included:
// the caller then creates a file as usual).
int take_recycled(const Dirs& dirs, const std::string& tmp_name) noexcept;
// Moves dir/rel (rel: "bucket/name" in a hashed directory) to
// recycle/name when `size` allows it, else unlinks it. 0 or errno (ENOENT
// included).
int retire(const Dirs& dirs, int dir, const std::string& rel, const std::string& name, std::int64_t size) noexcept;

// Write all bytes (retrying EINTR / short writes); 0 or errno.
int write_all(int fd, std::string_view bytes) noexcept;
// Reads a whole (small) file relative to a dir fd; 0 or errno. Refuses a
// symlink (ELOOP), anything but a regular file (EINVAL) and files above
// kMaxSmallFile (EFBIG): envelopes are small, a planted file must not
// block or exhaust the reader.
inline constexpr std::int64_t kMaxSmallFile = 16 << 20;
int read_file(int dirfd, const std::string& name, std::string* out);
// Creates dir/name with O_EXCL, writes bytes, fdatasync, checked close.
// Removes the file on failure. `mtime` (unix s) is set when nonzero.
Status write_new_file(int dirfd, int label, const std::string& name, std::string_view bytes,
                      std::int64_t mtime = 0);

// rename(2) that refuses to replace an existing target (renameat2
// RENAME_NOREPLACE, falling back to renameat where unsupported); 0 or errno.
int rename_noreplace(int from_dir, const std::string& from, int to_dir, const std::string& to) noexcept;

// Opens data/<bucket>/<id>.eml read-only and takes flock(LOCK_EX|LOCK_NB).
// Returns 0 (fd set, lock held, file still linked), EWOULDBLOCK (someone
// else holds it), ENOENT (no data file / unlinked meanwhile) or errno.
int lock_data(const Dirs& dirs, const QueueId& id, Fd* out);

// Names in a directory (without . and ..), read through a fresh open file
// description so concurrent callers do not share a directory offset.
int list_names(int dirfd, std::vector<std::string>* out);
// Ids of the `<id><suffix>` files in a directory, sorted (oldest first).
std::vector<QueueId> list_ids(int dirfd, std::string_view suffix);
// The same, unsorted, appended to *ids (one bucket of a hashed state).
void append_ids(int dirfd, std::string_view suffix, std::vector<QueueId>* ids);

// Replaces dir/<bucket>/<id>.env with `env` via tmp/<id>.upd (fdatasync, rename).
// The caller holds the entry lock. `mtime` (unix s, 0 = leave as now) is
// the sweeper's due-time hint for entries bound for deferred/.
Status rewrite_envelope(const Dirs& dirs, State dir, const Envelope& env, std::int64_t mtime);

Status fail(int err, std::string_view what);  // Status{err, "what: strerror"}

// Counts the syncfs(2) failures this process has seen (filesystem mode):
// a NewEntry records it when created and is refused at commit if it moved.
std::uint64_t sync_error_epoch() noexcept;
void note_sync_error() noexcept;
std::string errstr(int err);

}  // namespace relay::spool::detail
