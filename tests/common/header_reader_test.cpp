// The RFC 5322 header reader: field names, header sections, address lists
// and the originator decision, with the hostile inputs of issue 9 item 2.
#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "common/header_reader.hpp"
#include "common/sender_rules.hpp"

using namespace relay::mail;

namespace {

std::vector<std::string> addrs(std::string_view v, ListKind k = ListKind::AddressList) {
  auto r = parse_addresses(v, k);
  REQUIRE_MESSAGE(r.error.empty(), "value: ", std::string(v), " error: ", r.error);
  std::vector<std::string> out;
  for (const auto& m : r.mailboxes) out.push_back(m.address);
  return out;
}

std::string err(std::string_view v, ListKind k = ListKind::MailboxList) { return parse_addresses(v, k).error; }

Originator orig(std::vector<std::string_view> from, std::vector<std::string_view> sender = {}) {
  return read_originator(from, sender);
}

std::string folded_comment(std::size_t size) {
  std::string c = "(pad";
  while (c.size() < size) c += "\r\n " + std::string(60, 'x');
  return c + ")";
}

}  // namespace

TEST_CASE("field names: obsolete white space before the colon, ftext only") {
  std::size_t off = 0;
  CHECK(field_name("From: a@b\r\n", &off) == std::optional<std::string_view>("From"));
  CHECK(off == 5);
  CHECK(field_name("From : a@b\r\n", &off) == std::optional<std::string_view>("From"));
  CHECK(off == 6);
  CHECK(field_name("From\t \t: a@b", &off) == std::optional<std::string_view>("From"));
  CHECK(field_name("X-Weird.Name!: v") == std::optional<std::string_view>("X-Weird.Name!"));
  CHECK_FALSE(field_name("no colon here\r\n"));
  CHECK_FALSE(field_name(": empty name"));
  CHECK_FALSE(field_name(" From: continuation"));
  CHECK_FALSE(field_name("Fr om: a"));
  CHECK_FALSE(field_name("Fr\xc3\xb6m: a"));
  CHECK_FALSE(field_name("From\r\n: a"));
}

TEST_CASE("read_header: folded fields, body offset, LF-only, no body") {
  std::string m = "Subject: a\r\n b\r\nFrom : X <x@y.example>\r\n\r\nFrom: body@z\r\n";
  auto h = read_header(m);
  CHECK(h.error.empty());
  REQUIRE(h.fields.size() == 2);
  CHECK(h.fields[0].name == "Subject");
  CHECK(h.fields[0].raw == "Subject: a\r\n b\r\n");
  CHECK(h.fields[0].value == " a\r\n b");
  CHECK(h.fields[1].name == "From");
  CHECK(is_field(h.fields[1], "FROM"));
  CHECK(h.fields[1].value == " X <x@y.example>");
  CHECK(m.substr(h.body_offset) == "From: body@z\r\n");
  auto lf = read_header("A: 1\n\tb\nB: 2\n\nbody");
  REQUIRE(lf.fields.size() == 2);
  CHECK(lf.fields[0].value == " 1\n\tb");
  CHECK(lf.body_offset == 14);
  auto only = read_header("A: 1\r\nB: 2");
  CHECK(only.error.empty());
  CHECK(only.fields.size() == 2);
  CHECK(only.body_offset == 10);
}

TEST_CASE("read_header: a line that is neither field nor continuation starts the body") {
  const std::string m = "X-A: 1\r\nthis is no field\r\nFrom: ceo@x\r\n\r\n";
  auto h = read_header(m);
  CHECK(h.error.empty());
  CHECK(h.separator_missing);
  REQUIRE(h.fields.size() == 1);
  CHECK(m.substr(h.body_offset, 4) == "this");
  auto mbox = read_header("From ceo@x Mon Jan 1\r\nFrom: a@x\r\n\r\n");
  CHECK(mbox.separator_missing);
  CHECK(mbox.fields.empty());
  CHECK(mbox.body_offset == 0);
  CHECK_FALSE(read_header("A: 1\r\n\r\nB").separator_missing);
  CHECK_FALSE(read_header(" starts folded\r\nA: 1\r\n\r\n").error.empty());
}

