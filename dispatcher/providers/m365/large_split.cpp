// GMime half of large_send.hpp: split a message into the draft's MIME and
// the attachments Graph adds after it — only so that the message Exchange
// rebuilds (the draft's parts, then the attachments in the order added) is
// the message submitted, part by part:
//  - multipart/signed, multipart/encrypted and S/MIME are never taken
//    apart (that breaks the signature): they go whole into the draft;
//  - only the trailing attachments of a top-level multipart/mixed are taken
//    out (parts after the last body part), so the order stays; parts of a
//    multipart/related with a Content-ID go as inline attachments (isInline
//    + contentId, which Exchange links back into the HTML);
//  - an attachment keeps its whole Content-Type value (charset, method=...);
//  - a message that is one non-text part (the payload itself) becomes a
//    draft with an empty text body and that part as its one attachment;
//  - a part whose base64 is damaged (decoders disagree on its bytes) stays
//    in the draft's MIME as written, and so do the parts before it;
//  - names, types and Content-IDs are made valid UTF-8 (the JSON requests
//    that carry them must be).
#include "dispatcher/providers/m365/gmime_util.hpp"
#include "dispatcher/providers/m365/large_send.hpp"

namespace relay::provider::m365 {
namespace {

bool sealed(GMimeObject* o) {
  const std::string t = gm::mime_type(o);
  return t == "multipart/signed" || t == "multipart/encrypted" || t.find("pkcs7") != std::string::npos;
}

bool splits_out(GMimeObject* obj) {
  if (GMIME_IS_MESSAGE_PART(obj)) return true;
  if (!GMIME_IS_PART(obj) || !gm::intact(GMIME_PART(obj))) return false;
  return g_mime_part_is_attachment(GMIME_PART(obj)) || g_mime_part_get_filename(GMIME_PART(obj)) != nullptr;
}

Attachment to_attachment(GMimeObject* obj, bool inl, GMimeFormatOptions* fmt) {
  Attachment a;
  a.content_type = gm::content_type_value(obj);
  if (const char* cid = g_mime_object_get_content_id(obj); cid && inl) a.content_id = gm::header_utf8(cid);
  a.is_inline = inl;
  if (GMIME_IS_PART(obj)) {
    const char* fn = g_mime_part_get_filename(GMIME_PART(obj));
    a.name = fn && *fn ? gm::header_utf8(fn) : (a.content_id.empty() ? "attachment" : a.content_id);
    a.bytes = gm::decoded(GMIME_PART(obj));
  } else {  // message/rfc822
    a.name = "message.eml";
    GMimeMessage* inner = g_mime_message_part_get_message(GMIME_MESSAGE_PART(obj));
    if (inner) {
      gm::GStr s(g_mime_object_to_string(GMIME_OBJECT(inner), fmt));
      if (s) a.bytes = s.get();
    }
  }
  return a;
}

// Inline parts of every multipart/related (not inside a sealed part), in order.
void take_inline(GMimeObject* o, std::vector<Attachment>* out, GMimeFormatOptions* fmt) {
  if (!GMIME_IS_MULTIPART(o) || sealed(o)) return;
  GMimeMultipart* mp = GMIME_MULTIPART(o);
  const bool rel = gm::mime_type(o) == "multipart/related";
  for (int i = 0; i < g_mime_multipart_get_count(mp); ++i) {
    GMimeObject* p = g_mime_multipart_get_part(mp, i);
    if (rel && i > 0 && GMIME_IS_PART(p) && g_mime_object_get_content_id(p) && gm::intact(GMIME_PART(p))) {
      out->push_back(to_attachment(p, true, fmt));
      gm::GPtr<GMimeObject> removed(g_mime_multipart_remove_at(mp, i--));
    } else {
      take_inline(p, out, fmt);
    }
  }
}

// The attachments after the last body part of a top-level multipart/mixed.
void take_trailing(GMimeMultipart* mp, std::vector<Attachment>* out, GMimeFormatOptions* fmt) {
  int first = g_mime_multipart_get_count(mp);
  while (first > 0 && splits_out(g_mime_multipart_get_part(mp, first - 1))) --first;
  if (first == 0) first = 1;  // keep one part: a multipart needs a body
  for (int i = first; i < g_mime_multipart_get_count(mp); ++i) {
    GMimeObject* p = g_mime_multipart_get_part(mp, i);
    GMimeContentDisposition* d = g_mime_object_get_content_disposition(p);
    const bool inl = d && !g_mime_content_disposition_is_attachment(d) && g_mime_object_get_content_id(p);
    out->push_back(to_attachment(p, inl, fmt));
  }
  while (g_mime_multipart_get_count(mp) > first) {
    gm::GPtr<GMimeObject> removed(g_mime_multipart_remove_at(mp, g_mime_multipart_get_count(mp) - 1));
  }
}

}  // namespace

std::optional<Split> split_attachments(const std::string& mime) {
  gm::GPtr<GMimeMessage> msg = gm::parse(mime);
  if (!msg) return std::nullopt;
  gm::FormatPtr fmt = gm::crlf_format();
  Split s;
  GMimeObject* body = g_mime_message_get_mime_part(msg.get());
  if (!body || sealed(body)) {
    s.rest_mime = mime;  // whole, byte for byte: the draft carries it as submitted
    return s;
  }
  if (GMIME_IS_PART(body) && !GMIME_IS_TEXT_PART(body)) {  // the payload is the message itself
    s.attachments.push_back(to_attachment(body, false, fmt.get()));
    gm::GPtr<GMimeTextPart> empty(g_mime_text_part_new_with_subtype("plain"));
    g_mime_text_part_set_text(empty.get(), "");
    g_mime_message_set_mime_part(msg.get(), GMIME_OBJECT(empty.get()));
  } else if (GMIME_IS_MULTIPART(body)) {
    std::vector<Attachment> trailing;
    if (gm::mime_type(body) == "multipart/mixed") take_trailing(GMIME_MULTIPART(body), &trailing, fmt.get());
    take_inline(body, &s.attachments, fmt.get());
    for (auto& a : trailing) s.attachments.push_back(std::move(a));
  }
  if (s.attachments.empty()) {
    s.rest_mime = mime;  // nothing taken out: the draft is the message as submitted
    return s;
  }
  gm::GStr text(g_mime_object_to_string(GMIME_OBJECT(msg.get()), fmt.get()));
  if (!text) return std::nullopt;
  s.rest_mime = text.get();
  return s;
}

}  // namespace relay::provider::m365
