// relay::provider::cloud codecs — base64 (RFC 4648 section 4) and base64url
// without padding (section 5, as JWT uses it); UTF-8 checks for text that
// goes into JSON (Graph rejects a request that is not UTF-8).
//
// Does: pure encoding/decoding of byte strings. Does not: line-wrap.
// Runs on: any thread. Fails: decode returns false on bad input.
#pragma once
#include <string>
#include <string_view>

namespace relay::provider::cloud {

std::string base64(std::string_view bytes);
std::string base64url(std::string_view bytes);  // no '=' padding
// Accepts both alphabets, with or without padding.
bool base64_decode(std::string_view text, std::string* out);
// True when `text` is the content of a base64 body that every decoder reads
// alike (RFC 2045 6.8): alphabet characters and line breaks (CR, LF, and
// spaces or tabs at a line's end) only, a length that is a multiple of 4,
// and padding only at the very end.
bool base64_strict(std::string_view text);
// The same check fed piece by piece (a large part's content is never copied whole).
class Base64Check {
 public:
  void feed(std::string_view text);
  bool ok() const { return !bad_ && n_ % 4 == 0 && pad_ <= 2; }

 private:
  std::size_t n_ = 0, pad_ = 0;
  bool bad_ = false;
};

// UTF-8 as RFC 3629 defines it (no overlong forms, no surrogates, nothing
// above U+10FFFF).
bool is_utf8(std::string_view text);
// `text` with every byte that does not start or continue a valid UTF-8
// sequence replaced by U+FFFD (one per byte): valid input comes back as is.
std::string utf8_valid(std::string_view text);

}  // namespace relay::provider::cloud
