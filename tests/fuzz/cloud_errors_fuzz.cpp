// Fuzz target: what the cloud adapters parse from Microsoft's and Google's
// answers — Graph {"error":{...}} bodies, Entra/Google token endpoint
// errors, Gmail API errors and Retry-After values — and the classification
// built on them (dispatcher/providers/{m365,gmail,cloud}).
//
// Input: byte 0 picks the parser, bytes 1-2 the HTTP status; the rest up to
// the first NUL is the body, after it the Retry-After header value.
// Checks (abort = finding): no crash or escaping exception on any body;
// texts meant for logs are one line (no CR/LF: a body must not forge log
// lines); a Retry-After is never negative nor more than a day; a 2xx is
// sent and nothing else is.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "dispatcher/providers/cloud/http.hpp"
#include "dispatcher/providers/cloud/token_cache.hpp"
#include "dispatcher/providers/gmail/gmail_errors.hpp"
#include "dispatcher/providers/m365/graph_errors.hpp"
#include "tests/fuzz/fuzz_input.hpp"

namespace {

namespace pv = relay::provider;

[[noreturn]] void finding(const char* what) {
  std::fprintf(stderr, "cloud_errors_fuzz: invariant broken: %s\n", what);
  std::abort();
}

void one_line(std::string_view s, const char* what) {
  if (s.find_first_of("\r\n") != std::string_view::npos) finding(what);
}

void check(const pv::Result& r, long status) {
  one_line(r.text, "result text spans lines");
  if (r.retry_after && (*r.retry_after < 0 || *r.retry_after > 86400)) finding("retry_after out of range");
  bool ok = status >= 200 && status < 300;
  if ((r.outcome == pv::Outcome::Sent) && !ok) finding("non-2xx classified as sent");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  relay::fuzz::Input in(data, size);
  std::uint8_t which = in.byte();
  long status = 100 + (in.byte() << 8 | in.byte()) % 500;
  std::string_view body = in.until('\0');
  std::string_view retry_after = in.rest();
  const std::time_t now = 1700000000;
  switch (which % 5) {
    case 0: {
      auto e = pv::m365::parse_graph_error(body);
      (void)e;
      check(pv::m365::classify_graph(status, body, retry_after, "scan@contoso.example", now), status);
      (void)pv::m365::is_invalid_token(status, body);
      break;
    }
    case 1: {
      pv::m365::TokenContext ctx{"tenant", "client", "https://login.microsoftonline.com"};
      auto r = pv::m365::classify_token(status, body, ctx);
      one_line(r.text, "token result text spans lines");
      break;
    }
    case 2: {
      (void)pv::gmail::parse_api_error(body);
      check(pv::gmail::classify_api(status, body, retry_after, "user@example.com", now), status);
      break;
    }
    case 3: {
      auto t = pv::cloud::parse_token_error(body);
      one_line(t.description, "token error description spans lines");
      pv::gmail::TokenContext ctx{true, "user@example.com", "svc@project.iam.gserviceaccount.com"};
      one_line(pv::gmail::classify_token(status, body, ctx).text, "gmail token text spans lines");
      break;
    }
    default: {
      auto s = pv::cloud::parse_retry_after(body, now);
      if (s && (*s < 0 || *s > 86400)) finding("parse_retry_after out of range");
      break;
    }
  }
  return 0;
}
