// relay::provider::m365 JSON message — a prepared MIME message in Graph's
// JSON form (message resource + fileAttachments), for sendMail with
// saveToSentItems false: Graph honours saveToSentItems only on JSON sends,
// never on MIME ones (docs/m365.md "save_to_sent_items").
//
// Does: reads the prepared message (recipients already made to name exactly
// the pending envelope recipients by cloud/recipients) with the one header
// reader (common/header_reader) for addresses and GMime for the body:
//   From, Sender, To, Cc, Bcc, Reply-To -> from, sender, toRecipients,
//     ccRecipients, bccRecipients, replyTo (display names decoded);
//   Subject -> subject; Message-ID -> internetMessageId;
//   Importance -> importance; X-* fields (at most 5, Graph's limit) ->
//     internetMessageHeaders;
//   text/plain or text/html body (multipart/alternative: the HTML one;
//     Exchange writes its own plain alternative) -> body (UTF-8);
//   multipart/related parts with a Content-ID -> fileAttachments with
//     isInline + contentId; multipart/mixed parts after the body ->
//     fileAttachments in order; a single non-text part -> an empty body
//     and that part as the one attachment.
//   Dropped as carried by Exchange itself: Received, Return-Path, Date
//   (Exchange stamps its send time), MIME-Version, Content-*,
//   DKIM-Signature (it could not verify after Exchange re-encodes), User-Agent.
//   Every string is valid UTF-8 (Graph refuses anything else): the body is
//     decoded from its charset with each invalid byte as U+FFFD, raw 8-bit
//     header text is decoded as GMime guesses its charset; a repeated
//     Subject keeps the first. docs/cloud-mime.md lists the hostile cases.
// Everything else makes the message unfaithful (`unfaithful` says why):
// a text body in a charset iconv does not know, damaged base64 (decoders
// disagree on its bytes), a multipart without parts (no boundary),
// multipart/signed, multipart/encrypted, S/MIME (application/pkcs7-*),
// text/calendar parts (the method parameter has no JSON place),
// message/rfc822 parts, other structures, more than 5 X- fields, and any
// other header field (In-Reply-To, References, List-*, Auto-Submitted,
// Resent-*, ...): the caller then sends MIME or refuses (json_unfaithful).
// Does not: do I/O, decide the path. Runs on: any thread (the adapter runs
// it on the uv threadpool: GMime parse and base64 of attachments).
// Fails: unfaithful text; never throws.
#pragma once
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "dispatcher/providers/m365/large_send.hpp"

namespace relay::provider::m365 {

constexpr std::size_t kMaxCustomHeaders = 5;          // Graph: InvalidInternetMessageHeaderCollection above
constexpr std::size_t kMaxJsonRequest = 4000000;      // Graph request bodies stop near 4 MB

struct JsonMessage {
  std::string unfaithful;               // "" = carried faithfully
  nlohmann::json message;               // message resource without attachments
  std::vector<Attachment> attachments;  // in message order
};

JsonMessage to_json_message(const std::string& mime);

// POST /users/{id}/sendMail body: {"message": {... "attachments": [...]}, "saveToSentItems": save}.
std::string sendmail_body(const JsonMessage& m, bool save);
// POST /users/{id}/messages body (a draft; attachments follow separately).
// !save: PidTagDeleteAfterSubmit (Boolean 0x0E01) set, so the sent draft
// is not kept in Sent Items (message/send has no saveToSentItems).
std::string draft_body(const JsonMessage& m, bool save);

}  // namespace relay::provider::m365
