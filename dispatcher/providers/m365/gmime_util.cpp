// See gmime_util.hpp.
#include "dispatcher/providers/m365/gmime_util.hpp"

#include <algorithm>
#include <cctype>
#include <mutex>

namespace relay::provider::m365::gm {

void init() {
  static std::once_flag once;
  std::call_once(once, [] { g_mime_init(); });
}

namespace {
// Frees a GByteArray whose data belongs to someone else (the caller's string).
void release_borrowed(gpointer p) {
  auto* array = static_cast<GByteArray*>(p);
  gsize len = 0;
  g_byte_array_steal(array, &len);
  g_byte_array_unref(array);
}
}  // namespace

GPtr<GMimeMessage> parse(const std::string& mime) {
  init();
  // A memory stream over `mime` itself, not a copy of it (a 20 MB message
  // was one more 20 MB on the threadpool, docs/memory.md): the stream does
  // not own the array, whose data is given back before it is freed. The
  // parser only reads; the parts of the message refer to the stream (GMime
  // keeps substreams, no copies), so the array lives as long as the message
  // and `mime` must outlive the message (every caller keeps it).
  GByteArray* array = g_byte_array_new_take(reinterpret_cast<guint8*>(const_cast<char*>(mime.data())), mime.size());
  GPtr<GMimeStream> stream(g_mime_stream_mem_new_with_byte_array(array));
  g_mime_stream_mem_set_owner(GMIME_STREAM_MEM(stream.get()), FALSE);
  GPtr<GMimeParser> parser(g_mime_parser_new_with_stream(stream.get()));
  GPtr<GMimeMessage> msg(g_mime_parser_construct_message(parser.get(), nullptr));
  if (!msg) {
    release_borrowed(array);
    return msg;
  }
  g_object_set_data_full(G_OBJECT(msg.get()), "relay-borrowed-array", array, release_borrowed);
  return msg;
}

FormatPtr crlf_format() {
  FormatPtr fmt(g_mime_format_options_new(), g_mime_format_options_free);
  g_mime_format_options_set_newline_format(fmt.get(), GMIME_NEWLINE_FORMAT_DOS);
  return fmt;
}

std::string decoded(GMimePart* part) {
  GMimeDataWrapper* w = g_mime_part_get_content(part);
  if (!w) return {};
  GPtr<GMimeStream> mem(g_mime_stream_mem_new());
  g_mime_data_wrapper_write_to_stream(w, mem.get());
  GByteArray* a = g_mime_stream_mem_get_byte_array(GMIME_STREAM_MEM(mem.get()));
  return std::string(reinterpret_cast<const char*>(a->data), a->len);
}

std::string mime_type(GMimeObject* obj) {
  GStr t(g_mime_content_type_get_mime_type(g_mime_object_get_content_type(obj)));
  std::string s = t ? t.get() : "application/octet-stream";
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return s;
}

std::string unfolded(const char* value) {
  std::string out;
  if (!value) return out;
  for (const char* p = value; *p; ++p)
    if (*p != '\r' && *p != '\n') out += *p;
  const auto b = out.find_first_not_of(" \t");
  if (b == std::string::npos) return {};
  return out.substr(b, out.find_last_not_of(" \t") - b + 1);
}

std::string content_type_value(GMimeObject* obj) {
  std::string v = unfolded(g_mime_object_get_header(obj, "Content-Type"));
  return v.empty() ? mime_type(obj) : v;
}

}  // namespace relay::provider::m365::gm
