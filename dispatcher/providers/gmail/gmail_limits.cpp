// See gmail_limits.hpp.
#include "dispatcher/providers/gmail/gmail_limits.hpp"

#include <fmt/format.h>
#include <strings.h>

#include <set>

#include "dispatcher/providers/cloud/mime_prepare.hpp"
#include "dispatcher/providers/outcome_table.hpp"

namespace relay::provider::gmail {
namespace {

bool is_rcpt_field(std::string_view line) {
  for (std::string_view n : {"to:", "cc:", "bcc:"})
    if (line.size() >= n.size() && strncasecmp(line.data(), n.data(), n.size()) == 0) return true;
  return false;
}

}  // namespace

std::vector<std::string> header_recipients(std::string_view head) {
  std::vector<std::string> values;  // unfolded values of To/Cc/Bcc
  bool in_rcpt = false;
  std::size_t pos = 0;
  while (pos < head.size()) {
    std::size_t eol = head.find('\n', pos);
    std::size_t next = eol == std::string_view::npos ? head.size() : eol + 1;
    std::string_view line = head.substr(pos, next - pos);
    pos = next;
    if (line == "\r\n" || line == "\n") break;
    if (line[0] == ' ' || line[0] == '\t') {
      if (in_rcpt) values.back().append(" ").append(line);
      continue;
    }
    in_rcpt = is_rcpt_field(line);
    if (in_rcpt) values.emplace_back(line.substr(line.find(':') + 1));
  }
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
