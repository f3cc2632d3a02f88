// Unit tests for relay::spool::Spool: receiving (create/append/prepare/
// commit, rollback), claiming (claim/update/defer/fail/release/done, lost
// races) and the operator's moves (list/scan/find/hold/release/requeue/remove).
#include <doctest/doctest.h>
#include <fcntl.h>
#include <sys/file.h>

#include <chrono>
#include <set>
#include <thread>
#include <stdexcept>
#include <future>

#include "spool/file_util.hpp"
#include "spool/group_commit.hpp"
#include "test_util.hpp"

using namespace relay::spool;
using namespace relay::spool::test;

TEST_CASE("open creates the tree and refuses a file as root") {
  TempSpool t;
  for (const char* d : {"tmp", "data", "new", "active", "deferred", "hold", "failed", "corrupt"})
    CHECK(fs::is_directory(t.dir(d)));
  spit(t.root / "file", "x");
  std::string err;
  CHECK_FALSE(Spool::open(t.root / "file", &err));
  CHECK(!err.empty());
  CHECK(Spool::open(t.root / "spool", &err));  // reopening an existing tree works
}

TEST_CASE("commit makes data and envelope visible, with size and crc") {
  TempSpool t;
  std::mt19937_64 rng(1);
  std::string data = random_bytes(rng, 700000);  // larger than the write buffer
  Status st;
  auto e = t->create(sample_envelope(), &st);
  REQUIRE(e);
  for (std::size_t off = 0; off < data.size(); off += 1000) CHECK(e->append(std::string_view(data).substr(off, 1000)).ok());
  CHECK(e->size() == data.size());
  CHECK(t.count("tmp") == 1);
  REQUIRE(e->prepare().ok());
  CHECK(t.count("tmp") == 2);
  CHECK(t.count("new") == 0);  // not visible before commit
  REQUIRE(t->commit(*e).ok());
  CHECK(e->committed());
  CHECK(t.count("tmp") == 0);
  CHECK(slurp(t->data_path(e->id())) == data);
  auto r = parse(slurp(t->path_of(State::New, e->id())));
  REQUIRE(r.envelope);
  CHECK(r.envelope->size == data.size());
  CHECK(r.envelope->data_crc32 == crc32(data));
  CHECK(t->list(State::New) == std::vector<QueueId>{e->id()});
}

TEST_CASE("rollback on destruction, at every stage") {
  TempSpool t;
  {
    Status st;
    auto e = t->create(sample_envelope(), &st);
    REQUIRE(e);
    CHECK(e->append("partial").ok());
  }
  CHECK(t.count("tmp") == 0);
  {
    Status st;
    auto e = t->create(sample_envelope(), &st);
    REQUIRE(e);
    CHECK(e->append("whole").ok());
    CHECK(e->prepare().ok());
    NewEntry moved = std::move(*e);  // the moved-from object must not roll back the new owner
    e.reset();
    CHECK(t.count("tmp") == 2);
  }
  CHECK(t.count("tmp") == 0);
  CHECK(t.count("new") == 0);
  CHECK(t.count("data") == 0);
  // A committed entry survives its NewEntry.
  QueueId id = put(*t, "kept");
  CHECK(fs::exists(t->path_of(State::New, id)));
  CHECK(fs::exists(t->data_path(id)));
}

TEST_CASE("commit errors: unprepared entries, duplicate ids") {
  TempSpool t;
  Status st;
  auto e = t->create(sample_envelope(), &st);
  REQUIRE(e);
  CHECK_FALSE(t->commit(*e).ok());                     // not prepared
  CHECK(e->prepare().ok());
  CHECK_FALSE(e->append("late").ok());                 // append after prepare
  CHECK(t->commit(*e).ok());
  CHECK_FALSE(t->commit(*e).ok());                     // twice
  Envelope dup = sample_envelope();
  dup.id = e->id();
  auto d = t->create(dup, &st);                        // same id again: data/ is never overwritten
  REQUIRE(d);
  CHECK(d->append("other").ok());
  CHECK(d->prepare().ok());
  Status c = t->commit(*d);
  CHECK_FALSE(c.ok());
  CHECK(c.err == EEXIST);
  d.reset();
  CHECK(slurp(t->data_path(e->id())).empty());  // the first entry's (empty) data is intact
  CHECK(t.count("tmp") == 0);
}

