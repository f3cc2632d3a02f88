// relay::spool::Spool — the maildir-style on-disk queue shared by all programs.
//
// Does: stores entries and moves them between states, each move one
// rename(2). Layout under the root (see spool/README.md):
//   tmp/ data/ new/ active/ deferred/ hold/ failed/ corrupt/ recycle/
// data/<bucket>/<id>.eml holds the immutable message bytes; the envelope
// <bucket>/<id>.env sits in the directory that is its state. The bucket
// ("00".."ff", spool/layout.hpp) follows from the id, so it is the same in
// every directory and a move never changes it.
//
// Locking: whoever works on an entry holds flock(LOCK_EX) on data/<id>.eml
// (the one file that is never replaced). A claim takes that lock
// non-blocking *before* renaming new/ -> active/, so exactly one process
// wins. The sweeper treats an active/ entry whose data file it can lock as
// abandoned (its owner died: the kernel dropped the lock) and returns it to
// new/. Every operation that moves an entry (hold, release, delete from
// relayctl) takes the same lock first.
//
// Does not: decide when to retry (that is the dispatcher's RetryPolicy),
// talk to a network, a database or libuv. Blocking POSIX calls only; call it
// from a worker thread when on an event loop. NewEntry/Claim objects are not
// thread-safe; the Spool itself may be shared by threads and copied (it holds
// the root path and its directory handles, opened once by open() and shared
// by copies; entries keep them alive, so a Spool may die before its entries).
// Many threads committing at once should go through GroupCommit
// (spool/group_commit.hpp) to share the directory fsyncs.
//
// Deferred entries carry their next-attempt time as the mtime of
// deferred/<id>.env (as Postfix does), so a sweep finds due entries with one
// fstatat() each; the envelope stays authoritative.
//
// Fails: expected failures (ENOSPC, EACCES, lost race) are returned as
// Status / nullopt, never thrown.
#pragma once
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "spool/envelope.hpp"
#include "spool/queue_id.hpp"

namespace relay::spool {

namespace detail {
struct Dirs;  // the spool's open directory handles (spool/file_util.hpp)
}

enum class State { New, Active, Deferred, Hold, Failed, Corrupt };

// How a commit makes new entries durable (config `spool.sync`).
//  Files:      fdatasync each file in prepare(), fsync data/ and new/ per
//              batch: 2 device flushes per message + 2 per batch. Safe on
//              any filesystem, also a spool shared with busy neighbours.
//  Filesystem: prepare() only writes and closes; a batch is made durable
//              with syncfs(2) before the renames and again after them:
//              2 flushes per batch, whatever its size. Best on a spool
//              filesystem of its own (syncfs also flushes other writers'
//              dirty data on the same filesystem).
enum class SyncMode { Files, Filesystem };
// True when `dir` is the root of a filesystem (its device differs from its
// parent's, or it is "/"). False when it does not exist.
bool is_mount_point(const std::filesystem::path& dir) noexcept;
// config `spool.sync: auto`: Filesystem when the spool directory is a
// filesystem of its own (nobody else's dirty data for syncfs to wait on),
// else Files.
SyncMode auto_sync_mode(const std::filesystem::path& root) noexcept;
std::string_view dir_name(State s) noexcept;  // "new", "active", ...
std::optional<State> parse_state(std::string_view name) noexcept;

struct [[nodiscard]] Status {
  int err = 0;          // errno-style code, 0 = success
  std::string message;  // "write tmp/ID.eml: No space left on device"
  bool ok() const noexcept { return err == 0; }
  static Status success() { return {}; }
};

class Spool;

// A message being received. RAII transaction (E-MailRelay NewMessage): the
// destructor removes the tmp/ files unless commit succeeded.
class NewEntry {
 public:
  NewEntry(NewEntry&&) noexcept;
  NewEntry& operator=(NewEntry&&) noexcept;
  NewEntry(const NewEntry&) = delete;
  NewEntry& operator=(const NewEntry&) = delete;
  ~NewEntry();

