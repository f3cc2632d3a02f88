// Hostile messages through the Graph conversions (JSON form, send plan,
// draft split): what Graph gets is valid UTF-8 JSON that says what the
// message says, or the message goes as MIME (unfaithful) — never content
// silently lost, never a crash. docs/cloud-mime.md lists the cases.
#include <doctest/doctest.h>

#include "dispatcher/providers/cloud/codec.hpp"
#include "dispatcher/providers/m365/json_message.hpp"
#include "dispatcher/providers/m365/send_plan.hpp"

using namespace relay::provider::m365;
using nlohmann::json;
using relay::provider::cloud::is_utf8;

namespace {

const std::string kHead = "From: scan@example.com\r\nTo: a@x.org\r\nSubject: s\r\nMIME-Version: 1.0\r\n";

std::string text_message(const std::string& ctype, const std::string& body) {
  return kHead + "Content-Type: " + ctype + "\r\n\r\n" + body;
}

// The sendMail body as sent, parsed back strictly (throws on invalid UTF-8).
json sent_json(const std::string& mime) {
  SendPlan p = plan_send(mime, PlanOptions{});
  REQUIRE(p.kind == SendPlan::Json);
  REQUIRE(is_utf8(p.body));
  return json::parse(p.body);
}

}  // namespace

TEST_CASE("a body declared UTF-8 with Latin-1 bytes keeps every character: invalid bytes become U+FFFD") {
  // Before: GMime's conversion dropped the bytes ("caf nave"), the text lost characters silently.
  json j = sent_json(text_message("text/plain; charset=utf-8", "caf\xe9 na\xefve\r\n"));
  CHECK(j["message"]["body"]["content"] == "caf\xef\xbf\xbd na\xef\xbf\xbdve\r\n");
}

TEST_CASE("a body in a declared charset is converted; a byte invalid in it becomes U+FFFD") {
  json j = sent_json(text_message("text/plain; charset=iso-8859-1", "caf\xe9\r\n"));
  CHECK(j["message"]["body"]["content"] == "caf\xc3\xa9\r\n");
  j = sent_json(text_message("text/plain; charset=shift_jis", "ok \x82\xa0 bad \x82\r\n"));
  const std::string c = j["message"]["body"]["content"];
  CHECK(c.rfind("ok \xe3\x81\x82 bad ", 0) == 0);  // U+3042, then the cut sequence replaced
  CHECK(c.find("\xef\xbf\xbd") != std::string::npos);
}

TEST_CASE("a body in a charset nobody knows goes as MIME, byte for byte") {
  JsonMessage j = to_json_message(text_message("text/plain; charset=x-klingon", "qapla\xe9\r\n"));
  CHECK(j.unfaithful.find("unknown charset 'x-klingon'") != std::string::npos);
}

TEST_CASE("a multipart without a boundary is not sent as an empty body") {
  // Before: the JSON body was "" and the parts' text was gone.
  const std::string m = kHead + "Content-Type: multipart/mixed\r\n\r\n--B\r\nContent-Type: text/plain\r\n\r\nbody\r\n--B--\r\n";
  JsonMessage j = to_json_message(m);
  CHECK(j.unfaithful.find("without parts") != std::string::npos);
  SendPlan p = plan_send(m, PlanOptions{});
  CHECK(p.kind == SendPlan::Mime);
}

TEST_CASE("damaged base64: the JSON form and the draft split leave the part as written") {
  const std::string m = kHead + "Content-Type: multipart/mixed; boundary=\"B\"\r\n\r\n--B\r\nContent-Type: text/plain\r\n\r\n"
                        "body\r\n--B\r\nContent-Type: application/octet-stream\r\nContent-Disposition: attachment; "
                        "filename=\"bad.bin\"\r\nContent-Transfer-Encoding: base64\r\n\r\nQUJD!!!RE=VGRw==x\r\n--B--\r\n";
  JsonMessage j = to_json_message(m);
  CHECK(j.unfaithful.find("damaged base64") != std::string::npos);
  auto s = split_attachments(m);
  REQUIRE(s);
  CHECK(s->attachments.empty());
  CHECK(s->rest_mime == m);  // the draft is the message as submitted
}

