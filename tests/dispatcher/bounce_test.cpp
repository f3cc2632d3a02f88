// The bounce (RFC 3464 DSN) builder: every message is parsed back with GMime
// and each field checked; unicode and odd addresses; long diagnostics folded;
// when a bounce is due; the original's header block without its body.
#include <doctest/doctest.h>
#include <gmime/gmime.h>
#include <unistd.h>

#include <algorithm>
#include <fstream>
#include <map>
#include <memory>
#include <sstream>

#include "dispatcher/bounce.hpp"

using namespace relay;
using namespace relay::dispatch;

namespace {

struct Unref {
  void operator()(void* p) const noexcept {
    if (p) g_object_unref(p);
  }
};
template <typename T>
using GPtr = std::unique_ptr<T, Unref>;

spool::Envelope failed_envelope() {
  spool::Envelope env;
  env.received_at = 1764763200;  // 2025-12-03 12:00:00 UTC
  env.mail_from = "app@example.com";
  env.provider = "up";
  env.rcpts = {{"ok@dest.test", "", spool::RcptState::Sent, "250 2.0.0 OK"},
               {"bad@dest.test", "", spool::RcptState::Failed, "550 5.1.1 No such user here"},
               {"late@dest.test", "", spool::RcptState::Failed,
                "expired after 9 attempts (max_lifetime 3600s): 451 4.3.0 try later"}};
  return env;
}

BounceContext context() {
  return BounceContext{"postmaster@relay.test", "relay.test", "smtp", "mx.dest.test", 1764766800};
}

GPtr<GMimeMessage> parse(const std::string& text) {
  GPtr<GMimeStream> s(g_mime_stream_mem_new_with_buffer(text.data(), text.size()));
  GPtr<GMimeParser> p(g_mime_parser_new_with_stream(s.get()));
  return GPtr<GMimeMessage>(g_mime_parser_construct_message(p.get(), nullptr));
}

std::string content_of(GMimeObject* part) {
  GPtr<GMimeStream> out(g_mime_stream_mem_new());
  g_mime_object_write_content_to_stream(part, nullptr, out.get());
  GByteArray* a = g_mime_stream_mem_get_byte_array(GMIME_STREAM_MEM(out.get()));
  return std::string(reinterpret_cast<const char*>(a->data), a->len);
}

std::string mime_type(GMimeObject* o) {
  char* s = g_mime_content_type_get_mime_type(g_mime_object_get_content_type(o));
  std::string out = s;
  g_free(s);
  return out;
}

// The delivery-status part as blocks of unfolded fields: [0] per message,
// then one per recipient.
std::vector<std::map<std::string, std::string>> status_blocks(std::string text) {
  for (std::size_t p; (p = text.find("\r\n")) != std::string::npos;) text.replace(p, 2, "\n");
  for (std::size_t p; (p = text.find("\n ")) != std::string::npos;) text.replace(p, 2, " ");
  std::vector<std::map<std::string, std::string>> out(1);
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.empty()) {
      if (!out.back().empty()) out.emplace_back();
      continue;
    }
    auto colon = line.find(": ");
    REQUIRE_MESSAGE(colon != std::string::npos, line);
    out.back()[line.substr(0, colon)] = line.substr(colon + 2);
  }
  if (out.back().empty()) out.pop_back();
  return out;
}

struct Dsn {
  GPtr<GMimeMessage> msg;
  std::vector<GMimeObject*> parts;
  std::vector<std::map<std::string, std::string>> status;
};

