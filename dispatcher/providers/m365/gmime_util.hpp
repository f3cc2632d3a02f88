// relay::provider::m365 GMime helpers — owners for GMime objects and the
// few reads both GMime users of this adapter need (large_split: the draft
// path's split; json_message: the JSON form of a message).
// Does: GPtr (g_object_unref), GStr (g_free), one g_mime_init per process,
// a part's content decoded from its transfer encoding, a header value
// unfolded. Does not: parse policy. Runs on: any thread (the adapter calls
// these on the uv threadpool). Fails: empty results, never throws.
#pragma once
#include <gmime/gmime.h>

#include <memory>
#include <string>

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
std::string content_type_value(GMimeObject* obj);  // the Content-Type header as written (unfolded)

}  // namespace relay::provider::m365::gm
