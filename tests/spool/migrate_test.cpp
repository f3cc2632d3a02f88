// Unit tests for the migration of a flat spool (the previous version's
// layout: <state>/<id>.env, data/<id>.eml, corrupt/<id>.reason directly in
// the directories) into the hashed layout, at open and by the sweep.
#include <doctest/doctest.h>
#include <fcntl.h>
#include <sys/stat.h>

#include <algorithm>

#include "spool/control.hpp"
#include "spool/file_util.hpp"
#include "spool/refusal_summary.hpp"
#include "test_util.hpp"

using namespace relay::spool;
using namespace relay::spool::test;

namespace {

// A spool tree exactly as the previous version left it: flat directories.
struct FlatSpool {
  fs::path root;
  explicit FlatSpool(const fs::path& r) : root(r) {
    for (const char* d : {"tmp", "data", "new", "active", "deferred", "hold", "failed", "corrupt", "recycle"})
      fs::create_directories(root / d);
  }
  // One entry in `state`, written the way the old spool wrote it.
  QueueId add(const char* state, std::string_view data, std::int64_t mtime = 0) {
    Envelope env = sample_envelope();
    env.size = data.size();
    env.data_crc32 = crc32(data);
    spit(root / "data" / (env.id.str() + ".eml"), data);
    const fs::path p = root / state / (env.id.str() + ".env");
    spit(p, serialize(env));
    if (mtime != 0) {
      struct timespec ts[2] = {{mtime, 0}, {mtime, 0}};
      REQUIRE(::utimensat(AT_FDCWD, p.c_str(), ts, 0) == 0);
    }
    return env.id;
  }
  std::size_t flat_files() const {
    std::size_t n = 0;
    for (const char* d : {"data", "new", "active", "deferred", "hold", "failed", "corrupt"})
      for (auto& e : fs::directory_iterator(root / d)) n += e.is_directory() ? 0 : 1;
    return n;
  }
};

fs::path make_root() {
  const char* base = getenv("TMPDIR");
  std::string tmpl = std::string(base && *base ? base : "/tmp") + "/relay-spool-flat.XXXXXX";
  REQUIRE(mkdtemp(tmpl.data()) != nullptr);
  return tmpl;
}

struct RootGuard {
  fs::path p;
  ~RootGuard() {
    std::error_code ec;
    fs::remove_all(p, ec);
  }
};

}  // namespace

TEST_CASE("a flat spool of the previous version is migrated at open, every state") {
  RootGuard g{make_root()};
  FlatSpool flat(g.p / "spool");
  QueueId n1 = flat.add("new", "one\r\n"), n2 = flat.add("new", "two\r\n");
  QueueId df = flat.add("deferred", "later\r\n", 2000000000);
  QueueId ac = flat.add("active", "claimed by a dead dispatcher\r\n");
  QueueId ho = flat.add("hold", "held\r\n"), fa = flat.add("failed", "dead letter\r\n");
  QueueId co = flat.add("corrupt", "bad\r\n");
  spit(flat.root / "corrupt" / (co.str() + ".reason"), "reason: test\nfrom: new\ntime: 1\n");
  spit(flat.root / "new" / "README", "not an entry: left alone");
  REQUIRE(flat.flat_files() == 16);  // 7 data files, 7 envelopes, a reason, a foreign file

  std::string err;
  auto sp = Spool::open(flat.root, &err);
  REQUIRE_MESSAGE(sp, err);
  CHECK(flat.flat_files() == 1);  // only the foreign file
  CHECK(fs::exists(flat.root / "new" / "README"));
  CHECK(sp->list(State::New) == std::vector<QueueId>{n1, n2});
  CHECK(sp->list(State::Deferred) == std::vector<QueueId>{df});
  CHECK(sp->list(State::Active) == std::vector<QueueId>{ac});
  CHECK(sp->list(State::Hold) == std::vector<QueueId>{ho});
  CHECK(sp->list(State::Failed) == std::vector<QueueId>{fa});
  CHECK(sp->list(State::Corrupt) == std::vector<QueueId>{co});
  CHECK(slurp(sp->path_of(State::Corrupt, co).replace_extension(".reason")).find("reason: test") == 0);
  struct stat st{};
  REQUIRE(::stat(sp->path_of(State::Deferred, df).c_str(), &st) == 0);
  CHECK(st.st_mtime == 2000000000);  // the due-time hint survives the move

  // Everything still works on the migrated entries.
  auto c = sp->claim(n1, &err);
  REQUIRE_MESSAGE(c, err);
  CHECK(slurp(c->data_path()) == "one\r\n");
  CHECK(c->done().ok());
  SweepReport r = sp->sweep({});
  CHECK(r.recovered_claims == 1);  // the dead dispatcher's claim came back
  CHECK(r.quarantined == 0);
  CHECK(r.orphans_removed == 0);
  CHECK(sp->requeue(fa).ok());
  CHECK(sp->release(ho).ok());
  CHECK(sp->list(State::New) == std::vector<QueueId>{n2, ac, ho, fa});

  // Idempotent: opening again moves nothing and loses nothing.
  auto again = Spool::open(flat.root, &err);
  REQUIRE(again);
  CHECK(again->list(State::New) == std::vector<QueueId>{n2, ac, ho, fa});
  CHECK(again->sweep({}).migrated == 0);
}

