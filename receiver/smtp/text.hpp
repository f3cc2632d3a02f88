// relay::smtp text helpers — ASCII case folding and small parsers shared by
// the session and its policy code.
//
// Does: case-insensitive compares, trimming, decimal parsing, base64.
// Does not: allocate except where a std::string is returned; no I/O.
// Thread: pure functions. Fails: parsers return std::nullopt.
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace relay::smtp {

bool iequals(std::string_view a, std::string_view b) noexcept;
bool istarts_with(std::string_view s, std::string_view prefix) noexcept;
std::string_view trim(std::string_view s) noexcept;
// Strict decimal (digits only, no sign), nullopt on overflow or junk.
std::optional<std::uint64_t> parse_decimal(std::string_view s) noexcept;
// Standard base64 (RFC 4648) with padding; whitespace is not allowed.
std::optional<std::string> base64_decode(std::string_view in);
std::string base64_encode(std::string_view in);

}  // namespace relay::smtp
