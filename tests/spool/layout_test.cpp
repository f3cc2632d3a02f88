// Unit tests for the hashed spool layout (spool/layout.hpp): entries sit in
// a bucket chosen from their id's time, the same bucket in every state;
// listing merges the buckets; no directory grows with the backlog; claims
// race correctly inside buckets; orphans in buckets are found; a flat spool
// of the previous version is migrated at open (idempotent, crash-safe).
#include <doctest/doctest.h>
#include <sys/stat.h>

#include <algorithm>
#include <atomic>
#include <map>
#include <thread>

#include "spool/file_util.hpp"
#include "test_util.hpp"

using namespace relay::spool;
using namespace relay::spool::test;

namespace {

// An id whose time part is `millis` (the rest fixed but distinct per `n`).
QueueId id_at(std::int64_t millis, unsigned n = 0) {
  static constexpr char kAlphabet[] = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";
  std::uint64_t hi = static_cast<std::uint64_t>(millis) << 2, lo = n;
  std::string text(QueueId::kLength, '0');
  for (int i = 9; i >= 0; --i, hi >>= 5) text[static_cast<std::size_t>(i)] = kAlphabet[hi & 31];
  for (int i = 19; i >= 10; --i, lo >>= 5) text[static_cast<std::size_t>(i)] = kAlphabet[lo & 31];
  auto id = QueueId::parse(text);
  REQUIRE(id);
  REQUIRE(id->millis() == millis);
  return *id;
}

QueueId put_as(Spool& sp, const QueueId& id, std::string_view data) {
  Envelope env = sample_envelope();
  env.id = id;
  return put(sp, data, env);
}

// Many entries in one batch commit (the directory fsyncs are shared; each
// entry still fdatasyncs its two files).
std::vector<QueueId> put_many(Spool& sp, const std::vector<QueueId>& ids) {
  std::vector<NewEntry> entries;
  for (const auto& id : ids) {
    Envelope env = sample_envelope();
    env.id = id;
    Status st;
    auto e = sp.create(std::move(env), &st);
    REQUIRE_MESSAGE(e, st.message);
    REQUIRE(e->append("m\r\n").ok());
    REQUIRE(e->prepare().ok());
    entries.push_back(std::move(*e));
  }
  std::vector<NewEntry*> batch;
  for (auto& e : entries) batch.push_back(&e);
  for (const Status& st : sp.commit(batch)) REQUIRE_MESSAGE(st.ok(), st.message);
  return ids;
}

// The most files (not subdirectories) any one directory under `root` holds.
std::size_t largest_dir(const fs::path& root) {
  std::size_t most = 0;
  for (auto& e : fs::recursive_directory_iterator(root)) {
    if (!e.is_directory()) continue;
    std::size_t n = 0;
    for (auto& f : fs::directory_iterator(e.path())) n += f.is_directory() ? 0 : 1;
    most = std::max(most, n);
  }
  return most;
}

constexpr std::int64_t kT0 = 1764072000000 / 1024 * 1024;  // 2025-11-25, at the start of a bucket

}  // namespace

TEST_CASE("no spool directory grows with the backlog") {
  // 600 entries received over 10 minutes (one a second): a flat new/ and
  // data/ would hold 600 names each. Hashed, a bucket holds the entries
  // of one second per cycle of 256 (about 4.4 minutes). Filesystem sync:
  // 1,200 fdatasyncs took most of a minute on a busy disk.
  TempSpool t(SyncMode::Filesystem);
  std::vector<QueueId> ids;
  for (unsigned i = 0; i < 600; ++i) ids.push_back(id_at(kT0 + 1024 * static_cast<std::int64_t>(i), i));
  put_many(*t, ids);
  CHECK(t->list(State::New).size() == 600);
  CHECK(largest_dir(t.root) <= 3);
}

