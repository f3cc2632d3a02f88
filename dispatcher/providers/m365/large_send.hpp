// relay::provider::m365 large-message path — for prepared messages bigger
// than max_mime_size (Graph request bodies stop near 4 MB, so MIME sendMail
// tops out near 3 MB of raw message).
//
// Does: splits the message with GMime into the message without its
// attachments and the attachments (decoded bytes, name, type, inline/cid;
// large_split.cpp says what is never taken apart);
// then: POST /v1.0/users/{mb}/messages with the rest as base64 MIME
// (text/plain; 201 + draft id) or, for the JSON path (save_to_sent_items
// false), the JSON message (application/json) -> per attachment either POST .../attachments
// (fileAttachment JSON, under 3 MB) or POST .../attachments/createUploadSession
// followed by PUTs of 3,276,800-byte ranges (10 x 320 KiB) to the returned
// uploadUrl with Content-Range and WITHOUT Authorization (the URL is
// pre-authenticated), following nextExpectedRanges -> POST .../send (202).
// On failure after the draft exists, the draft is deleted (best effort).
// Errors on the way (the m365 table in graph_errors.hpp decides the rest):
//   404/410 on a draft-scoped call or an upload URL, or 401/403 on the
//     pre-authenticated upload URL (its session expired) -> the draft or
//     session vanished: delete the draft, start over with a new one (at most
//     kMaxDraftRestarts times, then transient) — never "mailbox not found";
//   5xx, 416 (a range the session did not expect) or a transport error on
//     an upload PUT -> GET the upload URL for the session's status and
//     resume at its nextExpectedRanges (at most kMaxUploadResumes per
//     message, then transient);
//   200 answers whose nextExpectedRanges does not advance -> transient after
//     kMaxUploadResumes of them (never an endless upload loop);
//   a nextExpectedRanges we cannot parse -> transient failure, no throw;
//   413 on a small attachment's JSON POST (base64 makes it 4/3 bigger) ->
//     the same attachment goes through an upload session; 413 there is
//     permanent.
// Also the path used when save_to_sent_items must go through a draft.
// Does not: pace per mailbox (the caller holds the mailbox slot throughout).
// Runs on: the loop thread (split_attachments: any thread, the adapter uses the threadpool). Fails: Results,
// never exceptions.
#pragma once
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "dispatcher/providers/m365/graph_send.hpp"

namespace relay::provider::m365 {

struct Attachment {
  std::string name;
  std::string content_type; // the part's whole Content-Type value (parameters kept)
  std::string content_id;   // "" unless inline
  bool is_inline = false;
  std::string bytes;        // decoded content
};

struct Split {
  std::string rest_mime;    // the message without attachments (CRLF)
  std::string draft_json;   // set: the draft is this JSON message (json_message.hpp), not rest_mime
  std::vector<Attachment> attachments;
};

// nullopt when GMime cannot parse the message.
std::optional<Split> split_attachments(const std::string& mime);

constexpr int kMaxDraftRestarts = 2;
constexpr int kMaxUploadResumes = 3;

// The first of nextExpectedRanges in an upload session's answer.
struct NextRange {
  enum State { Absent, Offset, Malformed } state = Absent;
  std::size_t offset = 0;  // when Offset: where the next range starts (< size)
};
NextRange parse_next_expected(std::string_view body, std::size_t size);

constexpr std::size_t kUploadChunk = 10 * 320 * 1024;
constexpr std::size_t kSmallAttachment = 3 * 1000 * 1000;

// The message already split (split_attachments is a full GMime parse: the
// adapter runs it on the threadpool, never on the loop). Every request body
// is streamed from `split` (cloud/body.hpp): the draft's base64 and an
// attachment's base64 in JSON are encoded a chunk at a time as curl sends
// them, an upload range is a view of the attachment's bytes; nothing of the
// size of the message is copied or encoded on the loop in one step.
void send_large(Graph& g, const std::string& mailbox, Split split, ResultDone done);
// What the large path answers for a message split_attachments could not parse.
Result unsplittable();

}  // namespace relay::provider::m365
