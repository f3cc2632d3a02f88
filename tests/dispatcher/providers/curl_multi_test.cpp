// net::CurlMulti against a real HTTP server (python3 -m http.server):
// many transfers at once, Done exactly once on the loop thread, cancel,
// destructor abort, connection refused, and a loop that ends with zero
// open handles.
#include <doctest/doctest.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "common/curl_multi.hpp"
#include "test_support.hpp"

using relay::net::CurlMulti;
using relay::net::Easy;
using relay::test::Child;
using relay::test::Loop;

namespace {

size_t collect(char* p, size_t n, size_t m, void* ud) {
  static_cast<std::string*>(ud)->append(p, n * m);
  return n * m;
}

struct Get {
  Easy easy;
  std::string body;
  int done_calls = 0;
  CURLcode rc = CURLE_OK;
  explicit Get(const std::string& url) {
    curl_easy_setopt(easy.get(), CURLOPT_URL, url.c_str());
    curl_easy_setopt(easy.get(), CURLOPT_WRITEFUNCTION, &collect);
    curl_easy_setopt(easy.get(), CURLOPT_WRITEDATA, &body);
    curl_easy_setopt(easy.get(), CURLOPT_TIMEOUT, 20L);
  }
  CurlMulti::Done done() {
    return [this](CURLcode c) { ++done_calls; rc = c; };
  }
};

// A listener that never accepts nor answers: transfers to it hang.
struct SilentListener {
  int fd = -1;
  int port = 0;
  SilentListener() {
    fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
    REQUIRE(::listen(fd, 16) == 0);
    socklen_t len = sizeof a;
    ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
    port = ntohs(a.sin_port);
  }
  ~SilentListener() { ::close(fd); }
};

}  // namespace

TEST_CASE("curl_multi: many concurrent GETs against a real HTTP server") {
  relay::test::TempDir dir;
  std::string big(1 << 20, '\0');
  for (size_t i = 0; i < big.size(); ++i) big[i] = static_cast<char>('a' + i % 26);
  relay::test::write_file(dir.path() / "big.bin", big);
  relay::test::write_file(dir.path() / "small.txt", "hello\n");
  int port = relay::test::free_port();
  Child server({"/usr/bin/python3", "-m", "http.server", "--bind", "127.0.0.1", "--directory",
                dir.path().string(), std::to_string(port)},
               port);
  Loop loop;
  {
    CurlMulti multi(loop.get());
    std::vector<std::unique_ptr<Get>> gets;
    std::string base = "http://127.0.0.1:" + std::to_string(port) + "/";
    for (int i = 0; i < 12; ++i) {
      gets.push_back(std::make_unique<Get>(base + (i % 2 ? "big.bin" : "small.txt")));
      multi.start(gets.back()->easy.get(), gets.back()->done());
    }
    // Never completes inside start().
    for (auto& g : gets) CHECK(g->done_calls == 0);
    CHECK(multi.running() == 12);
    REQUIRE(loop.run_until([&] { return multi.running() == 0; }, 30));
    for (int i = 0; i < 12; ++i) {
      CHECK(gets[i]->done_calls == 1);
      CHECK(gets[i]->rc == CURLE_OK);
      CHECK(gets[i]->body == (i % 2 ? big : std::string("hello\n")));
    }
    // A Done that starts another transfer (the usual chaining) works.
    Get again(base + "small.txt");
    Get first(base + "small.txt");
    multi.start(first.easy.get(), [&](CURLcode c) {
      first.rc = c;
      ++first.done_calls;
      multi.start(again.easy.get(), again.done());
    });
    REQUIRE(loop.run_until([&] { return again.done_calls == 1; }, 10));
    CHECK(again.body == "hello\n");
    CHECK(first.done_calls == 1);
  }
  loop.close();
}

TEST_CASE("curl_multi: connection refused is a CURLcode, Done once") {
  Loop loop;
  {
    CurlMulti multi(loop.get());
    Get g("http://127.0.0.1:" + std::to_string(relay::test::free_port()) + "/");
    multi.start(g.easy.get(), g.done());
    REQUIRE(loop.run_until([&] { return g.done_calls > 0; }, 10));
    loop.run_until([] { return false; }, 0.05);
    CHECK(g.done_calls == 1);
    CHECK(g.rc == CURLE_COULDNT_CONNECT);
  }
  loop.close();
}

TEST_CASE("curl_multi: cancel and destructor abort hanging transfers") {
  SilentListener silent;
  std::string url = "http://127.0.0.1:" + std::to_string(silent.port) + "/";
  Loop loop;
  Get a(url), b(url), c(url);
  {
    CurlMulti multi(loop.get());
    multi.start(a.easy.get(), a.done());
    multi.start(b.easy.get(), b.done());
    loop.run_until([] { return false; }, 0.2);  // connected, waiting for a reply
    CHECK(multi.running() == 2);
    multi.cancel(a.easy.get());
    CHECK(a.done_calls == 1);  // synchronously, before cancel() returns
    CHECK(a.rc == CURLE_ABORTED_BY_CALLBACK);
    multi.cancel(a.easy.get());  // not running any more: no-op
    CHECK(a.done_calls == 1);
    CHECK(multi.running() == 1);
    // Adding the same handle twice fails; the failure is posted, not re-entrant.
    multi.start(c.easy.get(), c.done());
    Get dup(url);
    int dup_calls = 0;
    CURLcode dup_rc = CURLE_OK;
    multi.start(c.easy.get(), [&](CURLcode rc) { ++dup_calls; dup_rc = rc; });
    CHECK(dup_calls == 0);
    REQUIRE(loop.run_until([&] { return dup_calls == 1; }, 5));
    CHECK(dup_rc == CURLE_FAILED_INIT);
  }
  CHECK(b.done_calls == 1);
  CHECK(b.rc == CURLE_ABORTED_BY_CALLBACK);
  CHECK(c.done_calls == 1);
  loop.close();
}