TEST_CASE("an entry keeps its bucket in every state; list merges buckets in id order") {
  TempSpool t;
  std::vector<QueueId> ids;
  for (unsigned i = 0; i < 40; ++i) ids.push_back(id_at(kT0 + 7919 * static_cast<std::int64_t>(39 - i), i));
  put_many(*t, ids);
  std::sort(ids.begin(), ids.end());
  CHECK(t->list(State::New) == ids);
  const QueueId& id = ids[5];
  const std::string bucket = detail::bucket_name(detail::bucket_index(id));
  CHECK(t->data_path(id) == t.dir("data") / bucket / (id.str() + ".eml"));
  CHECK(fs::exists(t.in("new", id, ".env")));
  auto c = t->claim(id);
  REQUIRE(c);
  CHECK(fs::exists(t.in("active", id, ".env")));
  CHECK(c->data_path() == t->data_path(id));
  Envelope e = c->envelope();
  e.next_attempt = ::time(nullptr) + 3600;
  REQUIRE(c->defer(e).ok());
  CHECK(fs::exists(t.in("deferred", id, ".env")));
  REQUIRE(t->hold(id).ok());
  CHECK(fs::exists(t.in("hold", id, ".env")));
  REQUIRE(t->release(id).ok());
  REQUIRE(t->quarantine(State::New, id, "test").ok());
  CHECK(fs::exists(t.in("corrupt", id, ".env")));
  CHECK(fs::exists(t.in("corrupt", id, ".reason")));
  CHECK(t->find(id)->state == State::Corrupt);
  REQUIRE(t->remove(id).ok());
  CHECK_FALSE(fs::exists(t.in("corrupt", id, ".reason")));
  CHECK_FALSE(fs::exists(t->data_path(id)));
  // Buckets are made when first used (every state dir has this one now);
  // tmp/ and recycle/ stay flat; a watcher gets all of new/'s.
  for (const char* d : {"data", "new", "active", "deferred", "hold", "corrupt"})
    CHECK(fs::is_directory(t.dir(d) / bucket));
  CHECK_FALSE(fs::exists(t.dir("failed") / bucket));
  CHECK(t.count("tmp") == 0);
  CHECK_FALSE(fs::exists(t.dir("new") / "00"));
  CHECK(t->watch_dirs(State::New).size() == static_cast<std::size_t>(detail::kBuckets));
  CHECK(t->watch_dirs(State::New)[0] == t.dir("new") / "00");
  CHECK(fs::is_directory(t.dir("new") / "00"));
  // Something named like a bucket that is not a directory is refused at open.
  fs::create_directory_symlink(t.root, t.dir("hold") / "7f");
  std::string err;
  CHECK_FALSE(Spool::open(t.root / "spool", &err));
  CHECK(err.find("hold/7f") != std::string::npos);
}

TEST_CASE("entries committed in the same second share a bucket (one directory fsync per batch)") {
  TempSpool t;
  QueueId a = id_at(kT0), b = id_at(kT0 + 1000, 1), c = id_at(kT0 + 1024, 2), d = id_at(kT0 + 2047, 3);
  CHECK(detail::bucket_index(a) == detail::bucket_index(b));
  CHECK(detail::bucket_index(c) == detail::bucket_index(d));
  CHECK(detail::bucket_index(a) != detail::bucket_index(c));
  CHECK(detail::bucket_index(id_at(kT0 + 1024 * 256)) == detail::bucket_index(a));  // the cycle
}

TEST_CASE("many threads using a bucket for the first time at once: every commit and claim succeeds") {
  // A bucket is made on first use; a thread whose rename failed because
  // it was missing must not take "someone else made it meanwhile" for
  // "my source is gone" (a spurious 451 for a commit, a skipped claim).
  for (int round = 0; round < 5; ++round) {
    TempSpool t;
    constexpr int kThreads = 8;
    std::vector<NewEntry> entries;
    for (int i = 0; i < kThreads; ++i) {
      Envelope env = sample_envelope();
      env.id = id_at(kT0 + 1024 * round, static_cast<unsigned>(i));
      Status st;
      auto e = t->create(std::move(env), &st);
      REQUIRE(e);
      REQUIRE(e->prepare().ok());
      entries.push_back(std::move(*e));
    }
    std::atomic<int> ready{0}, committed{0}, claimed{0};
    std::vector<std::thread> th;
    for (int i = 0; i < kThreads; ++i)
      th.emplace_back([&, i] {
        ++ready;
        while (ready.load() < kThreads) {
        }
        if (t->commit(entries[static_cast<std::size_t>(i)]).ok()) ++committed;
      });
    for (auto& x : th) x.join();
    CHECK(committed.load() == kThreads);
    th.clear();
    ready = 0;
    std::vector<QueueId> ids = t->list(State::New);
    for (int i = 0; i < kThreads; ++i)
      th.emplace_back([&, i] {
        ++ready;
        while (ready.load() < kThreads) {
        }
        if (auto c = t->claim(ids[static_cast<std::size_t>(i)])) ++claimed;
      });
    for (auto& x : th) x.join();
    CHECK(claimed.load() == kThreads);
  }
}