TEST_CASE("migration interrupted between an entry's two renames completes at the next open") {
  RootGuard g{make_root()};
  FlatSpool flat(g.p / "spool");
  QueueId a = flat.add("new", "a\r\n"), b = flat.add("new", "b\r\n");
  {
    std::string err;
    REQUIRE(Spool::open(flat.root, &err));  // creates the buckets, migrates both
  }
  // Put the tree back into the state a crash after a's data rename (and
  // before its envelope rename) leaves: data in its bucket, envelope flat.
  // b: nothing moved yet.
  const std::string ba = detail::bucket_name(detail::bucket_index(a)), bb = detail::bucket_name(detail::bucket_index(b));
  fs::rename(flat.root / "new" / ba / (a.str() + ".env"), flat.root / "new" / (a.str() + ".env"));
  fs::rename(flat.root / "new" / bb / (b.str() + ".env"), flat.root / "new" / (b.str() + ".env"));
  fs::rename(flat.root / "data" / bb / (b.str() + ".eml"), flat.root / "data" / (b.str() + ".eml"));
  std::string err;
  auto sp = Spool::open(flat.root, &err);
  REQUIRE(sp);
  CHECK(sp->list(State::New) == std::vector<QueueId>{a, b});
  for (const QueueId& id : {a, b}) {
    auto c = sp->claim(id, &err);
    REQUIRE_MESSAGE(c, err);  // not quarantined: the data file was found
    CHECK(c->done().ok());
  }
  CHECK(flat.flat_files() == 0);
}

TEST_CASE("a flat entry written after open (an old process still running) is moved by the sweep") {
  TempSpool t;
  FlatSpool late(t.root / "spool");  // the directories exist already
  QueueId id = late.add("new", "late\r\n");
  CHECK(t->list(State::New).empty());  // invisible until migrated
  SweepReport r = t->sweep({.orphan_grace = 0});
  CHECK(r.migrated == 2);  // data and envelope
  CHECK(r.orphans_removed == 0);
  CHECK(t->list(State::New) == std::vector<QueueId>{id});
  // A name in both places is never overwritten: it stays flat and is counted.
  spit(t.dir("new") / (id.str() + ".env"), "a second copy");
  r = t->sweep({});
  CHECK(r.migrated == 0);
  CHECK(r.log.size() == 1);
  CHECK(r.log[0].find("left=1") != std::string::npos);
  CHECK(slurp(t.dir("new") / (id.str() + ".env")) == "a second copy");
  auto c = t->claim(id);
  REQUIRE(c);
  CHECK(slurp(c->data_path()) == "late\r\n");
}

TEST_CASE("migration and sweep leave the spool's other folders alone (refusals/ control/ run/ notices/ journal)") {
  RootGuard g{make_root()};
  FlatSpool flat(g.p / "spool");
  QueueId entry = flat.add("new", "one\r\n");
  // Folders other programs keep under the spool root, with names an entry
  // could have: none of them is a state directory, none may be hashed.
  const QueueId foreign = QueueId::generate();
  std::string name;
  std::string err;
  REQUIRE(write_refusal_summary(flat.root / "refusals", {}, &name, &err));
  REQUIRE(pause_dispatch(flat.root, "test").ok());
  fs::create_directories(flat.root / "run" / "metrics");
  fs::create_directories(flat.root / "notices");
  const std::vector<fs::path> kept = {flat.root / "refusals" / (foreign.str() + ".env"),
                                      flat.root / "control" / (foreign.str() + ".eml"),
                                      flat.root / "run" / (foreign.str() + ".env"),
                                      flat.root / "notices" / (foreign.str() + ".reason"),
                                      flat.root / "run" / "metrics" / "dispatcher-1", flat.root / "journal"};
  for (const auto& p : kept) spit(p, "kept");
  auto before = [&](const fs::path& d) {
    std::vector<std::string> names;
    for (auto& e : fs::directory_iterator(d)) names.push_back(e.path().filename().string());
    std::sort(names.begin(), names.end());
    return names;
  };
  const auto refusals = before(flat.root / "refusals"), control = before(flat.root / "control"),
             run = before(flat.root / "run"), notices = before(flat.root / "notices");

  auto sp = Spool::open(flat.root, &err);
  REQUIRE_MESSAGE(sp, err);
  CHECK(sp->list(State::New) == std::vector<QueueId>{entry});
  SweepReport r = sp->sweep({.orphan_grace = 0});
  CHECK(r.migrated == 0);
  CHECK(before(flat.root / "refusals") == refusals);
  CHECK(before(flat.root / "control") == control);
  CHECK(before(flat.root / "run") == run);
  CHECK(before(flat.root / "notices") == notices);
  for (const auto& p : kept) CHECK_MESSAGE(slurp(p) == "kept", p.string());
  CHECK(pending_refusal_summaries(flat.root / "refusals").size() == 1);
  CHECK(dispatch_paused(flat.root));
}
