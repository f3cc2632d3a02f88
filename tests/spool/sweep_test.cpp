// Unit tests for Spool::sweep and quarantine: abandoned claims come back,
// live claims stay, due deferred entries return, orphans go after the grace
// period, unreadable envelopes (truncated, empty, garbage, wrong version)
// are quarantined with a reason and never crash anything or get deleted.
#include <doctest/doctest.h>
#include <fcntl.h>
#include <sys/stat.h>

#include "test_util.hpp"

using namespace relay::spool;
using namespace relay::spool::test;

static std::string reason_of(TempSpool& t, const QueueId& id) {
  return slurp(t.in("corrupt", id, ".reason"));
}

TEST_CASE("sweep recovers abandoned claims and leaves live ones") {
  TempSpool t;
  QueueId dead = put(*t, "d"), live = put(*t, "l");
  { auto c = t->claim(dead); REQUIRE(c); }  // dropped without finishing = crashed owner
  auto c = t->claim(live);
  REQUIRE(c);
  SweepReport r = t->sweep({});
  CHECK(r.recovered_claims == 1);
  CHECK(t->list(State::New) == std::vector<QueueId>{dead});
  CHECK(t->list(State::Active) == std::vector<QueueId>{live});
  REQUIRE(r.log.size() == 1);
  CHECK(r.log[0].find(dead.str() + " event=sweep action=recover") == 0);
  CHECK(c->done().ok());
  CHECK(t->sweep({}).recovered_claims == 0);
}

TEST_CASE("sweep returns due deferred entries only") {
  TempSpool t;
  QueueId soon = put(*t, "s"), later = put(*t, "l");
  std::int64_t now = time(nullptr);
  for (auto [id, due] : {std::pair{soon, now + 60}, std::pair{later, now + 3600}}) {
    auto c = t->claim(id);
    REQUIRE(c);
    Envelope e = c->envelope();
    e.next_attempt = due;
    REQUIRE(c->defer(e).ok());
  }
  SweepReport r = t->sweep({});
  CHECK(r.due_deferred == 0);
  r = t->sweep({.now = now + 61});
  CHECK(r.due_deferred == 1);
  CHECK(t->list(State::New) == std::vector<QueueId>{soon});
  CHECK(t->list(State::Deferred) == std::vector<QueueId>{later});
  // The envelope is authoritative: a stale mtime hint does not requeue early.
  fs::last_write_time(t->path_of(State::Deferred, later), fs::file_time_type::clock::now() - std::chrono::hours(5));
  CHECK(t->sweep({.now = now + 61}).due_deferred == 0);
  CHECK(t->sweep({.now = now + 3601}).due_deferred == 1);
}

TEST_CASE("orphans are removed only after the grace period") {
  TempSpool t;
  QueueId keep = put(*t, "keep");
  spit(t.dir("tmp") / "0123456789ABCDEFGHJK.eml", "half-written");
  spit(t.dir("tmp") / "junk", "x");
  QueueId orphan = QueueId::generate();
  fs::create_directories(t->data_path(orphan).parent_path());
  spit(t->data_path(orphan), "no envelope anywhere");
  SweepReport r = t->sweep({.orphan_grace = 3600});
  CHECK(r.orphans_removed == 0);
  CHECK(t.count("tmp") == 2);
  // An old mtime alone does not make a file an orphan: its ctime (set by
  // the rename that put it there, or by this utime) must be old too.
  age_file(t.dir("tmp") / "junk", 7200);
  age_file(t->data_path(orphan), 7200);
  CHECK(t->sweep({.orphan_grace = 3600}).orphans_removed == 0);
  const std::int64_t now = time(nullptr);
  r = t->sweep({.now = now + 1800, .orphan_grace = 3600});
  CHECK(r.orphans_removed == 0);
  r = t->sweep({.now = now + 7200, .orphan_grace = 3600});
  CHECK(r.orphans_removed == 3);
  CHECK(t.count("tmp") == 0);
  CHECK_FALSE(fs::exists(t->data_path(orphan)));
  // Committed entries are never orphans, whatever their age.
  age_file(t->data_path(keep), 7200);
  CHECK(t->sweep({.orphan_grace = 0}).orphans_removed == 0);
  CHECK(fs::exists(t->data_path(keep)));
  // Data whose envelope is mid-commit (still in tmp/) is not an orphan
  // either, until the tmp envelope itself expires.
  Status st;
  auto e = t->create(sample_envelope(), &st);
  REQUIRE(e);
  REQUIRE(e->prepare().ok());
  fs::rename(t.dir("tmp") / (e->id().str() + ".eml"), t->data_path(e->id()));
  CHECK(t->sweep({.orphan_grace = 3600}).orphans_removed == 0);
  CHECK(fs::exists(t->data_path(e->id())));
}

TEST_CASE("a recycled file just renamed into tmp/ is not an orphan, however old its mtime") {
  // The moment between take_recycled's rename and the first write: the
  // inode kept the mtime it had in recycle/ (here 2001). The sweep must not
  // unlink it under the receiver that is about to write the message.
  TempSpool t;
  const fs::path in_recycle = t.dir("recycle") / "old", in_tmp = t.dir("tmp") / "0123456789ABCDEFGHJK.eml";
  std::ofstream(in_recycle) << "a finished message";
  struct timespec old_times[2] = {{1000000000, 0}, {1000000000, 0}};
  REQUIRE(::utimensat(AT_FDCWD, in_recycle.c_str(), old_times, 0) == 0);
  fs::rename(in_recycle, in_tmp);
  SweepReport r = t->sweep({.orphan_grace = 3600});
  CHECK(r.orphans_removed == 0);
  CHECK(fs::exists(in_tmp));
  // The same for a data file a commit has just renamed into data/.
  QueueId id = QueueId::generate();
  const fs::path d = t->data_path(id);
  fs::create_directories(d.parent_path());
  std::ofstream(t.dir("tmp") / "x") << "data";
  REQUIRE(::utimensat(AT_FDCWD, (t.dir("tmp") / "x").c_str(), old_times, 0) == 0);
  fs::rename(t.dir("tmp") / "x", d);
  CHECK(t->sweep({.orphan_grace = 3600}).orphans_removed == 0);
  CHECK(fs::exists(d));
}

