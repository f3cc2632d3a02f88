// relay::spool::QueueId — the name of one spool entry, unique forever.
//
// Does: generates time-ordered ids (20 chars, [0-9A-Z], Crockford base32:
// 48-bit milliseconds since the epoch, then 52 bits mixing pid, a per-process
// counter and randomness), so that sorting ids sorts by arrival and two
// processes never produce the same id. Validates ids read back from disk.
// Does not: touch the filesystem. Thread-safe (atomic counter).
#pragma once
#include <compare>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace relay::spool {

class QueueId {
 public:
  static constexpr std::size_t kLength = 20;

  // A fresh id. Never repeats within a host, even across restarts (time part)
  // and concurrent processes (pid + counter + random part).
  static QueueId generate();
  // Parses a string read from disk/CLI; nullopt unless it is a well-formed id.
  static std::optional<QueueId> parse(std::string_view text);

  const std::string& str() const noexcept { return text_; }
  // Milliseconds since the epoch encoded in the id.
  std::int64_t millis() const noexcept;

  auto operator<=>(const QueueId&) const = default;

 private:
  explicit QueueId(std::string text) : text_(std::move(text)) {}
  std::string text_;
};

}  // namespace relay::spool
