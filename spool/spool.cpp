// relay::spool::Spool — opening the tree, listing, and the operator's moves
// (hold/release/requeue/remove/quarantine). Every move takes the entry lock
// (flock on data/<id>.eml) first and is one rename(2); see spool.hpp.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <ctime>
#include <thread>

#include "spool/file_util.hpp"
#include "spool/layout.hpp"
#include "spool/spool.hpp"

namespace relay::spool {

using detail::Dirs;
using detail::fail;

namespace {

constexpr std::size_t kScanThreads = 3;  // besides the caller's
constexpr State kStates[] = {State::New,  State::Active, State::Deferred,
                             State::Hold, State::Failed, State::Corrupt};

Status lock_status(int err, const QueueId& id) {
  if (err == EWOULDBLOCK) return Status{EBUSY, id.str() + " is locked by a running delivery or operation"};
  if (err == ENOENT) return Status{ENOENT, id.str() + ": no such entry"};
  return fail(err, "lock data/" + detail::data_rel(id));
}

}  // namespace

std::string_view dir_name(State s) noexcept {
  switch (s) {
    case State::New: return "new";
    case State::Active: return "active";
    case State::Deferred: return "deferred";
    case State::Hold: return "hold";
    case State::Failed: return "failed";
    case State::Corrupt: return "corrupt";
  }
  return "?";
}

std::optional<State> parse_state(std::string_view name) noexcept {
  for (State s : kStates)
    if (dir_name(s) == name) return s;
  return std::nullopt;
}

bool is_mount_point(const std::filesystem::path& dir) noexcept {
  struct stat self{}, parent{};
  if (::stat(dir.c_str(), &self) != 0 || !S_ISDIR(self.st_mode)) return false;
  if (::stat((dir / "..").c_str(), &parent) != 0) return false;
  return self.st_dev != parent.st_dev || self.st_ino == parent.st_ino;
}

SyncMode auto_sync_mode(const std::filesystem::path& root) noexcept {
  return is_mount_point(root) ? SyncMode::Filesystem : SyncMode::Files;
}

std::optional<Spool> Spool::open(const std::filesystem::path& root, std::string* error,
                                 SyncMode sync) {
  auto dirs = std::make_shared<Dirs>();
  dirs->sync_filesystem = sync == SyncMode::Filesystem;
  std::error_code ec;
  std::filesystem::create_directories(root, ec);
  if (ec) {
    if (error) *error = "create " + root.string() + ": " + ec.message();
    return std::nullopt;
  }
  for (int i = 0; i < static_cast<int>(Dirs::kCount); ++i) {
    std::filesystem::path p = root / detail::dir_label(i);
    if (::mkdir(p.c_str(), 0750) != 0 && errno != EEXIST) {
      if (error) *error = fail(errno, "mkdir " + p.string()).message;
      return std::nullopt;
    }
    // O_NOFOLLOW: a symlink planted as new/ or data/ must not lead the
    // spool (and an operator's relayctl) somewhere else.
    dirs->fd[static_cast<std::size_t>(i)] = ::open(p.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
    if (dirs->fd[static_cast<std::size_t>(i)] < 0) {
      if (error) *error = fail(errno, "open " + p.string()).message;
      return std::nullopt;
    }
  }
  // The hashed layout (spool/layout.hpp): buckets first, then whatever a
  // flat spool of the previous version left directly in the directories.
  if (Status st = detail::check_buckets(*dirs); !st.ok()) {
    if (error) *error = root.string() + ": " + st.message;
    return std::nullopt;
  }
  (void)detail::migrate_flat(*dirs, nullptr);
  return Spool(root, std::move(dirs));
}

Status Spool::check_writable() const {
  for (int i = 0; i < static_cast<int>(Dirs::kCount); ++i) {
    const int fd = dirs_->fd[static_cast<std::size_t>(i)];
    const std::filesystem::path dir = root_ / detail::dir_label(i);
    if (::faccessat(fd, ".", W_OK | X_OK, AT_EACCESS) != 0) {
      const int err = errno;
      return fail(err, dir.string() + " is not writable");
    }
    if (!detail::hashed(i)) continue;
    for (int b = 0; b < detail::kBuckets; ++b) {
      const std::string name = detail::bucket_name(b);
      if (::faccessat(fd, name.c_str(), W_OK | X_OK, AT_EACCESS) == 0 || errno == ENOENT) continue;
      const int err = errno;
      return fail(err, (dir / name).string() + " is not writable");
    }
  }
  return {};
}

std::filesystem::path Spool::path_of(State s, const QueueId& id) const {
  return root_ / dir_name(s) / detail::env_rel(id);
}

std::filesystem::path Spool::data_path(const QueueId& id) const {
  return root_ / "data" / detail::data_rel(id);
}

std::vector<QueueId> Spool::list(State s) const { return detail::list_hashed(dirs_->of(s), ".env"); }

std::vector<std::filesystem::path> Spool::watch_dirs(State s) const {
  std::vector<std::filesystem::path> out;
  for (int b = 0; b < detail::kBuckets; ++b) {
    (void)detail::ensure_bucket(dirs_->of(s), b);  // a failure shows as the watcher's error
    out.push_back(root_ / dir_name(s) / detail::bucket_name(b));
  }
  return out;
}

std::optional<State> Spool::locate(const QueueId& id) const {
  std::string name = detail::env_rel(id);
  struct stat st;
  for (State s : kStates)
    if (::fstatat(dirs_->of(s), name.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0) return s;
  return std::nullopt;
}

// nullopt when the envelope is not (or no longer) in state `s`.
static std::optional<EntryInfo> read_info(const Dirs& dirs, State s, const QueueId& id) {
  EntryInfo info{id, s, std::nullopt, {}, false};
  std::string bytes;
  if (int err = detail::read_file(dirs.of(s), detail::env_rel(id), &bytes)) {
    if (err == ENOENT) return std::nullopt;
    info.error = detail::errstr(err);
  } else {
    ParseResult r = parse(bytes);
    info.envelope = std::move(r.envelope);
    info.error = std::move(r.error.reason);
  }
  if (s == State::Active) {  // is the owner alive? (a brief probe)
    detail::Fd fd;
    info.locked = detail::lock_data(dirs, id, &fd) == EWOULDBLOCK;
  }
  return info;
}

// Reading 100,000 envelopes one after the other waits for each inode and
// block in turn when they are not cached; a few readers keep the disk's
// queue full (and use both cores when they are).
std::vector<std::optional<EntryInfo>> Spool::read(State s, std::span<const QueueId> ids) const {
  std::vector<std::optional<EntryInfo>> slots(ids.size());
  std::vector<char> done(ids.size(), 0);
  std::atomic<std::size_t> next{0};
  auto work = [&]() noexcept {
    try {
      for (std::size_t i; (i = next++) < ids.size();) {
        slots[i] = read_info(*dirs_, s, ids[i]);
        done[i] = 1;
      }
    } catch (...) {  // allocation failure: the remaining slots are read below, serially
    }
  };
  std::vector<std::thread> readers;
  const std::size_t want = std::min<std::size_t>(kScanThreads, ids.size() / 512);
  try {
    for (std::size_t t = 0; t < want; ++t) readers.emplace_back(work);
  } catch (...) {  // no thread: this one does all the work
  }
  work();
  for (auto& r : readers) r.join();
  for (std::size_t i = 0; i < ids.size(); ++i)
    if (!done[i]) slots[i] = read_info(*dirs_, s, ids[i]);
  return slots;
}

std::vector<EntryInfo> Spool::scan(State s) const {
  const std::vector<QueueId> ids = list(s);
  std::vector<EntryInfo> out;
  out.reserve(ids.size());
  for (auto& e : read(s, ids))
    if (e) out.push_back(std::move(*e));
  return out;
}

std::optional<EntryInfo> Spool::find(const QueueId& id) const {
  // An entry that moved on between locate() and the read is looked for
  // again (a claim, a hold): nullopt only when it is in no state at all.
  for (int tries = 0; tries < 3; ++tries) {
    auto s = locate(id);
    if (!s) return std::nullopt;
    if (auto info = read_info(*dirs_, *s, id)) return info;
  }
  auto s = locate(id);
  if (!s) return std::nullopt;
  return EntryInfo{id, *s, std::nullopt, detail::errstr(ENOENT), false};  // still moving: its last place
}

Status Spool::move_locked(State from, State to, const QueueId& id) const {
  std::string name = detail::env_rel(id);
  if (int err = detail::rename_into(dirs_->of(from), name, dirs_->of(to), name))
    return fail(err, "rename " + std::string(dir_name(from)) + "/" + name + " -> " +
                         std::string(dir_name(to)) + "/");
  return Status::success();
}

Status Spool::hold(const QueueId& id) const {
  detail::Fd lock;
  if (int err = detail::lock_data(*dirs_, id, &lock)) return lock_status(err, id);
  auto s = locate(id);
  if (!s || (*s != State::New && *s != State::Deferred))
    return Status{EINVAL, id.str() + " is " + (s ? "in " + std::string(dir_name(*s)) + "/" : "gone") +
                              ", not in new/ or deferred/"};
  return move_locked(*s, State::Hold, id);
}

Status Spool::release(const QueueId& id) const {
  detail::Fd lock;
  if (int err = detail::lock_data(*dirs_, id, &lock)) return lock_status(err, id);
  auto s = locate(id);
  if (s != State::Hold) return Status{EINVAL, id.str() + " is not in hold/"};
  return move_locked(State::Hold, State::New, id);
}

Status Spool::requeue(const QueueId& id) const {
  detail::Fd lock;
  if (int err = detail::lock_data(*dirs_, id, &lock)) return lock_status(err, id);
  auto s = locate(id);
  if (s != State::Deferred && s != State::Failed)
    return Status{EINVAL, id.str() + " is not in deferred/ or failed/"};
  std::string bytes;
  if (int err = detail::read_file(dirs_->of(*s), detail::env_rel(id), &bytes))
    return fail(err, "read " + std::string(dir_name(*s)) + "/" + detail::env_rel(id));
  ParseResult r = parse(bytes);
  if (!r.envelope) return Status{EINVAL, id.str() + " is unreadable: " + r.error.reason};
  // Attempt now; after a permanent failure, the failed recipients get
  // another chance (that is what an operator's requeue of failed/ means).
  r.envelope->next_attempt = 0;
  if (*s == State::Failed)
    for (auto& rc : r.envelope->rcpts)
      if (rc.state == RcptState::Failed) rc.state = RcptState::Pending;
  if (Status st = detail::rewrite_envelope(*dirs_, *s, *r.envelope, 0); !st.ok()) return st;
  return move_locked(*s, State::New, id);
}

Status Spool::remove(const QueueId& id) const {
  detail::Fd lock;
  int err = detail::lock_data(*dirs_, id, &lock);
  if (err != 0 && err != ENOENT) return lock_status(err, id);  // ENOENT: data lost, env may remain
  auto s = locate(id);
  if (!s) return Status{ENOENT, id.str() + ": no such entry"};
  if (*s == State::Active) return Status{EBUSY, id.str() + " is active (the sweeper returns it to new/ if its owner is gone)"};
  std::string name = detail::env_rel(id);
  if (::unlinkat(dirs_->of(*s), name.c_str(), 0) != 0)
    return fail(errno, "unlink " + std::string(dir_name(*s)) + "/" + name);
  ::unlinkat(dirs_->fd[Dirs::Corrupt], detail::reason_rel(id).c_str(), 0);
  if (::unlinkat(dirs_->fd[Dirs::Data], detail::data_rel(id).c_str(), 0) != 0 && errno != ENOENT)
    return fail(errno, "unlink data/" + detail::data_rel(id));
  return Status::success();
}

Status Spool::quarantine(State from, const QueueId& id, std::string_view reason) const {
  detail::Fd lock;
  int err = detail::lock_data(*dirs_, id, &lock);
  if (err != 0 && err != ENOENT) return lock_status(err, id);
  return quarantine_locked(from, id, reason);
}

Status Spool::quarantine_locked(State from, const QueueId& id, std::string_view reason) const {
  if (from == State::Corrupt) return Status{EINVAL, id.str() + " is already in corrupt/"};
  std::string why(reason);
  for (char& c : why)  // one line per field, whatever the reason text holds
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) c = ' ';
  std::string text = "reason: " + why + "\nfrom: " + std::string(dir_name(from)) +
                     "\ntime: " + std::to_string(::time(nullptr)) + "\n";
  std::string rname = id.str() + ".reason";
  const int tmp = dirs_->fd[Dirs::Tmp], corrupt = dirs_->fd[Dirs::Corrupt];
  ::unlinkat(tmp, rname.c_str(), 0);
  if (Status st = detail::write_new_file(tmp, Dirs::Tmp, rname, text); !st.ok()) return st;
  if (int err = detail::rename_into(tmp, rname, corrupt, detail::reason_rel(id)); err != 0) {
    ::unlinkat(tmp, rname.c_str(), 0);
    return fail(err, "rename tmp/" + rname + " -> corrupt/");
  }
  return move_locked(from, State::Corrupt, id);
}

}  // namespace relay::spool
