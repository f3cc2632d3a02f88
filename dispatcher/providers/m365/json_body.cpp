// The body half of json_message.hpp: the MIME structure as Graph's JSON
// body and fileAttachments, or why it cannot be (see the header).
#include <fmt/format.h>

#include "dispatcher/providers/m365/gmime_util.hpp"
#include "dispatcher/providers/m365/json_message.hpp"

namespace relay::provider::m365 {
namespace {

using nlohmann::json;

bool is_file_part(GMimeObject* o) {
  if (!GMIME_IS_PART(o)) return false;
  return g_mime_part_is_attachment(GMIME_PART(o)) || g_mime_part_get_filename(GMIME_PART(o)) != nullptr;
}

bool is_text_body(GMimeObject* o) {
  if (!GMIME_IS_TEXT_PART(o) || is_file_part(o)) return false;
  const std::string t = gm::mime_type(o);
  return t == "text/plain" || t == "text/html";
}

// Why a part anywhere in the tree has no JSON form ("" = none).
std::string unsupported(GMimeObject* o) {
  const std::string t = gm::mime_type(o);
  if (t == "multipart/signed" || t == "multipart/encrypted")
    return "signed or encrypted message (" + t + "): re-encoding would break it";
  if (t.find("pkcs7") != std::string::npos) return "S/MIME message (" + t + "): re-encoding would break it";
  if (t == "text/calendar") return "calendar part (text/calendar): its method and charset have no JSON place";
  if (GMIME_IS_MESSAGE_PART(o) || t.rfind("message/", 0) == 0) return "attached message (" + t + ")";
  if (GMIME_IS_PART(o) && !gm::intact(GMIME_PART(o)))
    return "damaged base64 in a " + t + " part: decoders disagree on its bytes";
  if (GMIME_IS_MULTIPART(o)) {
    GMimeMultipart* mp = GMIME_MULTIPART(o);
    if (g_mime_multipart_get_count(mp) == 0) return t + " without parts (no boundary, or none found)";
    for (int i = 0; i < g_mime_multipart_get_count(mp); ++i) {
      std::string w = unsupported(g_mime_multipart_get_part(mp, i));
      if (!w.empty()) return w;
    }
  }
  return {};
}

Attachment attachment_of(GMimeObject* o, bool inl) {
  Attachment a;
  GMimePart* p = GMIME_PART(o);
  a.content_type = gm::header_utf8(gm::mime_type(o));
  if (a.content_type.rfind("text/", 0) == 0) {
    if (const char* cs = g_mime_object_get_content_type_parameter(o, "charset"))
      a.content_type += gm::header_utf8(fmt::format("; charset={}", cs));
  }
  const char* cid = g_mime_object_get_content_id(o);
  if (inl && cid) a.content_id = gm::header_utf8(cid);
  a.is_inline = inl;
  const char* fn = g_mime_part_get_filename(p);
  a.name = gm::header_utf8(fn && *fn ? fn : (cid ? cid : "attachment"));
  a.bytes = gm::decoded(p);
  return a;
}

// The body in UTF-8 (gm::text_utf8: invalid bytes become U+FFFD); "" or
// why it cannot be carried (a charset iconv does not know: MIME keeps it).
std::string set_body(JsonMessage* out, GMimeObject* o) {
  std::string text;
  if (o && !gm::text_utf8(GMIME_PART(o), &text)) {
    const char* cs = g_mime_object_get_content_type_parameter(o, "charset");
    return fmt::format("text body in unknown charset '{}'", gm::header_utf8(cs ? cs : ""));
  }
  const bool html = o && gm::mime_type(o) == "text/html";
  out->message["body"] = json{{"contentType", html ? "html" : "text"}, {"content", text}};
  return {};
}

// multipart/related: an HTML root and inline parts named by Content-ID.
std::string related(GMimeObject* o, JsonMessage* out) {
  if (g_mime_object_get_content_type_parameter(o, "start")) return "multipart/related with a start parameter";
  GMimeMultipart* mp = GMIME_MULTIPART(o);
  if (g_mime_multipart_get_count(mp) < 1 || !is_text_body(g_mime_multipart_get_part(mp, 0)))
    return "multipart/related without a text root";
  if (auto w = set_body(out, g_mime_multipart_get_part(mp, 0)); !w.empty()) return w;
  for (int i = 1; i < g_mime_multipart_get_count(mp); ++i) {
    GMimeObject* p = g_mime_multipart_get_part(mp, i);
    if (!GMIME_IS_PART(p) || !g_mime_object_get_content_id(p)) return "multipart/related part without a Content-ID";
    out->attachments.push_back(attachment_of(p, true));
  }
  return {};
}

std::string body_from(GMimeObject* o, JsonMessage* out) {
  const std::string t = gm::mime_type(o);
  if (is_text_body(o)) return set_body(out, o);
  if (t == "multipart/related") return related(o, out);
  if (t != "multipart/alternative") return "body of type " + t + " has no JSON form";
  GMimeMultipart* mp = GMIME_MULTIPART(o);
  GMimeObject *plain = nullptr, *rich = nullptr;
  for (int i = 0; i < g_mime_multipart_get_count(mp); ++i) {
    GMimeObject* p = g_mime_multipart_get_part(mp, i);
    const std::string pt = gm::mime_type(p);
    if (pt == "text/plain" && is_text_body(p)) plain = p;
    else if ((pt == "text/html" && is_text_body(p)) || pt == "multipart/related") rich = p;
    else return "multipart/alternative with a " + pt + " part";
  }
  if (rich) return body_from(rich, out);  // Exchange writes its own plain alternative
  if (plain) return body_from(plain, out);
  return "empty multipart/alternative";
}

std::string mixed(GMimeObject* o, JsonMessage* out) {
  GMimeMultipart* mp = GMIME_MULTIPART(o);
  int i = 0;
  GMimeObject* first = g_mime_multipart_get_count(mp) > 0 ? g_mime_multipart_get_part(mp, 0) : nullptr;
  if (first && (is_text_body(first) || GMIME_IS_MULTIPART(first))) {
    if (auto w = body_from(first, out); !w.empty()) return w;
    i = 1;
  } else {
    set_body(out, nullptr);
  }
  for (; i < g_mime_multipart_get_count(mp); ++i) {
    GMimeObject* p = g_mime_multipart_get_part(mp, i);
    if (!GMIME_IS_PART(p)) return "nested " + gm::mime_type(p) + " after the body";
    if (is_text_body(p)) return "a second inline text part (it would arrive as an attachment)";
    out->attachments.push_back(attachment_of(p, false));
  }
  return {};
}

}  // namespace

std::string json_body_of(GMimeMessage* msg, JsonMessage* out) {
  GMimeObject* root = g_mime_message_get_mime_part(msg);
  if (!root) {
    set_body(out, nullptr);
    return {};
  }
  if (auto w = unsupported(root); !w.empty()) return w;
  const std::string t = gm::mime_type(root);
  std::string why;
  if (GMIME_IS_PART(root) && !is_text_body(root)) {
    set_body(out, nullptr);  // one non-text part: an empty body and the part as the attachment
    out->attachments.push_back(attachment_of(root, false));
  } else if (t == "multipart/mixed") {
    why = mixed(root, out);
  } else {
    why = body_from(root, out);
  }
  if (!why.empty()) return why;
  try {
    (void)out->message.dump();  // strict: every string must be UTF-8
    for (const auto& a : out->attachments) (void)json(a.name).dump();
  } catch (const json::exception&) {
    return "header or body text is not valid UTF-8 after decoding";
  }
  return {};
}

}  // namespace relay::provider::m365