TEST_CASE("filesystem sync mode: a syncfs error seen since an entry was started refuses it") {
  // syncfs reports a writeback error to one caller only; an entry written
  // before some other batch consumed that report must not be trusted.
  TempSpool t(SyncMode::Filesystem);
  Status st;
  auto before = t->create(sample_envelope(), &st);
  REQUIRE(before);
  CHECK(before->append("written before the error\r\n").ok());
  REQUIRE(before->prepare().ok());
  relay::spool::detail::note_sync_error();  // what a failed syncfs in another batch records
  auto after = t->create(sample_envelope(), &st);
  REQUIRE(after);
  CHECK(after->append("started after the error\r\n").ok());
  REQUIRE(after->prepare().ok());
  std::vector<NewEntry*> ptrs{&*before, &*after};
  auto res = t->commit(ptrs);
  CHECK_FALSE(res[0].ok());
  CHECK(res[0].message.find("syncfs") != std::string::npos);
  CHECK(res[1].ok());
  CHECK_FALSE(before->committed());
  CHECK(after->committed());
  CHECK(t.count("new") == 1);   // only the later entry is published
  CHECK(t.count("data") == 1);
  before.reset();
  CHECK(t.count("tmp") == 0);   // the refused one is rolled back, not half-kept
}

TEST_CASE("filesystem sync mode: same visibility and content as per-file sync") {
  TempSpool t(SyncMode::Filesystem);
  std::vector<NewEntry> entries;
  for (int i = 0; i < 3; ++i) {
    Status st;
    auto e = t->create(sample_envelope(), &st);
    REQUIRE(e);
    CHECK(e->append("body " + std::to_string(i) + "\r\n").ok());
    REQUIRE(e->prepare().ok());
    entries.push_back(std::move(*e));
  }
  CHECK(t.count("new") == 0);  // nothing published before the commit
  std::vector<NewEntry*> ptrs;
  for (auto& e : entries) ptrs.push_back(&e);
  for (const Status& st : t->commit(ptrs)) CHECK(st.ok());
  CHECK(t.count("tmp") == 0);
  CHECK(t.count("new") == 3);
  for (auto& e : entries) {
    auto claim = t->claim(e.id());
    REQUIRE(claim);
    CHECK(claim->envelope().size == e.size());
    CHECK(claim->done().ok());
  }
}

TEST_CASE("batch commit and group commit across threads") {
  TempSpool t;
  std::vector<NewEntry> entries;
  for (int i = 0; i < 5; ++i) {
    Status st;
    auto e = t->create(sample_envelope(), &st);
    REQUIRE(e);
    CHECK(e->append("message " + std::to_string(i)).ok());
    if (i != 2) CHECK(e->prepare().ok());  // entry 2 is not prepared: fails alone
    entries.push_back(std::move(*e));
  }
  std::vector<NewEntry*> ptrs;
  for (auto& e : entries) ptrs.push_back(&e);
  auto res = t->commit(ptrs);
  REQUIRE(res.size() == 5);
  for (int i = 0; i < 5; ++i) CHECK(res[static_cast<std::size_t>(i)].ok() == (i != 2));
  CHECK(t.count("new") == 4);

  GroupCommit gc(*t);
  std::vector<std::thread> th;
  std::atomic<int> ok{0};
  for (int i = 0; i < 8; ++i)
    th.emplace_back([&] {
      for (int k = 0; k < 10; ++k) {
        Status st;
        auto e = t->create(sample_envelope(), &st);
        if (!e || !e->append("x").ok() || !e->prepare().ok()) continue;
        if (gc.commit(*e).ok() && e->committed()) ++ok;
      }
    });
  for (auto& x : th) x.join();
  CHECK(ok == 80);
  CHECK(gc.entries() == 80);
  CHECK(gc.batches() <= 80);
  CHECK(t.count("new") == 84);
}