TEST_CASE("raw 8-bit and invalid UTF-8 in header fields, names and types: valid JSON, nothing unfaithful") {
  const std::string m =
      "From: \xc9milie <scan@example.com>\r\nTo: a@x.org\r\nSubject: r\xe9sum\xe9 =?utf-8?B?/w==?= \x01\r\n"
      "X-Note: caf\xe9 \xed\xa0\x80\r\nMessage-ID: <\xff@x>\r\nMIME-Version: 1.0\r\n"
      "Content-Type: multipart/mixed; boundary=\"B\"\r\n\r\n--B\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"
      "ctl \x01\x1b ok\r\n--B\r\nContent-Type: text/plain; charset=\"\xff\"; name=\"n\xe9.txt\"\r\n"
      "Content-Disposition: attachment; filename=\"n\xe9.txt\"\r\n\r\nabc\r\n"
      "--B\r\nContent-Type: application/octet-stream\r\nContent-Disposition: attachment; "
      "filename*=x-bogus''%FF%FE.bin\r\nContent-Transfer-Encoding: base64\r\n\r\nAAEC\r\n--B--\r\n";
  JsonMessage j = to_json_message(m);
  REQUIRE(j.unfaithful == "");
  CHECK(j.message["from"]["emailAddress"]["name"] == "\xc3\x89milie");
  CHECK(j.message["subject"].get<std::string>().rfind("r\xc3\xa9sum\xc3\xa9 ", 0) == 0);
  CHECK(j.message["internetMessageHeaders"][0]["value"].get<std::string>().rfind("caf\xc3\xa9 ", 0) == 0);
  REQUIRE(j.attachments.size() == 2);
  CHECK(j.attachments[0].name == "n\xc3\xa9.txt");
  CHECK(j.attachments[0].bytes == "abc");
  CHECK(j.attachments[1].bytes == std::string("\x00\x01\x02", 3));
  const std::string body = sendmail_body(j, false);
  CHECK(is_utf8(body));
  json back = json::parse(body);  // strict: throws on anything but UTF-8 JSON
  CHECK(back["message"]["body"]["content"] == "ctl \x01\x1b ok");
  for (const auto& a : j.attachments) {
    CHECK(is_utf8(a.name));
    CHECK(is_utf8(a.content_type));
    CHECK(is_utf8(a.content_id));
  }
}

TEST_CASE("the draft split gives UTF-8 names, types and Content-IDs (its upload session JSON is strict)") {
  const std::string m = kHead + "Content-Type: multipart/mixed; boundary=\"B\"\r\n\r\n--B\r\nContent-Type: text/plain\r\n\r\n"
                        "body\r\n--B\r\nContent-Type: application/pdf; name=\"caf\xe9.pdf\"\r\nContent-ID: <\xe9@x>\r\n"
                        "Content-Disposition: inline; filename=\"caf\xe9.pdf\"\r\nContent-Transfer-Encoding: base64\r\n\r\n"
                        "AAEC\r\n--B--\r\n";
  auto s = split_attachments(m);
  REQUIRE(s);
  REQUIRE(s->attachments.size() == 1);
  const Attachment& a = s->attachments[0];
  CHECK(a.name == "caf\xc3\xa9.pdf");
  CHECK(is_utf8(a.content_type));
  CHECK(is_utf8(a.content_id));
  CHECK_NOTHROW((void)json{{"name", a.name}, {"contentType", a.content_type}, {"contentId", a.content_id}}.dump());
}

TEST_CASE("a repeated Subject: the JSON form keeps the first, as mail readers show it") {
  JsonMessage j = to_json_message("From: scan@example.com\r\nTo: a@x.org\r\nSubject: one\r\nSubject: two\r\n\r\nbody\r\n");
  REQUIRE(j.unfaithful == "");
  CHECK(j.message["subject"] == "one");
}

TEST_CASE("deep nesting and many parts neither crash nor hang") {
  std::string leaf = "Content-Type: text/plain\r\n\r\ndeep\r\n";
  for (int i = 0; i < 20000; ++i) {
    const std::string b = "N" + std::to_string(i);
    leaf = "Content-Type: multipart/mixed; boundary=\"" + b + "\"\r\n\r\n--" + b + "\r\n" + leaf + "\r\n--" + b + "--\r\n";
  }
  const std::string deep = kHead + leaf;
  CHECK(plan_send(deep, PlanOptions{}).kind == SendPlan::Mime);
  CHECK(split_attachments(deep));
  std::string many = kHead + "Content-Type: multipart/mixed; boundary=\"B\"\r\n\r\n--B\r\nContent-Type: text/plain\r\n\r\nb\r\n";
  for (int i = 0; i < 10000; ++i)
    many += "--B\r\nContent-Type: application/octet-stream\r\nContent-Disposition: attachment; filename=\"p" +
            std::to_string(i) + "\"\r\n\r\nx\r\n";
  many += "--B--\r\n";
  SendPlan p = plan_send(many, PlanOptions{});
  CHECK(p.kind == SendPlan::Json);
  CHECK(p.split->attachments.size() == 10000);
}

