// Crash test (ctest: spool_crash): writers and claimers are killed with
// SIGKILL at random moments, round after round. Writers log an id (fsync'd)
// only after commit() returned; claimers log an id (fsync'd) before done().
// Afterwards one sweep (grace 0) must recover every abandoned claim and
// clean all garbage; every logged id must be in new/ or finished; nothing
// half-written may ever be visible in new/. Test suite "crash" (skipped in
// the plain unit run).
#include <doctest/doctest.h>

#include <algorithm>

#include "proc_util.hpp"

using namespace relay::spool;
using namespace relay::spool::test;

namespace {

constexpr int kRounds = 20;

[[noreturn]] void writer(const fs::path& root, const fs::path& logs) {
  std::string err;
  auto sp = Spool::open(root, &err);
  if (!sp) _exit(10);
  std::mt19937_64 rng(static_cast<std::uint64_t>(getpid()) ^ static_cast<std::uint64_t>(time(nullptr)));
  LineLog log(logs / ("w" + std::to_string(getpid())), true);
  for (;;) {
    std::vector<NewEntry> entries;
    int batch = 1 + static_cast<int>(rng() % 4);
    for (int i = 0; i < batch; ++i) {
      Status st;
      auto e = sp->create(sample_envelope(), &st);
      if (!e) _exit(11);
      std::string data = random_bytes(rng, rng() % 65536);
      // Several appends, so a kill can land between them.
      for (std::size_t off = 0; off < data.size(); off += 20000)
        if (!e->append(std::string_view(data).substr(off, 20000)).ok()) _exit(12);
      if (!e->prepare().ok()) _exit(12);
      entries.push_back(std::move(*e));
    }
    std::vector<NewEntry*> ptrs;
    for (auto& e : entries) ptrs.push_back(&e);
    auto res = sp->commit(ptrs);
    for (std::size_t i = 0; i < res.size(); ++i)
      if (res[i].ok()) log.append(entries[i].id().str());
  }
}

[[noreturn]] void claimer(const fs::path& root, const fs::path& logs) {
  std::string err;
  auto sp = Spool::open(root, &err);
  if (!sp) _exit(20);
  std::mt19937_64 rng(static_cast<std::uint64_t>(getpid()) * 7919);
  LineLog done_log(logs / ("c" + std::to_string(getpid())), true);
  LineLog bad(logs / ("bad" + std::to_string(getpid())), true);
  for (;;) {
    auto ids = sp->list(State::New);
    if (ids.empty()) {
      (void)sp->sweep({.orphan_grace = 3600});  // live writers' tmp files must survive
      usleep(1000);
      continue;
    }
    std::shuffle(ids.begin(), ids.end(), rng);
    for (const QueueId& id : ids) {
      auto c = sp->claim(id, &err);
      if (!c) {
        if (!err.empty()) bad.append(id.str() + " claim error: " + err);
        continue;
      }
      if (std::string why = verify_data(c->data_fd(), c->envelope()); !why.empty())
        bad.append(id.str() + " half-written: " + why);
      usleep(static_cast<useconds_t>(rng() % 4000));  // "delivering": kills land mid-claim
      switch (rng() % 10) {
        case 0: (void)c->release(); break;
        case 1: {
          Envelope e = c->envelope();
          e.next_attempt = 0;
          (void)c->defer(e);
          break;
        }
        case 2: c.reset(); break;  // abandon without finishing (the sweeper's job)
        default:
          done_log.append(id.str());  // the outcome is recorded before removal
          (void)c->done();
      }
    }
  }
}

void check_new_is_whole(TempSpool& t) {
  for (const QueueId& id : t->list(State::New)) {
    std::string bytes = slurp(t->path_of(State::New, id));
    if (bytes.empty() && !fs::exists(t->path_of(State::New, id))) continue;  // raced nothing: all dead
    ParseResult r = parse(bytes);
    REQUIRE_MESSAGE(r.envelope, id.str() << " in new/ is unreadable: " << r.error.reason);
    std::string data = slurp(t->data_path(id));
    CHECK_MESSAGE(data.size() == r.envelope->size, id.str() << " data size differs");
    CHECK_MESSAGE(crc32(data) == r.envelope->data_crc32, id.str() << " data crc differs");
  }
}

}  // namespace

