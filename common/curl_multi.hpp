// relay::net::CurlMulti — libcurl's multi interface driven by a libuv loop
// (CURLMOPT_SOCKETFUNCTION/TIMERFUNCTION + uv_poll/uv_timer), the one HTTP
// and SMTP transport shared by all provider adapters in a process.
//
// Does: runs many transfers at once on the loop thread; calls each
// transfer's completion exactly once, on the loop thread, with the CURLcode.
// Owns the CURLM and every uv handle it creates (closed in close callbacks).
// Does not: build requests or interpret responses (adapters do that); retry.
// Runs on: one uv loop; not thread-safe.
// Fails: a CURLcode per transfer; never throws out of a libuv callback.
#pragma once
#include <curl/curl.h>
#include <uv.h>

#include <functional>
#include <memory>

namespace relay::net {

// Owner of one CURL easy handle (STYLE.md 8). Movable, not copyable.
class Easy {
 public:
  Easy();
  Easy(Easy&&) noexcept;
  Easy& operator=(Easy&&) noexcept;
  Easy(const Easy&) = delete;
  Easy& operator=(const Easy&) = delete;
  ~Easy();
  CURL* get() const noexcept { return h_; }

 private:
  CURL* h_ = nullptr;
};

// Owner of a curl_slist.
class SList {
 public:
  SList() = default;
  SList(SList&&) noexcept;
  SList& operator=(SList&&) noexcept;
  SList(const SList&) = delete;
  SList& operator=(const SList&) = delete;
  ~SList();
  void append(const char* s);
  curl_slist* get() const noexcept { return l_; }

 private:
  curl_slist* l_ = nullptr;
};

class CurlMulti {
 public:
  using Done = std::function<void(CURLcode)>;

  explicit CurlMulti(uv_loop_t* loop);
  CurlMulti(const CurlMulti&) = delete;
  CurlMulti& operator=(const CurlMulti&) = delete;
  // Aborts transfers still running (their Done is called with
  // CURLE_ABORTED_BY_CALLBACK) and closes its handles; run the loop once
  // more afterwards so the close callbacks free memory.
  ~CurlMulti();

  // Starts a transfer. The easy handle (and every buffer/slist it points
  // to) must stay alive until `done` has been called.
  void start(CURL* easy, Done done);
  // Cancels a running transfer; its Done is called with CURLE_ABORTED_BY_CALLBACK
  // before cancel() returns (no-op when `easy` is not running). The
  // connection is dropped; an SMTP upload is never completed by a cancel.
  void cancel(CURL* easy);
  // Per-host connection cap and total cap (CURLMOPT_MAX_HOST_CONNECTIONS...).
  void set_limits(long max_host_connections, long max_total_connections);
  std::size_t running() const noexcept;
  uv_loop_t* loop() const noexcept { return loop_; }

 private:
  struct Impl;
  uv_loop_t* loop_;
  std::unique_ptr<Impl> impl_;
};

}  // namespace relay::net
