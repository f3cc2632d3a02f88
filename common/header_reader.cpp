// See header_reader.hpp. Field names, the header section and the
// originator; address syntax is in address_parser.cpp.
#include <strings.h>

#include "common/header_reader.hpp"

namespace relay::mail {
bool iequals(std::string_view a, std::string_view b) noexcept {
  return a.size() == b.size() && strncasecmp(a.data(), b.data(), a.size()) == 0;
}

namespace {

std::string_view strip_line_end(std::string_view s) {
  if (!s.empty() && s.back() == '\n') s.remove_suffix(1);
  if (!s.empty() && s.back() == '\r') s.remove_suffix(1);
  return s;
}

}  // namespace

std::optional<std::string_view> field_name(std::string_view line, std::size_t* value_offset) {
  std::size_t i = 0;
  while (i < line.size() && line[i] >= 33 && line[i] <= 126 && line[i] != ':') ++i;
  if (i == 0) return std::nullopt;
  const std::size_t name_end = i;
  while (i < line.size() && (line[i] == ' ' || line[i] == '\t')) ++i;  // obs-optional (RFC 5322 4.5.3)
  if (i >= line.size() || line[i] != ':') return std::nullopt;
  if (value_offset) *value_offset = i + 1;
  return line.substr(0, name_end);
}

HeaderSection read_header(std::string_view msg) {
  HeaderSection h;
  std::size_t pos = 0;
  std::size_t value_start = 0;  // of the last field, in msg
  while (pos < msg.size()) {
    const std::size_t eol = msg.find('\n', pos);
    const std::size_t next = eol == std::string_view::npos ? msg.size() : eol + 1;
    const std::string_view line = msg.substr(pos, next - pos);
    if (line == "\r\n" || line == "\n") {
      h.body_offset = next;
      return h;
    }
    if (line[0] == ' ' || line[0] == '\t') {
      if (h.fields.empty()) {
        h.error = "continuation line before the first header field";
        h.body_offset = pos;
        return h;
      }
      Field& f = h.fields.back();
      f.raw = msg.substr(f.raw.data() - msg.data(), next - static_cast<std::size_t>(f.raw.data() - msg.data()));
    } else {
      std::size_t off = 0;
      auto name = field_name(line, &off);
      if (!name) {  // the body starts here
        h.separator_missing = true;
        h.body_offset = pos;
        return h;
      }
      h.fields.push_back(Field{*name, line, {}});
      value_start = pos + off;
    }
    Field& f = h.fields.back();
    const std::size_t field_end = static_cast<std::size_t>(f.raw.data() - msg.data()) + f.raw.size();
    f.value = strip_line_end(msg.substr(value_start, field_end - value_start));
    pos = next;
  }
  h.body_offset = msg.size();
  return h;
}

std::string Originator::sending_address() const {
  if (from.empty()) return {};
  if (from.size() > 1 && sender) return sender->address;
  return from.front().address;
}

std::vector<std::string> Originator::addresses() const {
  std::vector<std::string> out;
  for (const auto& m : from) out.push_back(m.address);
  if (sender) out.push_back(sender->address);
  return out;
}

Originator read_originator(const std::vector<std::string_view>& from_values,
                           const std::vector<std::string_view>& sender_values) {
  Originator o;
  auto fail = [&o](std::string why) {
    o.error = std::move(why);
    o.from.clear();
    o.sender.reset();
    return o;
  };
  if (from_values.size() > 1) return fail("more than one From field");
  if (sender_values.size() > 1) return fail("more than one Sender field");
  for (const auto* list : {&from_values, &sender_values}) {
    for (auto v : *list) {
      if (v.size() > kMaxOriginatorField) return fail("From/Sender field longer than 16384 octets");
    }
  }
  if (from_values.empty()) return sender_values.empty() ? o : fail("Sender field without a From field");
  auto from = parse_addresses(from_values.front(), ListKind::MailboxList);
  if (!from.error.empty()) return fail("From field: " + from.error);
  o.from = std::move(from.mailboxes);
  if (!sender_values.empty()) {
    auto sender = parse_addresses(sender_values.front(), ListKind::Mailbox);
    if (!sender.error.empty()) return fail("Sender field: " + sender.error);
    o.sender = std::move(sender.mailboxes.front());
  }
  if (o.from.size() > 1 && !o.sender) return fail("several From addresses without a Sender field");
  return o;
}

bool is_field(const Field& f, std::string_view name) { return iequals(f.name, name); }

}  // namespace relay::mail
