// The delivery log against a real PostgreSQL: migrations (twice and
// concurrently), the journal (write, torn lines, replay without duplicates),
// and the DeliveryLog thread across a database outage.
#include <doctest/doctest.h>

#include <atomic>
#include <chrono>
#include <mutex>
#include <filesystem>
#include <fstream>
#include <thread>

#include "dispatcher/dlog/delivery_log.hpp"
#include "dispatcher/dlog/journal.hpp"
#include "dispatcher/dlog/migrate.hpp"
#include "dispatcher/dlog/pg.hpp"
#include "dispatcher/dlog/record_sql.hpp"
#include "test_pg.hpp"

using namespace relay;
using namespace relay::dlog;

namespace {

struct TmpDir {
  std::filesystem::path path;
  TmpDir() {
    char tmpl[] = "/tmp/relay-dlog-XXXXXX";
    path = ::mkdtemp(tmpl);
  }
  ~TmpDir() { std::filesystem::remove_all(path); }
};

AttemptRecord attempt(const std::string& id, int no, std::int64_t started) {
  return AttemptRecord{id, no, "outbox", "sent", 250, "2.0.0", "ok \xff bad utf8", {"a@x.test", "b@x.test"}, 12,
                       "host1", 4242, started};
}

MessageRecord message(const std::string& id, const std::string& status, int attempts) {
  MessageRecord m;
  m.queue_id = id;
  m.mail_from = "s@example.com";
  m.rcpts = {"a@x.test"};
  m.subject = "Grüße";
  m.status = status;
  m.received_at = 1700000000000000;
  m.first_attempt_at = 1700000001000000;
  m.finished_at = status == "queued" ? 0 : 1700000002000000;
  m.attempts = attempts;
  return m;
}

bool wait_until(const std::function<bool()>& pred, int ms) {
  for (int i = 0; i < ms / 20; ++i) {
    if (pred()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return pred();
}

}  // namespace

TEST_CASE("embedded migrations are in order") {
  auto m = embedded_migrations();
  REQUIRE(m.size() >= 2);
  CHECK(m[0].version == 1);
  for (std::size_t i = 1; i < m.size(); ++i) CHECK(m[i].version > m[i - 1].version);
  CHECK(m[0].sql.find("CREATE TABLE messages") != std::string_view::npos);
}

TEST_CASE("journal: sequence numbers, torn last line, read back") {
  TmpDir d;
  Journal j(d.path / "journal");
  CHECK(j.empty());
  std::vector<Record> recs{attempt("Q1", 1, 1), message("Q1", "sent", 1), HeartbeatRecord{}};
  std::string err;
  REQUIRE(j.append(recs, &err));
  REQUIRE(j.append(std::vector<Record>{attempt("Q2", 1, 2)}, &err));
  auto all = j.read_all();
  REQUIRE(all.size() == 3);  // heartbeat is not journaled
  CHECK(all[0].seq == 1);
  CHECK(all[2].seq == 3);
  CHECK(std::get<AttemptRecord>(all[0].record).rcpts.size() == 2);
  CHECK(std::get<MessageRecord>(all[1].record).subject == "Grüße");
  { std::ofstream(j.path(), std::ios::app) << "{\"seq\":4,\"kind\":\"att"; }  // crash mid-write
  std::size_t bad = 0;
  CHECK(j.read_all(&bad).size() == 3);
  REQUIRE(j.append(std::vector<Record>{attempt("Q3", 1, 3)}, &err));
  all = j.read_all(&bad);
  CHECK(bad == 1);
  REQUIRE(all.size() == 4);
  CHECK(all[3].seq == 4);
  CHECK(std::get<AttemptRecord>(all[3].record).queue_id == "Q3");
}

TEST_CASE("migrate twice, then concurrently on a fresh database") {
  auto db = test::need_db();
  if (!db) return;
  auto r1 = migrate(*db);
  REQUIRE_MESSAGE(r1.ok, r1.error);
  CHECK(r1.applied.size() == embedded_migrations().size());
  auto r2 = migrate(*db);
  REQUIRE(r2.ok);
  CHECK(r2.applied.empty());
  CHECK(r2.current == embedded_migrations().back().version);

  auto db2 = test::fresh_db();
  std::vector<std::thread> ts;
  std::vector<MigrateResult> res(4);
  for (int i = 0; i < 4; ++i) ts.emplace_back([&, i] { res[i] = migrate(*db2); });
  for (auto& t : ts) t.join();
  std::size_t applied = 0;
  for (auto& r : res) {
    CHECK_MESSAGE(r.ok, r.error);
    applied += r.applied.size();
  }
  CHECK(applied == embedded_migrations().size());  // each migration applied exactly once
  CHECK(test::scalar(*db2, "SELECT count(*) FROM schema_migrations") == std::to_string(embedded_migrations().size()));
}

TEST_CASE("records are idempotent; a finished message never goes back to queued") {
  auto db = test::need_db();
  if (!db) return;
  REQUIRE(migrate(*db).ok);
  std::string err;
  auto c = PgConn::connect(*db, 5, &err);
  REQUIRE(c);
  std::vector<Record> batch{attempt("Q1", 1, 100), message("Q1", "queued", 1), attempt("Q1", 2, 200),
                            message("Q1", "sent", 2)};
  std::size_t rejected = 0;
  REQUIRE(write_records(c, batch, &rejected, &err) == WriteStatus::Ok);
  REQUIRE(write_records(c, batch, &rejected, &err) == WriteStatus::Ok);  // replayed
  std::vector<Record> stale{message("Q1", "queued", 1)};
  REQUIRE(write_records(c, stale, &rejected, &err) == WriteStatus::Ok);
  CHECK(rejected == 0);
  CHECK(test::scalar(*db, "SELECT count(*) FROM attempts WHERE queue_id='Q1'") == "2");
  CHECK(test::scalar(*db, "SELECT status || ' ' || attempts FROM messages WHERE queue_id='Q1'") == "sent 2");
  CHECK(test::scalar(*db, "SELECT sent FROM stats_totals") == "1");
  CHECK(test::scalar(*db, "SELECT response FROM attempts LIMIT 1") == "ok \xEF\xBF\xBD bad utf8");

  // Heartbeats and secret status are upserts keyed by process / provider.
  std::vector<Record> live{HeartbeatRecord{"dispatcher", "h1", 7, 1700000000000000, 1700000010000000, "{\"sent\":1}"},
                           HeartbeatRecord{"dispatcher", "h1", 7, 1700000000000000, 1700000020000000, "{\"sent\":5}"},
                           SecretRecord{"m365", "2027-06-30", 6, "config", "warning", "expires in 6 days", 1700000000000000},
                           SecretRecord{"m365", "", std::nullopt, "graph", "unknown", "not readable", 1700000001000000}};
  REQUIRE(write_records(c, live, &rejected, &err) == WriteStatus::Ok);
  CHECK(rejected == 0);
  CHECK(test::scalar(*db, "SELECT count(*) || ' ' || max(counters->>'sent') || ' ' || max(uptime_s)"
                          " FROM (SELECT counters, EXTRACT(EPOCH FROM seen_at - started_at)::int AS uptime_s FROM heartbeats) h") ==
        "1 5 20");
  CHECK(test::scalar(*db, "SELECT state || ' ' || source || ' ' || coalesce(expires::text, 'null') FROM secret_status") ==
        "unknown graph null");
}

TEST_CASE("journal replay into PostgreSQL: interrupted replay leaves no duplicate") {
  auto db = test::need_db();
  if (!db) return;
  REQUIRE(migrate(*db).ok);
  TmpDir d;
  Journal j(d.path / "journal");
  std::vector<Record> recs;
  for (int i = 0; i < 1200; ++i) {
    recs.push_back(attempt("R" + std::to_string(i), 1, 1000 + i));
    recs.push_back(message("R" + std::to_string(i), "sent", 1));
  }
  std::string err;
  REQUIRE(j.append(recs, &err));
  auto c = PgConn::connect(*db, 5, &err);
  int chunks = 0;
  // First replay "crashes" after two chunks: the file must stay whole.
  auto r1 = j.replay([&](std::span<const Record> part) {
    if (++chunks > 2) return false;
    std::size_t rej = 0;
    return write_records(c, part, &rej, &err) == WriteStatus::Ok;
  });
  CHECK_FALSE(r1.ok);
  CHECK_FALSE(j.empty());
  auto r2 = j.replay([&](std::span<const Record> part) {
    std::size_t rej = 0;
    return write_records(c, part, &rej, &err) == WriteStatus::Ok;
  });
  CHECK(r2.ok);
  CHECK(r2.replayed == 2400);
  CHECK(j.empty());
  CHECK(test::scalar(*db, "SELECT count(*) FROM attempts") == "1200");
  CHECK(test::scalar(*db, "SELECT count(*) FROM messages WHERE status='sent'") == "1200");
}

TEST_CASE("DeliveryLog journals while the database is missing and replays when it appears") {
  auto base = test::need_pg_base();
  if (!base) return;
  TmpDir d;
  std::string name = test::unique_db_name();
  DeliveryLog::Options opt;
  opt.conninfo = test::with_dbname(*base, name);  // does not exist yet: "down"
  opt.journal = d.path / "journal";
  opt.max_backoff_ms = 300;
  opt.journal_check_ms = 100;
  DeliveryLog log(opt);
  log.start();
  std::atomic<int> durable{0};
  for (int i = 0; i < 50; ++i)
    log.post(std::vector<Record>{attempt("D" + std::to_string(i), 1, i + 1), message("D" + std::to_string(i), "sent", 1)},
             [&](bool ok) { durable += ok ? 1 : 0; });
  log.post(HeartbeatRecord{"dispatcher", "h", 1, 1, 2, "{}"});
  log.flush();
  CHECK(durable == 50);
  CHECK(log.stats().journaled == 100);
  CHECK_FALSE(Journal(opt.journal).empty());

  test::create_db(*base, name);  // the database "comes back" (and is migrated by relayctl db migrate's code)
  REQUIRE(migrate(opt.conninfo).ok);
  CHECK(wait_until([&] { return Journal(opt.journal).empty(); }, 10000));
  log.post(std::vector<Record>{attempt("D50", 1, 99), message("D50", "sent", 1)});
  log.flush();
  log.stop();
  CHECK(test::scalar(opt.conninfo, "SELECT count(*) FROM attempts") == "51");
  CHECK(test::scalar(opt.conninfo, "SELECT count(*) FROM messages") == "51");
  CHECK(log.stats().replayed == 100);
}

// Issue 13 item 4: daemons never migrate. On a database without (all) the
// migrations, the DeliveryLog reports Schema::Old naming the missing one,
// creates nothing, journals the records (durable, not lost) and resumes by
// itself once the schema is migrated.
TEST_CASE("DeliveryLog on an unmigrated database: reports, does not migrate, journals, then resumes") {
  auto db = test::need_db();
  if (!db) return;
  TmpDir d;
  DeliveryLog::Options opt;
  opt.conninfo = *db;
  opt.journal = d.path / "journal";
  opt.schema_recheck_ms = 200;
  opt.journal_check_ms = 100;
  DeliveryLog log(opt);
  std::atomic<int> changes{0};
  std::string seen_missing;
  std::mutex mu;
  CHECK(log.watch_schema([&](DeliveryLog::Schema s, const std::string& missing) {
    std::lock_guard lk(mu);
    if (s == DeliveryLog::Schema::Old) seen_missing = missing;
    ++changes;
  }) == DeliveryLog::Schema::Pending);
  log.start();
  CHECK(wait_until([&] { return log.stats().schema == DeliveryLog::Schema::Old; }, 10000));
  {
    std::lock_guard lk(mu);
    CHECK(seen_missing.rfind(std::string(embedded_migrations().front().name), 0) == 0);
  }
  std::atomic<int> durable{0};
  log.post(std::vector<Record>{attempt("S1", 1, 1), message("S1", "sent", 1)}, [&](bool ok) { durable += ok; });
  log.flush();
  CHECK(durable == 1);
  CHECK(log.stats().journaled == 2);
  CHECK_FALSE(log.stats().connected);
  // Nothing was created: not even schema_migrations.
  CHECK(test::scalar(*db, "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'") == "0");

  // One migration applied, the rest missing: still Old, naming the next one.
  {
    std::string err;
    auto c = PgConn::connect(*db, 5, &err);
    REQUIRE(c);
    REQUIRE(c.exec("CREATE TABLE schema_migrations (version integer PRIMARY KEY, name text NOT NULL DEFAULT '',"
                   " applied_at timestamptz NOT NULL DEFAULT now())").ok());
    REQUIRE(c.exec(std::string(embedded_migrations().front().sql).c_str()).ok());
    REQUIRE(c.exec(("INSERT INTO schema_migrations (version, name) VALUES (" +
                    std::to_string(embedded_migrations().front().version) + ", 'x')").c_str()).ok());
  }
  if (embedded_migrations().size() > 1) {
    std::string next(embedded_migrations()[1].name);
    CHECK(wait_until([&] { return log.stats().schema_missing.rfind(next, 0) == 0; }, 5000));
    CHECK(log.stats().schema == DeliveryLog::Schema::Old);
  }
  REQUIRE(migrate(*db).ok);
  CHECK(wait_until([&] { return log.stats().schema == DeliveryLog::Schema::Current && Journal(opt.journal).empty(); },
                   10000));
  log.stop();
  CHECK(test::scalar(*db, "SELECT count(*) FROM attempts WHERE queue_id = 'S1'") == "1");
  CHECK(log.stats().replayed == 2);
}

TEST_CASE("db migrate's grant: a runtime role without DDL rights writes the log but cannot change the schema") {
  auto db = test::need_db();
  if (!db) return;
  REQUIRE(migrate(*db).ok);
  std::string role = "rt_" + test::unique_db_name();
  std::string err;
  auto owner = PgConn::connect(*db, 5, &err);
  REQUIRE(owner);
  REQUIRE(owner.exec(("CREATE ROLE " + role + " LOGIN").c_str()).ok());
  CHECK(grant_runtime(owner, role) == "");
  CHECK(grant_runtime(owner, role) == "");  // idempotent
  auto rt = PgConn::connect(*db + " user=" + role, 5, &err);
  REQUIRE_MESSAGE(rt, err);
  auto sc = check_schema(rt);
  CHECK_MESSAGE(sc.ok, sc.error);
  CHECK(sc.missing.empty());
  std::size_t rejected = 0;
  std::vector<Record> recs{attempt("G1", 1, 1), message("G1", "sent", 1), HeartbeatRecord{"dispatcher", "h", 1, 1, 2, "{}"}};
  CHECK(write_records(rt, recs, &rejected, &err) == WriteStatus::Ok);
  CHECK(rejected == 0);
  CHECK_FALSE(rt.exec("CREATE TABLE evil (x int)").ok());
  CHECK_FALSE(rt.exec("DELETE FROM schema_migrations").ok());
}
