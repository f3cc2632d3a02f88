// relay::config::reference (see config_reference.hpp).
#include "common/config_reference.hpp"

#include <fmt/format.h>

#include <cstdint>

namespace relay::config::reference {
namespace {

using detail::Key;
using detail::Kind;
using detail::Scope;

bool bounded(const Key& k) { return k.min <= k.max; }

std::string size_text(double bytes) {
  auto b = static_cast<std::uint64_t>(bytes);
  const char* units[] = {"", "KB", "MB", "GB", "TB"};
  int u = 0;
  while (u < 4 && b >= 1024 && b % 1024 == 0) b /= 1024, ++u;
  return fmt::format("{}{}", b, units[u]);
}

std::string duration_text(double seconds) {
  auto s = static_cast<std::int64_t>(seconds);
  if (s == 0) return "0";
  if (s % 86400 == 0) return fmt::format("{}d", s / 86400);
  if (s % 3600 == 0) return fmt::format("{}h", s / 3600);
  if (s % 60 == 0) return fmt::format("{}m", s / 60);
  return fmt::format("{}s", s);
}

std::string number_text(double v) { return fmt::format("{}", v); }

// " 1KB..64MB" for a bounded key, "" otherwise.
std::string range(const Key& k, std::string (*fmt_one)(double)) {
  if (!bounded(k)) return "";
  return " " + fmt_one(k.min) + ".." + fmt_one(k.max);
}

std::string choices(const Key& k) {
  std::string out = "one of: ";
  for (char c : k.choices) out += c == '|' ? std::string(", ") : std::string(1, c);
  return out;
}

std::string prefix_of(Scope s) {
  switch (s) {
    case Scope::Top: return "";
    case Scope::Listener: return "receiver.listeners[].";
    case Scope::User: return "receiver.users[].";
    case Scope::Route: return "routes[].";
    case Scope::Outbox:
    case Scope::Smtp:
    case Scope::M365:
    case Scope::Gmail: return "providers.<name>.";
  }
  return "<" + std::string(detail::scope_name(s)) + ">.";  // a scope added later still gets a path
}

}  // namespace

std::string full_path(const Key& key) {
  if (key.kind == Kind::Section) return "";
  return prefix_of(key.scope) + std::string(key.path);
}

std::string type_text(const Key& k) {
  switch (k.kind) {
    case Kind::Section: return "section";
    case Kind::String: return "string";
    case Kind::Secret: return "secret (string, ${env:}/${file:})";
    case Kind::Path: return "path";
    case Kind::Url: return "URL";
    case Kind::Bool: return "bool";
    case Kind::Int: return "integer" + range(k, number_text);
    case Kind::Port: return "port" + range(k, number_text);
    case Kind::Double: return "number" + range(k, number_text);
    case Kind::Duration: return "duration" + range(k, duration_text);
    case Kind::Size: return "size" + range(k, size_text);
    case Kind::Date: return "date YYYY-MM-DD";
    case Kind::Choice:
    case Kind::TlsMode:
    case Kind::AuthMode:
    case Kind::SenderPolicy:
    case Kind::ProviderType: return choices(k);
    case Kind::Address: return "address host:port";
    case Kind::Email: return "mail address";
    case Kind::SenderPattern: return "sender pattern";
    case Kind::SenderList: return "list of sender patterns";
    case Kind::CidrList: return "list of CIDR networks";
    case Kind::IntList: return "list of integers" + range(k, number_text);
    case Kind::PasswordHash: return "password hash";
    case Kind::Listeners: return "list of listeners";
    case Kind::Users: return "list of users";
    case Kind::Routes: return "list of routes";
    case Kind::Providers: return "map of name to provider";
  }
  return "value";
}

std::string default_text(const Key& k) {
  if (k.required) return "required";
  if (k.def.empty()) return "`\"\"`";
  return fmt::format("`{}`", k.def);
}

std::string reload_text(const Key& k) { return k.reloadable ? "yes" : "restart"; }

std::string row_prefix(const Key& k) {
  return fmt::format("| `{}` | {} | {} | {} |", full_path(k), default_text(k), type_text(k), reload_text(k));
}

std::string scope_text(const Key& k) { return std::string(detail::scope_name(k.scope)); }

}  // namespace relay::config::reference
