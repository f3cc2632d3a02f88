// relay::spool::crc32 — CRC-32 (IEEE 802.3, reflected, as zlib's crc32()).
//
// Slicing-by-8: eight 256-entry tables built once at compile time, eight
// input bytes per step (about 1 GB/s on one core; the receiver computes it
// over every message byte). Pure function, thread-safe.
#include <array>
#include <cstdint>
#include <cstring>

#include "spool/envelope.hpp"

namespace relay::spool {
namespace {

using Tables = std::array<std::array<std::uint32_t, 256>, 8>;

constexpr Tables make_tables() {
  Tables t{};
  for (std::uint32_t i = 0; i < 256; ++i) {
    std::uint32_t c = i;
    for (int k = 0; k < 8; ++k) c = (c & 1) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
    t[0][i] = c;
  }
  for (std::size_t i = 0; i < 256; ++i)
    for (std::size_t s = 1; s < 8; ++s) t[s][i] = (t[s - 1][i] >> 8) ^ t[0][t[s - 1][i] & 0xff];
  return t;
}

constexpr Tables kTables = make_tables();

}  // namespace

std::uint32_t crc32(std::string_view bytes, std::uint32_t seed) noexcept {
  std::uint32_t c = ~seed;
  const auto* p = reinterpret_cast<const unsigned char*>(bytes.data());
  std::size_t n = bytes.size();
  while (n >= 8) {
    std::uint32_t a, b;
    std::memcpy(&a, p, 4);
    std::memcpy(&b, p + 4, 4);
    a ^= c;  // little-endian hosts only (x86-64, arm64): checked below
    c = kTables[7][a & 0xff] ^ kTables[6][(a >> 8) & 0xff] ^ kTables[5][(a >> 16) & 0xff] ^
        kTables[4][a >> 24] ^ kTables[3][b & 0xff] ^ kTables[2][(b >> 8) & 0xff] ^
        kTables[1][(b >> 16) & 0xff] ^ kTables[0][b >> 24];
    p += 8;
    n -= 8;
  }
  while (n-- > 0) c = kTables[0][(c ^ *p++) & 0xff] ^ (c >> 8);
  return ~c;
}

static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "crc32 slicing assumes little-endian");

}  // namespace relay::spool
