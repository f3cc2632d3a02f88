// relay::receiver::Server — the receiver's event loop side: listeners,
// the connection registry and its limits, the idle sweep, signals (SIGTERM
// drain, SIGHUP reload) and the shared objects connections use (policy
// snapshot, TLS context, spool, group commit, AUTH throttle).
//
// Does: accepts on every configured listener; refuses clients outside
// client_networks (554 5.7.1) and beyond max_connections /
// max_connections_per_ip (421 4.7.0) at greeting time; times out idle
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

#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "common/config.hpp"
#include "receiver/server/entry_pool.hpp"
#include "receiver/server/tls_context.hpp"
#include "receiver/smtp/policy.hpp"
#include "receiver/smtp/session.hpp"
#include "spool/group_commit.hpp"
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

  // Connection bookkeeping (called by Connection).
  enum class Admit { Ok, Network, Total, PerIp, Draining };
  Admit admit(const std::string& ip);
  void attach(Connection* c, const std::string& ip);
  void release(const std::string& ip);  // the connection started closing: its slot is free
  void unlink(Connection* c);           // the handle is closed

 private:
  struct ListenHandle;
  static void on_connection(uv_stream_t* s, int status);
  static void on_sweep(uv_timer_t* t);
  static void on_signal(uv_signal_t* s, int signum);
  static void on_grace(uv_timer_t* t);
  bool listen_one(const config::Listener& l, std::string* error);
  void drain();
  void close_listeners();
  Admit check_limits(const std::string& ip) const;
  void reap_disconnected(const std::string* ip);
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
  std::unordered_map<std::string, int> per_ip_;
  std::uint64_t session_counter_ = 0;
  bool draining_ = false;
  bool finished_ = false;
  friend class Connection;
};

}  // namespace relay::receiver