TEST_CASE("claim races inside buckets: exactly one winner per entry") {
  TempSpool t;
  std::vector<QueueId> ids;
  for (unsigned i = 0; i < 200; ++i) ids.push_back(id_at(kT0 + 333 * static_cast<std::int64_t>(i), i));
  put_many(*t, ids);
  std::map<std::string, std::atomic<int>> wins;
  for (const auto& id : ids) wins[id.str()] = 0;
  std::vector<std::thread> th;
  for (int k = 0; k < 6; ++k)
    th.emplace_back([&] {
      for (const auto& id : ids)
        if (auto c = t->claim(id)) {
          ++wins[id.str()];
          CHECK(c->done().ok());
        }
    });
  for (auto& x : th) x.join();
  for (auto& [id, n] : wins) CHECK_MESSAGE(n.load() == 1, id);
  CHECK(t.count("new") == 0);
  CHECK(t.count("active") == 0);
  CHECK(t.count("data") == 0);
}

TEST_CASE("orphans and abandoned claims are found inside buckets") {
  TempSpool t;
  QueueId keep = put_as(*t, id_at(kT0, 1), "keep"), dead = put_as(*t, id_at(kT0 + 5000, 2), "dead");
  QueueId orphan = id_at(kT0 + 90000, 3);
  fs::create_directories(t->data_path(orphan).parent_path());  // as a crashed commit left it
  spit(t->data_path(orphan), "no envelope anywhere");
  age_file(t->data_path(orphan), 7200);
  { auto c = t->claim(dead); REQUIRE(c); }  // dropped unfinished: its owner is "gone"
  const std::int64_t now = ::time(nullptr);
  SweepReport r = t->sweep({.now = now + 7200, .orphan_grace = 3600});
  CHECK(r.recovered_claims == 1);
  CHECK(r.orphans_removed == 1);
  CHECK_FALSE(fs::exists(t->data_path(orphan)));
  CHECK(fs::exists(t->data_path(keep)));
  CHECK(t->list(State::New) == std::vector<QueueId>{keep, dead});
}

TEST_CASE("read: many envelopes at once, in the order asked, an entry gone since listing is nullopt") {
  TempSpool t;
  // Enough entries for a reader thread to start (one per 512), over two
  // buckets; written as files (a commit's syncs would cost seconds here).
  std::vector<QueueId> ids;
  for (unsigned i = 0; i < 600; ++i) {
    ids.push_back(id_at(kT0 + 2 * static_cast<std::int64_t>(i), i));
    Envelope env = sample_envelope();
    env.id = ids.back();
    env.size = 3;
    env.data_crc32 = crc32("x\r\n");
    fs::create_directories(t.in("new", env.id, ".env").parent_path());
    fs::create_directories(t.in("data", env.id, ".eml").parent_path());
    spit(t.in("data", env.id, ".eml"), "x\r\n");
    spit(t.in("new", env.id, ".env"), serialize(env));
  }
  std::vector<QueueId> listed = t->list(State::New);
  REQUIRE(listed == ids);
  CHECK(t->remove(ids[500]).ok());       // finished since the listing
  CHECK(t->hold(ids[550]).ok());        // moved since the listing
  spit(t->path_of(State::New, ids[3]), "garbage");  // unreadable: listed with its error
  auto infos = t->read(State::New, listed);
  REQUIRE(infos.size() == listed.size());
  CHECK_FALSE(infos[500]);
  CHECK_FALSE(infos[550]);
  REQUIRE(infos[3]);
  CHECK_FALSE(infos[3]->envelope);
  CHECK_FALSE(infos[3]->error.empty());
  std::size_t good = 0;
  for (std::size_t i = 0; i < infos.size(); ++i) {
    if (!infos[i] || i == 3) continue;
    REQUIRE(infos[i]->envelope);
    CHECK(infos[i]->id == listed[i]);
    CHECK(infos[i]->envelope->id == listed[i]);
    ++good;
  }
  CHECK(good == 597);
  // A part of a listing (relayctl queue list --limit) reads only that part.
  auto first = t->read(State::New, std::span<const QueueId>(listed).first(2));
  REQUIRE(first.size() == 2);
  CHECK(first[1]->envelope->id == listed[1]);
  CHECK(t->scan(State::New).size() == 598);  // the moved and the finished entry are not listed
}
