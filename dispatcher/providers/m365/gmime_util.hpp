// relay::provider::m365 GMime helpers — owners for GMime objects and the
// few reads both GMime users of this adapter need (large_split: the draft
// path's split; json_message: the JSON form of a message).
// Does: GPtr (g_object_unref), GStr (g_free), one g_mime_init per process,
// a part's content decoded from its transfer encoding, a text part's text
// and header text as valid UTF-8 (for JSON: Graph refuses anything else),
// a header value unfolded. Does not: parse policy. Runs on: any thread (the adapter calls
// these on the uv threadpool). Fails: empty results, never throws.
#pragma once
#include <gmime/gmime.h>

#include <memory>
#include <string>
#include <string_view>

namespace relay::provider::m365::gm {

struct GUnref {
  void operator()(gpointer p) const {
    if (p) g_object_unref(p);
  }
};
template <typename T>
using GPtr = std::unique_ptr<T, GUnref>;

struct GFree {
  void operator()(void* p) const { g_free(p); }
};
using GStr = std::unique_ptr<char, GFree>;

using FormatPtr = std::unique_ptr<GMimeFormatOptions, void (*)(GMimeFormatOptions*)>;

void init();                                   // g_mime_init, once per process
GPtr<GMimeMessage> parse(const std::string& mime);  // null when GMime cannot read it
FormatPtr crlf_format();                       // CRLF output, as Graph takes MIME
std::string decoded(GMimePart* part);          // content without its transfer encoding
std::string mime_type(GMimeObject* obj);       // "type/subtype", lower case
std::string unfolded(const char* value);       // "" for null; CR/LF removed, trimmed
std::string content_type_value(GMimeObject* obj);  // the Content-Type header as written (unfolded), UTF-8
// False when the part's transfer encoding is base64 and its content is not
// base64 that every decoder reads alike (cloud::base64_strict): GMime's
// reading of it would be one guess among several.
bool intact(GMimePart* part);
// A text part's text in UTF-8: decoded from its transfer encoding, then
// from its charset (none, us-ascii or utf-8: taken as UTF-8); a byte that
// is not valid in the charset becomes U+FFFD. False (and *out untouched)
// when the charset is one iconv does not know.
bool text_utf8(GMimePart* part, std::string* out);
// Header text as UTF-8: as is when it is; else raw 8-bit text decoded as
// GMime guesses its charset (ISO-8859-1 at worst), never invalid.
std::string header_utf8(std::string_view text);

}  // namespace relay::provider::m365::gm
