// relay::provider::m365 send plan — which Graph request carries a prepared
// message, decided on the uv threadpool (GMime parse, base64, JSON dump).
//
// Does: save_to_sent_items false -> the JSON form (json_message.hpp):
//   sendMail JSON with saveToSentItems false when the request fits
//   (kMaxJsonRequest), else a JSON draft (PidTagDeleteAfterSubmit set) +
//   attachments/upload sessions + send. A message the JSON form cannot
//   carry (`unfaithful`): json_unfaithful `mime` -> MIME as below (Graph
//   then keeps a copy in Sent Items), `refuse` -> permanent 554 5.6.0.
//   save_to_sent_items true (or MIME chosen) -> MIME sendMail (Graph keeps
//   a copy in Sent Items) up to max_mime_size, else the MIME draft path
//   (large_split.cpp).
// Does not: send. Runs on: any thread. Fails: Refused with the reason.
#pragma once
#include <memory>
#include <string>

#include "dispatcher/providers/m365/large_send.hpp"
#include "dispatcher/providers/provider.hpp"

namespace relay::provider::m365 {

struct SendPlan {
  enum Kind { Mime, Json, Draft, Refused } kind = Mime;
  std::string mime;                 // Mime, and Draft when the split failed (fails the same way on the loop)
  std::string body;                 // the sendMail request body: Json: the JSON; Mime: base64 of `mime`
  std::shared_ptr<Split> split;     // Draft; Json: the draft to fall back to after a 413
  std::string unfaithful;           // why the JSON form could not carry it ("" = it could, or not wanted)
  Result refused;                   // Refused
  const char* name() const;         // "mime" "json" "draft" "json-draft" "refused", for logs
};

struct PlanOptions {
  bool save_to_sent_items = false;
  bool refuse_unfaithful = false;
  std::size_t max_mime_size = 3u << 20;
};

SendPlan plan_send(std::string mime, const PlanOptions& opt);

}  // namespace relay::provider::m365
