// relay::spool::GroupCommit — lets many threads share the directory fsyncs
// of Spool::commit (leader/follower group commit).
//
// Does: commit(entry) blocks the calling thread until its own entry is
// durable (or failed). While one thread (the leader) runs a batch's renames
// and the two directory fsyncs, later callers queue up; when the leader
// returns, one of them becomes the next leader and commits the whole queue
// as one batch. No thread answers before its own entry is synced, and no
// extra thread is started.
// Does not: prepare entries (call NewEntry::prepare() first, in parallel:
// the per-file fdatasyncs are the callers' own); reorder entries.
// Thread-safety: commit() may be called from any number of threads; the
// GroupCommit must outlive those calls (it keeps its own copy of the Spool).
// Fails: like Spool::commit — a Status per entry. A leader whose batch
// throws (std::bad_alloc, a broken invariant) fails that batch's entries
// with EIO "group commit: <what>" and hands leadership on: no caller waits
// forever.
#pragma once
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <span>
#include <mutex>
#include <vector>

#include "spool/spool.hpp"

namespace relay::spool {

class GroupCommit {
 public:
  // How a batch is committed; Spool::commit unless a test injects another.
  using CommitFn = std::function<std::vector<Status>(std::span<NewEntry* const>)>;
  explicit GroupCommit(const Spool& spool, CommitFn commit_fn = {}) : spool_(spool), commit_fn_(std::move(commit_fn)) {}
  GroupCommit(const GroupCommit&) = delete;
  GroupCommit& operator=(const GroupCommit&) = delete;

  Status commit(NewEntry& entry);

  // Counters for benchmarks/metrics: batches run, entries committed.
  std::uint64_t batches() const;
  std::uint64_t entries() const;

 private:
  struct Waiter {
    NewEntry* entry;
    Status status;
    bool done = false;
  };
  std::vector<Status> run_batch(std::span<NewEntry* const> entries) noexcept;

  const Spool spool_;  // a copy: root path + shared directory handles
  CommitFn commit_fn_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::vector<Waiter*> queue_;
  bool leader_busy_ = false;
  std::uint64_t batches_ = 0, entries_ = 0;
};

}  // namespace relay::spool
