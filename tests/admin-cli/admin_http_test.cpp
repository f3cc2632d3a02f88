// The admin endpoint (admin_http.hpp) over real sockets, as a hostile
// client sees it: every malformed or unexpected request gets a proper 4xx
// (or 5xx for a protocol we do not speak), never a hang or a crash, and a
// client that trickles bytes is dropped on a deadline, not an idle timer.
#include <doctest/doctest.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include "admin-cli/admin_http.hpp"
#include "common/config.hpp"

using namespace relay::admin;
namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

namespace {

struct Endpoint {
  fs::path root;
  std::unique_ptr<AdminHttp> http;
  explicit Endpoint(AdminHttpLimits limits = {}) {
    char tmpl[] = "/tmp/relay-admin-http-test-XXXXXX";
    root = ::mkdtemp(tmpl);
    for (const char* s : {"tmp", "new", "active", "deferred", "hold", "failed", "corrupt"}) fs::create_directory(root / s);
    relay::config::Config cfg;
    cfg.spool.directory = root;
    cfg.dispatcher.journal = root / "journal";
    cfg.admin_http.listen.host = "127.0.0.1";
    cfg.admin_http.listen.port = 0;
    std::string error;
    http = AdminHttp::start(cfg, &error, limits);
    REQUIRE_MESSAGE(http, error);
  }
  ~Endpoint() {
    http.reset();
    fs::remove_all(root);
  }
};

int connect_to(std::uint16_t port) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

void send_all(int fd, const std::string& s) {
  for (std::size_t at = 0; at < s.size();) {
    ssize_t n = ::send(fd, s.data() + at, s.size() - at, MSG_NOSIGNAL);
    if (n <= 0) return;  // the server may close while we still send
    at += static_cast<std::size_t>(n);
  }
}

// Everything the server sends until it closes or `limit` passes.
std::string read_all(int fd, std::chrono::milliseconds limit) {
  std::string out;
  auto end = Clock::now() + limit;
  for (;;) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(end - Clock::now()).count();
    if (left <= 0) break;
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(left)) <= 0) break;
    char buf[4096];
    ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n <= 0) break;
    out.append(buf, static_cast<std::size_t>(n));
  }
  return out;
}

std::string roundtrip(std::uint16_t port, const std::string& request,
                      std::chrono::milliseconds limit = std::chrono::milliseconds(3000), bool half_close = true) {
  int fd = connect_to(port);
  if (fd < 0) return "(connect failed)";
  send_all(fd, request);
  if (half_close) ::shutdown(fd, SHUT_WR);
  std::string reply = read_all(fd, limit);
  ::close(fd);
  return reply;
}

std::string status_line(const std::string& reply) { return reply.substr(0, reply.find("\r\n")); }

}  // namespace

bool starts(const std::string& reply, const std::string& status) { return reply.rfind("HTTP/1.1 " + status, 0) == 0; }

