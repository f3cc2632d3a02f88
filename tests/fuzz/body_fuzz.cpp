// Fuzz target: the DATA decoder (DotDecoder) and the content scanner
// (BodyScanner) of receiver/smtp/body.hpp, against simple byte-at-a-time
// reference models written here.
//
// Input: byte 0 and 1 seed the read sizes; the rest is the DATA wire bytes
// (the transfer starts at a line start, as after "354").
// Checks (abort = finding): decoding in the fuzzer's read sizes gives the
// same content, end-of-data position and scanner verdicts as decoding in one
// piece and as the reference model (only <CRLF>.<CRLF> ends DATA, a leading
// dot is dropped); the scanner's size / bare CR / bare LF / NUL / long-line
// flags equal the reference's; From:/Sender: values do not depend on how the
// content was split.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "receiver/smtp/body.hpp"
#include "tests/fuzz/fuzz_input.hpp"

namespace {

using relay::smtp::BodyScanner;
using relay::smtp::DotDecoder;

[[noreturn]] void finding(const char* what) {
  std::fprintf(stderr, "body_fuzz: invariant broken: %s\n", what);
  std::abort();
}

struct Decoded {
  std::string content;
  std::size_t consumed = 0;
  bool done = false;
};

// Reference: a line starts after CRLF on the wire; a dot there is dropped,
// and ".<CRLF>" there ends the data.
Decoded reference_decode(std::string_view in) {
  Decoded d;
  for (std::size_t i = 0; i < in.size();) {
    bool line_start = i == 0 || (i >= 2 && in[i - 2] == '\r' && in[i - 1] == '\n');
    if (line_start && in[i] == '.') {
      if (in.substr(i + 1, 2) == "\r\n") {
        d.consumed = i + 3;
        d.done = true;
        return d;
      }
      ++i;
      if (i < in.size()) d.content += in[i++];
      continue;
    }
    d.content += in[i++];
  }
  d.consumed = in.size();
  return d;
}

struct Flags {
  std::uint64_t size = 0;
  bool bare_cr = false, bare_lf = false, nul = false, long_line = false;
  bool operator==(const Flags&) const = default;
};

Flags reference_scan(std::string_view s) {
  Flags f;
  f.size = s.size();
  bool prev_cr = false;
  std::size_t len = 0;
  for (char c : s) {
    if (prev_cr && c != '\n') f.bare_cr = true;
    if (c == '\n') {
      if (!prev_cr) f.bare_lf = true;
      prev_cr = false;
      len = 0;
      continue;
    }
    prev_cr = c == '\r';
    if (c == '\0') f.nul = true;
    if (c != '\r' && ++len > BodyScanner::kMaxLine) f.long_line = true;
  }
  if (prev_cr) f.bare_cr = true;
  return f;
}

Flags flags_of(const BodyScanner& s) {
  return Flags{s.size(), s.bare_cr(), s.bare_lf(), s.nul(), s.long_line()};
}

// Decodes `wire` in reads whose sizes come from a tiny generator, scanning
// each content piece as the session does.
Decoded decode_split(std::string_view wire, std::uint32_t seed, BodyScanner& scan) {
  Decoded d;
  DotDecoder dec;
  std::size_t pos = 0;
  while (pos < wire.size() && !dec.done()) {
    seed = seed * 1103515245u + 12345u;
    std::size_t n = 1 + (seed >> 16) % 97;
    std::string_view piece = wire.substr(pos, n);
    std::size_t used = dec.feed(piece, [&](std::string_view c) {
      d.content.append(c);
      scan.feed(c);
    });
    if (used > piece.size()) finding("decoder consumed more than it was given");
    if (used < piece.size() && !dec.done()) finding("decoder stopped early without end of data");
    pos += used;
  }
  d.consumed = pos;
  d.done = dec.done();
  scan.finish();
  return d;
}

void same_result(const Decoded& got, const Decoded& ref, const char* what) {
  if (got.done != ref.done || (ref.done && got.consumed != ref.consumed)) finding(what);
  if (ref.done && got.content != ref.content) finding(what);
  // Not done: a CR after a line-start dot may still be held back.
  if (!ref.done) {
    std::string_view r = ref.content, g = got.content;
    if (r.substr(0, g.size()) != g || (r.size() - g.size() > 1)) finding(what);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  relay::fuzz::Input in(data, size);
  std::uint32_t seed = in.byte();
  seed = seed << 8 | in.byte();
  std::string_view wire = in.rest();

  Decoded ref = reference_decode(wire);
  BodyScanner split_scan, whole_scan;
  Decoded split = decode_split(wire, seed, split_scan);
  same_result(split, ref, "split decoding differs from the reference");

  DotDecoder one;
  Decoded whole;
  whole.consumed = one.feed(wire, [&](std::string_view c) { whole.content.append(c); });
  whole.done = one.done();
  same_result(whole, ref, "one-piece decoding differs from the reference");

  whole_scan.feed(split.content);
  whole_scan.finish();
  Flags want = reference_scan(split.content);
  if (!(flags_of(split_scan) == want)) finding("scanner flags (split) differ from the reference");
  if (!(flags_of(whole_scan) == want)) finding("scanner flags (whole) differ from the reference");
  if (split_scan.from_headers() != whole_scan.from_headers() ||
      split_scan.sender_headers() != whole_scan.sender_headers()) {
    finding("From:/Sender: values depend on the read sizes");
  }
  return 0;
}
