// See send_plan.hpp.
#include "dispatcher/providers/m365/send_plan.hpp"

#include <exception>

#include "dispatcher/providers/m365/cloud_names.hpp"
#include "dispatcher/providers/m365/json_message.hpp"

namespace relay::provider::m365 {

const char* SendPlan::name() const {
  switch (kind) {
    case Mime: return "mime";
    case Json: return "json";
    case Draft: return split && !split->draft_json.empty() ? "json-draft" : "draft";
    case Refused: return "refused";
  }
  return "?";
}

namespace {

bool json_plan(const std::string& mime, SendPlan* p) {
  JsonMessage j = to_json_message(mime);
  if (!j.unfaithful.empty()) {
    p->unfaithful = std::move(j.unfaithful);
    return false;
  }
  std::string body = sendmail_body(j, false);
  p->split = std::make_shared<Split>();
  p->split->draft_json = draft_body(j, false);
  p->split->attachments = std::move(j.attachments);
  if (body.size() <= kMaxJsonRequest) {
    p->kind = SendPlan::Json;
    p->body = std::move(body);
  } else {
    p->kind = SendPlan::Draft;
  }
  return true;
}

}  // namespace

SendPlan plan_send(std::string mime, const PlanOptions& opt) {
  SendPlan p;
  if (!opt.save_to_sent_items) {
    try {
      if (json_plan(mime, &p)) return p;
    } catch (const std::exception& e) {  // never out of the threadpool work: treat as unfaithful
      p = SendPlan{};
      p.unfaithful = std::string("the JSON form could not be built: ") + e.what();
    }
    if (opt.refuse_unfaithful) {
      p.kind = SendPlan::Refused;
      p.refused.outcome = Outcome::Permanent;
      p.refused.code = 554;
      p.refused.enhanced = "5.6.0";
      p.refused.text = "save_to_sent_items is false and Graph's JSON message cannot carry this message (" +
                       p.unfaithful + "); json_unfaithful: refuse";
      return p;
    }
  }
  if (mime.size() > opt.max_mime_size) {
    p.kind = SendPlan::Draft;
    if (auto sp = split_attachments(mime)) p.split = std::make_shared<Split>(std::move(*sp));
    else p.mime = std::move(mime);
    return p;
  }
  p.kind = SendPlan::Mime;
  p.body = base64(mime);
  p.mime = std::move(mime);
  return p;
}

}  // namespace relay::provider::m365
