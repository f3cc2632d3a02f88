// See gmime_util.hpp.
#include "dispatcher/providers/m365/gmime_util.hpp"

#include <strings.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <mutex>

#include "dispatcher/providers/cloud/codec.hpp"

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
  return v.empty() ? mime_type(obj) : header_utf8(v);
}

bool intact(GMimePart* part) {
  GMimeDataWrapper* w = g_mime_part_get_content(part);
  if (!w || g_mime_data_wrapper_get_encoding(w) != GMIME_CONTENT_ENCODING_BASE64) return true;
  GMimeStream* raw = g_mime_data_wrapper_get_stream(w);
  if (!raw) return true;
  cloud::Base64Check check;  // a chunk at a time: a 25 MB attachment is not copied to be checked
  char buf[16 * 1024];
  g_mime_stream_reset(raw);
  for (ssize_t n; (n = g_mime_stream_read(raw, buf, sizeof buf)) > 0;)
    check.feed(std::string_view(buf, static_cast<std::size_t>(n)));
  g_mime_stream_reset(raw);
  return check.ok();
}

namespace {

bool utf8_family(const char* charset) {
  return !charset || !*charset || !strcasecmp(charset, "utf-8") || !strcasecmp(charset, "utf8") ||
         !strcasecmp(charset, "us-ascii") || !strcasecmp(charset, "ascii");
}

// `in` converted by `cd`; a byte iconv refuses (EILSEQ, or a sequence cut
// at the end: EINVAL) becomes U+FFFD and conversion goes on after it.
std::string convert(iconv_t cd, std::string_view in) {
  std::string out;
  char buf[4096];
  char* ip = const_cast<char*>(in.data());
  std::size_t il = in.size();
  while (il > 0) {
    char* op = buf;
    std::size_t ol = sizeof buf;
    const std::size_t r = iconv(cd, &ip, &il, &op, &ol);
    out.append(buf, static_cast<std::size_t>(op - buf));
    if (r == static_cast<std::size_t>(-1) && errno != E2BIG) {  // a byte it cannot take: skip it
      out += "\xEF\xBF\xBD";
      ++ip;
      --il;
    }
  }
  char* op = buf;
  std::size_t ol = sizeof buf;
  iconv(cd, nullptr, nullptr, &op, &ol);  // a stateful charset's closing bytes
  out.append(buf, static_cast<std::size_t>(op - buf));
  return out;
}

}  // namespace

bool text_utf8(GMimePart* part, std::string* out) {
  const char* charset = g_mime_object_get_content_type_parameter(GMIME_OBJECT(part), "charset");
  const std::string bytes = decoded(part);
  if (utf8_family(charset)) {
    *out = cloud::utf8_valid(bytes);
    return true;
  }
  iconv_t cd = g_mime_iconv_open("UTF-8", charset);
  if (cd == reinterpret_cast<iconv_t>(-1)) return false;
  std::string text = convert(cd, bytes);
  g_mime_iconv_close(cd);
  *out = cloud::utf8_valid(text);
  return true;
}

std::string header_utf8(std::string_view text) {
  if (cloud::is_utf8(text)) return std::string(text);
  init();
  GStr d(g_mime_utils_decode_8bit(nullptr, text.data(), text.size()));
  return cloud::utf8_valid(d ? std::string_view(d.get()) : text);
}

}  // namespace relay::provider::m365::gm