TEST_CASE("admin http: every malformed or unexpected request gets its 4xx/5xx") {
  Endpoint e;
  const auto port = e.http->port();
  auto ask = [&](const std::string& r) { return status_line(roundtrip(port, r)); };
  // What a load balancer and Prometheus send (503: this spool has no receiver running).
  CHECK(starts(ask("GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"), "503"));
  CHECK(starts(ask("GET /healthz?x=%00%ff&&& HTTP/1.1\r\nHost: x\r\n\r\n"), "503"));
  CHECK(starts(ask("GET /healthz HTTP/1.0\r\n\r\n"), "503"));
  CHECK(starts(ask("GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n"), "200"));
  // Absolute-form targets must be accepted (RFC 9112 3.2.2); were 404.
  CHECK(starts(ask("GET http://x/healthz HTTP/1.1\r\nHost: x\r\n\r\n"), "503"));
  CHECK(starts(ask("GET HTTP://x:1/metrics?a HTTP/1.1\r\nHost: x\r\n\r\n"), "200"));
  CHECK(starts(ask("GET http://x HTTP/1.1\r\nHost: x\r\n\r\n"), "404"));
  // Paths are compared as sent: no traversal, no normalisation.
  for (const char* p : {"/../healthz", "//healthz", "/healthz/", "/HEALTHZ", "/metrics/../healthz"})
    CHECK_MESSAGE(starts(ask(std::string("GET ") + p + " HTTP/1.1\r\nHost: x\r\n\r\n"), "404"), p);
  // Methods: 405 with Allow, also with a body to skip.
  std::string r = roundtrip(port, "POST /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello");
  CHECK(starts(r, "405"));
  CHECK(r.find("\r\nAllow: GET, HEAD\r\n") != std::string::npos);
  for (const char* m : {"PUT", "DELETE", "TRACE", "BREW", "OPTIONS"})
    CHECK_MESSAGE(starts(ask(std::string(m) + " /metrics HTTP/1.1\r\nHost: x\r\n\r\n"), "405"), m);
  // Other protocols and versions.
  CHECK(starts(ask("GET /healthz\r\n\r\n"), "400"));  // HTTP/0.9
  CHECK(starts(ask("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"), "505"));
  CHECK(starts(ask("GET /healthz HTTP/9.9\r\nHost: x\r\n\r\n"), "505"));
  // Size bounds.
  CHECK(starts(ask("GET /" + std::string(20000, 'a') + " HTTP/1.1\r\nHost: x\r\n\r\n"), "414"));
  CHECK(starts(ask("GET /healthz HTTP/1.1\r\nHost: x\r\nX: " + std::string(20000, 'a') + "\r\n\r\n"), "431"));
  CHECK(starts(ask("GET /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999999999999999\r\n\r\n"), "413"));
  // What RFC 9112 refuses and MHD lets through (were answered as if fine).
  CHECK(starts(ask("GET /healthz HTTP/1.1\r\n\r\n"), "400"));
  CHECK(starts(ask("GET /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab"), "400"));
  CHECK(starts(ask("GET /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"),
               "400"));
  CHECK(starts(ask("GET /healthz HTTP/1.1\r\nHost: x\r\ncontent-length: 0\r\nTRANSFER-ENCODING: chunked\r\n\r\n0\r\n\r\n"),
               "400"));
  // Pipelined requests: answered in order, or the first with
  // "Connection: close" (MHD 0.9.75 does not serve pipelined requests; it
  // says so and closes, which RFC 9112 9.3.2 allows).
  r = roundtrip(port, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\nGET /nope HTTP/1.1\r\nHost: x\r\n\r\n",
                std::chrono::milliseconds(1500), false);
  CHECK(starts(r, "503"));
  CHECK_MESSAGE((r.find("HTTP/1.1 404") != std::string::npos || r.find("\r\nConnection: close\r\n") != std::string::npos), r);
  r = roundtrip(port, "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\nGET /nope HTTP/1.1\r\nHost: x\r\n\r\n",
                std::chrono::milliseconds(1500), false);
  CHECK(starts(r, "200"));
  CHECK_MESSAGE((r.find("HTTP/1.1 404") != std::string::npos || r.find("\r\nConnection: close\r\n") != std::string::npos),
                r.substr(0, 300));
  // TLS or binary garbage: closed at once, no hang.
  auto t0 = Clock::now();
  roundtrip(port, std::string("\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", 11));
  roundtrip(port, std::string("GET /heal\0thz HTTP/1.1\r\nHost: x\r\n\r\n", 36));
  CHECK(Clock::now() - t0 < std::chrono::seconds(2));
  // Still serving.
  CHECK(starts(ask("GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n"), "200"));
}

TEST_CASE("admin http: clients trickling bytes are dropped on a total deadline, then others are served") {
  Endpoint e(AdminHttpLimits{.idle_seconds = 10, .lifetime_seconds = 2});
  const auto port = e.http->port();
  // Fill every connection slot (32) with clients that each send a byte
  // every 500 ms: MHD's idle timer alone never fires for them.
  std::vector<int> slow;
  for (int i = 0; i < 40; ++i) {
    int fd = connect_to(port);
    if (fd >= 0) slow.push_back(fd);
  }
  const std::string line = "GET /healthz HTTP/1.1\r\nHost: x\r\nX: ";
  const auto t0 = Clock::now();
  bool all_closed = false;
  std::size_t sent = 0;
  while (Clock::now() - t0 < std::chrono::seconds(8) && !all_closed) {
    all_closed = true;
    for (int fd : slow) {
      char c = sent < line.size() ? line[sent] : 'a';
      if (::send(fd, &c, 1, MSG_NOSIGNAL | MSG_DONTWAIT) == 1) all_closed = false;
    }
    ++sent;
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
  }
  // Every trickler was cut off (a send fails once the server shut it down;
  // the first one after the shutdown still lands in the socket buffer).
  CHECK(all_closed);
  CHECK(starts(status_line(roundtrip(port, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")), "503"));
  for (int fd : slow) ::close(fd);
}