TEST_CASE("group commit: a leader that throws fails its batch and hands leadership on") {
  TempSpool t;
  std::atomic<int> calls{0};
  const Spool sp = *t;
  GroupCommit gc(*t, [&](std::span<NewEntry* const> batch) -> std::vector<Status> {
    if (calls++ == 0) {
      std::this_thread::sleep_for(std::chrono::milliseconds(100));  // let the others queue up
      throw std::runtime_error("injected");
    }
    return sp.commit(batch);
  });
  std::atomic<int> ok{0}, injected{0}, other{0};
  auto worker = [&] {
    for (int k = 0; k < 5; ++k) {
      Status st;
      auto e = t->create(sample_envelope(), &st);
      if (!e || !e->append("x").ok() || !e->prepare().ok()) continue;
      Status r = gc.commit(*e);
      if (r.ok() && e->committed()) ++ok;
      else if (r.err == EIO && r.message == "group commit: injected" && !e->committed()) ++injected;
      else ++other;
    }
  };
  auto all = std::async(std::launch::async, [&] {
    std::vector<std::thread> th;
    for (int i = 0; i < 4; ++i) th.emplace_back(worker);
    for (auto& x : th) x.join();
  });
  if (all.wait_for(std::chrono::seconds(20)) != std::future_status::ready) {
    FAIL_CHECK("group commit hung after a throwing leader");
    std::_Exit(1);  // the stuck threads cannot be joined
  }
  CHECK(injected >= 1);
  CHECK(other == 0);
  CHECK(ok + injected == 20);
  CHECK(t.count("new") == static_cast<std::size_t>(ok.load()));
  CHECK(calls >= 2);
}

TEST_CASE("claim: exactly one owner; lost races return nullopt") {
  TempSpool t;
  QueueId id = put(*t, "hello");
  auto c1 = t->claim(id);
  REQUIRE(c1);
  CHECK(c1->envelope().id == id);
  CHECK(fs::exists(t->path_of(State::Active, id)));
  std::string err = "unchanged";
  CHECK_FALSE(t->claim(id, &err));  // locked (flock is per open file, so this races like another process)
  CHECK(err.empty());               // losing is not an error
  // The data fd is the locked data file and is readable.
  char buf[8] = {};
  CHECK(pread(c1->data_fd(), buf, sizeof buf, 0) == 5);
  CHECK(std::string(buf) == "hello");
  CHECK(c1->data_path() == t->data_path(id));
  CHECK(c1->done().ok());
  CHECK_FALSE(t->claim(id));  // gone
  CHECK(t.count("data") == 0);
  CHECK(t.count("active") == 0);

  // A racer that opened the data file before the owner finished and locks
  // afterwards must see the entry as gone (lock on an unlinked inode).
  QueueId id2 = put(*t, "x");
  int early = open(t->data_path(id2).c_str(), O_RDONLY);
  REQUIRE(early >= 0);
  auto c2 = t->claim(id2);
  REQUIRE(c2);
  CHECK(c2->done().ok());
  CHECK(flock(early, LOCK_EX | LOCK_NB) == 0);  // it can lock the dead inode...
  close(early);
  CHECK_FALSE(t->claim(id2));  // ...but claim checks the link count

  // Unknown id.
  CHECK_FALSE(t->claim(QueueId::generate()));
}

TEST_CASE("claim: update, defer, fail, release") {
  TempSpool t;
  QueueId id = put(*t, "body");
  auto c = t->claim(id);
  REQUIRE(c);
  Envelope env = c->envelope();
  env.rcpts[0].state = RcptState::Sent;
  env.rcpts[0].last_reply = "250 ok";
  env.size = 999;  // ignored: size/crc describe the immutable data file
  CHECK(c->update(env).ok());
  auto f = t->find(id);
  REQUIRE(f);
  CHECK(f->state == State::Active);
  CHECK(f->locked);
  REQUIRE(f->envelope);
  CHECK(f->envelope->rcpts[0].state == RcptState::Sent);
  CHECK(f->envelope->size == 4);
  Envelope other = env;
  other.id = QueueId::generate();
  CHECK_FALSE(c->update(other).ok());

  env.attempts = 1;
  env.next_attempt = time(nullptr) + 600;
  env.last_error = "451 4.4.1 timeout";
  CHECK(c->defer(env).ok());
  CHECK(c->finished());
  CHECK_FALSE(c->done().ok());  // finished claims refuse further moves
  CHECK(t->list(State::Deferred) == std::vector<QueueId>{id});
  // mtime carries the due time (the sweeper's hint).
  struct stat st;
  REQUIRE(stat(t->path_of(State::Deferred, id).c_str(), &st) == 0);
  CHECK(st.st_mtime == env.next_attempt);
  CHECK(t.count("tmp") == 0);

  CHECK(t->requeue(id).ok());
  auto c2 = t->claim(id);
  REQUIRE(c2);
  CHECK(c2->envelope().next_attempt == 0);
  CHECK(c2->envelope().rcpts[0].state == RcptState::Sent);  // partial success survives
  CHECK(c2->release().ok());
  CHECK(t->list(State::New) == std::vector<QueueId>{id});
  auto c3 = t->claim(id);
  REQUIRE(c3);
  Envelope fe = c3->envelope();
  fe.rcpts[1].state = RcptState::Failed;
  CHECK(c3->fail(fe).ok());
  CHECK(t->list(State::Failed) == std::vector<QueueId>{id});
  CHECK(fs::exists(t->data_path(id)));  // dead letters keep their data
}

