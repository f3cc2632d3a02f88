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

GPtr<GMimeMessage> parse(const std::string& mime) {
  init();
  GPtr<GMimeStream> stream(g_mime_stream_mem_new_with_buffer(mime.data(), mime.size()));
  GPtr<GMimeParser> parser(g_mime_parser_new_with_stream(stream.get()));
  return GPtr<GMimeMessage>(g_mime_parser_construct_message(parser.get(), nullptr));
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
