// relay::provider::m365 large-message path — for prepared messages bigger
// than max_mime_size (Graph request bodies stop near 4 MB, so MIME sendMail
// tops out near 3 MB of raw message).
//
// Does: splits the message with GMime into the message without its
// attachments and the attachments (decoded bytes, name, type, inline/cid);
// then: POST /v1.0/users/{mb}/messages with the rest as base64 MIME
// (text/plain; 201 + draft id) -> per attachment either POST .../attachments
// (fileAttachment JSON, under 3 MB) or POST .../attachments/createUploadSession
// followed by PUTs of 3,276,800-byte ranges (10 x 320 KiB) to the returned
// uploadUrl with Content-Range and WITHOUT Authorization (the URL is
// pre-authenticated), following nextExpectedRanges -> POST .../send (202).
// On failure after the draft exists, the draft is deleted (best effort).
// Also the path used when save_to_sent_items must go through a draft.
// Does not: pace per mailbox (the caller holds the mailbox slot throughout).
// Runs on: the loop thread (split_attachments: any thread). Fails: Results,
// never exceptions.
#pragma once
#include <optional>
#include <string>
#include <vector>

#include "dispatcher/providers/m365/graph_send.hpp"

namespace relay::provider::m365 {

struct Attachment {
  std::string name;
  std::string content_type;
  std::string content_id;   // "" unless inline
  bool is_inline = false;
  std::string bytes;        // decoded content
};

struct Split {
  std::string rest_mime;    // the message without attachments (CRLF)
  std::vector<Attachment> attachments;
};

// nullopt when GMime cannot parse the message.
std::optional<Split> split_attachments(const std::string& mime);

constexpr std::size_t kUploadChunk = 10 * 320 * 1024;
constexpr std::size_t kSmallAttachment = 3 * 1000 * 1000;

void send_large(Graph& g, const std::string& mailbox, const std::string& mime, ResultDone done);
// The same with the message already split (split_attachments is a full GMime
// parse: the adapter runs it on the threadpool, not on the loop).
void send_large(Graph& g, const std::string& mailbox, Split split, ResultDone done);

}  // namespace relay::provider::m365
