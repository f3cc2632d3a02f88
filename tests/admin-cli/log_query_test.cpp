// relayctl log filters: date parsing, option validation, and that values
// only ever travel as parameters.
#include <doctest/doctest.h>

#include "admin-cli/command.hpp"
#include "admin-cli/log_query.hpp"

using namespace relay::admin;

namespace {

std::optional<LogFilter> parse(std::vector<std::string> argv, std::string* err) {
  static constexpr OptionSpec spec[] = {{"limit", 'n', true},      {"id", 0, true},      {"failed", 0, false},
                                        {"since", 0, true},        {"until", 0, true},   {"from", 0, true},
                                        {"to", 0, true},           {"status", 0, true},  {"message-id", 0, true},
                                        {"subject", 0, true},      {"provider", 0, true}};
  auto a = Args::parse(argv, spec, 0, 0, err);
  REQUIRE(a);
  return parse_log_filter(*a, 1'800'000'000, err);
}

}  // namespace

TEST_CASE("parse_when: dates, zones and ages") {
  std::string e;
  CHECK(parse_when("2026-12-01", 0, &e) == 1796083200);
  CHECK(parse_when("2026-12-01T10:00", 0, &e) == 1796083200 + 36000);
  CHECK(parse_when("2026-12-01 10:00:05Z", 0, &e) == 1796083200 + 36005);
  CHECK(parse_when("2026-12-01T10:00+02:00", 0, &e) == 1796083200 + 28800);
  CHECK(parse_when("2h", 10000, &e) == 10000 - 7200);
  CHECK(parse_when("7d", 1000000, &e) == 1000000 - 7 * 86400);
  for (const char* bad : {"2026-02-30", "2026-13-01", "2026-1-1", "2026-12-01T24:00", "yesterday", "",
                          "2026-12-01T10:00+25:00", "2026-12-01'; --", "1h; DROP"}) {
    CAPTURE(bad);
    CHECK_FALSE(parse_when(bad, 0, &e));
    CHECK(e.find("is not a date") != std::string::npos);
  }
}

TEST_CASE("parse_log_filter: clear errors") {
  std::string e;
  CHECK_FALSE(parse({"--status", "bounced"}, &e));
  CHECK(e == "--status wants sent, failed, partial or queued (got 'bounced')");
  CHECK_FALSE(parse({"--limit", "-1"}, &e));
  CHECK_FALSE(parse({"--from", "a\nb"}, &e));
  CHECK_FALSE(parse({"--to", ""}, &e));
  CHECK_FALSE(parse({"--failed", "--status", "sent"}, &e));
  CHECK_FALSE(parse({"--since", "2026-02-30"}, &e));
  CHECK(e.rfind("--since: '2026-02-30' is not a date", 0) == 0);
  auto f = parse({"--message-id", "<a@b>"}, &e);
  REQUIRE(f);
  CHECK(*f->message_id == "a@b");
}

TEST_CASE("build_log_query: every value is a parameter, never SQL text") {
  std::string e;
  const std::string evil = "x' OR '1'='1; DROP TABLE messages; --";
  auto f = parse({"--from", evil, "--to", evil, "--subject", evil, "--provider", evil, "--message-id", evil, "--id",
                  evil, "--status", "sent", "--since", "1h", "--until", "2030-01-01"}, &e);
  REQUIRE(f);
  SqlQuery q = build_log_query(*f);
  CHECK(q.sql.find("DROP") == std::string::npos);
  CHECK(q.sql.find("'1'='1") == std::string::npos);
  CHECK(q.params.size() == 10);
  CHECK(q.sql.find("JOIN recipients r") != std::string::npos);
  CHECK(q.sql.find("ORDER BY r.received_at DESC") != std::string::npos);
  auto plain = build_log_query(LogFilter{});
  CHECK(plain.sql.find("ORDER BY m.received_at DESC") != std::string::npos);
  CHECK(plain.params.size() == 1);  // the limit
}

TEST_CASE("like_substring escapes the pattern characters") {
  CHECK(like_substring("100%") == "%100\\%%");
  CHECK(like_substring("a_b\\c") == "%a\\_b\\\\c%");
}
