// Fuzz target: the spool envelope parser (spool/envelope.hpp), which reads
// files that a crash, a full disk or an operator's editor may have damaged.
//
// Input: the bytes of an .env file.
// Checks (abort = finding): parse() never throws or crashes; a failure has a
// reason; whatever parses serialises to a file that parses again to the same
// serialisation (round trip), with the same recipients.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string_view>

#include "spool/envelope.hpp"

namespace {
[[noreturn]] void finding(const char* what) {
  std::fprintf(stderr, "envelope_fuzz: invariant broken: %s\n", what);
  std::abort();
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view bytes(reinterpret_cast<const char*>(data), size);
  auto r = relay::spool::parse(bytes);
  if (!r.envelope) {
    if (r.error.reason.empty()) finding("parse failed without a reason");
    return 0;
  }
  std::string once = relay::spool::serialize(*r.envelope);
  auto again = relay::spool::parse(once);
  if (!again.envelope) finding("a parsed envelope does not parse after serialising");
  if (relay::spool::serialize(*again.envelope) != once) finding("serialise/parse round trip changes the envelope");
  if (again.envelope->rcpts.size() != r.envelope->rcpts.size()) finding("round trip changes the recipients");
  (void)r.envelope->pending_count();
  return 0;
}
