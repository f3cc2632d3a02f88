// relay::receiver::EntryPool — spool entries created ahead of time on the
// libuv thread pool, so DATA never waits for an inode allocation on the
// event loop (ext4's create path showed up as the loop's top cost under
// load: find_inode_bit / recently_deleted).
//
// Does: while mail arrives at a high rate (kBusyRate per second) keeps up
// to `target` fresh NewEntry objects (tmp/<id>.eml opened with O_EXCL);
// take() hands one out and triggers a refill. When the rate drops, tick()
// rolls the pooled entries back, so a quiet spool has an empty tmp/. Entries older
// than kMaxAgeMs are dropped (rolled back) rather than used, so queue ids
// stay close to arrival order and the dispatcher's orphan sweep (tmp/ files
// older than spool.orphan_grace) can never race with a pooled file.
// Does not: fill in envelopes (the connection does) or commit.
// Thread: loop thread; creation happens in a pool job.
// Fails: take() returns nullopt when empty; the caller creates directly and
// reports the spool error itself.
#pragma once
#include <uv.h>

#include <cstdint>
#include <deque>
#include <optional>
#include <string>
#include <vector>

#include "spool/spool.hpp"

namespace relay::receiver {

class EntryPool {
 public:
  static constexpr std::uint64_t kMaxAgeMs = 30000;
  static constexpr int kBusyRate = 20;             // messages per second that switch the pool on
  static constexpr std::uint64_t kIdleMs = 3000;   // no busy second for this long: pool off

  EntryPool(uv_loop_t* loop, const spool::Spool& spool, std::size_t target)
      : loop_(loop), spool_(spool), target_(target) {}
  EntryPool(const EntryPool&) = delete;
  EntryPool& operator=(const EntryPool&) = delete;

  std::optional<spool::NewEntry> take();
  void refill();
  void tick();   // once a second: switches the pool off when quiet
  void close();  // shutdown: drop pooled entries, ignore a fill in flight

 private:
  struct Fill;
  static void work(uv_work_t* req);
  static void after(uv_work_t* req, int status);

  struct Pooled {
    std::uint64_t created_ms;
    spool::NewEntry entry;
  };
  uv_loop_t* loop_;
  const spool::Spool& spool_;
  std::size_t target_;
  std::deque<Pooled> ready_;
  bool filling_ = false;
  bool active_ = false;
  std::uint64_t window_start_ = 0;
  int window_count_ = 0;
  std::uint64_t last_busy_ = 0;
  bool closed_ = false;
  std::string last_error_;
};

}  // namespace relay::receiver
