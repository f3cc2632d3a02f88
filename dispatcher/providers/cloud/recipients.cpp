// See recipients.hpp.
#include "dispatcher/providers/cloud/recipients.hpp"

#include <strings.h>

#include <algorithm>
#include <set>

#include "common/header_reader.hpp"
#include "dispatcher/providers/cloud/mime_prepare.hpp"

namespace relay::provider::cloud {
namespace {

enum class Kind { To, Cc, Bcc, None };

using mail::iequals;

std::string lower(std::string_view s) {
  std::string out(s);
  for (auto& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

// Resent-* fields count like the plain ones: an API reading them would
// deliver to them, so they decide "names someone else" too.
Kind kind_of(std::string_view name, bool* resent) {
  *resent = name.size() > 7 && iequals(name.substr(0, 7), "Resent-");
  if (*resent) name.remove_prefix(7);
  if (iequals(name, "To")) return Kind::To;
  if (iequals(name, "Cc")) return Kind::Cc;
  if (iequals(name, "Bcc")) return Kind::Bcc;
  return Kind::None;
}

void fold(std::string* out, std::string_view name, const std::vector<std::string>& addrs, std::string_view eol) {
  if (addrs.empty()) return;
  out->append(name).append(": ");
  for (std::size_t i = 0; i < addrs.size(); ++i) {
    if (i) out->append(",").append(eol).append(" ");
    out->append(addrs[i]);
  }
  out->append(eol);
}

}  // namespace

std::string RecipientPlan::header(std::string_view eol) const {
  std::string out;
  fold(&out, "To", to, eol);
  fold(&out, "Cc", cc, eol);
  fold(&out, "Bcc", bcc, eol);
  return out;
}

RecipientPlan plan_recipients(const std::vector<FieldView>& fields, const std::vector<std::string>& pending) {
  std::set<std::string> want;  // pending, lower-cased
  for (const auto& r : pending) want.insert(lower(r));
  std::set<std::string> in_to, in_cc, named;  // plain To / Cc, and every recipient field
  bool other = false;
  for (const auto& f : fields) {
    bool resent = false;
    const Kind k = kind_of(f.name, &resent);
    if (k == Kind::None) continue;
    auto list = mail::parse_addresses(f.value, mail::ListKind::AddressList);
    if (!list.error.empty()) other = true;  // an API may read more into it than we did: never send it as written
    for (const auto& m : list.mailboxes) {
      std::string l = lower(m.address);
      if (!want.count(l)) other = true;
      if (!resent && k == Kind::To) in_to.insert(l);
      if (!resent && k == Kind::Cc) in_cc.insert(l);
      named.insert(std::move(l));
    }
  }
  RecipientPlan plan;
  plan.rewrite = other;
  std::set<std::string> done;
  for (const auto& r : pending) {
    std::string l = lower(r);
    if (!done.insert(l).second) continue;
    if (!other) {
      if (!named.count(l)) plan.bcc.push_back(r);
    } else if (in_to.count(l)) {
      plan.to.push_back(r);
    } else if (in_cc.count(l)) {
      plan.cc.push_back(r);
    } else {
      plan.bcc.push_back(r);
    }
  }
  return plan;
}

std::optional<std::string> replace_recipient_field(std::string_view name, std::string_view raw) {
  bool resent = false;
  const Kind k = kind_of(name, &resent);
  if (k == Kind::None) return std::nullopt;
  if (k == Kind::Bcc) return std::string();
  const auto colon = raw.find(':');
  return "X-Relay-Original-" + std::string(resent ? "Resent-" : "") + (k == Kind::To ? "To" : "Cc") +
         std::string(raw.substr(colon));
}

}  // namespace relay::provider::cloud
