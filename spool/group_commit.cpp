// relay::spool::GroupCommit — leader/follower batching of Spool::commit.
#include "spool/group_commit.hpp"

#include <cerrno>
#include <cstdlib>
#include <string>

namespace relay::spool {

Status GroupCommit::commit(NewEntry& entry) {
  Waiter self{&entry, Status::success()};
  std::unique_lock lk(mu_);
  queue_.push_back(&self);
  while (!self.done) {
    if (leader_busy_) {
      cv_.wait(lk);
      continue;
    }
    // Become the leader for everything queued so far (our own entry included).
    leader_busy_ = true;
    std::vector<Waiter*> batch;
    batch.swap(queue_);
    lk.unlock();
    std::vector<NewEntry*> entries;
    entries.reserve(batch.size());
    for (Waiter* w : batch) entries.push_back(w->entry);
    std::vector<Status> st = run_batch(std::span<NewEntry* const>(entries));
    lk.lock();
    for (std::size_t i = 0; i < batch.size(); ++i) {
      batch[i]->status = std::move(st[i]);
      batch[i]->done = true;
    }
    ++batches_;
    entries_ += batch.size();
    leader_busy_ = false;
    cv_.notify_all();
  }
  return std::move(self.status);
}

// Never throws: an exception here would leave leader_busy_ set and every
// later caller waiting on cv_ forever.
std::vector<Status> GroupCommit::run_batch(std::span<NewEntry* const> entries) noexcept {
  std::string why;
  try {
    std::vector<Status> st = commit_fn_ ? commit_fn_(entries) : spool_.commit(entries);
    if (st.size() == entries.size()) return st;
    why = "group commit: " + std::to_string(st.size()) + " results for " + std::to_string(entries.size()) + " entries";
  } catch (const std::exception& e) {
    why = std::string("group commit: ") + e.what();
  } catch (...) {
    why = "group commit: unknown exception";
  }
  try {
    return std::vector<Status>(entries.size(), Status{EIO, why});
  } catch (...) {
    std::abort();  // cannot even report the failure: abort loudly (STYLE 9)
  }
}

std::uint64_t GroupCommit::batches() const {
  std::lock_guard lk(mu_);
  return batches_;
}

std::uint64_t GroupCommit::entries() const {
  std::lock_guard lk(mu_);
  return entries_;
}

}  // namespace relay::spool
