// relay::admin::AdminHttp — the host's metrics and health endpoint, served
// by `relayctl run` when the config has `admin_http: {listen: ...}`
// (docs/metrics.md).
//
// Does: GET (or HEAD) /metrics -> the Prometheus text format
// (metrics_exposition.hpp) of what metrics_collect.hpp gathers from the
// spool; GET /healthz -> 200 "ok" / 503 "<reason>" (health.hpp). Any other
// path: 404; any other method: 405 with `Allow: GET, HEAD`. HTTP parsing is
// libmicrohttpd's. Bounds against slow or hostile clients (all on
// loopback unless the operator wrote another address): at most 32
// connections, 16 KiB of request per connection (a longer request line or
// header block gets MHD's 414/431), 10 s without progress closes it, and so
// do 15 s in all (http_deadlines.hpp: a client trickling bytes is no longer
// kept for ever). Requests MHD lets through that RFC 9112 refuses get 400:
// HTTP/1.1 without Host, two Content-Lengths, Content-Length with
// Transfer-Encoding (the request smuggling shapes). An absolute-form target
// (GET http://host/metrics) is served like its path.
// Before it listens it removes the metrics files of dead slots, so counters
// start at 0 with each `relayctl run` (as any exporter's do after a restart).
// Does not: authenticate (bind it to loopback or a management network),
// follow a SIGHUP (the address and the dispatcher count it expects are those
// of the config it was started with; a change needs a restart of relayctl
// run), touch the supervisor's loop.
// Runs on: libmicrohttpd's own thread (MHD_USE_INTERNAL_POLLING_THREAD, all
// signals blocked there: they stay the supervisor's signalfd's);
// the supervisor's thread only starts and stops it.
// Fails: start() returns nullptr with *error (bad address, port in use).
#pragma once
#include <atomic>
#include <cstdint>
#include <memory>
#include <string>

#include "admin-cli/metrics_collect.hpp"

struct MHD_Daemon;

namespace relay::config {
struct Config;
}

namespace relay::admin {

class HttpDeadlines;

struct AdminHttpLimits {
  unsigned idle_seconds = 10;      // without a byte either way
  unsigned lifetime_seconds = 15;  // in all, however busy (slowloris)
};

class AdminHttp {
 public:
  static std::unique_ptr<AdminHttp> start(const config::Config& cfg, std::string* error,
                                          const AdminHttpLimits& limits = {});
  ~AdminHttp();
  AdminHttp(const AdminHttp&) = delete;
  AdminHttp& operator=(const AdminHttp&) = delete;

  std::uint16_t port() const noexcept { return port_; }
  const CollectOptions& options() const noexcept { return opt_; }
  // `relayctl run` is stopping (SIGTERM): /healthz answers 503 "draining"
  // from now on, so a load balancer takes this host out at its next check
  // (docs/scale-out.md). Any thread.
  void set_draining() noexcept { draining_.store(true); }
  bool draining() const noexcept { return draining_.load(); }
  // receiver.limits.min_free_space of the config relay runs with (set at
  // start and after each accepted reload): /healthz answers 503 below it,
  // as the receiver answers MAIL 452 4.3.1. Any thread.
  void set_min_free_space(std::uint64_t bytes) noexcept { min_free_space_.store(bytes); }
  std::uint64_t min_free_space() const noexcept { return min_free_space_.load(); }

 private:
  AdminHttp() = default;
  CollectOptions opt_;
  std::atomic<bool> draining_{false};
  std::atomic<std::uint64_t> min_free_space_{0};
  std::unique_ptr<HttpDeadlines> deadlines_;  // outlives daemon_ (MHD notifies it while stopping)
  MHD_Daemon* daemon_ = nullptr;
  std::uint16_t port_ = 0;
};

}  // namespace relay::admin