TEST_CASE("cloud codec: UTF-8 check and repair, strict base64") {
  using namespace relay::provider::cloud;
  CHECK(is_utf8("plain \xe2\x82\xac \xf0\x9f\x98\x80"));
  CHECK_FALSE(is_utf8("\xc0\xaf"));          // overlong '/'
  CHECK_FALSE(is_utf8("\xed\xa0\x80"));      // surrogate
  CHECK_FALSE(is_utf8("\xf4\x90\x80\x80"));  // above U+10FFFF
  CHECK_FALSE(is_utf8("cut \xe2\x82"));
  CHECK(utf8_valid("ok \xe2\x82\xac") == "ok \xe2\x82\xac");
  CHECK(utf8_valid("a\xffz\xe2\x82") == "a\xef\xbf\xbdz\xef\xbf\xbd\xef\xbf\xbd");
  CHECK(base64_strict("QUJD\r\nREVG\r\n"));
  CHECK(base64_strict("QUI=\r\n"));
  CHECK(base64_strict(""));
  CHECK_FALSE(base64_strict("QUJD!!!"));
  CHECK_FALSE(base64_strict("QU=D"));   // data after padding
  CHECK_FALSE(base64_strict("QUJDR"));  // not a whole group
  CHECK_FALSE(base64_strict("QU-_"));   // the URL alphabet is not MIME's
}

TEST_CASE("an empty file name never becomes an attachment without a name (Graph refuses those)") {
  const std::string m = kHead + "Content-Type: multipart/mixed; boundary=\"B\"\r\n\r\n--B\r\nContent-Type: text/plain\r\n\r\n"
                        "body\r\n--B\r\nContent-Type: application/pdf\r\nContent-Disposition: attachment; filename=\"\"\r\n"
                        "Content-Transfer-Encoding: base64\r\n\r\nAAEC\r\n--B--\r\n";
  JsonMessage j = to_json_message(m);
  REQUIRE(j.unfaithful == "");
  REQUIRE(j.attachments.size() == 1);
  CHECK(j.attachments[0].name == "attachment");
  auto s = split_attachments(m);
  REQUIRE(s);
  REQUIRE(s->attachments.size() == 1);
  CHECK(s->attachments[0].name == "attachment");
}

TEST_CASE("mutated messages: the plan never throws, a JSON body is always valid UTF-8 JSON") {
  const std::string base =
      "From: =?utf-8?B?w4k=?= <scan@example.com>\r\nTo: a@x.org\r\nSubject: =?iso-8859-1?Q?caf=E9?=\r\n"
      "X-A: v\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"M\"\r\n\r\n--M\r\n"
      "Content-Type: multipart/related; boundary=\"R\"\r\n\r\n--R\r\nContent-Type: text/html; charset=iso-8859-1\r\n"
      "Content-Transfer-Encoding: quoted-printable\r\n\r\n<p>=E9<img src=3D\"cid:i@x\"></p>\r\n--R\r\n"
      "Content-Type: image/png\r\nContent-ID: <i@x>\r\nContent-Transfer-Encoding: base64\r\n\r\nAAECAwQF\r\n--R--\r\n"
      "--M\r\nContent-Type: application/pdf\r\nContent-Disposition: attachment; filename*=UTF-8''%E2%82%AC.pdf\r\n"
      "Content-Transfer-Encoding: base64\r\n\r\naGVsbG8=\r\n--M--\r\n";
  std::uint32_t seed = 12345;
  auto next = [&seed] { return seed = seed * 1103515245u + 12345u, seed >> 8; };
  const char bytes[] = {'\0', '\x01', '\r', '\n', '=', '?', '-', '"', ';', ':', '\x80', '\xc3', '\xe9', '\xff'};
  int json_plans = 0;
  for (int i = 0; i < 1500; ++i) {
    std::string m = base;
    for (int k = 1 + static_cast<int>(next() % 4); k > 0; --k) {
      const std::size_t at = next() % m.size();
      switch (next() % 3) {
        case 0: m[at] = bytes[next() % sizeof bytes]; break;
        case 1: m.erase(at, 1 + next() % 8); break;
        default: m.insert(at, 1, bytes[next() % sizeof bytes]);
      }
    }
    SendPlan p;
    REQUIRE_NOTHROW(p = plan_send(m, PlanOptions{}));
    if (p.kind == SendPlan::Json) {
      ++json_plans;
      REQUIRE(is_utf8(p.body));
      REQUIRE_NOTHROW((void)json::parse(p.body));
    }
    REQUIRE_NOTHROW((void)split_attachments(m));
  }
  CHECK(json_plans > 500);  // most mutations still have a JSON form
}
