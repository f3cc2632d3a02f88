// Unit tests for relay::spool::QueueId: format, parsing, ordering and
// uniqueness across threads and forked processes.
#include <doctest/doctest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <set>
#include <thread>
#include <vector>

#include "spool/queue_id.hpp"

using relay::spool::QueueId;

static std::int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

TEST_CASE("queue id: format, round trip, time part") {
  auto before = now_ms();
  QueueId id = QueueId::generate();
  auto after = now_ms();
  CHECK(id.str().size() == QueueId::kLength);
  CHECK(id.str().find_first_not_of("0123456789ABCDEFGHJKMNPQRSTVWXYZ") == std::string::npos);
  auto back = QueueId::parse(id.str());
  REQUIRE(back);
  CHECK(*back == id);
  CHECK(id.millis() >= before);
  CHECK(id.millis() <= after + 1);
}

TEST_CASE("queue id: parse rejects malformed text") {
  CHECK_FALSE(QueueId::parse(""));
  CHECK_FALSE(QueueId::parse("0123456789ABCDEFGHJ"));    // 19 chars
  CHECK_FALSE(QueueId::parse("0123456789ABCDEFGHJKM"));  // 21 chars
  CHECK_FALSE(QueueId::parse("0123456789ABCDEFGHJI"));   // I is not Crockford
  CHECK_FALSE(QueueId::parse("0123456789abcdefghjk"));   // lower case
  CHECK_FALSE(QueueId::parse("../../etc/passwd12345"));
  CHECK_FALSE(QueueId::parse(std::string("0123456789ABCDEFGHJ\0", 20)));
  CHECK(QueueId::parse("0123456789ABCDEFGHJK"));
}

TEST_CASE("queue id: strictly increasing within a process, unique across threads") {
  std::vector<QueueId> seq;
  for (int i = 0; i < 20000; ++i) seq.push_back(QueueId::generate());
  for (std::size_t i = 1; i < seq.size(); ++i) REQUIRE(seq[i - 1] < seq[i]);

  std::vector<std::vector<QueueId>> per(4);
  std::vector<std::thread> th;
  for (auto& v : per)
    th.emplace_back([&v] {
      for (int i = 0; i < 5000; ++i) v.push_back(QueueId::generate());
    });
  for (auto& t : th) t.join();
  std::set<QueueId> all;
  for (auto& v : per) {
    for (std::size_t i = 1; i < v.size(); ++i) REQUIRE(v[i - 1] < v[i]);
    all.insert(v.begin(), v.end());
  }
  CHECK(all.size() == 20000);
}

TEST_CASE("queue id: unique and time-ordered across forked processes") {
  constexpr int kProcs = 4, kEach = 5000;
  int fds[kProcs][2];
  std::vector<pid_t> pids;
  auto start = now_ms();
  for (int p = 0; p < kProcs; ++p) {
    REQUIRE(pipe(fds[p]) == 0);
    pid_t pid = fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
      close(fds[p][0]);
      std::string out;
      for (int i = 0; i < kEach; ++i) out += QueueId::generate().str();
      ssize_t off = 0;
      while (off < static_cast<ssize_t>(out.size())) {
        ssize_t n = write(fds[p][1], out.data() + off, out.size() - static_cast<std::size_t>(off));
        if (n <= 0) _exit(1);
        off += n;
      }
      _exit(0);
    }
    close(fds[p][1]);
    pids.push_back(pid);
  }
  std::set<std::string> all;
  for (int p = 0; p < kProcs; ++p) {
    std::string buf;
    char tmp[65536];
    ssize_t n;
    while ((n = read(fds[p][0], tmp, sizeof tmp)) > 0) buf.append(tmp, static_cast<std::size_t>(n));
    close(fds[p][0]);
    REQUIRE(buf.size() == kEach * QueueId::kLength);
    std::string prev;
    for (std::size_t i = 0; i < buf.size(); i += QueueId::kLength) {
      std::string s = buf.substr(i, QueueId::kLength);
      auto id = QueueId::parse(s);
      REQUIRE(id);
      REQUIRE(prev < s);  // per-process order
      prev = s;
      all.insert(s);
    }
  }
  for (pid_t pid : pids) {
    int status = 0;
    REQUIRE(waitpid(pid, &status, 0) == pid);
    CHECK(WIFEXITED(status));
    CHECK(WEXITSTATUS(status) == 0);
  }
  auto end = now_ms();
  CHECK(all.size() == static_cast<std::size_t>(kProcs * kEach));
  // Cross-process order is by time: every id carries a time within the run
  // (ids generated more than 2^20 per ms would borrow at most a few ms).
  auto first = QueueId::parse(*all.begin())->millis(), last = QueueId::parse(*all.rbegin())->millis();
  CHECK(first >= start);
  CHECK(last <= end + 5);
  // An id generated a millisecond later sorts after all of them.
  std::this_thread::sleep_for(std::chrono::milliseconds(2));
  CHECK(*all.rbegin() < QueueId::generate().str());
}
