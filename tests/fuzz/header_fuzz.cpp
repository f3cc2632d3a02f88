// Fuzz target: the RFC 5322 header reader (common/header_reader.hpp,
// relay::mail) that both the receiver's sender check and the dispatcher's
// choice of sending mailbox use (issue 9 item 2).
//
// Input: a message (header section, maybe a body).
// Checks (abort = finding): fields are in order, inside the input and do
// not overlap; the body starts after them; a field name read back from its
// field is the same; an originator read without error sends as one of the
// addresses it asks the policy to check (the address checked is the address
// sent as); canonical addresses carry no control characters, no white space
// outside a quoted local part, and read back as themselves.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "common/header_reader.hpp"

namespace {

namespace mail = relay::mail;

[[noreturn]] void finding(const char* what) {
  std::fprintf(stderr, "header_fuzz: invariant broken: %s\n", what);
  std::abort();
}

bool inside(std::string_view part, std::string_view whole) {
  return part.empty() || (part.data() >= whole.data() && part.data() + part.size() <= whole.data() + whole.size());
}

void check_address(const std::string& a) {
  bool quoted = false, escaped = false;  // a quoted local part may hold spaces: "a b"@x
  for (unsigned char c : a) {
    if (c == 127 || (c < 32 && !(quoted && c == '\t'))) finding("canonical address holds a control character");
    if ((c == ' ' || c == '\t') && !quoted) finding("canonical address holds white space outside quotes");
    if (escaped) {
      escaped = false;
    } else if (quoted && c == '\\') {
      escaped = true;
    } else if (c == '"') {
      quoted = !quoted;
    }
  }
  auto again = mail::parse_addresses(a, mail::ListKind::Mailbox);
  if (!again.error.empty() || again.mailboxes.size() != 1 || again.mailboxes[0].address != a) {
    finding("canonical address does not read back as itself");
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view msg(reinterpret_cast<const char*>(data), size);
  mail::HeaderSection h = mail::read_header(msg);
  if (h.body_offset > msg.size()) finding("body offset past the end");
  const char* prev_end = msg.data();
  std::vector<std::string_view> from, sender;
  for (const auto& f : h.fields) {
    if (!inside(f.raw, msg) || !inside(f.value, f.raw) || !inside(f.name, f.raw)) finding("field outside the input");
    if (f.raw.data() < prev_end) finding("fields overlap or are out of order");
    prev_end = f.raw.data() + f.raw.size();
    if (h.error.empty() && static_cast<std::size_t>(prev_end - msg.data()) > h.body_offset) {
      finding("a field reaches into the body");
    }
    auto name = mail::field_name(f.raw);
    if (!name || *name != f.name) finding("field name does not read back");
    if (mail::is_field(f, "From")) from.push_back(f.value);
    if (mail::is_field(f, "Sender")) sender.push_back(f.value);
    auto list = mail::parse_addresses(f.value, mail::ListKind::AddressList);
    if (list.error.empty()) {
      for (const auto& m : list.mailboxes) check_address(m.address);
    }
  }
  mail::Originator o = mail::read_originator(from, sender);
  if (o.error.empty()) {
    auto checked = o.addresses();
    std::string sent = o.sending_address();
    bool found = sent.empty();
    for (const auto& a : checked) {
      found = found || a == sent;
      check_address(a);
    }
    if (!found) finding("the sending address is not among the checked addresses");
    if (sent.empty() && !from.empty()) finding("From fields but no sending address");
  }
  return 0;
}
