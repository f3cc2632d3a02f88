// relay::provider::cloud codecs — base64 (RFC 4648 section 4) and base64url
// without padding (section 5, as JWT uses it).
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

}  // namespace relay::provider::cloud
