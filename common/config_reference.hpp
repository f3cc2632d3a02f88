// relay::config::reference — the configuration reference, generated from the
// one key table (config_table.cpp) so that docs cannot drift from the code.
//
// Does: names every key by its full path as an operator writes it in
// relay.yaml, with the scopes spelled as placeholders:
//   top level            receiver.limits.max_message_size
//   per listener         receiver.listeners[].address
//   per AUTH user        receiver.users[].password_hash
//   per route            routes[].provider
//   per provider         providers.<name>.client_id  (any provider type)
// and renders one markdown table row prefix per key:
//   | `full.path` | `default` | type and range | reload |
// (docs/configuration.md adds a meaning column after it). `relayctl config
// keys` prints these; tests/common/config_docs_test.cpp checks that every
// key has a row under docs/ and that docs/configuration.md's rows still say
// what the table says.
// Does not: document meanings (people write those).
// Thread: pure functions over static data.
// Fails: never.
#pragma once
#include <string>
#include <vector>

#include "common/config_table.hpp"

namespace relay::config::reference {

// Full path of a key ("providers.<name>.timeout"); "" for Kind::Section
// entries, which hold no value of their own.
std::string full_path(const detail::Key& key);
// "size 1KB..64MB", "duration 1s..1d", "one of: off, optional, required", ...
std::string type_text(const detail::Key& key);
// "`35MB`", "`\"\"`" for an empty default, "required" for a required key.
std::string default_text(const detail::Key& key);
// "yes" (SIGHUP applies it) or "restart".
std::string reload_text(const detail::Key& key);
// "| `path` | default | type | reload |" (no trailing meaning column).
std::string row_prefix(const detail::Key& key);
// Which provider type(s) / scope a key belongs to: "" (top), "listener",
// "m365 provider", ... (config_table's scope_name).
std::string scope_text(const detail::Key& key);

}  // namespace relay::config::reference
