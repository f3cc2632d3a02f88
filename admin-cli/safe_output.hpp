// relay::admin safe output — keeps bytes from messages, envelopes, the
// database and remote servers from driving the operator's terminal.
//
// Does: escapes control characters: C0 bytes (ESC shows as "\x1b"), DEL,
// C1 controls (U+0080..U+009F, e.g. the single-byte CSI) and bytes that are
// not valid UTF-8, as "\xNN". Valid UTF-8 text passes unchanged.
// printable() is for one field on one line (also escapes \n, \r, \t);
// escaping_stream() wraps a FILE* so that everything printed through it is
// filtered (newlines and tabs kept): relayctl's main puts it in front of
// stdout and stderr, so no command can forget.
// Does not: quote for shells or JSON (json_string does that).
// Thread: a filter/stream belongs to one thread.
// Fails: escaping_stream returns the original FILE* when fopencookie fails.
#pragma once
#include <cstdio>
#include <string>
#include <string_view>

namespace relay::admin {

// Incremental: bytes may arrive split anywhere (a UTF-8 sequence across
// two writes is judged whole).
class ControlFilter {
 public:
  explicit ControlFilter(bool keep_newlines) : keep_newlines_(keep_newlines) {}
  void feed(std::string_view bytes, std::string& out);
  void finish(std::string& out);  // a sequence cut off at the end: escaped

 private:
  void byte(unsigned char c, std::string& out);
  void flush_pending_as_escapes(std::string& out);
  bool keep_newlines_;
  std::string pending_;  // an unfinished UTF-8 sequence
  int need_ = 0;         // continuation bytes still expected
};

std::string printable(std::string_view s);

// Strict UTF-8 (RFC 3629): length (2-4) of the well-formed sequence at s[i],
// or 0 when s[i] starts none (ASCII, a stray continuation byte, an overlong
// form, a UTF-16 surrogate, a code point above U+10FFFF, a cut-off one).
// printable(), escaping_stream() and json_string() all judge by it, so what
// they pass is what a strict decoder (Python's, jq's) accepts.
std::size_t utf8_sequence_length(std::string_view s, std::size_t i) noexcept;
// The rule for the byte after a lead byte (E0 A0..BF, ED 80..9F, F0 90..BF,
// F4 80..8F, else 80..BF).
bool utf8_second_byte_ok(unsigned char lead, unsigned char second) noexcept;
std::FILE* escaping_stream(std::FILE* to);

}  // namespace relay::admin
