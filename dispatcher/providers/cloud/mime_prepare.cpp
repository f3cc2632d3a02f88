// See mime_prepare.hpp.
#include "dispatcher/providers/cloud/mime_prepare.hpp"

#include <fcntl.h>
#include <fmt/format.h>
#include <strings.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include <algorithm>

#include "common/header_reader.hpp"
#include "common/sender_rules.hpp"
#include "dispatcher/providers/cloud/recipients.hpp"
#include "dispatcher/providers/outcome_table.hpp"

namespace relay::provider::cloud {
namespace {

struct Field {
  std::string name;   // as written
  std::string raw;    // full text including continuation lines and line ends
  std::string value;  // unfolded value, trimmed
  std::string_view folded;  // the value as written (into the raw message), for the header reader
};

using mail::iequals;

std::string trim(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  return std::string(s);
}

// The header block as common/header_reader reads it (the reader the
// receiver checked it with). Returns the offset of the body.
struct HeaderInfo {
  std::size_t body = 0;
  bool separator_missing = false;  // the body starts at a non-field line: put the empty line in
  std::string error;
};
HeaderInfo parse_header(std::string_view raw, std::vector<Field>* fields) {
  mail::HeaderSection h = mail::read_header(raw);
  for (const auto& f : h.fields) {
    std::string unfolded;
    for (char c : f.value) {
      if (c != '\r' && c != '\n') unfolded += c;
    }
    fields->push_back(Field{std::string(f.name), std::string(f.raw), trim(unfolded), f.value});
  }
  return HeaderInfo{h.body_offset, h.separator_missing, std::move(h.error)};
}

const Field* find(const std::vector<Field>& fields, std::string_view name) {
  for (const auto& f : fields)
    if (iequals(f.name, name)) return &f;
  return nullptr;
}

// The From/Sender fields read together (common/header_reader), as the receiver read them.
mail::Originator originator(const std::vector<Field>& fields) {
  std::vector<std::string_view> from, sender;
  for (const auto& f : fields) {
    if (iequals(f.name, "From")) from.push_back(f.folded);
    else if (iequals(f.name, "Sender")) sender.push_back(f.folded);
  }
  return mail::read_originator(from, sender);
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
  for (auto& m : mail::parse_addresses(v, mail::ListKind::AddressList).mailboxes) out.push_back(std::move(m.address));
  return out;
}

namespace {

struct SenderChoice {
  std::string top;             // headers to add on top (From for a missing From, Reply-To)
  std::string rewritten_from;  // replaces the From field when rewritten
  bool drop_sender = false;
};

// The mailbox the message is sent as (p->mailbox), decided on the From and
// Sender fields exactly as the receiver read them, and re-checked against
// the envelope's AUTH user's allowed_senders (else senders.allowed). A
// user's own list is never rewritten around: a violation is permanent.
bool choose_sender(const PrepareInput& in, const std::vector<Field>& fields, const std::string& eol, Prepared* p,
                   SenderChoice* c) {
  const mail::Originator o = originator(fields);
  if (!o.error.empty()) {
    p->reject = reject("From/Sender header refused: " + o.error);
    return false;
  }
  static const std::vector<config::AuthUser> kNoUsers;
  const auto rules = mail::sender_rules(in.users ? *in.users : kNoUsers, in.senders->allowed, in.auth_user);
  const std::string& def = in.senders->default_sender;
  if (o.from.empty()) {
    if (def.empty() || (rules.per_user && !rules.allows(def))) {
      p->reject = reject(def.empty() ? std::string("message has no From address and senders.default_sender is not set")
                                     : fmt::format("message has no From address and AUTH user {} may not send as "
                                                   "senders.default_sender <{}>", in.auth_user, def));
      return false;
    }
    p->mailbox = def;
    c->top += "From: " + def + eol;
    p->added.push_back("From");
    return true;
  }
  std::string bad;  // the first address that is not allowed
  for (const auto& a : o.addresses())
    if (bad.empty() && !rules.allows(a)) bad = a;
  const bool sender_ok = !o.sender || rules.allows(o.sender->address);
  if (bad.empty() && !in.mail_from.empty() && !rules.allows(in.mail_from)) bad = std::string(in.mail_from);
  if (bad.empty()) {
    p->mailbox = o.sending_address();
    return true;
  }
  if (in.senders->policy == config::SenderPolicy::Rewrite && !def.empty() && !rules.per_user) {
    p->mailbox = def;
    p->rewritten = true;
    c->rewritten_from = "From: " + def + eol;
    c->drop_sender = !sender_ok;
    if (!find(fields, "Reply-To")) {
      c->top += "Reply-To: " + find(fields, "From")->value + eol;
      p->added.push_back("Reply-To");
    }
    p->added.push_back("From(rewritten)");
    return true;
  }
  p->reject = reject(rules.per_user ? fmt::format("sender <{}> is not in the allowed_senders of AUTH user {}", bad,
                                                  in.auth_user)
                                    : fmt::format("sender <{}> is not allowed to send through this relay "
                                                  "(senders.policy=reject)", bad));
  return false;
}

}  // namespace

Prepared prepare(const PrepareInput& in) {
  Prepared p;
  std::vector<Field> fields;
  const HeaderInfo hdr = parse_header(in.raw, &fields);
  const std::size_t body = hdr.body;
  const std::string eol = in.raw.substr(0, body).find("\r\n") != std::string_view::npos || in.raw.empty() ? "\r\n" : "\n";
  if (!hdr.error.empty()) {
    p.reject = reject("header section cannot be read: " + hdr.error);
    return p;
  }
  SenderChoice chosen;
  if (!choose_sender(in, fields, eol, &p, &chosen)) return p;
  std::string top = std::move(chosen.top);  // added headers, prepended
  const std::string& rewritten_from = chosen.rewritten_from;
  const bool drop_sender = chosen.drop_sender;

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
    if (hdr.separator_missing) p.head += eol;  // the body starts at a non-field line: say so
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

namespace {

// A spooled file mapped read-only for the lifetime of this object.
class Mapped {
 public:
  explicit Mapped(const std::filesystem::path& p) {
    int fd = ::open(p.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
      error_ = std::strerror(errno);
      return;
    }
    struct stat st {};
    if (::fstat(fd, &st) != 0) {
      error_ = std::strerror(errno);
    } else if (st.st_size > 0) {
      void* m = ::mmap(nullptr, static_cast<std::size_t>(st.st_size), PROT_READ, MAP_PRIVATE, fd, 0);
      if (m == MAP_FAILED) error_ = std::strerror(errno);
      else {
        data_ = m;
        size_ = static_cast<std::size_t>(st.st_size);
      }
    }
    ::close(fd);
    ok_ = error_.empty();
  }
  ~Mapped() {
    if (data_) ::munmap(data_, size_);
  }
  Mapped(const Mapped&) = delete;
  Mapped& operator=(const Mapped&) = delete;
  bool ok() const { return ok_; }
  const std::string& error() const { return error_; }
  std::string_view view() const { return data_ ? std::string_view(static_cast<const char*>(data_), size_) : ""; }

 private:
  void* data_ = nullptr;
  std::size_t size_ = 0;
  bool ok_ = false;
  std::string error_;
};

}  // namespace

Body Loaded::stream() const {
  Body b;
  b.add(std::make_shared<const std::string>(prepared.head));
  b.add_file(path, prepared.body_offset, file_size - prepared.body_offset);
  return b;
}

Loaded load_and_prepare(const std::filesystem::path& data_path, PrepareInput in, bool want_mime) {
  Loaded out;
  out.path = data_path;
  Mapped raw(data_path);
  if (!raw.ok()) {
    out.read_error = make_result(Cause::SpoolError, "cannot read " + data_path.string() + ": " + raw.error());
    return out;
  }
  out.read_ok = true;
  out.file_size = raw.view().size();
  in.raw = raw.view();
  out.prepared = prepare(in);
  if (out.prepared.ok && want_mime) out.mime = out.prepared.mime(raw.view());
  return out;
}

}  // namespace relay::provider::cloud
