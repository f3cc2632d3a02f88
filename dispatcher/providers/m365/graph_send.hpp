// relay::provider::m365 Graph calls — authorised requests and the MIME
// sendMail.
//
// Does: Graph::call() adds "Authorization: Bearer <token>" from the shared
// TokenCache, and after a 401 invalidates that token and retries the call
// ONCE with a fresh one. send_mime() posts the prepared message to
// POST <graph>/v1.0/users/{mailbox}/sendMail as base64 with
// Content-Type: text/plain (202 = accepted). classify() turns a call's
// outcome into a provider Result through graph_errors' table.
// Does not: pace per mailbox (MailboxLimiter), read the spool.
// Runs on: the loop thread. Fails: Results, never exceptions.
#pragma once
#include <ctime>
#include <functional>
#include <string>

#include "dispatcher/providers/m365/cloud_names.hpp"
#include "dispatcher/providers/provider.hpp"

namespace relay::provider::m365 {

struct CallResult {
  bool token_ok = true;
  Result token_error;   // when !token_ok
  Response resp;
};
using CallDone = std::function<void(CallResult)>;
using ResultDone = std::function<void(Result)>;

struct Graph {
  net::CurlMulti* curl = nullptr;
  HttpOptions opt;
  std::string base;            // graph_url without trailing '/'
  std::int64_t timeout = 120;
  TokenCache* tokens = nullptr;

  // `path` starts with "/v1.0/...". Authorised; retries once after a 401.
  void call(Request req, CallDone done, bool retried = false);
  std::string user_url(const std::string& mailbox) const;  // <base>/v1.0/users/<escaped>
};

Result classify(const CallResult& r, const std::string& mailbox, std::time_t now = std::time(nullptr));

// `encoded` is base64 of the MIME (made on the threadpool: send_plan).
void send_mime(Graph& g, const std::string& mailbox, const std::string& encoded, ResultDone done);

// POST .../sendMail with a JSON body (json_message.hpp's sendmail_body:
// {"message": ..., "saveToSentItems": false}), application/json; 202 = accepted.
void send_json(Graph& g, const std::string& mailbox, const std::string& body, ResultDone done);

}  // namespace relay::provider::m365
