// See mime_prepare.hpp.
#include "dispatcher/providers/cloud/mime_prepare.hpp"

#include <fmt/format.h>
#include <strings.h>

#include <algorithm>

#include "dispatcher/providers/cloud/recipients.hpp"
#include "dispatcher/providers/outcome_table.hpp"

namespace relay::provider::cloud {
namespace {

struct Field {
  std::string name;   // as written
  std::string raw;    // full text including continuation lines and line ends
  std::string value;  // unfolded value, trimmed
};

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && strncasecmp(a.data(), b.data(), a.size()) == 0;
}

std::string trim(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  return std::string(s);
}

// Splits the header block into fields; returns the offset of the body
// (after the blank line) or raw.size() when there is none.
std::size_t parse_header(std::string_view raw, std::vector<Field>* fields) {
  std::size_t pos = 0;
  while (pos < raw.size()) {
    std::size_t eol = raw.find('\n', pos);
    std::size_t next = eol == std::string_view::npos ? raw.size() : eol + 1;
    std::string_view line = raw.substr(pos, next - pos);
    if (line == "\r\n" || line == "\n") return next;  // end of header
    if ((line[0] == ' ' || line[0] == '\t') && !fields->empty()) {
      fields->back().raw.append(line);
      fields->back().value += " " + trim(line);
    } else {
      Field f;
      auto colon = line.find(':');
      f.name = trim(line.substr(0, colon == std::string_view::npos ? 0 : colon));
      f.raw = std::string(line);
      f.value = colon == std::string_view::npos ? "" : trim(line.substr(colon + 1));
      fields->push_back(std::move(f));
    }
    pos = next;
  }
  return raw.size();
}

const Field* find(const std::vector<Field>& fields, std::string_view name) {
  for (const auto& f : fields)
    if (iequals(f.name, name)) return &f;
  return nullptr;
}

std::string first_address(const Field* f) {
  if (!f) return {};
  auto a = extract_addresses(f->value);
  return a.empty() ? std::string() : a.front();
}

std::string domain_of(std::string_view addr) {
  auto at = addr.rfind('@');
  return at == std::string_view::npos ? std::string("localhost") : std::string(addr.substr(at + 1));
}

Result reject(std::string text) {
  Result r;
  r.outcome = Outcome::Permanent;
  r.code = 550;
  r.enhanced = "5.7.1";
  r.text = std::move(text);
  return r;
}

}  // namespace

std::vector<std::string> extract_addresses(std::string_view v) {
  std::vector<std::string> out;
  std::string cur, angle;
  bool have_angle = false;
  auto flush = [&] {
    std::string a = have_angle ? trim(angle) : trim(cur);
    if (a.find('@') != std::string::npos) out.push_back(a);
    cur.clear();
    angle.clear();
    have_angle = false;
  };
  for (std::size_t i = 0; i < v.size(); ++i) {
    char c = v[i];
    if (c == '"') {
      for (++i; i < v.size() && v[i] != '"'; ++i)
        if (v[i] == '\\') ++i;
      cur += ' ';
    } else if (c == '(') {
      int depth = 1;
      for (++i; i < v.size() && depth > 0; ++i) {
        if (v[i] == '\\') ++i;
        else if (v[i] == '(') ++depth;
        else if (v[i] == ')') --depth;
      }
      --i;
      cur += ' ';
    } else if (c == '<') {
      auto end = v.find('>', i);
      angle = std::string(v.substr(i + 1, end == std::string_view::npos ? std::string_view::npos : end - i - 1));
      have_angle = true;
      if (end == std::string_view::npos) break;
      i = end;
    } else if (c == ',' || c == ';') {
      flush();
    } else if (c == ':') {
      cur.clear();  // group display name
    } else {
      cur += c;
    }
  }
  flush();
  // A bare "a@b c@d" without commas is not valid; keep only the first token.
  for (auto& a : out) {
    auto sp = a.find_first_of(" \t");
    if (sp != std::string::npos) a = trim(a.substr(a.rfind(' ') + 1));
  }
  return out;
}

