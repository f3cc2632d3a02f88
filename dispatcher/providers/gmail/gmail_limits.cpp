// See gmail_limits.hpp.
#include "dispatcher/providers/gmail/gmail_limits.hpp"

#include <fmt/format.h>

#include <set>

#include "common/header_reader.hpp"
#include "dispatcher/providers/cloud/mime_prepare.hpp"
#include "dispatcher/providers/outcome_table.hpp"

namespace relay::provider::gmail {

// The fields read by the one RFC 5322 header reader the sender check uses,
// so "To : x" and folded fields count like everywhere else.
std::vector<std::string> header_recipients(std::string_view head) {
  std::vector<std::string_view> values;  // folded values of To/Cc/Bcc
  for (const auto& f : mail::read_header(head).fields)
    if (mail::is_field(f, "To") || mail::is_field(f, "Cc") || mail::is_field(f, "Bcc")) values.push_back(f.value);
  std::vector<std::string> out;
  std::set<std::string> seen;
  for (const auto& v : values) {
    for (auto& a : cloud::extract_addresses(v)) {
      std::string low = a;
      for (auto& c : low) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      if (seen.insert(low).second) out.push_back(a);
    }
  }
  return out;
}

std::optional<Result> check_limits(std::uint64_t size, std::size_t recipients, std::uint64_t max_size,
                                   int max_recipients) {
  if (size > max_size) {
    Result r = make_result(Cause::MessageTooBig);
    r.text = fmt::format("message of {} bytes is over the Gmail API limit of {} bytes (max_message_size)", size,
                         max_size);
    return r;
  }
  if (recipients > static_cast<std::size_t>(max_recipients)) {
    Result r = make_result(Cause::UpstreamPermanent);
    r.code = 0;
    r.enhanced = "5.5.3";
    r.text = fmt::format("{} recipients in To/Cc/Bcc, the Gmail API accepts at most {} per message (max_recipients)",
                         recipients, max_recipients);
    return r;
  }
  return std::nullopt;
}

}  // namespace relay::provider::gmail
