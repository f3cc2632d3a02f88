// See graph_send.hpp.
#include "dispatcher/providers/m365/graph_send.hpp"

#include "common/log.hpp"
#include "dispatcher/providers/m365/cloud_names.hpp"
#include "dispatcher/providers/m365/graph_errors.hpp"

namespace relay::provider::m365 {

std::string Graph::user_url(const std::string& mailbox) const {
  return base + "/v1.0/users/" + url_escape(mailbox);
}

void Graph::call(Request req, CallDone done, bool retried) {
  tokens->get([this, req = std::move(req), done = std::move(done), retried](const TokenResult& t) mutable {
    if (!t.ok) {
      CallResult cr;
      cr.token_ok = false;
      cr.token_error = t.error;
      done(std::move(cr));
      return;
    }
    Request r = req;  // keep the original for a retry
    r.headers.push_back("Authorization: Bearer " + t.token);
    r.timeout = timeout;
    perform(*curl, opt, std::move(r),
            [this, req = std::move(req), done = std::move(done), retried, token = t.token](Response resp) mutable {
              if (resp.ok() && is_invalid_token(resp.status, resp.body) && !retried && tokens->invalidate(token)) {
                log::info("m365 event=graph_401 url={} action=refresh_token_and_retry", log::quote(req.url));
                call(std::move(req), std::move(done), true);
                return;
              }
              CallResult cr;
              cr.resp = std::move(resp);
              done(std::move(cr));
            });
  });
}

Result classify(const CallResult& r, const std::string& mailbox, std::time_t now) {
  if (!r.token_ok) return r.token_error;
  if (!r.resp.ok()) return classify_transport(r.resp.curl, r.resp.curl_error);
  return classify_graph(r.resp.status, r.resp.body, r.resp.header("retry-after"), mailbox, now,
                        r.resp.header("location"));
}

namespace {

// POST /users/{mailbox}/sendMail: the MIME form (base64 text/plain) and the
// JSON form differ only in the body and its Content-Type.
void post_send_mail(Graph& g, const std::string& mailbox, const char* content_type, cloud::Body body,
                    ResultDone done) {
  Request req;
  req.method = "POST";
  req.url = g.user_url(mailbox) + "/sendMail";
  req.headers.push_back(std::string("Content-Type: ") + content_type);
  req.upload = std::move(body);
  g.call(std::move(req), [mailbox, done = std::move(done)](CallResult cr) {
    Result r = classify(cr, mailbox);
    if (r.outcome == Outcome::Sent && cr.resp.status != 202) {
      r.text = "unexpected success status " + std::to_string(cr.resp.status);
    }
    done(std::move(r));
  });
}

}  // namespace

void send_mime(Graph& g, const std::string& mailbox, cloud::Body encoded, ResultDone done) {
  post_send_mail(g, mailbox, "text/plain", std::move(encoded), std::move(done));
}

void send_json(Graph& g, const std::string& mailbox, cloud::Body body, ResultDone done) {
  post_send_mail(g, mailbox, "application/json", std::move(body), std::move(done));
}

}  // namespace relay::provider::m365