Dsn parse_dsn(const std::string& text) {
  Dsn d;
  d.msg = parse(text);
  REQUIRE(d.msg);
  GMimeObject* top = g_mime_message_get_mime_part(d.msg.get());
  REQUIRE(GMIME_IS_MULTIPART(top));
  CHECK(mime_type(top) == "multipart/report");
  const char* rt = g_mime_object_get_content_type_parameter(top, "report-type");
  REQUIRE(rt);
  CHECK(std::string(rt) == "delivery-status");
  for (int i = 0; i < g_mime_multipart_get_count(GMIME_MULTIPART(top)); ++i)
    d.parts.push_back(g_mime_multipart_get_part(GMIME_MULTIPART(top), i));
  REQUIRE(d.parts.size() == 3);
  CHECK(mime_type(d.parts[0]) == "text/plain");
  CHECK(mime_type(d.parts[1]) == "message/delivery-status");
  CHECK(mime_type(d.parts[2]) == "text/rfc822-headers");
  d.status = status_blocks(content_of(d.parts[1]));
  return d;
}

std::string header(GMimeMessage* m, const char* name) {
  const char* v = g_mime_object_get_header(GMIME_OBJECT(m), name);
  return v ? v : "";
}

}  // namespace

TEST_CASE("DSN: three parts, every RFC 3464 field, only the failed recipients") {
  g_mime_init();
  MessageInfo info;
  info.subject = "Invoice 42";
  info.message_id = "orig@client.test";
  const std::string orig = "From: <app@example.com>\r\nTo: <bad@dest.test>\r\nSubject: Invoice 42\r\n";
  auto env = failed_envelope();
  Dsn d = parse_dsn(build_bounce(env, info, orig, context()));
  CHECK(header(d.msg.get(), "Auto-Submitted") == "auto-replied");
  CHECK(header(d.msg.get(), "To") == "<app@example.com>");
  CHECK(header(d.msg.get(), "From").find("<postmaster@relay.test>") != std::string::npos);
  CHECK(std::string(g_mime_message_get_message_id(d.msg.get())) == env.id.str() + ".dsn@relay.test");
  CHECK(header(d.msg.get(), "In-Reply-To") == "<orig@client.test>");
  REQUIRE(d.status.size() == 3);  // per message + the two failed recipients, never ok@
  CHECK(d.status[0]["Reporting-MTA"] == "dns; relay.test");
  CHECK(d.status[0]["Arrival-Date"] == "Wed, 03 Dec 2025 12:00:00 +0000");
  CHECK(d.status[0]["X-Relay-Queue-ID"] == env.id.str());
  auto& bad = d.status[1];
  CHECK(bad["Final-Recipient"] == "rfc822; bad@dest.test");
  CHECK(bad["Action"] == "failed");
  CHECK(bad["Status"] == "5.1.1");
  CHECK(bad["Remote-MTA"] == "dns; mx.dest.test");
  CHECK(bad["Diagnostic-Code"] == "smtp; 550 5.1.1 No such user here");
  CHECK(bad["Last-Attempt-Date"] == "Wed, 03 Dec 2025 13:00:00 +0000");
  auto& late = d.status[2];
  CHECK(late["Final-Recipient"] == "rfc822; late@dest.test");
  CHECK(late["Status"] == "4.4.7");
  CHECK(late.count("Remote-MTA") == 0);  // relay's own verdict, no remote MTA said it
  CHECK(late["Diagnostic-Code"].starts_with("X-relay; expired after 9 attempts"));
  for (const auto& b : d.status) CHECK(b.count("Final-Recipient") + (&b == &d.status[0]) == 1);
  std::string human = content_of(d.parts[0]);
  CHECK(human.find("<bad@dest.test>") != std::string::npos);
  CHECK(human.find("550 5.1.1 No such user here") != std::string::npos);
  CHECK(human.find("ok@dest.test") == std::string::npos);
  CHECK(human.find("Invoice 42") != std::string::npos);
  std::string returned = content_of(d.parts[2]);  // GMime hands the content back with LF line ends
  returned.erase(std::remove(returned.begin(), returned.end(), '\r'), returned.end());
  std::string want = orig;
  want.erase(std::remove(want.begin(), want.end(), '\r'), want.end());
  CHECK(returned == want);
}