TEST_CASE("failed entries expire only when failed_keep is set") {
  TempSpool t;
  QueueId id = put(*t, "f");
  auto c = t->claim(id);
  REQUIRE(c);
  REQUIRE(c->fail(c->envelope()).ok());
  std::int64_t now = time(nullptr);
  CHECK(t->sweep({.now = now + 86400 * 30}).expired_failed == 0);  // keep forever by default
  CHECK(t->sweep({.now = now + 100, .failed_keep = 3600}).expired_failed == 0);
  CHECK(t->sweep({.now = now + 7200, .failed_keep = 3600}).expired_failed == 1);
  CHECK(t.count("failed") == 0);
  CHECK(t.count("data") == 0);
}

TEST_CASE("unreadable envelopes are quarantined with a reason, never deleted") {
  TempSpool t;
  std::string good = serialize(sample_envelope());
  struct Case {
    const char* name;
    std::string bytes;
    const char* reason;
  };
  std::vector<Case> cases = {
      {"empty", "", "empty file"},
      {"truncated", good.substr(0, good.size() / 2), "truncated"},
      {"garbage", std::string("\x89PNG\r\n\x1a\n\0\0", 10), "not an envelope"},
      {"wrong version", "relay-envelope 2\nid: x\nend 00000000\n", "unsupported version 2"},
      {"bit flip", good.substr(0, 30) + "U" + good.substr(31), "checksum mismatch"},
  };
  for (State where : {State::New, State::Deferred}) {
    for (const auto& cs : cases) {
      CAPTURE(cs.name);
      CAPTURE(dir_name(where));
      QueueId id = put(*t, "data");
      if (where == State::Deferred) {
        auto c = t->claim(id);
        REQUIRE(c);
        REQUIRE(c->defer(c->envelope()).ok());
      }
      spit(t->path_of(where, id), cs.bytes);
      std::string err;
      if (where == State::New) {
        CHECK_FALSE(t->claim(id, &err));
        CHECK(err.find(cs.reason) != std::string::npos);
      } else {
        SweepReport r = t->sweep({});
        CHECK(r.quarantined == 1);
      }
      CHECK(t->list(State::Corrupt).back() == id);
      CHECK(reason_of(t, id).find(cs.reason) != std::string::npos);
      // A claim renames new/ -> active/ before it can read the envelope.
      std::string from = where == State::New ? "from: active" : "from: deferred";
      CHECK(reason_of(t, id).find(from) != std::string::npos);
      CHECK(fs::exists(t->data_path(id)));  // evidence kept
      CHECK(slurp(t->path_of(State::Corrupt, id)) == cs.bytes);
      auto info = t->find(id);
      REQUIRE(info);
      CHECK(info->state == State::Corrupt);
      CHECK_FALSE(info->envelope);
      CHECK(info->error.find(cs.reason) != std::string::npos);
    }
  }
  // Sweeps never delete quarantined entries or their data.
  std::size_t n = t.count("corrupt");
  SweepReport r = t->sweep({.now = time(nullptr) + 86400 * 365, .orphan_grace = 0, .failed_keep = 1});
  CHECK(r.orphans_removed == 0);
  CHECK(t.count("corrupt") == n);
  CHECK(t.count("data") == n / 2);
  // An operator can still remove one explicitly.
  QueueId first = t->list(State::Corrupt).front();
  CHECK(t->remove(first).ok());
  CHECK_FALSE(fs::exists(t.in("corrupt", first, ".reason")));
}

TEST_CASE("envelope/data mismatches and missing data are quarantined") {
  TempSpool t;
  QueueId id = put(*t, "twelve bytes");
  spit(t->data_path(id), "short");  // data damaged behind the spool's back
  std::string err;
  CHECK_FALSE(t->claim(id, &err));
  CHECK(err.find("differs from envelope size") != std::string::npos);
  CHECK(t->list(State::Corrupt) == std::vector<QueueId>{id});

  QueueId lost = put(*t, "x");
  fs::remove(t->data_path(lost));
  CHECK_FALSE(t->claim(lost, &err));
  CHECK(err == "data file missing");
  CHECK(reason_of(t, lost).find("data file missing") != std::string::npos);

  QueueId renamed = put(*t, "y");  // envelope names another id
  Envelope e = sample_envelope();
  e.size = 1;
  e.data_crc32 = crc32("y");
  spit(t->path_of(State::New, renamed), serialize(e));
  CHECK_FALSE(t->claim(renamed, &err));
  CHECK(err == "envelope id differs from file name");

  QueueId q = put(*t, "z");  // explicit operator quarantine
  CHECK(t->quarantine(State::New, q, "operator\nsaid so").ok());
  CHECK(reason_of(t, q).find("reason: operator said so\n") == 0);
  CHECK_FALSE(t->quarantine(State::Corrupt, q, "again").ok());
}
