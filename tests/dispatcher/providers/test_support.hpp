// Test helpers for providers_tests: free loopback ports, child server
// processes (killed in the destructor), temporary directories and a uv loop
// that must end with zero open handles (STYLE.md 14).
// Runs on: the test thread. Fails: doctest REQUIRE/CHECK.
#pragma once
#include <doctest/doctest.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>
#include <uv.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

namespace relay::test {

inline std::filesystem::path src_dir() { return RELAY_SRC_DIR; }

// A port that was free a moment ago (bind to 0 and read it back).
inline int free_port() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
  socklen_t len = sizeof a;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  ::close(fd);
  return ntohs(a.sin_port);
}

inline bool port_open(int port) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bool ok = ::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
  ::close(fd);
  return ok;
}

// A child process (a real server) that is always killed and reaped.
class Child {
 public:
  Child(std::vector<std::string> argv, int wait_port = 0) {
    pid_ = ::fork();
    REQUIRE(pid_ >= 0);
    if (pid_ == 0) {
      std::vector<char*> args;
      for (auto& a : argv) args.push_back(a.data());
      args.push_back(nullptr);
      if (std::getenv("RELAY_TEST_VERBOSE") == nullptr) {
        int devnull = ::open("/dev/null", O_WRONLY);
        ::dup2(devnull, 1);
        ::dup2(devnull, 2);
      }
      ::execv(args[0], args.data());
      ::_exit(127);
    }
    if (wait_port == 0) return;
    for (int i = 0; i < 800 && !port_open(wait_port); ++i) {  // up to 20 s on a loaded machine
      std::this_thread::sleep_for(std::chrono::milliseconds(25));
    }
    REQUIRE_MESSAGE(port_open(wait_port), "server did not listen: " << argv[0]);
  }
  Child(const Child&) = delete;
  Child& operator=(const Child&) = delete;
  ~Child() {
    if (pid_ <= 0) return;
    ::kill(pid_, SIGTERM);
    for (int i = 0; i < 100; ++i) {
      if (::waitpid(pid_, nullptr, WNOHANG) == pid_) return;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, nullptr, 0);
  }

 private:
  pid_t pid_ = -1;
};

class TempDir {
 public:
  TempDir() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "relay-prov-XXXXXX").string();
    REQUIRE(::mkdtemp(tmpl.data()) != nullptr);
    path_ = tmpl;
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

inline std::string read_file(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

inline void write_file(const std::filesystem::path& p, const std::string& data) {
  std::ofstream out(p, std::ios::binary);
  out << data;
}

// A private uv loop; close() asserts that nothing was left open.
class Loop {
 public:
  Loop() { REQUIRE(uv_loop_init(&loop_) == 0); }
  ~Loop() {
    if (!closed_) close();
  }
  uv_loop_t* get() { return &loop_; }
  // Runs until `pred` is true or `seconds` pass; returns pred().
  bool run_until(const std::function<bool()>& pred, double seconds = 10) {
    auto end = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
    while (!pred() && std::chrono::steady_clock::now() < end) {
      uv_run(&loop_, UV_RUN_NOWAIT);
      if (!pred()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    return pred();
  }
  int open_handles() {
    int n = 0;
    uv_walk(&loop_, [](uv_handle_t*, void* arg) { ++*static_cast<int*>(arg); }, &n);
    return n;
  }
  void close() {
    closed_ = true;
    // Bounded: close callbacks need one or two iterations, never seconds.
    for (int i = 0; i < 2000 && uv_loop_alive(&loop_); ++i) {
      uv_run(&loop_, UV_RUN_NOWAIT);
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    uv_run(&loop_, UV_RUN_NOWAIT);
    CHECK(open_handles() == 0);
    CHECK(uv_loop_close(&loop_) == 0);
  }

 private:
  uv_loop_t loop_{};
  bool closed_ = false;
};

}  // namespace relay::test
