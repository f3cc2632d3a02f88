// Network half of large_send.hpp: draft + attachments/upload sessions + send.
#include "dispatcher/providers/m365/large_send.hpp"

#include <fmt/format.h>

#include <charconv>
#include <memory>
#include <nlohmann/json.hpp>

#include "common/log.hpp"
#include "dispatcher/providers/m365/cloud_names.hpp"
#include "dispatcher/providers/m365/graph_errors.hpp"

namespace relay::provider::m365 {
namespace {

using nlohmann::json;

Result transient(std::string text) {
  Result r;
  r.outcome = Outcome::Transient;
  r.enhanced = "4.3.0";
  r.text = std::move(text);
  return r;
}

// A draft-scoped or upload URL answered 404/410: the draft or the upload
// session is gone (expired, deleted by someone else), not the mailbox.
bool vanished(const CallResult& cr) {
  return cr.token_ok && cr.resp.ok() && (cr.resp.status == 404 || cr.resp.status == 410);
}

// The pre-authenticated upload URL refused (401/403): its embedded token
// expired (upload sessions live for a limited time). We send no
// Authorization header there, so this is the session, not our credentials.
bool upload_url_expired(const CallResult& cr) {
  return cr.resp.ok() && (cr.resp.status == 401 || cr.resp.status == 403);
}

// An upload PUT that may have reached the server only partly, or a range
// the session did not expect (416 Requested Range Not Satisfiable): ask the
// session where it stands instead of starting over or guessing.
bool resumable(const Response& resp) { return !resp.ok() || resp.status >= 500 || resp.status == 416; }

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
  int restarts = 0;             // drafts started over after a 404/410 (kMaxDraftRestarts)
  int resumes = 0;              // upload PUTs resumed after a 5xx/416 (kMaxUploadResumes per message)
  int stalls = 0;               // 200 answers that asked for no byte beyond the current offset
  bool force_session = false;   // the current small attachment got 413: upload it through a session

  // A view of bytes this delivery owns (split): the shared pointer keeps the delivery alive.
  std::shared_ptr<const std::string> view(const std::string& s) { return {shared_from_this(), &s}; }

  std::string msg_url() const { return g->user_url(mailbox) + "/messages/" + url_escape(draft_id); }

  void delete_draft() {
    if (draft_id.empty()) return;
    Request del;  // best effort: do not leave drafts behind
    del.method = "DELETE";
    del.url = msg_url();
    g->call(std::move(del), [](CallResult) {});
    draft_id.clear();
  }

