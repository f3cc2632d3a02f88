#include <doctest/doctest.h>

#include "dispatcher/providers/m365/json_message.hpp"
#include "dispatcher/providers/m365/send_plan.hpp"

using namespace relay::provider::m365;
using nlohmann::json;

namespace {

const std::string kRich =
    "From: \"Scan =?utf-8?q?D=C3=BCsseldorf?=\" <scan@example.com>\r\nTo: A <a@x.org>, b@x.org\r\nCc: c@x.org\r\n"
    "Bcc: hidden@y.org\r\nReply-To: desk@example.com\r\nSubject: =?utf-8?q?Gr=C3=BC=C3=9Fe?=\r\n"
    "Message-ID: <m1@example.com>\r\nDate: Thu, 3 Dec 2026 09:00:00 +0000\r\nX-Scanner: floor 2\r\n"
    "MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"M\"\r\n\r\n"
    "--M\r\nContent-Type: multipart/alternative; boundary=\"A\"\r\n\r\n"
    "--A\r\nContent-Type: text/plain; charset=iso-8859-1\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n"
    "plain =FC\r\n--A\r\nContent-Type: multipart/related; boundary=\"R\"\r\n\r\n"
    "--R\r\nContent-Type: text/html; charset=iso-8859-1\r\n\r\n<p>\xfc<img src=\"cid:logo@x\"></p>\r\n"
    "--R\r\nContent-Type: image/png\r\nContent-ID: <logo@x>\r\nContent-Transfer-Encoding: base64\r\n\r\nAAEC\r\n--R--\r\n"
    "--A--\r\n--M\r\nContent-Type: application/pdf\r\nContent-Disposition: attachment; filename=\"r.pdf\"\r\n"
    "Content-Transfer-Encoding: base64\r\n\r\naGVsbG8gcGRm\r\n--M--\r\n";

}  // namespace

TEST_CASE("to_json_message carries recipients, Reply-To, X- headers, HTML body and inline/file attachments") {
  JsonMessage j = to_json_message(kRich);
  REQUIRE(j.unfaithful == "");
  const json& m = j.message;
  CHECK(m["from"]["emailAddress"]["address"] == "scan@example.com");
  CHECK(m["from"]["emailAddress"]["name"] == "Scan D\xc3\xbcsseldorf");
  CHECK(m["toRecipients"].size() == 2);
  CHECK(m["toRecipients"][0]["emailAddress"]["name"] == "A");
  CHECK(m["ccRecipients"][0]["emailAddress"]["address"] == "c@x.org");
  CHECK(m["bccRecipients"][0]["emailAddress"]["address"] == "hidden@y.org");
  CHECK(m["replyTo"][0]["emailAddress"]["address"] == "desk@example.com");
  CHECK(m["subject"] == "Gr\xc3\xbc\xc3\x9f" "e");
  CHECK(m["internetMessageId"] == "<m1@example.com>");
  CHECK(m["internetMessageHeaders"] == json::array({{{"name", "X-Scanner"}, {"value", "floor 2"}}}));
  CHECK(m["body"]["contentType"] == "html");
  CHECK(m["body"]["content"].get<std::string>().find("<p>\xc3\xbc<img src=\"cid:logo@x\">") != std::string::npos);
  REQUIRE(j.attachments.size() == 2);
  CHECK(j.attachments[0].is_inline);
  CHECK(j.attachments[0].content_id == "logo@x");
  CHECK(j.attachments[0].bytes == std::string("\0\1\2", 3));
  CHECK_FALSE(j.attachments[1].is_inline);
  CHECK(j.attachments[1].name == "r.pdf");
  CHECK(j.attachments[1].bytes == "hello pdf");
  json body = json::parse(sendmail_body(j, false));
  CHECK(body["saveToSentItems"] == false);
  CHECK(body["message"]["attachments"].size() == 2);
  CHECK(body["message"]["attachments"][0]["@odata.type"] == "#microsoft.graph.fileAttachment");
  json draft = json::parse(draft_body(j, false));
  CHECK(draft["singleValueExtendedProperties"][0]["id"] == "Boolean 0x0E01");
  CHECK_FALSE(draft.contains("attachments"));
}

TEST_CASE("to_json_message names what the JSON form cannot carry") {
  auto why = [](const std::string& head, const std::string& rest) {
    return to_json_message("From: a@example.com\r\nTo: b@x.org\r\n" + head + "\r\n" + rest).unfaithful;
  };
  CHECK(why("", "plain\r\n") == "");
  CHECK(why("In-Reply-To: <x@y>\r\n", "b\r\n").find("In-Reply-To") != std::string::npos);
  CHECK(why("X-1: a\r\nX-2: a\r\nX-3: a\r\nX-4: a\r\nX-5: a\r\nX-6: a\r\n", "b\r\n").find("6 X- header") !=
        std::string::npos);
  const std::string sig = "MIME-Version: 1.0\r\nContent-Type: multipart/signed; protocol=\"application/pkcs7-signature\"; "
                          "boundary=S\r\n";
  CHECK(why(sig, "--S\r\nContent-Type: text/plain\r\n\r\nb\r\n--S\r\nContent-Type: application/pkcs7-signature\r\n"
                 "\r\nx\r\n--S--\r\n").find("signed") != std::string::npos);
  const std::string cal = "MIME-Version: 1.0\r\nContent-Type: text/calendar; method=REQUEST\r\n";
  CHECK(why(cal, "BEGIN:VCALENDAR\r\n").find("calendar") != std::string::npos);
}

TEST_CASE("plan_send: JSON for save false, MIME for true, refuse or MIME for the unfaithful") {
  const std::string plain = "From: a@example.com\r\nTo: b@x.org\r\nSubject: s\r\n\r\nbody\r\n";
  SendPlan p = plan_send(plain, PlanOptions{false, false, 3u << 20});
  CHECK(p.kind == SendPlan::Json);
  CHECK(json::parse(p.body)["saveToSentItems"] == false);
  CHECK(plan_send(plain, PlanOptions{true, false, 3u << 20}).kind == SendPlan::Mime);
  const std::string reply = "From: a@example.com\r\nTo: b@x.org\r\nIn-Reply-To: <x@y>\r\n\r\nbody\r\n";
  SendPlan m = plan_send(reply, PlanOptions{false, false, 3u << 20});
  CHECK(m.kind == SendPlan::Mime);
  CHECK(m.unfaithful.find("In-Reply-To") != std::string::npos);
  SendPlan r = plan_send(reply, PlanOptions{false, true, 3u << 20});
  CHECK(r.kind == SendPlan::Refused);
  CHECK(r.refused.enhanced == "5.6.0");
  const std::string big = "From: a@example.com\r\nTo: b@x.org\r\nMIME-Version: 1.0\r\nContent-Type: application/pdf\r\n"
                          "Content-Transfer-Encoding: base64\r\n\r\n" + std::string(4 << 20, 'A') + "\r\n";
  SendPlan d = plan_send(big, PlanOptions{false, false, 3u << 20});
  CHECK(d.kind == SendPlan::Draft);
  REQUIRE(d.split);
  CHECK_FALSE(d.split->draft_json.empty());
  CHECK(d.split->attachments.size() == 1);
}