TEST_CASE("DSN: API provider diagnostics get an X- type; unknown provider, no Remote-MTA") {
  g_mime_init();
  auto env = failed_envelope();
  env.rcpts.resize(2);
  env.rcpts[1].last_reply = "403 5.7.1 ErrorAccessDenied: Access is denied";
  BounceContext ctx = context();
  ctx.diagnostic_type = "X-relay-m365";
  ctx.remote_mta = "graph.microsoft.com";
  Dsn d = parse_dsn(build_bounce(env, {}, "Subject: x\r\n", ctx));
  REQUIRE(d.status.size() == 2);
  CHECK(d.status[1]["Status"] == "5.7.1");
  CHECK(d.status[1]["Diagnostic-Code"] == "X-relay-m365; 403 5.7.1 ErrorAccessDenied: Access is denied");
  CHECK(d.status[1]["Remote-MTA"] == "dns; graph.microsoft.com");
  ctx.diagnostic_type.clear();
  ctx.remote_mta.clear();
  env.rcpts[1].last_reply = "400 Bad Request";
  d = parse_dsn(build_bounce(env, {}, "", ctx));
  CHECK(d.status[1]["Status"] == "5.0.0");
  CHECK(d.status[1]["Diagnostic-Code"] == "X-relay; 400 Bad Request");
  CHECK(d.status[1].count("Remote-MTA") == 0);
  CHECK(content_of(d.parts[2]).find("could not be read") != std::string::npos);
}

TEST_CASE("DSN: unicode and odd addresses") {
  g_mime_init();
  auto env = failed_envelope();
  env.mail_from = "jörg@exämple.test";
  env.rcpts = {{"zoë@dest.test", "", spool::RcptState::Failed, "550 5.1.1 unknown"},
               {"a+b=c@dest.test", "", spool::RcptState::Failed, "550 5.1.1 unknown"},
               {"\"john doe\"@dest.test", "", spool::RcptState::Failed, "553 5.1.3 bad"},
               {"x\\y+z@dést.test", "", spool::RcptState::Failed, "550 5.1.1 unknown"}};
  MessageInfo info;
  info.subject = "Grüße\r\nBcc: evil@x";  // a decoded subject with a line break stays one line
  Dsn d = parse_dsn(build_bounce(env, info, "Subject: =?UTF-8?Q?Gr=C3=BC=C3=9Fe?=\r\n", context()));
  CHECK(header(d.msg.get(), "To") == "<jörg@exämple.test>");
  CHECK(header(d.msg.get(), "Bcc").empty());
  REQUIRE(d.status.size() == 5);
  CHECK(d.status[1]["Final-Recipient"] == "utf-8; zo\\x{EB}@dest.test");
  CHECK(d.status[2]["Final-Recipient"] == "rfc822; a+b=c@dest.test");
  CHECK(d.status[3]["Final-Recipient"] == "rfc822; \"john doe\"@dest.test");
  CHECK(d.status[3]["Status"] == "5.1.3");
  CHECK(d.status[4]["Final-Recipient"] == "utf-8; x+5Cy+2Bz@d\\x{E9}st.test");
  std::string human = content_of(d.parts[0]);
  CHECK(human.find("Grüße") != std::string::npos);
  CHECK(human.find("\nBcc:") == std::string::npos);
  CHECK(human.find("<zoë@dest.test>") != std::string::npos);
}

TEST_CASE("DSN: a long diagnostic is folded and unfolds to the reply") {
  g_mime_init();
  std::string reply = "550 5.7.1";
  for (int i = 0; i < 80; ++i) reply += " word" + std::to_string(i);
  std::string token(2500, 'q');  // no whitespace at all
  auto env = failed_envelope();
  env.rcpts = {{"a@dest.test", "", spool::RcptState::Failed, reply},
               {"b@dest.test", "", spool::RcptState::Failed, "550 5.1.1 " + token}};
  std::string text = build_bounce(env, {}, "", context());
  Dsn d = parse_dsn(text);
  CHECK(d.status[1]["Diagnostic-Code"] == "smtp; " + reply);
  CHECK(d.status[1]["Status"] == "5.7.1");
  std::string status = content_of(d.parts[1]);
  std::istringstream in(text);
  std::size_t longest = 0;
  for (std::string line; std::getline(in, line);) longest = std::max(longest, line.size());
  CHECK(longest <= 998);
  std::istringstream st(status);
  for (std::string line; std::getline(st, line);)
    if (line.find("word") != std::string::npos) CHECK(line.size() <= 79);  // 78 + the CR
  std::string unfolded = d.status[2]["Diagnostic-Code"];
  unfolded.erase(std::remove(unfolded.begin(), unfolded.end(), ' '), unfolded.end());
  CHECK(unfolded == "smtp;5505.1.1" + token);
  CHECK(fold_field("X", "a\r\nb") == "X: a b\r\n");  // a line break in a reply cannot end the field
}