TEST_CASE("addresses: display names, quoted strings, comments, angle addresses") {
  CHECK(addrs("a@b.example") == std::vector<std::string>{"a@b.example"});
  CHECK(addrs("\"Doe, John\" <j@example.com>") == std::vector<std::string>{"j@example.com"});
  CHECK(addrs("j@example.com (John <x@evil>)") == std::vector<std::string>{"j@example.com"});
  CHECK(addrs("(c1 (nested) \\) ) Name (c2) < (c3) a (c4) @ (c5) b.example (c6) > (c7)") ==
        std::vector<std::string>{"a@b.example"});
  CHECK(addrs("A <a@x>, b@y (c), \"C, D\" <c@z>") == std::vector<std::string>{"a@x", "b@y", "c@z"});
  CHECK(addrs("a@x,\r\n\tb@y") == std::vector<std::string>{"a@x", "b@y"});
  CHECK(addrs("=?utf-8?q?B=C3=BCro?= <s@x.example>") == std::vector<std::string>{"s@x.example"});
  CHECK(addrs("=?utf-8?q?ceo=40contoso.example?= <s@x.example>") == std::vector<std::string>{"s@x.example"});
  auto m = parse_addresses("\"Scan, Office\"  Team <s@x>", ListKind::Mailbox);
  REQUIRE(m.mailboxes.size() == 1);
  CHECK(m.mailboxes[0].display == "Scan, Office Team");
}

TEST_CASE("addresses: obsolete local part and domain, quoted local parts, literals") {
  CHECK(addrs("john . doe @ example . com") == std::vector<std::string>{"john.doe@example.com"});
  CHECK(addrs("\"scan\"@contoso.example") == std::vector<std::string>{"scan@contoso.example"});
  CHECK(addrs("\"sc\".an@contoso.example") == std::vector<std::string>{"sc.an@contoso.example"});
  CHECK(addrs("\"a b\"@x.example") == std::vector<std::string>{"\"a b\"@x.example"});
  CHECK(addrs("\"a\\\"b\"@x.example") == std::vector<std::string>{"\"a\\\"b\"@x.example"});
  CHECK(addrs("a@[192.0.2.1]") == std::vector<std::string>{"a@[192.0.2.1]"});
  // Found by tests/fuzz header: a quoted "=?" keeps its quotes, so the canonical form reads back as itself.
  CHECK(addrs("\"a=?x?q?y?=\"@x.example") == std::vector<std::string>{"\"a=?x?q?y?=\"@x.example"});
  CHECK(addrs(addrs("\"a=?x?q?y?=\"@x.example").at(0)) == std::vector<std::string>{"\"a=?x?q?y?=\"@x.example"});
  CHECK(addrs(",, a@x ,") == std::vector<std::string>{"a@x"});  // obs-addr-list empty elements
}

TEST_CASE("addresses: groups only in address lists") {
  CHECK(addrs("undisclosed-recipients:;").empty());
  CHECK(addrs("team: a@example.com, b@example.com;, c@x") ==
        std::vector<std::string>{"a@example.com", "b@example.com", "c@x"});
  CHECK(err("Team: ceo@contoso.example;") != "");
  CHECK(err("Team: ceo@contoso.example;", ListKind::Mailbox) != "");
  CHECK(err("team: a@x", ListKind::AddressList) != "");  // no ';'
}

