// relay::provider::cloud recipients — the recipient header fields a message
// must carry so that Graph (sendMail, drafts) and Gmail (messages.send),
// which have no envelope and deliver to every address in the header,
// deliver to exactly the pending envelope recipients.
//
// Does: compares the addresses named in To, Cc, Bcc, Resent-To, Resent-Cc
// and Resent-Bcc with the pending envelope recipients (case-insensitive).
//  - The header names no one outside the pending set: nothing changes;
//    pending recipients the header does not name are added as one Bcc:
//    field (Graph and Gmail strip Bcc from what recipients see).
//  - The header names anyone else (an address the client left out of RCPT
//    TO, a recipient an earlier attempt already delivered to): the copy sent
//    names the pending set only: a pending address listed in To stays in
//    To, one listed in Cc stays in Cc, every other pending address goes to
//    Bcc (written as bare addresses). The original To, Cc, Resent-To and
//    Resent-Cc stay visible, renamed X-Relay-Original-To, -Cc, -Resent-To,
//    -Resent-Cc (no API delivers to those, and unlike X-Original-To they do
//    not pretend to be the envelope recipient that local delivery agents
//    record). Bcc and Resent-Bcc are dropped, not renamed: a renamed Bcc
//    would show every recipient the blind copies.
// Does not: split the header block into fields (mime_prepare does) or touch
// any other field. Runs on: any thread; pure. Fails: never.
#pragma once
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace relay::provider::cloud {

struct FieldView {
  std::string_view name;   // as written, without the colon
  std::string_view value;  // unfolded value
};

struct RecipientPlan {
  bool rewrite = false;  // the recipient fields are replaced (second case above)
  std::vector<std::string> to, cc, bcc;  // fields to add (no rewrite: bcc only)
  // The fields to add on top of the header, one address per folded line.
  std::string header(std::string_view eol) const;
};

RecipientPlan plan_recipients(const std::vector<FieldView>& fields, const std::vector<std::string>& pending);

// For a rewrite: what an original field becomes. nullopt: not a recipient
// field, keep it; "": drop it; else its full text (raw, with continuation
// lines and line ends) under the X-Relay-Original-* name.
std::optional<std::string> replace_recipient_field(std::string_view name, std::string_view raw);

}  // namespace relay::provider::cloud