TEST_CASE("a DSN is recognised as one when it fails itself") {
  gmime_init_once();
  auto p = std::filesystem::temp_directory_path() / ("relay-dsn-" + std::to_string(::getpid()) + ".eml");
  std::ofstream(p, std::ios::binary) << build_bounce(failed_envelope(), {}, "Subject: x\r\n", context());
  CHECK(inspect_message(p).is_dsn);
  std::ofstream(p, std::ios::binary) << "Subject: plain\r\nContent-Type: multipart/report; report-type=disposition-notification;"
                                        " boundary=b\r\n\r\n--b\r\n\r\nx\r\n--b--\r\n";
  CHECK_FALSE(inspect_message(p).is_dsn);
  std::filesystem::remove(p);
}

TEST_CASE("dsn_status reads the enhanced code, else a class default") {
  CHECK(dsn_status("550 5.1.1 No such user") == "5.1.1");
  CHECK(dsn_status("550-5.2.2 mailbox full") == "5.2.2");
  CHECK(dsn_status("5.7.1 denied") == "5.7.1");
  CHECK(dsn_status("403 5.7.1 ErrorAccessDenied") == "5.7.1");
  CHECK(dsn_status("550 No such user") == "5.0.0");
  CHECK(dsn_status("550 5.1 short") == "5.0.0");
  CHECK(dsn_status("550 5.1.1234 too long") == "5.0.0");
  CHECK(dsn_status("expired after 3 attempts (max_lifetime 60s): 451 4.3.0 later") == "4.4.7");
  CHECK(dsn_status("unparseable message: message has no header block") == "5.6.0");
  CHECK(dsn_status("") == "5.0.0");
}

TEST_CASE("bounce_reason: never the null sender, never a DSN, only when on and something failed") {
  auto env = failed_envelope();
  MessageInfo info;
  CHECK(bounce_reason(true, env, info).empty());
  CHECK(bounce_reason(false, env, info) == "bounces off");
  info.is_dsn = true;
  CHECK(bounce_reason(true, env, info) == "message is a delivery status notification");
  info.is_dsn = false;
  env.mail_from.clear();
  CHECK(bounce_reason(true, env, info) == "null sender");
  env = failed_envelope();
  for (auto& r : env.rcpts) r.state = spool::RcptState::Sent;
  CHECK(bounce_reason(true, env, info) == "no failed recipient");
}

TEST_CASE("read_header_block: the headers without the body, bounded at a field boundary") {
  auto p = std::filesystem::temp_directory_path() / ("relay-bounce-" + std::to_string(::getpid()) + ".eml");
  std::string headers = "From: a@example.com\r\nSubject: folded\r\n continued\r\n";
  std::ofstream(p, std::ios::binary) << headers << "\r\n" << std::string(100000, 'B') << "\r\n";
  CHECK(read_header_block(p) == headers);
  CHECK(read_header_block(p, 30) == "From: a@example.com\r\n");  // the folded field does not fit whole
  CHECK(read_header_block(p, 50) == headers);
  std::ofstream(p, std::ios::binary) << "X-Big: " << std::string(200, 'h') << "\r\n";
  CHECK(read_header_block(p, 100).empty());
  std::filesystem::remove(p);
  CHECK(read_header_block(p).empty());
}