TEST_CASE("addresses: hostile and broken syntax is an error, never a guess") {
  using namespace std::string_view_literals;
  const std::vector<std::string_view> hostile = {
           ""sv,                                        // no address
           "scan@contoso.example (hi",                  // unterminated comment
           "scan@contoso.example (a (b)",               // unterminated nested comment
           "\"Scan <scan@contoso.example>",             // unterminated quote
           "Scan <scan@contoso.example",                // unterminated angle
           "<>",                                        // empty
           "Scan scan@contoso.example",                 // phrase before a bare addr-spec
           "scan@contoso.example ceo@contoso.example",  // two addresses without comma
           "scan@contoso.example <ceo@contoso.example>",
           "<@route.example:ceo@contoso.example>",      // source route
           "=?utf-8?q?ceo?=@contoso.example",           // encoded word as local part
           "ceo@=?utf-8?q?contoso.example?=",           // encoded word as domain
           "=?utf-8?q?=3Cceo@contoso.example=3E?= <scan@contoso.example>",  // '@' breaks the atom
           "a@b) c",                                    // unbalanced
           "a\\@b@c",                                   // backslash outside quotes
           "a@[1.2.3.4",                                // unterminated literal
           "a..b@x", ".a@x", "a.@x", "a@x..y", "a@", "@x",
           "a@x;",
           "a\x01@x", "a@x\x7f", "\"a\x00\"@x"sv,
       };
  for (std::string_view v : hostile) {
    CHECK_MESSAGE(err(v) != "", "accepted: ", std::string(v));
  }
}

TEST_CASE("originator: one From, optional Sender; the sending mailbox") {
  auto o = orig({" Scan <scan@contoso.example>"});
  CHECK(o.error.empty());
  CHECK(o.sending_address() == "scan@contoso.example");
  auto two = orig({" a@x, b@x"}, {" s@x"});
  CHECK(two.error.empty());
  CHECK(two.sending_address() == "s@x");
  CHECK(two.addresses() == std::vector<std::string>{"a@x", "b@x", "s@x"});
  auto none = orig({});
  CHECK(none.error.empty());
  CHECK(none.sending_address().empty());
  std::string big = " " + folded_comment(5000) + " ceo@contoso.example";
  auto c = orig({big});
  CHECK(c.error.empty());
  CHECK(c.sending_address() == "ceo@contoso.example");
}

TEST_CASE("originator: ambiguous or unreadable is an error") {
  CHECK(orig({" a@x", " b@x"}).error != "");                // two From fields
  CHECK(orig({" a@x"}, {" s@x", " t@x"}).error != "");      // two Sender fields
  CHECK(orig({" a@x, b@x"}).error != "");                   // several From without Sender
  CHECK(orig({" a@x"}, {" s@x, t@x"}).error != "");         // Sender is one mailbox
  CHECK(orig({}, {" s@x"}).error != "");                    // Sender without From
  CHECK(orig({" "}).error != "");                           // empty From
  CHECK(orig({" Team: a@x;"}).error != "");                 // group
  CHECK(orig({" a@x (open"}).error != "");
  std::string huge = " " + folded_comment(kMaxOriginatorField) + " a@x";
  CHECK(orig({huge}).error != "");
  auto bad = orig({" a@x", " b@x"});
  CHECK(bad.from.empty());
  CHECK(bad.sending_address().empty());
}

TEST_CASE("sender rules: the AUTH user's own list, else senders.allowed") {
  std::vector<relay::config::AuthUser> users{{"scanner1", "h", {"scan@contoso.example"}}, {"erp", "h", {}}};
  std::vector<std::string> global{"@contoso.example"};
  auto r = sender_rules(users, global, "scanner1");
  CHECK(r.per_user);
  CHECK(r.allows("scan@contoso.example"));
  CHECK(r.allows("scan@Contoso.Example"));  // domain in any case, local part exact
  CHECK_FALSE(r.allows("SCAN@contoso.example"));
  CHECK_FALSE(r.allows("ceo@contoso.example"));
  CHECK_FALSE(r.allows(""));
  auto e = sender_rules(users, global, "erp");
  CHECK_FALSE(e.per_user);
  CHECK(e.allows("ceo@contoso.example"));
  CHECK_FALSE(e.allows("x@other.example"));
  CHECK_FALSE(sender_rules(users, global, "").per_user);
  CHECK(sender_rules(users, {}, "nobody").allows(""));
}
