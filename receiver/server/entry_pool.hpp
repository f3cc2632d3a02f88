// relay::receiver::EntryPool — spool entries created ahead of time on a
// thread of their own, so DATA never waits for an inode allocation on the
// event loop (ext4's create path showed up as the loop's top cost under
// load: find_inode_bit / recently_deleted).
//
// Does: while mail arrives at a high rate (kBusyRate per second) keeps up
// to `target` fresh NewEntry objects (tmp/<id>.eml opened with O_EXCL);
// take() hands one out and asks for more. When the rate drops, tick() rolls
// the pooled entries back, so a quiet spool has an empty tmp/. Entries older
// than kMaxAgeMs are dropped (rolled back) rather than used, so queue ids
// stay close to arrival order and the dispatcher's orphan sweep (tmp/ files
// older than spool.orphan_grace) can never race with a pooled file.
// The creator is a dedicated thread, not a libuv pool job: pool threads
// block in commits (fdatasync, group commit) for milliseconds, and a refill
// queued behind them arrived too late — measured, 10-20 % of messages then
// had their file created on the loop thread, stalling every session.
// Does not: fill in envelopes (the connection does) or commit.
// Thread: take/refill/tick/close on the loop thread; creation on the
// creator thread, handed over through a uv_async_t.
// Fails: take() returns nullopt when empty; the caller creates directly and
// reports the spool error itself. A creation error is logged once and stops
// the refill until the next request.
#pragma once
#include <uv.h>

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "spool/spool.hpp"

namespace relay::receiver {

class EntryPool {
 public:
  static constexpr std::uint64_t kMaxAgeMs = 30000;
  static constexpr int kBusyRate = 20;             // messages per second that switch the pool on
  static constexpr std::uint64_t kIdleMs = 3000;   // no busy second for this long: pool off

  EntryPool(uv_loop_t* loop, const spool::Spool& spool, std::size_t target);
  ~EntryPool();
  EntryPool(const EntryPool&) = delete;
  EntryPool& operator=(const EntryPool&) = delete;

  std::optional<spool::NewEntry> take();
  void refill();
  void tick();   // once a second: switches the pool on/off, drops stale entries
  void close();  // shutdown: stop the creator, drop pooled entries

 private:
  struct Pooled {
    std::uint64_t created_ms;
    spool::NewEntry entry;
  };
  void run();  // the creator thread
  void stop_creator();
  static void on_made(uv_async_t* a);

  uv_loop_t* loop_;
  const spool::Spool& spool_;
  std::size_t target_;
  // loop thread only
  std::deque<Pooled> ready_;
  bool active_ = false;
  std::uint64_t window_start_ = 0;
  int window_count_ = 0;
  std::uint64_t last_busy_ = 0;
  bool closed_ = false;
  std::string last_error_;
  uv_async_t* async_ = nullptr;  // freed by its close callback
  // shared with the creator, under mu_
  std::mutex mu_;
  std::condition_variable cv_;
  std::size_t want_ = 0;                // entries asked for, not yet made
  std::vector<spool::NewEntry> made_;   // made, not yet handed to the loop
  std::string error_;                   // last creation error, "" = none
  bool stop_ = false;
  std::thread creator_;
};

}  // namespace relay::receiver