TEST_CASE("operator moves: hold, release, requeue, remove, scan, find") {
  TempSpool t;
  QueueId a = put(*t, "a"), b = put(*t, "b");
  CHECK(t->hold(a).ok());
  CHECK(t->list(State::Hold) == std::vector<QueueId>{a});
  CHECK_FALSE(t->hold(a).ok());      // already held
  CHECK_FALSE(t->claim(a));          // held entries are not claimable
  CHECK_FALSE(t->requeue(a).ok());   // not deferred/failed
  CHECK(t->release(a).ok());
  CHECK_FALSE(t->release(a).ok());
  CHECK(t->list(State::New) == std::vector<QueueId>{a, b});  // oldest first

  auto cb = t->claim(b);
  REQUIRE(cb);
  Status busy = t->hold(b);
  CHECK(busy.err == EBUSY);          // lock held by the claim
  CHECK(t->remove(b).err == EBUSY);
  auto active = t->scan(State::Active);
  REQUIRE(active.size() == 1);
  CHECK(active[0].locked);
  cb.reset();                        // owner gone: lock free, entry still active
  CHECK(t->remove(b).err == EBUSY);  // active entries are the sweeper's business
  active = t->scan(State::Active);
  REQUIRE(active.size() == 1);
  CHECK_FALSE(active[0].locked);

  auto ca = t->claim(a);
  REQUIRE(ca);
  Envelope e = ca->envelope();
  e.rcpts[0].state = RcptState::Failed;
  e.rcpts[1].state = RcptState::Sent;
  REQUIRE(ca->fail(e).ok());
  CHECK(t->requeue(a).ok());  // failed -> new, failed recipients pending again
  auto fa = t->find(a);
  REQUIRE(fa);
  CHECK(fa->state == State::New);
  REQUIRE(fa->envelope);
  CHECK(fa->envelope->rcpts[0].state == RcptState::Pending);
  CHECK(fa->envelope->rcpts[1].state == RcptState::Sent);

  CHECK(t->remove(a).ok());
  CHECK_FALSE(t->find(a));
  CHECK_FALSE(fs::exists(t->data_path(a)));
  CHECK(t->remove(a).err == ENOENT);
  CHECK_FALSE(t->find(QueueId::generate()));
}

TEST_CASE("recycle: done() keeps the inodes, create() reuses them, a shorter message is stored exactly") {
  TempSpool t;
  QueueId a = put(*t, std::string(5000, 'A') + "\r\n");
  {
    auto c = t->claim(a);
    REQUIRE(c);
    REQUIRE(c->done().ok());
  }
  CHECK(t.count("recycle") == 2);  // data and envelope
  CHECK(t.count("data") == 0);
  CHECK(t.count("active") == 0);
  std::set<ino_t> recycled;
  for (const auto& de : fs::directory_iterator(t.dir("recycle"))) {
    struct stat st{};
    REQUIRE(::stat(de.path().c_str(), &st) == 0);
    recycled.insert(st.st_ino);
  }
  const std::string body = "short\r\n";
  // A process lists recycle/ at most every 200 ms while it finds it empty
  // (put(a) just did): wait that out, as a receiver would.
  std::this_thread::sleep_for(std::chrono::milliseconds(250));
  QueueId b = put(*t, body);
  CHECK(t.count("recycle") == 0);  // both files of the new entry are old inodes
  struct stat st{};
  REQUIRE(::stat(t->data_path(b).c_str(), &st) == 0);
  CHECK(recycled.count(st.st_ino) == 1);
  REQUIRE(::stat(t->path_of(State::New, b).c_str(), &st) == 0);
  CHECK(recycled.count(st.st_ino) == 1);
  CHECK(slurp(t->data_path(b)) == body);  // nothing of the 5,000 A's is left
  auto c = t->claim(b);                   // parses the envelope, checks its own CRC line
  REQUIRE(c);
  CHECK(c->envelope().size == body.size());
  CHECK(c->envelope().data_crc32 == crc32(body));
  CHECK(slurp(t->path_of(State::Active, b)).find("AAAA") == std::string::npos);
}