  const QueueId& id() const noexcept { return env_.id; }
  // Fill in everything but size/crc/id; prepare() sets those.
  Envelope& envelope() noexcept { return env_; }
  // Streams message bytes to tmp/<id>.eml (buffered; large messages never
  // sit in memory).
  Status append(std::string_view bytes);
  // Writes tmp/<id>.env, fsyncs and closes both files (close() checked).
  // After this only the renames of Spool::commit remain.
  Status prepare();
  bool committed() const noexcept { return committed_; }
  bool prepared() const noexcept { return prepared_; }
  // Bytes appended so far.
  std::uint64_t size() const noexcept { return size_; }

 private:
  friend class Spool;
  NewEntry(std::shared_ptr<const detail::Dirs> dirs, Envelope env, int data_fd, bool reused);
  void rollback() noexcept;
  Status flush();

  static constexpr std::size_t kBufferSize = 256 * 1024;
  std::shared_ptr<const detail::Dirs> dirs_;
  Envelope env_;
  int data_fd_ = -1;
  std::string buffer_;
  std::uint64_t size_ = 0;
  std::uint32_t crc_ = 0;
  int write_error_ = 0;  // sticky: once a write failed, prepare() fails
  std::uint64_t sync_epoch_ = 0;  // detail::sync_error_epoch() when created (filesystem mode)
  bool reused_ = false;           // data file recycled: longer than what we write, truncate in prepare()
  bool prepared_ = false;
  bool committed_ = false;
};

// A claimed entry (dispatcher). Holds the lock on data/<id>.eml for its
// lifetime. Dropping a Claim without finishing it leaves the entry in
// active/, unlocked: the sweeper returns it to new/ (crash semantics).
// update/defer/fail fsync the rewritten envelope; no move fsyncs a
// directory (a move lost in a power cut leaves the entry in its previous
// state, which only means it is delivered again: at-least-once).
class Claim {
 public:
  Claim(Claim&&) noexcept;
  Claim& operator=(Claim&&) noexcept;
  Claim(const Claim&) = delete;
  Claim& operator=(const Claim&) = delete;
  ~Claim();

  const Envelope& envelope() const noexcept { return env_; }
  std::filesystem::path data_path() const;
  // The locked data file, open read-only (use pread; do not close it).
  int data_fd() const noexcept { return lock_fd_; }
  bool finished() const noexcept { return finished_; }

  // Rewrites active/<id>.env with `env` (e.g. per-recipient progress).
  Status update(const Envelope& env);
  // update(env), then active/ -> deferred/.
  Status defer(const Envelope& env);
  // update(env), then active/ -> failed/ (dead letter).
  Status fail(const Envelope& env);
  // update(env), then active/ -> hold/: kept, not attempted, until an
  // operator releases it (e.g. no configured route can carry it).
  Status hold(const Envelope& env);
  // Back to new/ unchanged (drain on shutdown).
  Status release();
  // Delivered: removes the envelope, then the data file.
  Status done();

 private:
  friend class Spool;
  Claim(std::shared_ptr<const detail::Dirs> dirs, std::filesystem::path root, Envelope env,
        int lock_fd);
  Status move_to(State to, const Envelope* env);
  Status rewrite(const Envelope& env, std::int64_t mtime);
  void unlock() noexcept;

  std::shared_ptr<const detail::Dirs> dirs_;
  std::filesystem::path root_;
  Envelope env_;
  int lock_fd_ = -1;
  bool finished_ = false;
};

struct EntryInfo {
  QueueId id;
  State state;
  std::optional<Envelope> envelope;  // nullopt when unreadable
  std::string error;                 // parse error when unreadable
  bool locked = false;               // someone holds the data lock
};

struct SweepOptions {
  std::int64_t now = 0;               // unix seconds; 0 = time(nullptr)
  std::int64_t orphan_grace = 3600;   // tmp/ files and env-less data older than this are removed
  std::int64_t failed_keep = 0;       // 0 = keep failed/ forever, else remove older entries
  std::size_t recycle_keep = 1024;    // recycle/ is cut back to this many files
};
struct SweepReport {
  int recovered_claims = 0;  // active/ -> new/
  int due_deferred = 0;      // deferred/ -> new/
  int orphans_removed = 0;
  int quarantined = 0;
  int expired_failed = 0;
  int recycle_trimmed = 0;   // surplus recycle/ files unlinked (not logged: routine)
  int migrated = 0;          // flat entries (previous layout) moved into their buckets
  std::vector<std::string> log;  // one key=value line per action, with reason
};

class Spool {
 public:
  // Creates the directory tree if needed. Returns nullopt and sets *error
  // when the root is unusable (not a directory, no permission).
  static std::optional<Spool> open(const std::filesystem::path& root, std::string* error,
                                   SyncMode sync = SyncMode::Files);

