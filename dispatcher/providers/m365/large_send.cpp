// Network half of large_send.hpp: draft + attachments/upload sessions + send.
#include "dispatcher/providers/m365/large_send.hpp"

#include <fmt/format.h>

#include <memory>
#include <nlohmann/json.hpp>

#include "common/log.hpp"
#include "dispatcher/providers/m365/cloud_names.hpp"
#include "dispatcher/providers/m365/graph_errors.hpp"

namespace relay::provider::m365 {
namespace {

using nlohmann::json;

Result permanent(std::string text, std::string enhanced = "5.3.4") {
  Result r;
  r.outcome = Outcome::Permanent;
  r.enhanced = std::move(enhanced);
  r.text = std::move(text);
  return r;
}

// One large delivery; keeps itself alive through its callbacks.
struct LargeSend : std::enable_shared_from_this<LargeSend> {
  Graph* g = nullptr;
  std::string mailbox;
  Split split;
  ResultDone done;
  std::string draft_id;
  std::size_t index = 0;        // current attachment
  std::string upload_url;
  std::size_t offset = 0;       // next byte of the current upload

  std::string msg_url() const { return g->user_url(mailbox) + "/messages/" + url_escape(draft_id); }

  void fail(Result r) {
    if (!draft_id.empty()) {  // best effort: do not leave drafts behind
      Request del;
      del.method = "DELETE";
      del.url = msg_url();
      g->call(std::move(del), [](CallResult) {});
    }
    auto d = std::move(done);
    d(std::move(r));
  }

  // True (and finishes) when `cr` is not the expected success.
  bool failed(const CallResult& cr, const char* step) {
    Result r = classify(cr, mailbox);
    if (r.outcome == Outcome::Sent) return false;
    r.text = fmt::format("{}: {}", step, r.text);
    fail(std::move(r));
    return true;
  }

  void create_draft() {
    Request req;
    req.method = "POST";
    req.url = g->user_url(mailbox) + "/messages";
    req.headers.push_back("Content-Type: text/plain");
    req.body = base64(split.rest_mime);
    if (req.body.size() > 4 * 1000 * 1000) {
      return fail(permanent("message body without attachments is too large for Graph (over 4 MB encoded)"));
    }
    g->call(std::move(req), [self = shared_from_this()](CallResult cr) {
      if (self->failed(cr, "create draft")) return;
      auto j = json::parse(cr.resp.body, nullptr, false);
      if (j.is_discarded() || !j.contains("id") || !j["id"].is_string()) {
        Result r;
        r.text = "create draft: answer without a message id";
        return self->fail(r);
      }
      self->draft_id = j["id"].get<std::string>();
      self->next_attachment();
    });
  }

  void next_attachment() {
    if (index >= split.attachments.size()) return send();
    const Attachment& a = split.attachments[index];
    if (a.bytes.size() < kSmallAttachment) return attach_small(a);
    create_session(a);
  }

  void attach_small(const Attachment& a) {
    json body = {{"@odata.type", "#microsoft.graph.fileAttachment"},
                 {"name", a.name},
                 {"contentType", a.content_type},
                 {"contentBytes", base64(a.bytes)},
                 {"isInline", a.is_inline}};
    if (!a.content_id.empty()) body["contentId"] = a.content_id;
    Request req;
    req.method = "POST";
    req.url = msg_url() + "/attachments";
    req.headers.push_back("Content-Type: application/json");
    req.body = body.dump();
    g->call(std::move(req), [self = shared_from_this()](CallResult cr) {
      if (self->failed(cr, "add attachment")) return;
      ++self->index;
      self->next_attachment();
    });
  }

  void create_session(const Attachment& a) {
    json item = {{"attachmentType", "file"}, {"name", a.name}, {"size", a.bytes.size()},
                 {"contentType", a.content_type}, {"isInline", a.is_inline}};
    if (!a.content_id.empty()) item["contentId"] = a.content_id;
    Request req;
    req.method = "POST";
    req.url = msg_url() + "/attachments/createUploadSession";
    req.headers.push_back("Content-Type: application/json");
    req.body = json{{"AttachmentItem", item}}.dump();
    g->call(std::move(req), [self = shared_from_this()](CallResult cr) {
      if (self->failed(cr, "create upload session")) return;
      auto j = json::parse(cr.resp.body, nullptr, false);
      if (j.is_discarded() || !j.contains("uploadUrl") || !j["uploadUrl"].is_string()) {
        Result r;
        r.text = "create upload session: answer without uploadUrl";
        return self->fail(r);
      }
      self->upload_url = j["uploadUrl"].get<std::string>();
      self->offset = 0;
      self->put_chunk();
    });
  }

  void put_chunk() {
    const std::string& bytes = split.attachments[index].bytes;
    const std::size_t n = std::min(kUploadChunk, bytes.size() - offset);
    Request req;
    req.method = "PUT";
    req.url = upload_url;  // pre-authenticated: no Authorization header
    req.timeout = g->timeout;
    req.headers.push_back("Content-Type: application/octet-stream");
    req.headers.push_back(fmt::format("Content-Range: bytes {}-{}/{}", offset, offset + n - 1, bytes.size()));
    req.body = bytes.substr(offset, n);
    perform(*g->curl, g->opt, std::move(req), [self = shared_from_this(), n](Response resp) {
      CallResult cr;
      cr.resp = std::move(resp);
      if (self->failed(cr, "upload attachment range")) return;
      self->offset += n;
      if (cr.resp.status == 200) {  // more expected: follow the server's nextExpectedRanges
        auto j = json::parse(cr.resp.body, nullptr, false);
        if (!j.is_discarded() && j.contains("nextExpectedRanges") && j["nextExpectedRanges"].is_array() &&
            !j["nextExpectedRanges"].empty() && j["nextExpectedRanges"][0].is_string()) {
          self->offset = std::stoull(j["nextExpectedRanges"][0].get<std::string>());
        }
      }
      if (cr.resp.status == 201 || self->offset >= self->split.attachments[self->index].bytes.size()) {
        ++self->index;
        return self->next_attachment();
      }
      self->put_chunk();
    });
  }

  void send() {
    Request req;
    req.method = "POST";
    req.url = msg_url() + "/send";
    req.headers.push_back("Content-Length: 0");
    g->call(std::move(req), [self = shared_from_this()](CallResult cr) {
      if (self->failed(cr, "send draft")) return;
      Result r = classify(cr, self->mailbox);
      r.text = fmt::format("accepted: draft sent with {} attachment(s)", self->split.attachments.size());
      auto d = std::move(self->done);
      d(std::move(r));
    });
  }
};

}  // namespace

void send_large(Graph& g, const std::string& mailbox, Split split, ResultDone done) {
  auto s = std::make_shared<LargeSend>();
  s->g = &g;
  s->mailbox = mailbox;
  s->split = std::move(split);
  s->done = std::move(done);
  log::debug("m365 event=large_send mailbox={} attachments={}", mailbox, s->split.attachments.size());
  s->create_draft();
}

void send_large(Graph& g, const std::string& mailbox, const std::string& mime, ResultDone done) {
  auto split = split_attachments(mime);
  if (!split) {
    done(permanent("message could not be parsed as MIME for the large-message path", "5.6.0"));
    return;
  }
  send_large(g, mailbox, std::move(*split), std::move(done));
}

}  // namespace relay::provider::m365
