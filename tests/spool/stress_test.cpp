// Multi-process stress test (ctest: spool_stress): forked writers commit
// entries in batches while forked claimers claim, verify, release, defer and
// finish them, and sweep concurrently. Every committed entry must be
// finished exactly once, none may be seen half-written, and no sweep may
// steal a live claim. Skipped in the plain unit run (test suite "stress").
#include <doctest/doctest.h>

#include <algorithm>
#include <map>

#include "proc_util.hpp"

using namespace relay::spool;
using namespace relay::spool::test;

namespace {

constexpr int kWriters = 3, kClaimers = 3, kPerWriter = 200;

int writer(const fs::path& root, const fs::path& logs, int n) {
  std::string err;
  auto sp = Spool::open(root, &err);
  if (!sp) return 10;
  std::mt19937_64 rng(static_cast<std::uint64_t>(getpid()));
  LineLog log(logs / ("w" + std::to_string(n)), false);
  int done = 0;
  while (done < kPerWriter) {
    int batch = 1 + static_cast<int>(rng() % 8);
    batch = std::min(batch, kPerWriter - done);
    std::vector<NewEntry> entries;
    for (int i = 0; i < batch; ++i) {
      Status st;
      auto e = sp->create(sample_envelope(), &st);
      if (!e) return 11;
      std::string data = random_bytes(rng, rng() % 32768);
      if (!e->append(data).ok() || !e->prepare().ok()) return 12;
      entries.push_back(std::move(*e));
    }
    std::vector<NewEntry*> ptrs;
    for (auto& e : entries) ptrs.push_back(&e);
    for (const Status& st : sp->commit(ptrs))
      if (!st.ok()) return 13;
    for (auto& e : entries) log.append(e.id().str());
    done += batch;
  }
  return 0;
}

bool drained(const Spool& sp, const fs::path& flag) {
  return fs::exists(flag) && sp.list(State::New).empty() && sp.list(State::Deferred).empty() &&
         sp.list(State::Active).empty();
}

int claimer(const fs::path& root, const fs::path& logs, int n) {
  std::string err;
  auto sp = Spool::open(root, &err);
  if (!sp) return 20;
  std::mt19937_64 rng(static_cast<std::uint64_t>(getpid()) * 31);
  LineLog done_log(logs / ("c" + std::to_string(n)), false);
  LineLog bad(logs / ("bad" + std::to_string(n)), false);
  const fs::path flag = logs / "writers-done";
  while (true) {
    auto ids = sp->list(State::New);
    if (ids.empty()) {
      if (drained(*sp, flag)) return 0;
      SweepReport r = sp->sweep({.orphan_grace = 3600});
      if (r.recovered_claims != 0 || r.quarantined != 0 || r.orphans_removed != 0)
        bad.append("sweep took a live entry: " + (r.log.empty() ? std::string() : r.log[0]));
      usleep(500);
      continue;
    }
    std::shuffle(ids.begin(), ids.end(), rng);  // make claimers collide
    for (const QueueId& id : ids) {
      auto c = sp->claim(id, &err);
      if (!c) {
        if (!err.empty()) bad.append(id.str() + " claim error: " + err);
        continue;
      }
      if (std::string why = verify_data(c->data_fd(), c->envelope()); !why.empty())
        bad.append(id.str() + " half-written: " + why);
      unsigned action = static_cast<unsigned>(rng() % 10);
      Status st = Status::success();
      if (action == 0) {
        st = c->release();
      } else if (action == 1) {
        Envelope e = c->envelope();
        e.attempts++;
        e.next_attempt = 0;
        st = c->defer(e);
      } else {
        done_log.append(id.str());
        st = c->done();
      }
      if (!st.ok()) bad.append(id.str() + " " + st.message);
    }
  }
}

}  // namespace

TEST_CASE("multi-process: every committed entry is claimed exactly once" * doctest::test_suite("stress") *
          doctest::skip()) {
  TempSpool t;
  fs::path root = t.root / "spool", logs = t.root / "logs";
  fs::create_directories(logs);
  auto start = std::chrono::steady_clock::now();
  std::vector<pid_t> writers, claimers;
  for (int i = 0; i < kClaimers; ++i) claimers.push_back(spawn([&, i] { return claimer(root, logs, i); }));
  for (int i = 0; i < kWriters; ++i) writers.push_back(spawn([&, i] { return writer(root, logs, i); }));
  CHECK(wait_all(writers, std::chrono::seconds(40)) == 0);
  spit(logs / "writers-done", "");
  CHECK(wait_all(claimers, std::chrono::seconds(15)) == 0);
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();

  std::vector<std::string> committed = read_lines(logs, "w"), finished = read_lines(logs, "c");
  std::vector<std::string> bad = read_lines(logs, "bad");
  MESSAGE(committed.size() << " committed, " << finished.size() << " finished in " << secs << " s");
  for (const auto& b : bad) FAIL_CHECK(b);
  std::set<std::string> c_set(committed.begin(), committed.end());
  CHECK(committed.size() == static_cast<std::size_t>(kWriters * kPerWriter));
  CHECK(c_set.size() == committed.size());  // ids unique across processes
  std::map<std::string, int> seen;
  for (const auto& id : finished) seen[id]++;
  for (const auto& [id, n] : seen) CHECK_MESSAGE(n == 1, id << " finished " << n << " times");
  for (const auto& id : committed) CHECK_MESSAGE(seen.count(id) == 1, id << " never finished");
  CHECK(seen.size() == c_set.size());
  for (const char* d : {"tmp", "data", "new", "active", "deferred", "hold", "failed", "corrupt"})
    CHECK_MESSAGE(t.count(d) == 0, d << "/ not empty");
}
