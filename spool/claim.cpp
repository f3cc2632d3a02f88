// relay::spool::Claim and Spool::claim — the dispatcher's side.
//
// Claim: open data/<id>.eml, flock(LOCK_EX|LOCK_NB), then rename
// new/<id>.env -> active/<id>.env. Whoever holds the lock owns the entry;
// the rename only makes the state visible. Every later move of the claimed
// entry first rewrites active/<id>.env in place (tmp/<id>.upd, fdatasync,
// rename) and then renames it to its target directory, so the entry is in
// exactly one state directory at every instant.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <utility>

#include "spool/file_util.hpp"
#include "spool/layout.hpp"
#include "spool/spool.hpp"

namespace relay::spool {

using detail::Dirs;

Claim::Claim(std::shared_ptr<const Dirs> dirs, std::filesystem::path root, Envelope env, int lock_fd)
    : dirs_(std::move(dirs)), root_(std::move(root)), env_(std::move(env)), lock_fd_(lock_fd) {}

Claim::Claim(Claim&& o) noexcept
    : dirs_(std::move(o.dirs_)),
      root_(std::move(o.root_)),
      env_(std::move(o.env_)),
      lock_fd_(std::exchange(o.lock_fd_, -1)),
      finished_(std::exchange(o.finished_, true)) {}

Claim& Claim::operator=(Claim&& o) noexcept {
  if (this != &o) {
    unlock();
    dirs_ = std::move(o.dirs_);
    root_ = std::move(o.root_);
    env_ = std::move(o.env_);
    lock_fd_ = std::exchange(o.lock_fd_, -1);
    finished_ = std::exchange(o.finished_, true);
  }
  return *this;
}

// An unfinished claim stays in active/; closing the fd drops the lock and
// the next sweep returns the entry to new/ (same path as a crash).
Claim::~Claim() { unlock(); }

void Claim::unlock() noexcept {
  if (lock_fd_ >= 0) ::close(lock_fd_);
  lock_fd_ = -1;
}

std::filesystem::path Claim::data_path() const { return root_ / "data" / detail::data_rel(env_.id); }

Status Claim::update(const Envelope& env) { return rewrite(env, 0); }

Status Claim::rewrite(const Envelope& env, std::int64_t mtime) {
  if (finished_ || lock_fd_ < 0) return Status{EINVAL, "update: claim is finished"};
  if (env.id != env_.id) return Status{EINVAL, "update: envelope id differs from the claim"};
  Envelope next = env;
  next.size = env_.size;  // the data file is immutable; so is what describes it
  next.data_crc32 = env_.data_crc32;
  if (Status st = detail::rewrite_envelope(*dirs_, State::Active, next, mtime); !st.ok()) return st;
  env_ = std::move(next);
  return Status::success();
}

Status Claim::move_to(State to, const Envelope* env) {
  if (finished_ || lock_fd_ < 0) return Status{EINVAL, "claim is finished"};
  // Deferred entries carry their due time as mtime so the sweeper finds
  // due ones with one fstatat() each instead of parsing every envelope.
  std::int64_t mtime = to == State::Deferred && env ? env->next_attempt : 0;
  if (env) {
    if (Status st = rewrite(*env, mtime); !st.ok()) return st;
  }
  std::string name = detail::env_rel(env_.id);
  if (int err = detail::rename_into(dirs_->fd[Dirs::Active], name, dirs_->of(to), name); err != 0)
    return detail::fail(err, "rename active/" + name + " -> " + std::string(dir_name(to)) + "/");
  finished_ = true;
  unlock();
  return Status::success();
}

Status Claim::defer(const Envelope& env) { return move_to(State::Deferred, &env); }
Status Claim::fail(const Envelope& env) { return move_to(State::Failed, &env); }
Status Claim::hold(const Envelope& env) { return move_to(State::Hold, &env); }
Status Claim::release() { return move_to(State::New, nullptr); }

Status Claim::done() {
  if (finished_ || lock_fd_ < 0) return Status{EINVAL, "done: claim is finished"};
  std::string name = detail::env_rel(env_.id);
  struct stat st{};
  const std::int64_t data_size = ::fstat(lock_fd_, &st) == 0 ? static_cast<std::int64_t>(st.st_size) : -1;
  // Envelope first: a crash in between leaves an env-less data file, which
  // the sweeper removes as an orphan — never an envelope without its data.
  // Both go to recycle/ (new files are made from them) or are unlinked.
  if (int err = detail::retire(*dirs_, Dirs::Active, name, detail::env_name(env_.id), 0); err != 0)
    return detail::fail(err, "remove active/" + name);
  finished_ = true;
  unlock();  // no lock may stay on an inode that is about to be reused
  if (int err = detail::retire(*dirs_, Dirs::Data, detail::data_rel(env_.id), detail::data_name(env_.id), data_size);
      err != 0 && err != ENOENT)
    return detail::fail(err, "remove data/" + detail::data_rel(env_.id));
  return Status::success();
}

std::optional<Claim> Spool::claim(const QueueId& id, std::string* error) const {
  auto set_error = [&](std::string e) {
    if (error) *error = std::move(e);
  };
  set_error({});
  std::string name = detail::env_rel(id);
  detail::Fd lock;
  int err = detail::lock_data(*dirs_, id, &lock);
  if (err == EWOULDBLOCK) return std::nullopt;  // another process works on it
  if (err == ENOENT) {
    // Finished by someone else, or an envelope whose data is lost.
    struct stat st;
    if (::fstatat(dirs_->fd[Dirs::New], name.c_str(), &st, 0) == 0) {
      set_error("data file missing");
      (void)quarantine_locked(State::New, id, "data file missing");
    }
    return std::nullopt;
  }
  if (err != 0) {
    set_error(detail::fail(err, "open data/" + detail::data_rel(id)).message);
    return std::nullopt;
  }
  if (int rerr = detail::rename_into(dirs_->fd[Dirs::New], name, dirs_->fd[Dirs::Active], name)) {
    if (rerr != ENOENT) set_error(detail::fail(rerr, "rename new/" + name + " -> active/").message);
    return std::nullopt;  // ENOENT: claimed and finished (or moved) by another
  }
  std::string bytes;
  if (int rderr = detail::read_file(dirs_->fd[Dirs::Active], name, &bytes)) {
    set_error(detail::fail(rderr, "read active/" + name).message);
    return std::nullopt;  // unlock: the sweeper brings it back
  }
  ParseResult parsed = parse(bytes);
  std::string reason = parsed.error.reason;
  struct stat st;
  if (parsed.envelope && parsed.envelope->id != id) reason = "envelope id differs from file name";
  else if (parsed.envelope && ::fstat(lock.get(), &st) == 0 &&
           static_cast<std::uint64_t>(st.st_size) != parsed.envelope->size)
    reason = "data size " + std::to_string(st.st_size) + " differs from envelope size " +
             std::to_string(parsed.envelope->size);
  if (!parsed.envelope || !reason.empty()) {
    set_error(reason);
    (void)quarantine_locked(State::Active, id, reason);
    return std::nullopt;
  }
  return Claim(dirs_, root_, std::move(*parsed.envelope), lock.release());
}

}  // namespace relay::spool
