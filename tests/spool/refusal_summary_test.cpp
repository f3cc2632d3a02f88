// relay::spool refusal summaries: the tally's caps and the file round trip.
#include <unistd.h>
#include <doctest/doctest.h>

#include <filesystem>
#include <string>

#include "spool/refusal_summary.hpp"

using namespace relay::spool;

TEST_CASE("refusal tally: per (client, user), capped, overflow counted") {
  RefusalTally t(3);
  t.note("10.0.0.1", "scanner", false, "535 5.7.8 bad", 100);
  t.note("10.0.0.1", "scanner", true, "535 5.7.8 again", 101);
  t.note("10.0.0.2", "", false, "554 5.7.1 denied", 102);
  t.note("10.0.0.3", "x", false, "550 a", 103);
  for (int i = 0; i < 1000; ++i) t.note("10.1." + std::to_string(i), "u" + std::to_string(i), false, "535 b", 200 + i);
  CHECK(t.size() == 4);  // 3 pairs + the overflow entry
  CHECK(t.overflowed() == 1000);
  std::uint64_t total = 0;
  for (const auto& e : t.entries()) {
    total += e.count;
    if (e.client_addr == "10.0.0.1") {
      CHECK(e.count == 2);
      CHECK(e.tls_count == 1);
      CHECK(e.first_at == 100);
      CHECK(e.last_at == 101);
      CHECK(e.last_reason == "535 5.7.8 again");
    }
    if (e.client_addr == "*") CHECK(e.count == 1000);
  }
  CHECK(total == 1004);
}

TEST_CASE("refusal tally: long strings are truncated") {
  RefusalTally t(10);
  t.note(std::string(500, 'a'), std::string(5000, 'u'), false, std::string(5000, 'r'), 1);
  auto e = t.entries().at(0);
  CHECK(e.client_addr.size() == RefusalTally::kMaxClient);
  CHECK(e.auth_user.size() == RefusalTally::kMaxUser);
  CHECK(e.last_reason.size() == RefusalTally::kMaxReason);
}

TEST_CASE("refusal summary: round trip with hostile bytes, truncation detected") {
  std::vector<RefusalEntry> in{{"::1", "", 3, 1, 10, 20, "535 5.7.8 x y"},
                               {"1.2.3.4", "a b\x1b[31m%~\xff\n", 1, 0, 5, 5, ""}};
  std::string text = serialize_refusals(in);
  CHECK(text.find('\x1b') == std::string::npos);
  std::vector<RefusalEntry> out;
  std::string err;
  REQUIRE(parse_refusals(text, &out, &err));
  REQUIRE(out.size() == 2);
  CHECK(out[1].auth_user == in[1].auth_user);
  CHECK(out[0].auth_user.empty());
  CHECK(out[0].last_reason == "535 5.7.8 x y");
  CHECK(out[1].last_reason.empty());
  CHECK_FALSE(parse_refusals(text.substr(0, text.size() - 4), &out, &err));
  CHECK(err.find("truncated") != std::string::npos);
  CHECK_FALSE(parse_refusals("relay-refusals 1\nr 1 x 1 1 a b c\nend\n", &out, &err));
  CHECK_FALSE(parse_refusals("something else\nend\n", &out, &err));
}

TEST_CASE("refusal summary files: written whole, bounded in number") {
  auto dir = std::filesystem::temp_directory_path() / ("relay-refusals-" + std::to_string(::getpid()));
  std::filesystem::remove_all(dir);
  std::vector<RefusalEntry> in{{"::1", "u", 1, 0, 1, 1, "535"}};
  std::string name, err;
  for (std::size_t i = 0; i < kMaxRefusalFiles; ++i) REQUIRE(write_refusal_summary(dir, in, &name, &err));
  CHECK_FALSE(write_refusal_summary(dir, in, &name, &err));
  CHECK(err.find("too many summaries") != std::string::npos);
  auto files = pending_refusal_summaries(dir);
  CHECK(files.size() == kMaxRefusalFiles);
  std::vector<RefusalEntry> out;
  REQUIRE(read_refusal_summary(files.front(), &out, &err));
  CHECK(out.size() == 1);
  std::filesystem::remove_all(dir);
}
