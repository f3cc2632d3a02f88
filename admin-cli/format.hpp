// relay::admin formatting helpers — pure functions for relayctl output:
// sizes, ages, timestamps, JSON strings and aligned text tables.
// Does no I/O; unit-tested in tests/admin-cli.
#pragma once
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace relay::admin {

// 999 -> "999", 1536 -> "1.5K", 35 MiB -> "35.0M" (binary multiples, like ls -h).
std::string human_size(std::uint64_t bytes);
// Seconds -> "42s", "5m03s", "3h07m", "2d04h". Negative -> "0s".
std::string human_age(std::int64_t seconds);
// Unix seconds -> "2026-11-25 12:00:00Z" (UTC). 0 -> "-".
std::string utc_time(std::int64_t unix_seconds);
// A JSON string literal with quotes: "a\"b\n" -> "\"a\\\"b\\n\"".
std::string json_string(std::string_view s);

// Columns aligned with two spaces; the last column is not padded.
class Table {
 public:
  explicit Table(std::vector<std::string> header) : rows_{std::move(header)} {}
  void add(std::vector<std::string> row) { rows_.push_back(std::move(row)); }
  std::size_t size() const noexcept { return rows_.size() - 1; }  // without header
  std::string render() const;

 private:
  std::vector<std::vector<std::string>> rows_;
};

}  // namespace relay::admin
