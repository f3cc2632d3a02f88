// relay::fuzz::Input — carves a fuzzer's byte string into the decisions and
// pieces a target needs (control bytes, chunks split at a separator).
//
// Does: hands out bytes from the front; running out is not an error (a
// missing byte reads as 0, a missing chunk as empty), so every input is a
// valid run. Does not: own the bytes (a view of the fuzzer's buffer).
// Thread: one per call of LLVMFuzzerTestOneInput. Fails: never.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string_view>

namespace relay::fuzz {

class Input {
 public:
  Input(const std::uint8_t* data, std::size_t size) : rest_(reinterpret_cast<const char*>(data), size) {}

  bool empty() const noexcept { return rest_.empty(); }
  std::uint8_t byte() noexcept {
    if (rest_.empty()) return 0;
    auto b = static_cast<std::uint8_t>(rest_.front());
    rest_.remove_prefix(1);
    return b;
  }
  // Up to the next `sep` (dropped) or the end.
  std::string_view until(char sep) noexcept {
    auto pos = rest_.find(sep);
    std::string_view piece = rest_.substr(0, pos);
    rest_.remove_prefix(pos == std::string_view::npos ? rest_.size() : pos + 1);
    return piece;
  }
  std::string_view take(std::size_t n) noexcept {
    std::string_view piece = rest_.substr(0, n);
    rest_.remove_prefix(piece.size());
    return piece;
  }
  std::string_view rest() noexcept { return take(rest_.size()); }

 private:
  std::string_view rest_;
};

}  // namespace relay::fuzz
