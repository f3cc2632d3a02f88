// relayctl output formatting: sizes, ages, times, JSON, tables, queue
// entries and stats.
#include <doctest/doctest.h>

#include "admin-cli/format.hpp"
#include "admin-cli/queue_format.hpp"
#include "admin-cli/stats_format.hpp"

using namespace relay::admin;
namespace spool = relay::spool;

TEST_CASE("human_size") {
  CHECK(human_size(0) == "0");
  CHECK(human_size(1023) == "1023");
  CHECK(human_size(1536) == "1.5K");
  CHECK(human_size(35ull << 20) == "35.0M");
  CHECK(human_size(3ull << 30) == "3.0G");
}

TEST_CASE("human_age") {
  CHECK(human_age(-5) == "0s");
  CHECK(human_age(42) == "42s");
  CHECK(human_age(303) == "5m03s");
  CHECK(human_age(3 * 3600 + 7 * 60) == "3h07m");
  CHECK(human_age(2 * 86400 + 4 * 3600 + 59) == "2d04h");
}

TEST_CASE("utc_time and json_string") {
  CHECK(utc_time(0) == "-");
  CHECK(utc_time(1700000000) == "2023-11-14 22:13:20Z");
  CHECK(json_string("a\"b\\c\n\x01") == "\"a\\\"b\\\\c\\n\\u0001\"");
}

TEST_CASE("Table aligns columns and trims the last one") {
  Table t({"A", "LONGER", "C"});
  t.add({"xxxx", "y", "z"});
  CHECK(t.size() == 1);
  CHECK(t.render() == "A     LONGER  C\nxxxx  y       z\n");
}

TEST_CASE("queue entry: text and JSON carry id, state, sender, recipients and last error") {
  spool::Envelope env;
  env.received_at = 1700000000;
  env.mail_from = "scan@example.com";
  env.rcpts.push_back({"a@example.org", "", spool::RcptState::Pending, ""});
  env.rcpts.push_back({"b@example.org", "", spool::RcptState::Sent, "250 ok"});
  env.size = 2048;
  env.attempts = 3;
  env.next_attempt = 1700000600;
  env.last_error = "451 4.4.1 upstream timeout";
  spool::EntryInfo e{env.id, spool::State::Deferred, env, "", false};
  std::string text = format_entry(e, 1700000000);
  CHECK(text.find(env.id.str() + "  deferred") == 0);
  CHECK(text.find("2.0K") != std::string::npos);
  CHECK(text.find("attempts=3") != std::string::npos);
  CHECK(text.find("from=<scan@example.com>") != std::string::npos);
  CHECK(text.find("to=<a@example.org> pending") != std::string::npos);
  CHECK(text.find("to=<b@example.org> sent (250 ok)") != std::string::npos);
  CHECK(text.find("next attempt 2023-11-14 22:23:20Z (in 10m00s)") != std::string::npos);
  CHECK(text.find("last error: 451 4.4.1 upstream timeout") != std::string::npos);
  std::string json = entry_json(e);
  CHECK(json.find("\"state\":\"deferred\"") != std::string::npos);
  CHECK(json.find("\"attempts\":3") != std::string::npos);
  CHECK(json.find("{\"address\":\"a@example.org\",\"state\":\"pending\"") != std::string::npos);

  spool::EntryInfo bad{env.id, spool::State::Corrupt, std::nullopt, "truncated: no end line", false};
  CHECK(format_entry(bad, 0).find("unreadable: truncated: no end line") != std::string::npos);
  CHECK(entry_json(bad).find("\"error\":\"truncated: no end line\"") != std::string::npos);
}

TEST_CASE("state filter") {
  CHECK(parse_state_filter("all")->size() == 6);
  auto one = parse_state_filter("hold");
  REQUIRE(one);
  CHECK(one->size() == 1);
  CHECK((*one)[0] == spool::State::Hold);
  CHECK_FALSE(parse_state_filter("bogus"));
}

TEST_CASE("stats: error rate and both output forms") {
  CHECK(format_rate(0, 0) == "-");
  CHECK(format_rate(1, 40) == "2.50% (1 of 40 attempts)");
  Stats s;
  s.have_db = true;
  s.sent = 7;
  s.failed = 2;
  s.sent_24h = 7;
  s.failed_24h = 2;
  s.attempts_all = 10;
  s.errors_all = 3;
  s.attempts_24h = 10;
  s.errors_24h = 3;
  s.uptime_s = 125;
  s.live_processes = 2;
  s.last_error = Stats::LastError{"2026-01-01 00:00:00Z", "QID", "outbox", "permanent", "550 no"};
  s.have_spool = true;
  s.queue = {{"new", 1}, {"deferred", 2}};
  s.queued = 3;
  s.oldest_age_s = 61;
  std::string text = format_stats_text(s);
  CHECK(text.find("sent:                7 (24h: 7)") != std::string::npos);
  CHECK(text.find("failed:              2 (24h: 2)") != std::string::npos);
  CHECK(text.find("30.00% (3 of 10 attempts)") != std::string::npos);
  CHECK(text.find("2026-01-01 00:00:00Z QID provider=outbox permanent: 550 no") != std::string::npos);
  CHECK(text.find("deferred=2 new=1") != std::string::npos);
  CHECK(text.find("1m01s") != std::string::npos);
  CHECK(text.find("2m05s (2 live processes)") != std::string::npos);
  std::string json = format_stats_json(s);
  CHECK(json.find("\"sent\":7,\"failed\":2") != std::string::npos);
  CHECK(json.find("\"error_rate_all\":0.3000") != std::string::npos);
  CHECK(json.find("\"queue\":{\"deferred\":2,\"new\":1}") != std::string::npos);
  CHECK(json.find("\"oldest_queued_s\":61") != std::string::npos);
  CHECK(json.back() == '}');
  Stats empty;
  CHECK(format_stats_json(empty) == "{}");
}

TEST_CASE("stats: one line per host, the queue labelled as the local spool (docs/scale-out.md)") {
  Stats s;
  s.have_db = true;
  s.hosts = {Stats::Host{"host-a", 5, 1, 4, 1}, Stats::Host{"host-b", 2, 0, 2, 0}};
  s.have_spool = true;
  s.local_host = "host-a";
  std::string text = format_stats_text(s);
  CHECK(text.find("host:                host-a sent=5 (24h: 4) failed=1 (24h: 1)\n") != std::string::npos);
  CHECK(text.find("host:                host-b sent=2 (24h: 2) failed=0 (24h: 0)\n") != std::string::npos);
  CHECK(text.find("spool:               host-a (local spool") != std::string::npos);
  std::string json = format_stats_json(s);
  CHECK(json.find("\"hosts\":[{\"host\":\"host-a\",\"sent\":5,\"failed\":1,\"sent_24h\":4,\"failed_24h\":1},"
                  "{\"host\":\"host-b\"") != std::string::npos);
  CHECK(json.find("\"spool_host\":\"host-a\"") != std::string::npos);
  s.host_filter = "host-b";
  CHECK(format_stats_json(s).find("\"host_filter\":\"host-b\"") != std::string::npos);
}
