// relay::provider::cloud HTTP helper — one HTTPS request over the shared
// net::CurlMulti, with the response collected in memory.
//
// Does: builds a curl easy handle for a Request (method, URL, headers, body
// in memory or streamed from a Body,
// CA file, timeout), runs it on the CurlMulti, and hands back status,
// lower-cased response headers and body.
// Also the Retry-After parser and URL helpers both APIs need.
// Does not: retry, authenticate, or interpret the response (the token
// clients and the adapters' send code do).
// Runs on: the uv loop thread of the CurlMulti.
// Fails: a transport error is Response::curl != CURLE_OK (status 0); never
// throws out of a libuv or curl callback. Hostile answers are bounded: a
// body over kMaxResponseBody aborts the transfer (CURLE_WRITE_ERROR, text
// "response larger than ..."), redirects are never followed (the 3xx comes
// back as the status), compressed bodies are decoded, and every transfer
// has the request's whole-transfer timeout.
#pragma once
#include <curl/curl.h>
#include <uv.h>

#include <cstdint>
#include <ctime>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "dispatcher/providers/cloud/body.hpp"
#include "dispatcher/providers/post.hpp"  // post(): adapters answer Done on the next loop turn

namespace relay::net {
class CurlMulti;
}

namespace relay::provider::cloud {

// No API answer relay reads is near this (the biggest: a draft echoed back,
// under Graph's 4 MB request limit); anything longer is not the API.
constexpr std::size_t kMaxResponseBody = 8u << 20;
// Retry-After above this is taken as this: a bogus header must not park a
// mailbox for days (the next answer says again if it is still busy).
constexpr std::int64_t kMaxRetryAfter = 3600;

struct Request {
  std::string method = "GET";        // GET POST PUT DELETE
  std::string url;
  std::vector<std::string> headers;  // "Name: value"
  std::string body;                  // small bodies (JSON, forms)
  Body upload;                       // non-empty: sent instead of `body`, streamed by curl's read
                                     // callback (big bodies: never copied, see body.hpp)
  std::int64_t timeout = 120;        // seconds, whole transfer
};

struct Response {
  CURLcode curl = CURLE_OK;
  std::string curl_error;            // curl's error buffer when curl != OK
  long status = 0;
  std::map<std::string, std::string> headers;  // lower-case name -> last value
  std::string body;
  bool ok() const noexcept { return curl == CURLE_OK; }
  std::string header(const std::string& lower_name) const;
};

// The transfers of one owner (an adapter), so that its destructor can
// cancel them: once `closing`, completions are dropped (never run into the
// destroyed owner) and new transfers are not started.
struct Tracker {
  std::set<CURL*> running;
  bool closing = false;
};

struct HttpOptions {
  std::filesystem::path ca_file;     // "" = system store
  std::shared_ptr<Tracker> tracker = nullptr;  // optional
};

// Marks `t` closing and cancels its running transfers; their callbacks are
// not called. `curl` must still be alive when anything is running.
void cancel_all(net::CurlMulti& curl, Tracker& t);

using ResponseFn = std::function<void(Response)>;

// Starts `req`; `done` is called once, on the loop thread, from the
// CurlMulti's completion (never synchronously) — unless opt.tracker is
// closing, then `done` is dropped uncalled.
void perform(net::CurlMulti& curl, const HttpOptions& opt, Request req, ResponseFn done);

// application/x-www-form-urlencoded and URL path escaping.
std::string url_escape(std::string_view s);

// A base URL without trailing slashes ("https://graph.microsoft.com/").
std::string trim_slash(std::string url);

// Retry-After: "120", "1.5" (rounded up), or an HTTP date (relative to now).
// nullopt when absent or unparseable; never negative; at most kMaxRetryAfter.
std::optional<std::int64_t> parse_retry_after(std::string_view value, std::time_t now);

}  // namespace relay::provider::cloud