TEST_CASE("crash: SIGKILLed writers and claimers lose nothing and expose nothing half-written" *
          doctest::test_suite("crash") * doctest::skip()) {
  TempSpool t;
  fs::path root = t.root / "spool", logs = t.root / "logs";
  fs::create_directories(logs);
  std::mt19937 rng(static_cast<unsigned>(time(nullptr)));
  int recovered = 0;
  for (int round = 0; round < kRounds; ++round) {
    std::vector<pid_t> kids;
    for (int i = 0; i < 2; ++i) kids.push_back(spawn([&]() -> int { writer(root, logs); }));
    for (int i = 0; i < 2; ++i) kids.push_back(spawn([&]() -> int { claimer(root, logs); }));
    std::this_thread::sleep_for(std::chrono::milliseconds(40 + rng() % 160));
    std::shuffle(kids.begin(), kids.end(), rng);
    for (pid_t p : kids) {  // each at its own random moment
      kill(p, SIGKILL);
      std::this_thread::sleep_for(std::chrono::microseconds(rng() % 15000));
    }
    for (pid_t p : kids) {
      int status = 0;
      REQUIRE(waitpid(p, &status, 0) == p);
      CHECK_MESSAGE((WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL), "a worker exited early: " << status);
    }
    check_new_is_whole(t);  // all processes dead: new/ must be whole right now
    if (round + 1 < kRounds) {
      // Recover the dead claimers' entries now (grace 1 h: tmp/ garbage
      // stays for the final sweep); the last round's are left to it.
      std::size_t active = t.count("active");
      SweepReport r = t->sweep({.orphan_grace = 3600});
      CHECK(r.recovered_claims == static_cast<int>(active));
      CHECK(t.count("active") == 0);
      recovered += r.recovered_claims;
    }
  }
  std::size_t garbage = t.count("tmp"), active = t.count("active");
  SweepReport r = t->sweep({.orphan_grace = 0});
  MESSAGE("after " << kRounds << " rounds: tmp files " << garbage << ", active " << active
                   << "; sweep recovered " << r.recovered_claims << ", removed " << r.orphans_removed
                   << " orphans, requeued " << r.due_deferred << " deferred");
  CHECK(r.recovered_claims == static_cast<int>(active));
  CHECK(r.quarantined == 0);
  recovered += r.recovered_claims;
  MESSAGE(recovered << " abandoned claims recovered in all");
  CHECK(recovered > 0);  // the kills did land mid-claim
  for (const char* d : {"tmp", "active", "deferred", "hold", "failed", "corrupt"})
    CHECK_MESSAGE(t.count(d) == 0, d << "/ not empty after the sweep");
  for (const auto& b : read_lines(logs, "bad")) FAIL_CHECK(b);

  std::vector<std::string> committed = read_lines(logs, "w"), finished = read_lines(logs, "c");
  std::set<std::string> in_new, fin(finished.begin(), finished.end()), in_data;
  for (const QueueId& id : t->list(State::New)) in_new.insert(id.str());
  for (auto& e : fs::recursive_directory_iterator(t.dir("data")))
    if (!e.is_directory()) in_data.insert(e.path().stem().string());
  MESSAGE(committed.size() << " committed, " << finished.size() << " finished, " << in_new.size() << " still queued");
  CHECK(committed.size() > 0);
  for (const auto& id : committed)
    CHECK_MESSAGE((in_new.count(id) || fin.count(id)), id << " committed but lost");
  CHECK(in_data == in_new);  // no orphan data, no envelope without data
  check_new_is_whole(t);

  // What is left is fully usable: drain it.
  for (const QueueId& id : t->list(State::New)) {
    auto c = t->claim(id);
    REQUIRE(c);
    CHECK(verify_data(c->data_fd(), c->envelope()).empty());
    CHECK(c->done().ok());
  }
  CHECK(t.count("data") == 0);
  CHECK(t.count("new") == 0);
}
