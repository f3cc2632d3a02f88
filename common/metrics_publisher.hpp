// relay::metrics::Publisher — hands this process's Registry to the admin
// endpoint of `relayctl run` (admin-cli/admin_http.hpp) through a file.
//
// Does: claims a slot `<spool>/run/metrics/<role>-<N>` (the lowest N whose
// `<role>-<N>.lock` no live process holds: an OFD write lock, released by
// the kernel when the process dies, so a restarted process takes over its
// dead predecessor's slot); restores the counters of the slot's file, so
// counters never go down when a process restarts; counts
// relay_process_starts_total{role,index}; then rewrites the file every
// second from a thread of its own (write <file>.tmp, rename: a reader sees
// the old or the new file, never half of one), and once more when the
// Publisher is destroyed (clean exit). A kill -9 loses at most the last
// second of increments.
// The admin endpoint tells a live slot from a dead one by probing the lock
// (F_OFD_GETLK: a probe never takes it, so it never races a starting
// process out of its slot).
// Does not: fsync (metrics are not worth a disk flush; a torn file after a
// power cut is ignored by the reader); run when admin_http is not
// configured (the programs only create one when it is).
// Runs on: its own thread (signals blocked); Registry is thread-safe.
// Fails: open() returns nullptr with *error (no directory, no free slot);
// a failed write is logged once per failure streak and retried next second.
#pragma once
#include <condition_variable>
#include <filesystem>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>

namespace relay::metrics {

// <spool>/run/metrics
std::filesystem::path metrics_dir(const std::filesystem::path& spool_dir);
// 1 when another process holds the slot lock `lock_path`, 0 when not, -1
// when it cannot be told (missing file).
int slot_locked(const std::filesystem::path& lock_path);

class Publisher {
 public:
  static std::unique_ptr<Publisher> open(const std::filesystem::path& dir, std::string_view role, std::string* error,
                                         int interval_ms = 1000);
  ~Publisher();  // stops the thread, publishes a last time
  Publisher(const Publisher&) = delete;
  Publisher& operator=(const Publisher&) = delete;

  int index() const noexcept { return index_; }
  const std::filesystem::path& file() const noexcept { return file_; }
  bool publish(std::string* error);

 private:
  Publisher() = default;
  void run();

  std::filesystem::path file_;
  int lock_fd_ = -1;
  int index_ = 0;
  int interval_ms_ = 1000;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;
  std::thread thread_;
};

}  // namespace relay::metrics
