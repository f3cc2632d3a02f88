// GMime half of large_send.hpp: split a message into body and attachments.
#include <gmime/gmime.h>

#include <memory>
#include <mutex>

#include "dispatcher/providers/m365/large_send.hpp"

namespace relay::provider::m365 {
namespace {

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

void init_gmime() {
  static std::once_flag once;
  std::call_once(once, [] { g_mime_init(); });
}

std::string decoded(GMimePart* part) {
  GMimeDataWrapper* w = g_mime_part_get_content(part);
  if (!w) return {};
  GPtr<GMimeStream> mem(g_mime_stream_mem_new());
  g_mime_data_wrapper_write_to_stream(w, mem.get());
  GByteArray* a = g_mime_stream_mem_get_byte_array(GMIME_STREAM_MEM(mem.get()));
  return std::string(reinterpret_cast<const char*>(a->data), a->len);
}

Attachment to_attachment(GMimeObject* obj, GMimeFormatOptions* fmt) {
  Attachment a;
  GStr type(g_mime_content_type_get_mime_type(g_mime_object_get_content_type(obj)));
  a.content_type = type ? type.get() : "application/octet-stream";
  if (const char* cid = g_mime_object_get_content_id(obj)) a.content_id = cid;
  GMimeContentDisposition* disp = g_mime_object_get_content_disposition(obj);
  a.is_inline = disp && !a.content_id.empty() && !g_mime_content_disposition_is_attachment(disp);
  if (GMIME_IS_PART(obj)) {
    const char* fn = g_mime_part_get_filename(GMIME_PART(obj));
    a.name = fn ? fn : "attachment";
    a.bytes = decoded(GMIME_PART(obj));
  } else {  // message/rfc822
    a.name = "message.eml";
    GMimeMessage* inner = g_mime_message_part_get_message(GMIME_MESSAGE_PART(obj));
    if (inner) {
      GStr s(g_mime_object_to_string(GMIME_OBJECT(inner), fmt));
      if (s) a.bytes = s.get();
    }
  }
  return a;
}

bool is_attachment(GMimeObject* obj) {
  if (GMIME_IS_MESSAGE_PART(obj)) return true;
  if (!GMIME_IS_PART(obj)) return false;
  return g_mime_part_is_attachment(GMIME_PART(obj)) || g_mime_part_get_filename(GMIME_PART(obj)) != nullptr;
}

void collect(GMimeMultipart* mp, std::vector<Attachment>* out, GMimeFormatOptions* fmt) {
  for (int i = 0; i < g_mime_multipart_get_count(mp); ++i) {
    GMimeObject* part = g_mime_multipart_get_part(mp, i);
    if (GMIME_IS_MULTIPART(part)) {
      collect(GMIME_MULTIPART(part), out, fmt);
    } else if (is_attachment(part)) {
      out->push_back(to_attachment(part, fmt));
      GPtr<GMimeObject> removed(g_mime_multipart_remove_at(mp, i));
      --i;
    }
  }
}

}  // namespace

std::optional<Split> split_attachments(const std::string& mime) {
  init_gmime();
  GPtr<GMimeStream> stream(g_mime_stream_mem_new_with_buffer(mime.data(), mime.size()));
  GPtr<GMimeParser> parser(g_mime_parser_new_with_stream(stream.get()));
  GPtr<GMimeMessage> msg(g_mime_parser_construct_message(parser.get(), nullptr));
  if (!msg) return std::nullopt;
  std::unique_ptr<GMimeFormatOptions, void (*)(GMimeFormatOptions*)> fmt(g_mime_format_options_new(),
                                                                        g_mime_format_options_free);
  g_mime_format_options_set_newline_format(fmt.get(), GMIME_NEWLINE_FORMAT_DOS);
  Split s;
  GMimeObject* body = g_mime_message_get_mime_part(msg.get());
  if (body && GMIME_IS_MULTIPART(body)) collect(GMIME_MULTIPART(body), &s.attachments, fmt.get());
  GStr text(g_mime_object_to_string(GMIME_OBJECT(msg.get()), fmt.get()));
  if (!text) return std::nullopt;
  s.rest_mime = text.get();
  return s;
}

}  // namespace relay::provider::m365
