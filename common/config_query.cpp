// relay::config — read-only questions about a loaded Config: enum names,
// route selection, and which changed keys need a restart (driven by the
// `reloadable` column of the key table).
#include <algorithm>

#include "common/config.hpp"
#include "common/config_table.hpp"
#include "common/route_table.hpp"

namespace relay::config {
namespace {

bool same_listeners(const std::vector<Listener>& a, const std::vector<Listener>& b) {
  return std::equal(a.begin(), a.end(), b.begin(), b.end(), [](const Listener& x, const Listener& y) {
    return x.host == y.host && x.port == y.port && x.tls == y.tls;
  });
}

// Equality of one Top-scope field, by the key's kind. Only the kinds used by
// non-reloadable keys need to be known; others compare as "unchanged".
bool same_value(detail::Kind kind, void* a, void* b) {
  using detail::Kind;
  switch (kind) {
    case Kind::String:
    case Kind::Secret: return *static_cast<std::string*>(a) == *static_cast<std::string*>(b);
    case Kind::Path: return *static_cast<std::filesystem::path*>(a) == *static_cast<std::filesystem::path*>(b);
    case Kind::Listeners:
      return same_listeners(*static_cast<std::vector<Listener>*>(a), *static_cast<std::vector<Listener>*>(b));
    default: return true;
  }
}

}  // namespace

std::string_view to_string(TlsMode mode) {
  switch (mode) {
    case TlsMode::None: return "none";
    case TlsMode::StartTls: return "starttls";
    case TlsMode::StartTlsRequired: return "starttls-required";
    case TlsMode::Implicit: return "implicit";
  }
  return "?";
}

std::string_view to_string(AuthMode mode) {
  switch (mode) {
    case AuthMode::Off: return "off";
    case AuthMode::Optional: return "optional";
    case AuthMode::Required: return "required";
  }
  return "?";
}

std::string_view to_string(ProviderType type) {
  switch (type) {
    case ProviderType::Outbox: return "outbox";
    case ProviderType::Smtp: return "smtp";
    case ProviderType::M365: return "m365";
    case ProviderType::Gmail: return "gmail";
  }
  return "?";
}

const ProviderConfig* select_provider(const Config& cfg, std::string_view sender, std::string_view auth_user) {
  auto m = RouteTable::from_config(cfg).match(sender, auth_user, 0);  // the one implementation of the rules
  return cfg.provider(m ? m->provider : cfg.default_provider);
}

std::vector<std::string> restart_needed(const Config& old_cfg, const Config& new_cfg) {
  std::vector<std::string> out;
  auto& a = const_cast<Config&>(old_cfg);  // accessors take void*; nothing is written
  auto& b = const_cast<Config&>(new_cfg);
  for (const auto& k : detail::keys()) {
    if (k.scope != detail::Scope::Top || k.reloadable || k.field == nullptr) continue;
    if (!same_value(k.kind, k.field(&a), k.field(&b))) out.emplace_back(k.path);
  }
  return out;
}

}  // namespace relay::config
