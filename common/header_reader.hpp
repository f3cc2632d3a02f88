// relay::mail header reader — the one RFC 5322 reader of header fields and
// originator addresses. The receiver's sender check (receiver/smtp) and the
// dispatcher's choice of sending mailbox (dispatcher/providers/cloud) both
// call it, so the address that is checked is the address that is sent as.
//
// Does: field_name() reads a field name, including the obsolete white space
// before the colon ("From : x", RFC 5322 4.5.3); read_header() splits a
// message's header section into fields (folded text kept) and finds the
// body; parse_addresses() reads RFC 5322 3.4 address lists: display names
// (atoms, quoted strings, encoded words kept as written — they are never
// address syntax), comments (nested, with quoted pairs), folding white
// space, angle addresses, groups, obs-local-part / obs-domain with white
// space around the dots; a quoted local part that is a dot-atom loses its
// quotes. read_originator() turns the From/Sender fields into the addresses
// to check and the one mailbox the message is sent as.
// Refused (an error, never a guess): unterminated comments, quoted strings,
// domain literals or angle addresses; control characters; source routes;
// encoded words inside an address; text after an address; groups in
// From/Sender; several From fields or Sender fields; several From
// addresses without a Sender; an empty From; a From/Sender field over
// kMaxOriginatorField octets; a continuation line before the first field.
// Does not: decode encoded words, match addresses against policy, do I/O.
// Thread: pure functions. Fails: error strings in the results (fixed text,
// never echoing input); never throws; work is linear in the input.
#pragma once
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace relay::mail {

inline constexpr std::size_t kMaxOriginatorField = 16384;  // octets of a From/Sender value (folded)

// "From : x\r\n" -> "From", *value_offset = index after the colon.
// nullopt when the line is not a field (no name, a byte outside ftext, or no colon).
std::optional<std::string_view> field_name(std::string_view line, std::size_t* value_offset = nullptr);

struct Field {
  std::string_view name;   // as written, without trailing white space
  std::string_view raw;    // the whole field: name, value, continuation lines, line ends
  std::string_view value;  // after the colon, still folded, without the final line end
};

// The header section ends at the first empty line, or (as in Postfix) at the
// first line that is neither a field nor a continuation: that line starts
// the body, and whoever writes the message on must put the empty line in
// (separator_missing) so that no later reader sees it differently. A
// continuation line before any field is an error.
struct HeaderSection {
  std::vector<Field> fields;
  std::size_t body_offset = 0;     // after the empty line; else the first body line or the input size
  bool separator_missing = false;  // the body starts at a non-field line, without an empty line
  std::string error;               // "" or why the section cannot be read (refuse the message)
};
HeaderSection read_header(std::string_view message);
bool is_field(const Field& f, std::string_view name);  // name compared without case

enum class ListKind { AddressList, MailboxList, Mailbox };  // To/Cc, From, Sender

struct Mailbox {
  std::string display;  // display name as written (quotes removed, white space collapsed)
  std::string address;  // local@domain, canonical: no comments or white space
};

struct AddressList {
  std::vector<Mailbox> mailboxes;  // on error: those read before it
  std::string error;               // "" = the whole value was read
};
AddressList parse_addresses(std::string_view value, ListKind kind);

struct Originator {
  std::vector<Mailbox> from;      // every From mailbox (none when there is no From field)
  std::optional<Mailbox> sender;  // the Sender mailbox, when present
  std::string error;              // "" or why the originator cannot be trusted: refuse the message
  // The mailbox the message goes out as: the Sender when From names
  // several, else the From mailbox; "" when there is no From.
  std::string sending_address() const;
  std::vector<std::string> addresses() const;  // every From and Sender address, to check
};
// The values (field bodies after the colon) of every From and Sender field, in order.
Originator read_originator(const std::vector<std::string_view>& from_values,
                           const std::vector<std::string_view>& sender_values);

// ASCII case-insensitive equality (field names, header prefixes).
bool iequals(std::string_view a, std::string_view b) noexcept;

}  // namespace relay::mail