  void fail(Result r) {
    delete_draft();
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

  // 404/410 on the draft or an upload URL: delete what is left (best effort)
  // and start over with a new draft, at most kMaxDraftRestarts times; then
  // transient. Never "mailbox not found": the mailbox answered the draft POST.
  bool restart_if_vanished(const CallResult& cr, const char* step, bool at_upload_url = false) {
    if (!vanished(cr) && !(at_upload_url && upload_url_expired(cr))) return false;
    if (restarts >= kMaxDraftRestarts) {
      fail(transient(fmt::format("{}: draft or upload session vanished (HTTP {}) {} times; retrying later", step,
                                 cr.resp.status, restarts + 1)));
      return true;
    }
    ++restarts;
    log::warn("m365 event=draft_restart mailbox={} step={} status={} restart={} reason=\"draft or upload session "
              "not found\"", mailbox, log::quote(step), cr.resp.status, restarts);
    delete_draft();
    upload_url.clear();
    index = 0;
    offset = 0;
    force_session = false;
    create_draft();
    return true;
  }

  void create_draft() {
    Request req;
    req.method = "POST";
    req.url = g->user_url(mailbox) + "/messages";
    if (!split.draft_json.empty()) {
      req.headers.push_back("Content-Type: application/json");
      req.upload.add(view(split.draft_json));
    } else {
      req.headers.push_back("Content-Type: text/plain");
      req.upload = cloud::Body().add(view(split.rest_mime)).base64();  // encoded as curl sends it
    }
    if (req.upload.size() > 4 * 1000 * 1000) {
      return fail(permanent(split.attachments.empty() && split.draft_json.empty()
                                ? "message too large for Graph: over 4 MB encoded, and it cannot be taken apart "
                                  "(signed or encrypted, or no attachments after its body)"
                                : "message body without attachments is too large for Graph (over 4 MB encoded)"));
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
    if (a.bytes.size() < kSmallAttachment && !force_session) return attach_small(a);
    create_session(a);
  }

  void attach_small(const Attachment& a) {
    json body = {{"@odata.type", "#microsoft.graph.fileAttachment"},
                 {"name", a.name},
                 {"contentType", a.content_type},
                 {"isInline", a.is_inline}};
    if (!a.content_id.empty()) body["contentId"] = a.content_id;
    // {...,"contentBytes":"<base64>"}: the base64 is encoded as curl sends it, never as one string here.
    std::string head = body.dump(-1, ' ', false, json::error_handler_t::replace);
    head.pop_back();  // the closing brace
    head += ",\"contentBytes\":\"";
    Request req;
    req.method = "POST";
    req.url = msg_url() + "/attachments";
    req.headers.push_back("Content-Type: application/json");
    req.upload.add(std::make_shared<const std::string>(std::move(head)))
        .add_base64(view(a.bytes), 0, a.bytes.size())
        .add(std::make_shared<const std::string>("\"}"));
    g->call(std::move(req), [self = shared_from_this()](CallResult cr) {
      if (self->restart_if_vanished(cr, "add attachment")) return;
      if (cr.token_ok && cr.resp.ok() && cr.resp.status == 413) {
        // The JSON request (base64 grows it by a third) hit Graph's request
        // size limit: the same attachment fits an upload session, whose
        // ranges are small. A 413 there is permanent.
        log::info("m365 event=attachment_via_session mailbox={} reason=\"attachment POST answered 413\"",
                  self->mailbox);
        self->force_session = true;
        return self->next_attachment();
      }
      if (self->failed(cr, "add attachment")) return;
      ++self->index;
      self->force_session = false;
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
      if (self->restart_if_vanished(cr, "create upload session")) return;
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
    req.upload.add(view(bytes), offset, n);  // a view of the range: no copy
    perform(*g->curl, g->opt, std::move(req), [self = shared_from_this(), n](Response resp) {
      CallResult cr;
      cr.resp = std::move(resp);
      if (self->restart_if_vanished(cr, "upload attachment range", true)) return;
      if (resumable(cr.resp) && self->resumes < kMaxUploadResumes) return self->query_session(cr);
      if (cr.resp.ok() && cr.resp.status == 416) {
        return self->fail(transient("upload attachment range: the session rejected our ranges (HTTP 416) after "
                                    "resuming; retrying later"));
      }
      if (self->failed(cr, "upload attachment range")) return;
      if (cr.resp.status == 201) return self->attachment_done();
      std::size_t next = self->offset + n;
      if (cr.resp.status == 200 && !self->next_from(cr.resp.body, "upload attachment range", &next)) return;
      if (next <= self->offset && ++self->stalls > kMaxUploadResumes) {
        // The session keeps asking for what it was just sent: give up for
        // now rather than upload the same range forever.
        return self->fail(transient("upload attachment range: the upload session makes no progress; retrying later"));
      }
      self->offset = next;
      if (self->offset >= self->split.attachments[self->index].bytes.size()) return self->attachment_done();
      self->put_chunk();
    });
  }

  void attachment_done() {
    ++index;
    force_session = false;
    next_attachment();
  }

  // Where the session wants the next range, from a 200 answer. A body
  // without nextExpectedRanges keeps *next; one we cannot parse fails the
  // attempt (transient) — never a throw inside the HTTP callback.
  bool next_from(const std::string& body, const char* step, std::size_t* next) {
    const std::size_t size = split.attachments[index].bytes.size();
    NextRange nr = parse_next_expected(body, size);
    if (nr.state == NextRange::Absent) return true;
    if (nr.state == NextRange::Offset) {
      *next = nr.offset;
      return true;
    }
    fail(transient(fmt::format("{}: malformed nextExpectedRanges in the upload session's answer", step)));
    return false;
  }

  // A PUT failed with 5xx or in transport: GET the upload URL (Graph answers
  // the session's status with nextExpectedRanges) and go on from there.
  void query_session(const CallResult& failed_put) {
    ++resumes;
    log::warn("m365 event=upload_resume mailbox={} status={} curl={} resume={} reason={}", mailbox,
              failed_put.resp.status, static_cast<int>(failed_put.resp.curl), resumes,
              log::quote(failed_put.resp.ok() ? "upload range answered 5xx" : failed_put.resp.curl_error));
    Request req;
    req.method = "GET";
    req.url = upload_url;  // pre-authenticated, like the PUTs
    req.timeout = g->timeout;
    perform(*g->curl, g->opt, std::move(req), [self = shared_from_this()](Response resp) {
      CallResult cr;
      cr.resp = std::move(resp);
      if (self->restart_if_vanished(cr, "upload session status", true)) return;
      if (self->failed(cr, "upload session status")) return;
      std::size_t next = self->offset;
      if (!self->next_from(cr.resp.body, "upload session status", &next)) return;
      self->offset = next;
      self->put_chunk();
    });
  }

  void send() {
    Request req;
    req.method = "POST";
    req.url = msg_url() + "/send";
    req.headers.push_back("Content-Length: 0");
    g->call(std::move(req), [self = shared_from_this()](CallResult cr) {
      if (self->restart_if_vanished(cr, "send draft")) return;
      if (self->failed(cr, "send draft")) return;
      Result r = classify(cr, self->mailbox);
      r.text = fmt::format("accepted: draft sent with {} attachment(s)", self->split.attachments.size());
      auto d = std::move(self->done);
      d(std::move(r));
    });
  }
};

}  // namespace

NextRange parse_next_expected(std::string_view body, std::size_t size) {
  NextRange out;
  auto j = json::parse(body, nullptr, false);
  if (j.is_discarded() || !j.is_object()) return out;
  auto it = j.find("nextExpectedRanges");
  if (it == j.end()) return out;
  out.state = NextRange::Malformed;
  if (!it->is_array() || it->empty() || !(*it)[0].is_string()) return out;
  const std::string r = (*it)[0].get<std::string>();  // "3276800-" or "3276800-6553599" or "3276800"
  const std::size_t dash = r.find('-');
  const std::string_view start = std::string_view(r).substr(0, dash);
  std::size_t v = 0;
  auto [end, ec] = std::from_chars(start.data(), start.data() + start.size(), v);
  if (start.empty() || ec != std::errc() || end != start.data() + start.size() || v >= size) return out;
  out.state = NextRange::Offset;
  out.offset = v;
  return out;
}

void send_large(Graph& g, const std::string& mailbox, Split split, ResultDone done) {
  auto s = std::make_shared<LargeSend>();
  s->g = &g;
  s->mailbox = mailbox;
  s->split = std::move(split);
  s->done = std::move(done);
  log::debug("m365 event=large_send mailbox={} attachments={}", mailbox, s->split.attachments.size());
  s->create_draft();
}

Result unsplittable() { return permanent("message could not be parsed as MIME for the large-message path", "5.6.0"); }

}  // namespace relay::provider::m365
