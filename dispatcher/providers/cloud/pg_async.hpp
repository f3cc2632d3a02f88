// relay::provider::cloud::AsyncPg — one PostgreSQL connection driven by a
// libuv loop (libpq's asynchronous API: PQconnectStartParams /
// PQconnectPoll, PQsendQueryParams / PQconsumeInput, watched with a
// uv_poll on PQsocket), for the cluster-wide mailbox limits
// (SharedLimiter). The delivery log's connection lives on its own DB thread
// and blocks there; the limiter needs answers on the loop without waiting
// behind log batches, so it has this connection of its own.
//
// Does: connects (bounded by the deadline), runs one parameterised
// statement at a time (text parameters and results), hands NOTIFY messages
// to a callback, and breaks the connection when a connect or a statement
// takes longer than the deadline (a server that accepts the bytes but
// never answers must not stall the limiter).
// Does not: retry, reconnect on its own, queue statements (the caller runs
// one at a time: exec() only when ready() && !busy()).
// Runs on: the loop thread. Not thread-safe. The conninfo should name a
// socket path or a numeric hostaddr: libpq resolves host names with a
// blocking getaddrinfo.
// Fails: a broken connection calls `lost(reason)` once (and the pending
// statement's Done with ok == false first); never throws out of a
// callback. Destroying it drops every callback.
#pragma once
#include <uv.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

typedef struct pg_conn PGconn;

namespace relay::provider::cloud {

struct PgRows {
  bool ok = false;
  std::string error;                            // "" when ok
  std::vector<std::vector<std::string>> rows;   // text values ("" for NULL)
};

class AsyncPg {
 public:
  using Done = std::function<void(PgRows)>;
  using Notify = std::function<void(const std::string& channel, const std::string& payload)>;
  using Lost = std::function<void(const std::string& reason)>;

  AsyncPg(uv_loop_t* loop, std::string conninfo, std::int64_t deadline_ms, Notify notify, Lost lost);
  ~AsyncPg();
  AsyncPg(const AsyncPg&) = delete;
  AsyncPg& operator=(const AsyncPg&) = delete;

  // Starts connecting unless connected or connecting; `ready` runs once the
  // connection is usable (a failure calls lost() instead).
  void connect(std::function<void()> ready);
  bool ready() const noexcept { return state_ == State::Ready; }
  bool connecting() const noexcept { return state_ == State::Connecting; }
  bool busy() const noexcept { return static_cast<bool>(done_); }
  void exec(const char* sql, const std::vector<std::string>& params, Done done);
  std::uint64_t statements() const noexcept { return statements_; }  // round trips so far

 private:
  enum class State { Closed, Connecting, Ready };
  void watch(int events);  // (re)arms the poll on PQsocket
  void on_poll(int status, int events);
  void connect_step();
  void read_input();
  void fail(const std::string& reason);
  void arm_deadline();

  uv_loop_t* loop_;
  std::string conninfo_;
  std::int64_t deadline_ms_;
  Notify notify_;
  Lost lost_;
  State state_ = State::Closed;
  PGconn* conn_ = nullptr;
  int fd_ = -1;
  uv_poll_t* poll_ = nullptr;    // freed in its close callback
  uv_timer_t* timer_ = nullptr;  // connect / statement deadline; freed in its close callback
  std::function<void()> ready_;
  Done done_;
  PgRows rows_;
  bool flushing_ = false;
  std::uint64_t statements_ = 0;
  std::shared_ptr<int> alive_ = std::make_shared<int>(0);  // posted failures check it
};

}  // namespace relay::provider::cloud
