// See json_message.hpp. Header fields here; the body walk is json_body.cpp.
#include "dispatcher/providers/m365/json_message.hpp"

#include <fmt/format.h>
#include <strings.h>

#include <cctype>
#include <set>

#include "common/header_reader.hpp"
#include "dispatcher/providers/cloud/codec.hpp"
#include "dispatcher/providers/m365/cloud_names.hpp"
#include "dispatcher/providers/m365/gmime_util.hpp"

namespace relay::provider::m365 {

std::string json_body_of(GMimeMessage* msg, JsonMessage* out);  // json_body.cpp

namespace {

using nlohmann::json;

std::string lower(std::string_view s) {
  std::string out(s);
  for (auto& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

// Header text decoded (RFC 2047 encoded-words, raw 8-bit) and always valid
// UTF-8 (gm::header_utf8): a broken encoded-word stays as written.
std::string decode_phrase(const std::string& s) {
  if (s.empty()) return s;
  const std::string in = gm::header_utf8(s);
  gm::GStr d(g_mime_utils_header_decode_phrase(nullptr, in.c_str()));
  return gm::header_utf8(d ? std::string_view(d.get()) : std::string_view(in));
}

std::string decode_text(const std::string& s) {
  const std::string in = gm::header_utf8(s);
  gm::GStr d(g_mime_utils_header_decode_text(nullptr, in.c_str()));
  return gm::header_utf8(d ? std::string_view(d.get()) : std::string_view(in));
}

json recipient(const mail::Mailbox& m) {
  json e = {{"address", m.address}};
  if (!m.display.empty()) e["name"] = decode_phrase(m.display);
  return json{{"emailAddress", e}};
}

bool utf8_addresses(const mail::AddressList& l) {
  for (const auto& m : l.mailboxes)
    if (!cloud::is_utf8(m.address)) return false;
  return true;
}

// Fields Exchange writes itself or that the JSON structure carries.
bool dropped(const std::string& n) {
  static const std::set<std::string> kDropped = {"received",  "return-path",     "date",      "mime-version",
                                                 "dkim-signature", "user-agent"};
  return kDropped.count(n) || n.rfind("content-", 0) == 0;
}

struct HeaderMap {
  JsonMessage* out;
  std::string why;  // first reason the header cannot be carried
  json custom = json::array();
  std::set<std::string> once;  // single fields seen: a repeated Subject etc. keeps the first, as readers show it

  void fail(std::string w) {
    if (why.empty()) why = std::move(w);
  }
  void list(const char* prop, std::string_view value, mail::ListKind kind) {
    auto l = mail::parse_addresses(value, kind);
    if (!l.error.empty()) return fail(fmt::format("{} cannot be read: {}", prop, l.error));
    if (!utf8_addresses(l)) return fail(fmt::format("{} names an address that is not UTF-8", prop));
    json& a = out->message[prop];
    if (!a.is_array()) a = json::array();
    for (const auto& m : l.mailboxes) a.push_back(recipient(m));
  }
  void one(const char* prop, std::string_view value, mail::ListKind kind) {
    auto l = mail::parse_addresses(value, kind);
    if (!l.error.empty() || l.mailboxes.size() != 1) return fail(fmt::format("{} must name one mailbox", prop));
    if (!utf8_addresses(l)) return fail(fmt::format("{} names an address that is not UTF-8", prop));
    out->message[prop] = recipient(l.mailboxes[0]);
  }
  void field(const mail::Field& f) {
    const std::string n = lower(f.name);
    const std::string v = gm::unfolded(std::string(f.value).c_str());
    if (n == "from") return one("from", f.value, mail::ListKind::MailboxList);
    if (n == "sender") return one("sender", f.value, mail::ListKind::Mailbox);
    if (n == "to") return list("toRecipients", f.value, mail::ListKind::AddressList);
    if (n == "cc") return list("ccRecipients", f.value, mail::ListKind::AddressList);
    if (n == "bcc") return list("bccRecipients", f.value, mail::ListKind::AddressList);
    if (n == "reply-to") return list("replyTo", f.value, mail::ListKind::AddressList);
    if ((n == "subject" || n == "message-id" || n == "importance") && !once.insert(n).second) return;
    if (n == "subject") return void(out->message["subject"] = decode_text(v));
    if (n == "message-id") return void(out->message["internetMessageId"] = gm::header_utf8(v));
    if (n == "importance") {
      const std::string l = lower(v);
      if (l != "high" && l != "normal" && l != "low") return fail("Importance '" + v + "' is not high, normal or low");
      out->message["importance"] = std::string(1, static_cast<char>(std::toupper(l[0]))) + l.substr(1);
      return;
    }
    if (n.size() > 2 && n[0] == 'x' && n[1] == '-') {
      custom.push_back({{"name", gm::header_utf8(f.name)}, {"value", gm::header_utf8(v)}});
      return;
    }
    if (dropped(n)) return;
    fail(fmt::format("header field {} has no place in Graph's JSON message", std::string(f.name)));
  }
};

}  // namespace

JsonMessage to_json_message(const std::string& mime) {
  gm::init();  // GMime decodes the display names and the subject below
  JsonMessage out;
  out.message = json::object();
  const mail::HeaderSection h = mail::read_header(mime);
  if (!h.error.empty()) {
    out.unfaithful = "header section cannot be read: " + h.error;
    return out;
  }
  HeaderMap map{&out, {}, json::array(), {}};
  for (const auto& f : h.fields) map.field(f);
  if (map.custom.size() > kMaxCustomHeaders) {
    map.fail(fmt::format("{} X- header fields (Graph's JSON message takes at most {})", map.custom.size(),
                         kMaxCustomHeaders));
  }
  if (!map.custom.empty()) out.message["internetMessageHeaders"] = map.custom;
  if (!map.why.empty()) {
    out.unfaithful = map.why;
    return out;
  }
  gm::GPtr<GMimeMessage> msg = gm::parse(mime);
  if (!msg) {
    out.unfaithful = "GMime cannot parse the message";
    return out;
  }
  out.unfaithful = json_body_of(msg.get(), &out);
  return out;
}

namespace {

json attachment_json(const Attachment& a) {
  json j = {{"@odata.type", "#microsoft.graph.fileAttachment"},
            {"name", a.name},
            {"contentType", a.content_type},
            {"contentBytes", base64(a.bytes)},
            {"isInline", a.is_inline}};
  if (!a.content_id.empty()) j["contentId"] = a.content_id;
  return j;
}

}  // namespace

std::string sendmail_body(const JsonMessage& m, bool save) {
  json msg = m.message;
  if (!m.attachments.empty()) {
    json a = json::array();
    for (const auto& at : m.attachments) a.push_back(attachment_json(at));
    msg["attachments"] = std::move(a);
  }
  return json{{"message", std::move(msg)}, {"saveToSentItems", save}}.dump(-1, ' ', false,
                                                                          json::error_handler_t::replace);
}

std::string draft_body(const JsonMessage& m, bool save) {
  json msg = m.message;
  if (!save) msg["singleValueExtendedProperties"] = json::array({{{"id", "Boolean 0x0E01"}, {"value", "true"}}});
  return msg.dump(-1, ' ', false, json::error_handler_t::replace);
}

}  // namespace relay::provider::m365
