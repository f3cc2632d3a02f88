// relay::config::detail — the one table of configuration keys (Postfix
// CONFIG_*_TABLE, pgbouncer CF_ABS): key path, type, default, range,
// reloadable, and where the value lands in the typed structs.
//
// Does: describes every key; the loader walks YAML against it, so a key not
// in the table is an unknown key, and a key's type decides its parser.
// Does not: parse anything itself.
// Thread: immutable static data.
#pragma once
#include <span>
#include <string_view>

namespace relay::config::detail {

// Where a key's path is rooted and what its `field` accessor receives.
enum class Scope { Top, Listener, User, Route, Outbox, Smtp, M365, Gmail };

enum class Kind {
  Section,      // a mapping of further keys; no field
  String,       // free text
  Secret,       // free text, never printed (${env:}/${file:} expected)
  Path,         // std::filesystem::path, relative -> config file's directory
  Url,          // http(s)://..., trailing '/' dropped
  Bool,
  Int,          // int within [min, max]
  Port,         // std::uint16_t 1..65535
  Double,       // within [min, max]
  Duration,     // std::int64_t seconds within [min, max]
  Size,         // std::uint64_t bytes within [min, max]
  Date,         // "YYYY-MM-DD" kept as std::string; "" allowed
  Choice,       // std::string, one of `choices`
  TlsMode,      // enum, `choices` in enum order
  AuthMode,
  SenderPolicy,
  ProviderType,
  Address,      // listener "host:port" into a Listener
  Email,        // "local@domain" or ""
  SenderPattern,  // one pattern (std::string)
  SenderList,   // std::vector<std::string> of patterns
  CidrList,     // std::vector<std::string> of CIDRs
  IntList,      // std::vector<int>, each within [min, max]
  PasswordHash,
  Listeners,    // sequence of Scope::Listener mappings
  Users,        // sequence of Scope::User mappings
  Routes,       // sequence of Scope::Route mappings
  Providers,    // mapping name -> Scope::{Outbox,Smtp,M365,Gmail} by `type`
};

struct Key {
  Scope scope;
  std::string_view path;     // dotted, relative to scope
  Kind kind;
  std::string_view def = {}; // default as written in YAML ("" = empty/none)
  double min = 0, max = 0;   // ranges (min > max = unbounded)
  bool reloadable = false;   // takes effect on SIGHUP without a restart
  bool required = false;     // must be present (within its scope)
  std::string_view choices = {};  // "a|b|c" for Choice and enum kinds
  void* (*field)(void*) = nullptr;  // object of the scope -> the member
};

std::span<const Key> keys();
const Key* find_key(Scope scope, std::string_view path);
std::string_view scope_name(Scope scope);  // "" for Top; "listener", "smtp provider", ...

}  // namespace relay::config::detail
