// Fuzz target: the SMTP provider's transcript of an upstream conversation
// (dispatcher/providers/smtp_transcript.hpp) — reply lines from a server we
// do not control — and its classification into a delivery result.
//
// Input: byte 0 = separator, byte 1 = CURLcode, byte 2 = recipient count
// (1-4); then chunks split at the separator, each led by a byte choosing the
// libcurl debug info type (command out / reply in / other).
// Checks (abort = finding): no crash; a delivery is "sent" only when the
// upstream gave a 2xx to the end of data (a 2xx to DATA sends no body):
// mail is never dropped on the floor; per-recipient results name only
// recipients we asked for; the summary is one line.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "dispatcher/providers/smtp_transcript.hpp"
#include "tests/fuzz/fuzz_input.hpp"

namespace {

namespace pv = relay::provider;

[[noreturn]] void finding(const char* what) {
  std::fprintf(stderr, "smtp_replies_fuzz: invariant broken: %s\n", what);
  std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  relay::fuzz::Input in(data, size);
  char sep = static_cast<char>(in.byte());
  std::uint8_t rc_byte = in.byte();
  std::size_t nrcpt = 1 + in.byte() % 4;
  std::vector<std::string> rcpts;
  for (std::size_t i = 0; i < nrcpt; ++i) rcpts.push_back("r" + std::to_string(i) + "@example.org");
  static constexpr CURLcode kCodes[] = {CURLE_OK, CURLE_COULDNT_CONNECT, CURLE_LOGIN_DENIED,
                                        CURLE_OPERATION_TIMEDOUT, CURLE_SEND_ERROR, CURLE_RECV_ERROR,
                                        CURLE_USE_SSL_FAILED, CURLE_WEIRD_SERVER_REPLY};
  CURLcode rc = kCodes[rc_byte % (sizeof kCodes / sizeof kCodes[0])];

  pv::SmtpTranscript t;
  while (!in.empty()) {
    std::string_view chunk = in.until(sep);
    std::uint8_t kind = chunk.empty() ? 0 : static_cast<std::uint8_t>(chunk.front());
    if (!chunk.empty()) chunk.remove_prefix(1);
    curl_infotype type = kind % 3 == 0 ? CURLINFO_HEADER_IN : kind % 3 == 1 ? CURLINFO_HEADER_OUT : CURLINFO_TEXT;
    t.on_debug(type, chunk);
  }
  pv::Result d = pv::classify_delivery(t, rc, rcpts);
  auto ok2xx = [](const pv::SmtpStep* s) { return s != nullptr && s->code >= 200 && s->code <= 299; };
  // Only a 2xx to the end of data: a 2xx to DATA itself means no body was sent.
  bool accepted = ok2xx(t.last("EOD"));
  if (d.outcome == pv::Outcome::Sent && !accepted) finding("sent without a 2xx reply to the message");
  for (const auto& r : d.rcpts) {
    bool known = false;
    for (const auto& a : rcpts) known = known || a == r.address;
    if (!known) finding("result for a recipient we did not send to");
    if (r.outcome == pv::Outcome::Sent && !accepted) finding("recipient sent without a 2xx reply to the message");
  }
  (void)pv::classify_probe(t, rc);
  if (t.summary().find('\n') != std::string::npos) finding("summary spans lines");
  return 0;
}
