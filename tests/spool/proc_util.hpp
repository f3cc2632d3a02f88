// Helpers for the multi-process spool tests: forking workers, fsync'd
// append-only id logs, verification of a claimed entry against its
// envelope, and bounded waiting. Children never return into doctest: they
// _exit().
#pragma once
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <functional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "test_util.hpp"

namespace relay::spool::test {

inline pid_t spawn(const std::function<int()>& body) {
  pid_t pid = fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    int rc = 1;
    try {
      rc = body();
    } catch (...) {
      rc = 3;
    }
    _exit(rc);
  }
  return pid;
}

// An append-only log of lines; `sync` makes each line durable before
// append() returns (what the crash test's writers promise).
class LineLog {
 public:
  LineLog(const fs::path& p, bool sync)
      : fd_(open(p.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644)), sync_(sync) {}
  ~LineLog() {
    if (fd_ >= 0) close(fd_);
  }
  bool append(const std::string& line) {
    std::string l = line + "\n";
    if (write(fd_, l.data(), l.size()) != static_cast<ssize_t>(l.size())) return false;
    return !sync_ || fdatasync(fd_) == 0;
  }

 private:
  int fd_;
  bool sync_;
};

// Complete lines of every file matching prefix* in dir (a torn last line
// from a killed process is ignored).
inline std::vector<std::string> read_lines(const fs::path& dir, const std::string& prefix) {
  std::vector<std::string> out;
  for (auto& e : fs::directory_iterator(dir)) {
    if (e.path().filename().string().rfind(prefix, 0) != 0) continue;
    std::string s = slurp(e.path());
    std::size_t pos = 0, nl;
    while ((nl = s.find('\n', pos)) != std::string::npos) {
      out.push_back(s.substr(pos, nl - pos));
      pos = nl + 1;
    }
  }
  return out;
}

// "" when the locked data matches the envelope's size and crc32.
inline std::string verify_data(int fd, const Envelope& env) {
  std::string data;
  char buf[65536];
  off_t off = 0;
  ssize_t n;
  while ((n = pread(fd, buf, sizeof buf, off)) > 0) {
    data.append(buf, static_cast<std::size_t>(n));
    off += n;
  }
  if (n < 0) return "read error";
  if (data.size() != env.size) return "size " + std::to_string(data.size()) + " != " + std::to_string(env.size);
  if (crc32(data) != env.data_crc32) return "crc mismatch";
  return {};
}

// Waits for all pids; kills them and fails after `limit`. Returns the
// number that did not exit with status 0.
inline int wait_all(const std::vector<pid_t>& pids, std::chrono::seconds limit) {
  auto deadline = std::chrono::steady_clock::now() + limit;
  std::set<pid_t> left(pids.begin(), pids.end());
  int bad = 0;
  while (!left.empty()) {
    int status = 0;
    pid_t p = waitpid(-1, &status, WNOHANG);
    if (p > 0 && left.erase(p)) {
      if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) ++bad;
      continue;
    }
    if (std::chrono::steady_clock::now() > deadline) {
      for (pid_t q : left) kill(q, SIGKILL);
      for (pid_t q : left) waitpid(q, &status, 0);
      FAIL_CHECK("workers did not finish in time");
      return bad + static_cast<int>(left.size());
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return bad;
}

}  // namespace relay::spool::test
