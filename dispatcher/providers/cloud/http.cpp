// See http.hpp.
#include "dispatcher/providers/cloud/http.hpp"

#include <curl/curl.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdlib>
#include <memory>

#include <fmt/format.h>

#include "common/curl_multi.hpp"

namespace relay::provider::cloud {
namespace {

// One transfer: owns the easy handle and every buffer it points to until
// the CurlMulti calls back.
struct Transfer {
  net::Easy easy;
  net::SList headers;
  Request req;
  Response resp;
  std::unique_ptr<BodyReader> reader;  // req.upload's cursor
  ResponseFn done;
  bool too_big = false;                // the body passed kMaxResponseBody: transfer aborted
  char errbuf[CURL_ERROR_SIZE] = {0};
};

size_t on_body(char* p, size_t size, size_t n, void* ud) {
  auto* t = static_cast<Transfer*>(ud);
  if (t->resp.body.size() + size * n > kMaxResponseBody) {
    t->too_big = true;  // an endpoint gone wrong (or not the endpoint): never buffer without bound
    return 0;           // aborts the transfer (CURLE_WRITE_ERROR)
  }
  t->resp.body.append(p, size * n);
  return size * n;
}

size_t on_read(char* p, size_t size, size_t n, void* ud) {
  long got = static_cast<Transfer*>(ud)->reader->read(p, size * n);
  return got < 0 ? CURL_READFUNC_ABORT : static_cast<size_t>(got);
}

// curl rewinds the body to send it again (a reused connection that turned
// out closed, a redirect, an auth round): start a new reader there.
int on_seek(void* ud, curl_off_t offset, int origin) {
  auto* t = static_cast<Transfer*>(ud);
  if (origin != SEEK_SET || offset < 0) return CURL_SEEKFUNC_CANTSEEK;
  if (offset == 0) {
    t->reader = std::make_unique<BodyReader>(t->req.upload);
  } else if (t->req.upload.plain()) {
    t->reader = std::make_unique<BodyReader>(t->req.upload.slice(static_cast<std::uint64_t>(offset)));
  } else {
    return CURL_SEEKFUNC_CANTSEEK;
  }
  return CURL_SEEKFUNC_OK;
}

size_t on_header(char* p, size_t size, size_t n, void* ud) {
  auto* t = static_cast<Transfer*>(ud);
  std::string_view line(p, size * n);
  auto colon = line.find(':');
  if (colon != std::string_view::npos) {
    std::string name(line.substr(0, colon));
    for (auto& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    auto v = line.substr(colon + 1);
    while (!v.empty() && (v.front() == ' ' || v.front() == '\t')) v.remove_prefix(1);
    while (!v.empty() && (v.back() == '\r' || v.back() == '\n' || v.back() == ' ')) v.remove_suffix(1);
    t->resp.headers[name] = std::string(v);
  } else if (line.rfind("HTTP/", 0) == 0) {
    t->resp.headers.clear();  // a new response (after 100 Continue or a redirect)
  }
  return size * n;
}

void setup(Transfer& t, const HttpOptions& opt) {
  CURL* h = t.easy.get();
  curl_easy_setopt(h, CURLOPT_URL, t.req.url.c_str());
  curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(h, CURLOPT_TIMEOUT, static_cast<long>(t.req.timeout));
  curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, 30L);
  curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "https,http");
  // A 3xx is handed to the adapter as it is (classified as a configuration
  // problem naming the Location): never followed, to any host.
  curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
  curl_easy_setopt(h, CURLOPT_REDIR_PROTOCOLS_STR, "");
  // gzip/deflate/br answers (error bodies included) are decoded; the size
  // cap applies to the decoded bytes, so a compression bomb is cut too.
  curl_easy_setopt(h, CURLOPT_ACCEPT_ENCODING, "");
  curl_easy_setopt(h, CURLOPT_ERRORBUFFER, t.errbuf);
  curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
  curl_easy_setopt(h, CURLOPT_WRITEDATA, &t);
  curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
  curl_easy_setopt(h, CURLOPT_HEADERDATA, &t);
  curl_easy_setopt(h, CURLOPT_USERAGENT, "relay/0.1");
  if (!opt.ca_file.empty()) curl_easy_setopt(h, CURLOPT_CAINFO, opt.ca_file.c_str());
  // Expect: 100-continue costs a round trip per upload chunk; the APIs do not need it.
  t.headers.append("Expect:");
  for (const auto& hd : t.req.headers) t.headers.append(hd.c_str());
  curl_easy_setopt(h, CURLOPT_HTTPHEADER, t.headers.get());
  if (t.req.method == "GET") {
    curl_easy_setopt(h, CURLOPT_HTTPGET, 1L);
  } else {
    if (t.req.method != "POST") curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, t.req.method.c_str());
    if (t.req.upload.size() > 0) {  // streamed: no copy of the bytes
      t.reader = std::make_unique<BodyReader>(t.req.upload);
      curl_easy_setopt(h, CURLOPT_POST, 1L);
      curl_easy_setopt(h, CURLOPT_READFUNCTION, on_read);
      curl_easy_setopt(h, CURLOPT_READDATA, &t);
      curl_easy_setopt(h, CURLOPT_SEEKFUNCTION, on_seek);
      curl_easy_setopt(h, CURLOPT_SEEKDATA, &t);
      curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(t.req.upload.size()));
    } else if (t.req.method != "DELETE" || !t.req.body.empty()) {
      curl_easy_setopt(h, CURLOPT_POST, 1L);
      curl_easy_setopt(h, CURLOPT_POSTFIELDS, t.req.body.data());
      curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(t.req.body.size()));
    }
  }
}

}  // namespace