  // For the daemons, right after open(): every spool directory (and each
  // bucket that exists) must be writable by this process's effective user
  // on a writable filesystem. Wrong ownership or mode, a read-only mount or
  // an immutable directory otherwise starts a receiver that answers 451 to
  // every message. The Status names the first directory that is not
  // (EACCES, EROFS, EPERM). relayctl's read-only commands do not call it.
  Status check_writable() const;

  const std::filesystem::path& root() const noexcept { return root_; }
  std::filesystem::path path_of(State s, const QueueId& id) const;
  std::filesystem::path data_path(const QueueId& id) const;

  // --- receiver side
  // Opens tmp/<id>.eml with O_EXCL. nullopt + *error on failure.
  std::optional<NewEntry> create(Envelope env, Status* error) const;
  // Group commit: renames every prepared entry's data to data/ and envelope
  // to new/, then fsyncs data/ and new/ once for the whole batch. Returns one
  // Status per entry; an entry is durable when its Status is ok.
  std::vector<Status> commit(std::span<NewEntry* const> batch) const;
  Status commit(NewEntry& entry) const;

  // --- dispatcher side
  // Ids in a state directory (all its buckets), oldest first.
  std::vector<QueueId> list(State s) const;
  // The directories an entry entering state `s` may appear in (one per
  // bucket: root/new/00 .. root/new/ff), for inotify/uv_fs_event watchers;
  // an event's file name is "<id>.env". Fixed for the life of the spool.
  std::vector<std::filesystem::path> watch_dirs(State s) const;
  // nullopt when another process won, the entry is gone, or it was
  // unreadable (then it is quarantined; *error says why).
  std::optional<Claim> claim(const QueueId& id, std::string* error = nullptr) const;
  SweepReport sweep(const SweepOptions& opt) const;

  // --- operator side (relayctl); all take the entry lock first
  // Every entry of `s` with its envelope: read(s, list(s)) without the
  // entries gone since the listing.
  std::vector<EntryInfo> scan(State s) const;
  // The envelopes of `ids` (a listing of `s`, or a part of one), in that
  // order, read by a few threads (with a cold cache one reader would wait
  // for every inode in turn). nullopt for an id no longer in `s` (moved or
  // finished since it was listed); an unreadable envelope is an EntryInfo
  // with its error.
  std::vector<std::optional<EntryInfo>> read(State s, std::span<const QueueId> ids) const;
  std::optional<EntryInfo> find(const QueueId& id) const;
  Status hold(const QueueId& id) const;      // new/ or deferred/ -> hold/
  Status release(const QueueId& id) const;   // hold/ -> new/
  Status requeue(const QueueId& id) const;   // deferred/ or failed/ -> new/ (attempt now)
  Status remove(const QueueId& id) const;    // any state but active -> gone
  // Moves an unreadable entry to corrupt/ with <id>.reason beside it.
  Status quarantine(State from, const QueueId& id, std::string_view reason) const;

 private:
  Spool(std::filesystem::path root, std::shared_ptr<const detail::Dirs> dirs)
      : root_(std::move(root)), dirs_(std::move(dirs)) {}
  // quarantine() for a caller that already holds the entry lock.
  Status quarantine_locked(State from, const QueueId& id, std::string_view reason) const;
  Status move_locked(State from, State to, const QueueId& id) const;
  std::optional<State> locate(const QueueId& id) const;
  void sweep_active(SweepReport& r) const;
  void sweep_deferred(std::int64_t now, SweepReport& r) const;
  void sweep_tmp(std::int64_t cutoff, SweepReport& r) const;
  void sweep_data(std::int64_t cutoff, SweepReport& r) const;
  void sweep_failed(std::int64_t cutoff, SweepReport& r) const;
  void sweep_recycle(std::size_t keep, SweepReport& r) const;

  std::filesystem::path root_;
  std::shared_ptr<const detail::Dirs> dirs_;  // shared by copies; immutable
};

}  // namespace relay::spool
