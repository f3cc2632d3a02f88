// relay::receiver::Server — the receiver's event loop side: listeners,
// the connection registry and its limits, the idle sweep, signals (SIGTERM
// drain, SIGHUP reload) and the shared objects connections use (policy
// snapshot, TLS context, spool, group commit, AUTH throttle).
//
// Does: accepts on every configured listener; refuses clients outside
// client_networks (554 5.7.1) and beyond max_connections /
// max_connections_per_ip / max_connection_rate (421 4.7.0) at greeting time,
// counting an IPv6 client per /64 (client_key); gates password checks
// (server_auth.cpp); times out idle
// sessions once a second; on SIGTERM stops listening, lets transfers in
// progress finish within shutdown_grace and answers the others 421 4.3.2;
// on SIGHUP reloads policy and certificate (keeps the old ones if the new
// config is bad).
// Does not: speak SMTP (smtp::Session) or touch sockets of a connection
// (Connection).
// Thread: the loop thread; blocking work goes to the libuv thread pool.
// Fails: listen() returns false with a message; runtime errors close one
// connection and are logged.
#pragma once
#include <uv.h>

#include <deque>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "common/config.hpp"
#include "receiver/server/client_limits.hpp"
#include "receiver/server/entry_pool.hpp"
#include "receiver/server/tls_context.hpp"
#include "receiver/smtp/policy.hpp"
#include "receiver/smtp/session.hpp"
#include "spool/group_commit.hpp"
#include "spool/refusal_summary.hpp"
#include "spool/spool.hpp"

namespace relay::receiver {

class Connection;

struct ListenerSpec {
  config::Listener cfg;
  smtp::ListenerInfo info;
  std::string name;  // "127.0.0.1:2525"
};

class Server {
 public:
  Server(uv_loop_t* loop, config::Config cfg, std::shared_ptr<const smtp::Policy> policy, spool::Spool spool,
         std::shared_ptr<TlsContext> tls);
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  bool start(std::string* error);  // listeners, timers, signals

  uv_loop_t* loop() const noexcept { return loop_; }
  const std::shared_ptr<const smtp::Policy>& policy() const noexcept { return policy_; }
  const std::shared_ptr<TlsContext>& tls() const noexcept { return tls_; }
  const spool::Spool& spool() const noexcept { return spool_; }
  spool::GroupCommit& group_commit() noexcept { return group_; }
  EntryPool& entry_pool() noexcept { return pool_; }
  smtp::AuthThrottle& throttle() noexcept { return throttle_; }
  bool draining() const noexcept { return draining_; }
  std::string next_session_id();
  // Bytes free to unprivileged writers on the spool's filesystem (0 when
  // fewer than kMinFreeInodes inodes are left); statvfs at most once a
  // second. UINT64_MAX when statvfs fails (the writes will tell).
  std::uint64_t storage_free();
  static constexpr std::uint64_t kMinFreeInodes = 64;

  // Connection bookkeeping (called by Connection). `key` is client_key(ip):
  // the address, or its /64 for IPv6.
  enum class Admit { Ok, Network, Total, PerIp, Rate, Draining };
  Admit admit(const std::string& ip, const std::string& key);
  void attach(Connection* c, const std::string& key);
  void release(const std::string& key);  // the connection started closing: its slot is free
  void unlink(Connection* c);           // the handle is closed

  // Password checks (server_auth.cpp, issue 9 item 6). A check starts only
  // while the client's failures plus its checks in flight stay under
  // max_auth_failures_per_ip, and at most kMaxHashJobs run at once (the
  // rest wait here, so PBKDF2 never fills the thread pool commits need).
  static constexpr int kMaxHashJobs = 4;
  void auth_request(Connection* c);                        // c has a prepared job
  void auth_finished(const std::string& key, bool ok);     // a check ended (owner alive or not)
  void auth_cancel(Connection* c);                         // c closes while waiting

  // Client inventory (server_refusals.cpp, issue 12 item 3): every refused
  // connection and 4xx/5xx reply is counted per (client, AUTH user) in a
  // capped tally; every receiver.refusals.flush_interval (and at shutdown)
  // it becomes a summary file in <spool>/refusals/ for a dispatcher to
  // import. Bounded in memory (max_entries) and on disk (kMaxRefusalFiles).
  void note_refusal(const std::string& ip, std::string_view user, bool tls, std::string_view reply);
  void flush_refusals(bool force);

 private:
  struct ListenHandle;
  static void on_connection(uv_stream_t* s, int status);
  static void on_sweep(uv_timer_t* t);
  static void on_signal(uv_signal_t* s, int signum);
  static void on_grace(uv_timer_t* t);
  bool listen_one(const config::Listener& l, std::string* error);
  void drain();
  void close_listeners();
  Admit check_limits(const std::string& ip, const std::string& key) const;
  void reap_disconnected(const std::string* key);
  void auth_pump();
  void reload();
  void maybe_finish();
  void close_own_handles();

  uv_loop_t* loop_;
  config::Config cfg_;
  std::shared_ptr<const smtp::Policy> policy_;
  spool::Spool spool_;
  spool::GroupCommit group_;
  EntryPool pool_;
  std::shared_ptr<TlsContext> tls_;
  smtp::AuthThrottle throttle_;

  std::vector<ListenHandle*> listeners_;
  uv_timer_t* sweep_ = nullptr;
  uv_timer_t* grace_ = nullptr;
  std::vector<uv_signal_t*> signals_;
  Connection* head_ = nullptr;  // intrusive list of live connections
  std::size_t count_ = 0;
  std::unordered_map<std::string, int> per_ip_;  // by client key
  ConnectionRate rate_;
  std::deque<Connection*> auth_waiting_;
  std::unordered_map<std::string, int> auth_running_;  // by client key
  int auth_running_total_ = 0;
  std::uint64_t session_counter_ = 0;
  std::uint64_t storage_checked_ms_ = 0;  // uv_now of the last statvfs (0 = never)
  std::uint64_t storage_free_ = UINT64_MAX;
  spool::RefusalTally refusals_{1000};
  std::int64_t refusals_flushed_at_ = 0;  // unix seconds
  bool refusals_blocked_ = false;         // last flush could not write (logged once per state change)
  bool draining_ = false;
  bool finished_ = false;
  friend class Connection;
};

}  // namespace relay::receiver