std::string Response::header(const std::string& lower_name) const {
  auto it = headers.find(lower_name);
  return it == headers.end() ? std::string() : it->second;
}

void perform(net::CurlMulti& curl, const HttpOptions& opt, Request req, ResponseFn done) {
  if (opt.tracker && opt.tracker->closing) return;  // owner going away: nobody to call back
  auto t = std::make_shared<Transfer>();
  t->req = std::move(req);
  t->done = std::move(done);
  setup(*t, opt);
  if (opt.tracker) opt.tracker->running.insert(t->easy.get());
  curl.start(t->easy.get(), [t, tracker = opt.tracker](CURLcode rc) {
    auto keep = t;  // the CurlMulti may drop this lambda while we run
    if (tracker) {
      tracker->running.erase(keep->easy.get());
      if (tracker->closing) return;
    }
    keep->resp.curl = rc;
    if (rc != CURLE_OK) {
      keep->resp.curl_error = keep->errbuf[0] ? keep->errbuf : curl_easy_strerror(rc);
      if (keep->too_big) keep->resp.curl_error = fmt::format("response larger than {} bytes, not read", kMaxResponseBody);
      if (keep->reader && !keep->reader->error().empty()) keep->resp.curl_error = keep->reader->error();
    } else {
      curl_easy_getinfo(keep->easy.get(), CURLINFO_RESPONSE_CODE, &keep->resp.status);
    }
    auto fn = std::move(keep->done);
    try {
      fn(std::move(keep->resp));
    } catch (...) {
      // A callback must not throw into the loop; the delivery layer catches
      // its own errors, so this is a broken invariant.
      std::abort();
    }
  });
}

void cancel_all(net::CurlMulti& curl, Tracker& t) {
  t.closing = true;
  auto running = std::move(t.running);
  t.running.clear();
  for (CURL* easy : running) curl.cancel(easy);
}

std::string url_escape(std::string_view s) {
  static const char* hex = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += hex[c >> 4];
      out += hex[c & 15];
    }
  }
  return out;
}

std::string trim_slash(std::string url) {
  while (!url.empty() && url.back() == '/') url.pop_back();
  return url;
}

std::optional<std::int64_t> parse_retry_after(std::string_view value, std::time_t now) {
  while (!value.empty() && (value.front() == ' ' || value.front() == '\t')) value.remove_prefix(1);
  while (!value.empty() && (value.back() == ' ' || value.back() == '\t')) value.remove_suffix(1);
  if (value.empty()) return std::nullopt;
  const std::int64_t cap = kMaxRetryAfter;
  if (std::isdigit(static_cast<unsigned char>(value.front()))) {
    std::string s(value);
    char* end = nullptr;
    double d = std::strtod(s.c_str(), &end);
    if (end && *end == '\0' && !std::isnan(d) && d >= 0) {  // inf ("1e400"): the cap
      // Cap as a double: casting a value beyond int64 is undefined (it wrapped negative).
      return static_cast<std::int64_t>(std::min(std::ceil(d), static_cast<double>(cap)));
    }
    if (s.find(' ') == std::string::npos) return std::nullopt;
  }
  std::string s(value);
  std::time_t t = curl_getdate(s.c_str(), nullptr);
  if (t == -1) return std::nullopt;
  return std::clamp<std::int64_t>(static_cast<std::int64_t>(t) - now, 0, cap);
}

}  // namespace relay::provider::cloud
