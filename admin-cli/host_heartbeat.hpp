// relay::admin::HostHeartbeat — this host's row of the `hosts` table
// (schema/004_cluster.sql), written by `relayctl run` so that `relayctl
// cluster` on any host sees every host of a scale-out (docs/scale-out.md).
//
// Does: on its own thread, every cluster.heartbeat_interval, counts the
// spool (metrics_collect.hpp: entries per state, oldest age, pause marker)
// and upserts (host, version, schema version, state, pid, started_at,
// seen_at = now(), queue, oldest age). set_state("draining") is written at
// once (the stop begins); the destructor writes "stopped" and joins.
// One connection, opened lazily and reopened after a failure.
// Does not: migrate, touch the spool, or block the supervisor's loop.
// Runs on: its own thread; set_state() and the destructor from the
// supervisor's thread (both only signal the thread, the destructor waits for
// at most one connect + one statement).
// Fails: a database that is down or lacks the table (run `relayctl db
// migrate`) is logged (event=host_heartbeat_failed, once per reason) and
// retried next interval; mail flow never depends on it.
#pragma once
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "admin-cli/metrics_collect.hpp"

namespace relay::admin {

class HostHeartbeat {
 public:
  struct Options {
    std::string conninfo;
    std::int64_t connect_timeout = 5;
    std::string host;
    std::int64_t interval_s = 15;
    CollectOptions collect;
  };
  // nullptr when there is no database configured.
  static std::unique_ptr<HostHeartbeat> start(Options opt);
  ~HostHeartbeat();
  HostHeartbeat(const HostHeartbeat&) = delete;
  HostHeartbeat& operator=(const HostHeartbeat&) = delete;

  void set_state(const std::string& state);

 private:
  explicit HostHeartbeat(Options opt);
  void run();
  bool beat(const std::string& state);

  Options opt_;
  std::int64_t started_ms_ = 0;
  std::mutex mu_;
  std::condition_variable cv_;
  std::string state_ = "up";
  bool state_changed_ = false;
  bool stopping_ = false;
  std::string last_error_;
  struct Db;
  std::unique_ptr<Db> db_;
  std::thread thread_;
};

}  // namespace relay::admin
