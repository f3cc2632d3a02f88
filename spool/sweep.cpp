// relay::spool::Spool::sweep — the periodic janitor any dispatcher runs.
//
// Does: returns abandoned claims (active/ entries whose data lock is free:
// the owner died and the kernel dropped its flock) to new/, moves due
// deferred/ entries to new/, removes orphans older than the grace period
// (tmp/ files; data files that no envelope names), expires failed/ entries
// when configured, and quarantines unreadable envelopes it meets.
// Does not: delete anything in corrupt/; touch an entry whose lock is held.
// Safe to run in several processes at once: every move is lock + rename.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <ctime>
#include <unordered_set>

#include "spool/file_util.hpp"
#include "spool/layout.hpp"
#include "spool/spool.hpp"

namespace relay::spool {

using detail::Dirs;

namespace {

void note(SweepReport& r, const QueueId& id, std::string_view action, std::string_view reason) {
  r.log.push_back(id.str() + " event=sweep action=" + std::string(action) + " reason=\"" +
                  std::string(reason) + "\"");
}

bool mtime_of(int dirfd, const std::string& name, std::int64_t* out) {
  struct stat st;
  if (::fstatat(dirfd, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) return false;
  *out = static_cast<std::int64_t>(st.st_mtime);
  return true;
}

// The newer of mtime and ctime: a file renamed into tmp/ or data/ (a
// recycled inode, a commit) has a fresh ctime even when its mtime is old,
// so it is never taken for an orphan before whoever renamed it could
// write it (rename(2) updates ctime on Linux filesystems).
bool changed_at(int dirfd, const std::string& name, std::int64_t* out) {
  struct stat st;
  if (::fstatat(dirfd, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) return false;
  *out = static_cast<std::int64_t>(std::max(st.st_mtime, st.st_ctime));
  return true;
}

// The sweep compares this with file timestamps, so it must never lag them.
// time(2) reads the tick-updated coarse clock, while a file written a moment
// ago may carry a finer (multigrain, Linux >= 6.13) timestamp up to one tick
// ahead of it: just after a second boundary a file written before the sweep
// looked one second in the future, and a due (or unreadable) deferred entry
// was skipped until the next sweep (seen as sweep_test failing under load,
// 2 in 500 sweeps). clock_gettime(CLOCK_REALTIME) is the fine clock those
// timestamps come from.
std::int64_t realtime_now() {
  struct timespec ts{};
  ::clock_gettime(CLOCK_REALTIME, &ts);
  return static_cast<std::int64_t>(ts.tv_sec);
}

bool exists(int dirfd, const std::string& name) {
  struct stat st;
  return ::fstatat(dirfd, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0;
}

}  // namespace

SweepReport Spool::sweep(const SweepOptions& opt) const {
  SweepReport r;
  std::int64_t now = opt.now != 0 ? opt.now : realtime_now();
  // A flat entry can still appear after open() migrated the spool: written
  // by a process of the previous version that was still running.
  std::size_t busy = 0;
  r.migrated = static_cast<int>(detail::migrate_flat(*dirs_, &busy));
  if (r.migrated > 0 || busy > 0)
    r.log.push_back("- event=sweep action=migrate moved=" + std::to_string(r.migrated) + " left=" +
                    std::to_string(busy) + " reason=\"flat entries (previous spool layout) moved into their buckets\"");
  sweep_active(r);
  sweep_deferred(now, r);
  sweep_tmp(now - opt.orphan_grace, r);  // before data/: a dead commit's env goes first
  sweep_data(now - opt.orphan_grace, r);
  if (opt.failed_keep > 0) sweep_failed(now - opt.failed_keep, r);
  sweep_recycle(opt.recycle_keep, r);
  return r;
}

// recycle/ only has to cover the files the receiver makes between two
// sweeps; a surplus (deliveries while nothing arrives) is unlinked.
void Spool::sweep_recycle(std::size_t keep, SweepReport& r) const {
  std::vector<std::string> names;
  if (detail::list_names(dirs_->fd[Dirs::Recycle], &names) != 0 || names.size() <= keep) return;
  for (std::size_t i = keep; i < names.size(); ++i) {
    if (::unlinkat(dirs_->fd[Dirs::Recycle], names[i].c_str(), 0) == 0) ++r.recycle_trimmed;
  }
}

void Spool::sweep_active(SweepReport& r) const {
  for (const QueueId& id : list(State::Active)) {
    detail::Fd lock;
    int err = detail::lock_data(*dirs_, id, &lock);
    if (err == ENOENT && exists(dirs_->of(State::Active), detail::env_rel(id))) {
      if (quarantine_locked(State::Active, id, "data file missing").ok()) {
        ++r.quarantined;
        note(r, id, "quarantine", "data file missing");
      }
      continue;
    }
    if (err != 0) continue;  // EWOULDBLOCK: its owner is alive
    if (move_locked(State::Active, State::New, id).ok()) {
      ++r.recovered_claims;
      note(r, id, "recover", "owner gone (lock free): active -> new");
    }
  }
}

void Spool::sweep_deferred(std::int64_t now, SweepReport& r) const {
  const int dir = dirs_->of(State::Deferred);
  for (const QueueId& id : list(State::Deferred)) {
    std::string name = detail::env_rel(id);
    std::int64_t due = 0;
    if (!mtime_of(dir, name, &due) || due > now) continue;  // mtime = next attempt (hint)
    detail::Fd lock;
    int err = detail::lock_data(*dirs_, id, &lock);
    if (err != 0 && err != ENOENT) continue;
    std::string bytes, reason;
    if (err == ENOENT) {
      reason = "data file missing";
    } else if (int rerr = detail::read_file(dir, name, &bytes)) {
      if (rerr == ENOENT) continue;  // moved meanwhile
      reason = "read: " + detail::errstr(rerr);
    } else if (ParseResult p = parse(bytes); !p.envelope) {
      reason = p.error.reason;
    } else if (p.envelope->next_attempt > now) {
      continue;  // the envelope is authoritative, the mtime only a hint
    }
    if (!reason.empty()) {
      if (exists(dir, name) && quarantine_locked(State::Deferred, id, reason).ok()) {
        ++r.quarantined;
        note(r, id, "quarantine", reason);
      }
      continue;
    }
    if (move_locked(State::Deferred, State::New, id).ok()) {
      ++r.due_deferred;
      note(r, id, "requeue", "retry due: deferred -> new");
    }
  }
}

void Spool::sweep_tmp(std::int64_t cutoff, SweepReport& r) const {
  const int dir = dirs_->fd[Dirs::Tmp];
  std::vector<std::string> names;
  (void)detail::list_names(dir, &names);
  for (const auto& n : names) {
    std::int64_t m = 0;
    if (!changed_at(dir, n, &m) || m > cutoff) continue;
    if (::unlinkat(dir, n.c_str(), 0) == 0) {
      ++r.orphans_removed;
      r.log.push_back("tmp/" + n + " event=sweep action=remove reason=\"orphan tmp file older than grace\"");
    }
  }
}

void Spool::sweep_data(std::int64_t cutoff, SweepReport& r) const {
  const int data = dirs_->fd[Dirs::Data], tmp = dirs_->fd[Dirs::Tmp];
  std::unordered_set<std::string> named;  // ids that have an envelope somewhere
  for (State s : {State::New, State::Active, State::Deferred, State::Hold, State::Failed, State::Corrupt})
    for (const QueueId& id : list(s)) named.insert(id.str());
  for (const QueueId& id : detail::list_ids(tmp, ".env")) named.insert(id.str());
  for (const QueueId& id : detail::list_hashed(data, ".eml")) {
    if (named.count(id.str())) continue;
    std::int64_t m = 0;
    if (!changed_at(data, detail::data_rel(id), &m) || m > cutoff) continue;
    detail::Fd lock;
    if (detail::lock_data(*dirs_, id, &lock) != 0) continue;
    // Re-check under the lock. tmp/ first: a commit renames tmp/ -> new/
    // without the lock, so looking in that order cannot miss it.
    if (exists(tmp, detail::env_name(id)) || locate(id)) continue;
    if (::unlinkat(data, detail::data_rel(id).c_str(), 0) == 0) {
      ++r.orphans_removed;
      note(r, id, "remove", "orphan data file (no envelope) older than grace");
    }
  }
}

void Spool::sweep_failed(std::int64_t cutoff, SweepReport& r) const {
  const int dir = dirs_->of(State::Failed);
  for (const QueueId& id : list(State::Failed)) {
    std::string name = detail::env_rel(id);
    std::int64_t m = 0;
    if (!mtime_of(dir, name, &m) || m > cutoff) continue;
    detail::Fd lock;
    if (detail::lock_data(*dirs_, id, &lock) != 0) continue;
    if (::unlinkat(dir, name.c_str(), 0) != 0) continue;
    ::unlinkat(dirs_->fd[Dirs::Data], detail::data_rel(id).c_str(), 0);
    ++r.expired_failed;
    note(r, id, "expire", "failed entry older than failed_keep");
  }
}

}  // namespace relay::spool
