// relay::admin::HttpDeadlines — a total deadline for every connection of
// the admin endpoint (admin_http.hpp).
//
// Does: libmicrohttpd's connection timeout is an idle timer, reset by every
// byte: a client that trickles one byte every few seconds (slowloris) would
// hold one of the 32 connection slots for ever. This tracks when each
// connection opened (MHD's connection notifications) and, from a thread of
// its own that wakes four times a second, shuts down the socket of any
// connection older than the lifetime; MHD then sees the end of the stream
// and closes it. Does not: close the socket (MHD owns it) or touch a
// connection MHD already closed: MHD reports CLOSED before it closes the
// fd, and both sides take one mutex, so a shut-down fd is never a reused one.
// Runs on: MHD's thread (notify) and its own watchdog thread.
// Fails: nothing to report; a failed shutdown() leaves MHD's idle timer.
#pragma once
#include <microhttpd.h>

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <thread>
#include <unordered_map>

namespace relay::admin {

class HttpDeadlines {
 public:
  explicit HttpDeadlines(std::chrono::seconds lifetime);
  ~HttpDeadlines();  // stops the watchdog thread
  HttpDeadlines(const HttpDeadlines&) = delete;
  HttpDeadlines& operator=(const HttpDeadlines&) = delete;

  // MHD_OPTION_NOTIFY_CONNECTION callback; `cls` is this object.
  static void notify(void* cls, MHD_Connection* conn, void** socket_context, MHD_ConnectionNotificationCode code);

 private:
  void watch();
  std::chrono::seconds lifetime_;
  std::mutex mu_;
  std::condition_variable wake_;
  bool stop_ = false;
  std::unordered_map<int, std::chrono::steady_clock::time_point> opened_;  // fd -> when
  std::thread thread_;
};

}  // namespace relay::admin