TEST_CASE("recycle: big data files are unlinked, and the sweep trims recycle/") {
  TempSpool t;
  QueueId big = put(*t, std::string(2 * 1024 * 1024, 'x'));
  {
    auto c = t->claim(big);
    REQUIRE(c);
    REQUIRE(c->done().ok());
  }
  CHECK(t.count("recycle") == 1);  // only the envelope: 2 MB is not worth keeping
  for (int i = 0; i < 10; ++i) {
    std::ofstream(t.dir("recycle") / ("spare" + std::to_string(i))) << "old";
  }
  SweepOptions opt;
  opt.recycle_keep = 3;
  SweepReport r = t->sweep(opt);
  CHECK(r.recycle_trimmed == 8);
  CHECK(t.count("recycle") == 3);
}

TEST_CASE("recycle: a reused file is new to the orphan sweep") {
  TempSpool t;
  std::ofstream(t.dir("recycle") / "old") << "a finished message";
  struct timespec old_times[2] = {{1000000000, 0}, {1000000000, 0}};  // 2001
  REQUIRE(::utimensat(AT_FDCWD, (t.dir("recycle") / "old").c_str(), old_times, 0) == 0);
  Status st;
  auto e = t->create(sample_envelope(), &st);  // first listing of recycle/ in this process
  REQUIRE(e);
  CHECK(t.count("recycle") == 0);
  SweepOptions opt;
  opt.orphan_grace = 3600;
  (void)t->sweep(opt);
  CHECK(t.count("tmp") == 1);  // not taken for an hour-old orphan
  CHECK(e->append("new content\r\n").ok());
  REQUIRE(e->prepare().ok());
  REQUIRE(t->commit(*e).ok());
  CHECK(slurp(t->data_path(e->id())) == "new content\r\n");
}

TEST_CASE("recycle: only plain files with one name are reused") {
  TempSpool t;
  const fs::path outside = t.root / "outside.txt";
  std::ofstream(outside) << "must stay as it is";
  REQUIRE(::link(outside.c_str(), (t.dir("recycle") / "hardlink").c_str()) == 0);
  fs::create_symlink(outside, t.dir("recycle") / "symlink");
  REQUIRE(::mkfifo((t.dir("recycle") / "fifo").c_str(), 0600) == 0);
  Status st;
  auto e = t->create(sample_envelope(), &st);
  REQUIRE(e);
  CHECK(e->append("new message\r\n").ok());
  REQUIRE(e->prepare().ok());
  REQUIRE(t->commit(*e).ok());
  CHECK(slurp(outside) == "must stay as it is");
  CHECK(slurp(t->data_path(e->id())) == "new message\r\n");
  CHECK(t.count("recycle") == 0);  // the unusable ones were dropped on the way
  CHECK(t.count("tmp") == 0);
}

TEST_CASE("spool.sync auto: filesystem only for a spool directory that is a mount point") {
  TempSpool t;
  CHECK(is_mount_point("/"));
  CHECK_FALSE(is_mount_point(t.dir("new")));  // a plain directory
  CHECK_FALSE(is_mount_point(t.root / "does-not-exist"));
  CHECK(auto_sync_mode(t.dir("new")) == SyncMode::Files);
  CHECK(auto_sync_mode("/") == SyncMode::Filesystem);
  if (is_mount_point("/proc")) CHECK(auto_sync_mode("/proc") == SyncMode::Filesystem);
}
