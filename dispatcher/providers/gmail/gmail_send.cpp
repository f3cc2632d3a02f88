// See gmail_send.hpp. Sources: Gmail API users.messages.send and "Uploading
// attachments" (simple and resumable media upload).
#include "dispatcher/providers/gmail/gmail_send.hpp"

#include <fmt/format.h>

#include <nlohmann/json.hpp>

#include "common/log.hpp"
#include "dispatcher/providers/gmail/gmail_errors.hpp"
#include "dispatcher/providers/gmail/token_client.hpp"
#include "dispatcher/providers/outcome_table.hpp"

namespace relay::provider::gmail {
namespace {

constexpr int kMaxResumes = 3;

// A 2xx with Gmail's Message resource: Sent with its id.
Result accepted(const CallResult& cr, const std::string& user) {
  Result r = classify(cr, user);
  auto j = nlohmann::json::parse(cr.resp.body, nullptr, false);
  if (j.is_object() && j.contains("id") && j["id"].is_string()) r.provider_id = j["id"].get<std::string>();
  r.text = r.provider_id.empty() ? "accepted by Gmail" : "accepted by Gmail: id=" + r.provider_id;
  return r;
}

bool ok2xx(const CallResult& cr) { return cr.token_ok && cr.resp.ok() && cr.resp.status / 100 == 2; }

// Resumable upload of one message: session start, PUT, status queries.
struct Upload : std::enable_shared_from_this<Upload> {
  Api* api;
  Target t;
  cloud::Body mime;
  ResultDone done;
  std::string session;
  int resumes = 0;

  void start();
  void put_from(std::size_t offset);
  void query();
  void retry_or_fail(const CallResult& cr, const char* what);
};

void Upload::start() {
  cloud::Request req;
  req.method = "POST";
  req.url = api->user_url(t.user_id, true) + "/messages/send?uploadType=resumable";
  req.headers = {"Content-Type: application/json; charset=UTF-8", "X-Upload-Content-Type: message/rfc822",
                 fmt::format("X-Upload-Content-Length: {}", mime.size())};
  req.body = "{}";
  api->call(t, std::move(req), [self = shared_from_this()](CallResult cr) {
    if (!ok2xx(cr)) return self->done(classify(cr, self->t.user_id));
    self->session = cr.resp.header("location");
    if (self->session.empty()) {
      Result r = make_result(Cause::ServiceUnavailable, "Gmail started a resumable upload without a Location");
      r.code = static_cast<int>(cr.resp.status);
      return self->done(r);
    }
    self->put_from(0);
  });
}

void Upload::put_from(std::size_t offset) {
  cloud::Request req;
  req.method = "PUT";
  req.url = session;
  req.headers = {"Content-Type: message/rfc822"};
  if (offset > 0) {
    req.headers.push_back(fmt::format("Content-Range: bytes {}-{}/{}", offset, mime.size() - 1, mime.size()));
  }
  req.upload = mime.slice(offset);  // streamed from the spool file, no copy
  log::debug("{} event=gmail_upload_put user={} offset={} size={}", t.log_id, t.user_id, offset, mime.size());
  api->call(t, std::move(req), [self = shared_from_this()](CallResult cr) {
    if (ok2xx(cr)) return self->done(accepted(cr, self->t.user_id));
    self->retry_or_fail(cr, "upload");
  });
}

void Upload::retry_or_fail(const CallResult& cr, const char* what) {
  const long st = cr.resp.status;
  const bool resumable = cr.token_ok && (!cr.resp.ok() || st == 308 || st == 500 || st == 502 || st == 503 || st == 504);
  if (resumable && resumes < kMaxResumes) {
    ++resumes;
    log::info("{} event=gmail_upload_resume user={} after={} status={} n={}", t.log_id, t.user_id, what, st, resumes);
    return query();
  }
  if (cr.token_ok && cr.resp.ok() && (st == 404 || st == 410)) {
    Result r = make_result(Cause::ServiceUnavailable, "Gmail upload session expired; a new one starts next attempt");
    r.code = static_cast<int>(st);
    return done(r);
  }
  done(classify(cr, t.user_id));
}

void Upload::query() {
  cloud::Request req;
  req.method = "PUT";
  req.url = session;
  req.headers = {"Content-Type:", fmt::format("Content-Range: bytes */{}", mime.size())};
  api->call(t, std::move(req), [self = shared_from_this()](CallResult cr) {
    if (ok2xx(cr)) return self->done(accepted(cr, self->t.user_id));  // Gmail already had all of it
    if (cr.token_ok && cr.resp.ok() && cr.resp.status == 308) {
      // "Range: bytes=0-K" = K+1 bytes stored; no Range = nothing stored.
      const std::string range = cr.resp.header("range");
      std::size_t next = 0;
      if (auto dash = range.rfind('-'); range.rfind("bytes=", 0) == 0 && dash != std::string::npos) {
        next = std::strtoull(range.c_str() + dash + 1, nullptr, 10) + 1;
      }
      if (next >= self->mime.size()) next = 0;  // nonsense answer: send it all again
      return self->put_from(next);
    }
    self->retry_or_fail(cr, "status");
  });
}

}  // namespace

std::string Api::user_url(const std::string& user_id, bool upload) const {
  return base + (upload ? "/upload" : "") + "/gmail/v1/users/" + cloud::url_escape(user_id);
}

void Api::call(const Target& t, cloud::Request req, CallDone done, bool retried) {
  tokens(t.subject).get([this, t, req = std::move(req), done = std::move(done), retried](
                            const cloud::TokenResult& tr) mutable {
    if (!tr.ok) {
      CallResult cr;
      cr.token_ok = false;
      cr.token_error = tr.error;
      return done(std::move(cr));
    }
    cloud::Request r = req;  // keep the original for a retry after 401
    r.headers.push_back("Authorization: Bearer " + tr.token);
    r.headers.push_back("User-Agent: relay/0.1 (gmail)");
    r.timeout = timeout;
    cloud::perform(*curl, opt, std::move(r),
                  [this, t, req = std::move(req), done = std::move(done), retried,
                   token = tr.token](cloud::Response resp) mutable {
                    if (resp.ok() && resp.status == 401 && !retried) {
                      log::info("{} event=gmail_401 user={} action=refresh_token_and_retry", t.log_id, t.user_id);
                      tokens(t.subject).invalidate(token);
                      return call(t, std::move(req), std::move(done), true);
                    }
                    CallResult cr;
                    cr.resp = std::move(resp);
                    done(std::move(cr));
                  });
  });
}

Result classify(const CallResult& r, const std::string& user, std::time_t now) {
  if (!r.token_ok) return r.token_error;
  if (!r.resp.ok()) return classify_transport(r.resp, "Gmail API unreachable");
  return classify_api(r.resp.status, r.resp.body, r.resp.header("retry-after"), user, now);
}

void send_media(Api& api, const Target& t, cloud::Body mime, ResultDone done) {
  cloud::Request req;
  req.method = "POST";
  req.url = api.user_url(t.user_id, true) + "/messages/send?uploadType=media";
  req.headers = {"Content-Type: message/rfc822"};
  req.upload = std::move(mime);
  api.call(t, std::move(req), [user = t.user_id, done = std::move(done)](CallResult cr) {
    done(ok2xx(cr) ? accepted(cr, user) : classify(cr, user));
  });
}

void send_resumable(Api& api, const Target& t, cloud::Body mime, ResultDone done) {
  auto up = std::make_shared<Upload>();
  up->api = &api;
  up->t = t;
  up->mime = std::move(mime);
  up->done = std::move(done);
  up->start();
}

}  // namespace relay::provider::gmail