Prepared prepare(const PrepareInput& in) {
  Prepared p;
  std::vector<Field> fields;
  const std::size_t body = parse_header(in.raw, &fields);
  const std::string eol = in.raw.substr(0, body).find("\r\n") != std::string_view::npos || in.raw.empty() ? "\r\n" : "\n";
  const auto& allowed = in.senders->allowed;
  const std::string from = first_address(find(fields, "From"));
  const Field* sender_f = find(fields, "Sender");
  const std::string sender = first_address(sender_f);
  const bool from_ok = !from.empty() && config::sender_allowed(from, allowed);
  const bool sender_ok = !sender_f || sender.empty() || config::sender_allowed(sender, allowed);
  const bool envelope_ok = in.mail_from.empty() || config::sender_allowed(in.mail_from, allowed);
  const std::string& def = in.senders->default_sender;

  std::string top;  // added headers, prepended
  std::string rewritten_from;
  bool drop_sender = false;
  if (from.empty()) {
    if (def.empty()) {
      p.reject = reject("message has no From address and senders.default_sender is not set");
      return p;
    }
    p.mailbox = def;
    top += "From: " + def + eol;
    p.added.push_back("From");
  } else if (from_ok && sender_ok && envelope_ok) {
    p.mailbox = from;
  } else if (in.senders->policy == config::SenderPolicy::Rewrite && !def.empty()) {
    p.mailbox = def;
    p.rewritten = true;
    rewritten_from = "From: " + def + eol;
    drop_sender = !sender_ok;
    if (!find(fields, "Reply-To")) {
      top += "Reply-To: " + find(fields, "From")->value + eol;
      p.added.push_back("Reply-To");
    }
    p.added.push_back("From(rewritten)");
  } else {
    const std::string who = !from_ok ? from : !sender_ok ? sender : std::string(in.mail_from);
    p.reject = reject(fmt::format("sender <{}> is not allowed to send through this relay (senders.policy=reject)", who));
    return p;
  }

  std::vector<FieldView> views;  // Graph and Gmail deliver to the header: make it name the pending set
  for (const auto& f : fields) views.push_back({f.name, f.value});
  const RecipientPlan rcpts = plan_recipients(views, *in.rcpts);
  top += rcpts.header(eol);
  if (rcpts.rewrite) p.added.push_back("Recipients(rewritten)");
  else if (!rcpts.bcc.empty()) p.added.push_back("Bcc");
  if (!find(fields, "Message-ID")) {
    top += fmt::format("Message-ID: <{}@{}>{}", in.queue_id, domain_of(p.mailbox), eol);
    p.added.push_back("Message-ID");
  }
  if (!find(fields, "Date")) {
    top += "Date: " + rfc5322_date(in.now) + eol;
    p.added.push_back("Date");
  }
  p.head = top;
  if (!p.rewritten && !rcpts.rewrite) {
    p.head.append(in.raw.substr(0, body));
    if (body == in.raw.size() && !in.raw.empty() && in.raw.substr(0, body).find("\n") != std::string_view::npos) {
      p.head += eol;  // header-only message: terminate the header block
    }
  } else {
    for (const auto& f : fields) {
      if (p.rewritten && iequals(f.name, "From")) p.head += rewritten_from;
      else if (drop_sender && iequals(f.name, "Sender")) continue;
      else if (auto r = rcpts.rewrite ? replace_recipient_field(f.name, f.raw) : std::nullopt) p.head += *r;
      else p.head += f.raw;
    }
    p.head += eol;
  }
  if (in.raw.empty()) p.head += eol;
  p.body_offset = body;
  p.ok = true;
  return p;
}

Loaded load_and_prepare(const std::filesystem::path& data_path, PrepareInput in) {
  Loaded out;
  std::string raw;
  if (!read_file(data_path, &raw)) {
    out.read_error = make_result(Cause::SpoolError, "cannot read " + data_path.string());
    return out;
  }
  out.read_ok = true;
  in.raw = raw;
  out.prepared = prepare(in);
  if (out.prepared.ok) out.mime = out.prepared.mime(raw);
  return out;
}

}  // namespace relay::provider::cloud
