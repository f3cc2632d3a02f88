// relay::provider::gmail send — users.messages.send with the raw message as
// media upload (Content-Type: message/rfc822), simple or resumable.
//
// Does: Api::call() adds "Authorization: Bearer" from the token cache of
// the request's subject and, on a 401, drops that token and retries once
// with a new one. send_media(): POST {api}/upload/gmail/v1/users/{user}/
// messages/send?uploadType=media. send_resumable(): POST ...?uploadType=
// resumable with X-Upload-Content-Type/-Length and "{}" metadata -> 200 +
// Location (the session URI); PUT the whole message there -> 200/201. When
// that PUT is cut or answered 5xx/308, asks the session how much arrived
// (PUT, "Content-Range: bytes */N") and sends the rest from the offset the
// Range header names (at most 3 times); a status answer of 200/201 means
// Gmail already has it all (no duplicate send). 404/410 on the session =
// expired: transient, the next attempt starts a new session.
// Success: Result Sent, code 200, provider_id = Gmail's message id.
// Does not: prepare the MIME (mime_prepare), pick the user (adapter).
// Runs on: the loop thread of the CurlMulti. Api must outlive its requests.
// Fails: every failure is a classified Result through `done` (never throws).
#pragma once
#include <cstdint>
#include <ctime>
#include <functional>
#include <memory>
#include <string>

#include "dispatcher/providers/cloud/http.hpp"
#include "dispatcher/providers/cloud/token_cache.hpp"
#include "dispatcher/providers/provider.hpp"

namespace relay::provider::gmail {

struct Target {
  std::string subject;  // whose token (the impersonated user; "me" for a refresh token)
  std::string user_id;  // {userId} in URLs: the address, or "me"
  std::string log_id = "-";  // queue id for log lines
};

struct CallResult {
  bool token_ok = true;
  Result token_error;
  cloud::Response resp;
};
using CallDone = std::function<void(CallResult)>;
using ResultDone = std::function<void(Result)>;

struct Api {
  net::CurlMulti* curl = nullptr;
  cloud::HttpOptions opt;
  std::string base;            // api_url, no trailing '/'
  std::int64_t timeout = 120;  // seconds per request
  std::function<cloud::TokenCache&(const std::string& subject)> tokens;

  std::string user_url(const std::string& user_id, bool upload) const;  // .../gmail/v1/users/{id}
  void call(const Target& t, cloud::Request req, CallDone done, bool retried = false);
};

// Classifies a finished call (token failure, transport error, HTTP answer).
Result classify(const CallResult& r, const std::string& user, std::time_t now = std::time(nullptr));

// `mime` is streamed (cloud/body.hpp): a retry or a resumed PUT reads it again from the spool file.
void send_media(Api& api, const Target& t, cloud::Body mime, ResultDone done);
void send_resumable(Api& api, const Target& t, cloud::Body mime, ResultDone done);

}  // namespace relay::provider::gmail
