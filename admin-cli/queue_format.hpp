// relay::admin queue formatting — how `relayctl queue list/show` print spool
// entries (postqueue -p style). Pure: no I/O, unit-tested.
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "spool/spool.hpp"

namespace relay::admin {

// "new" -> {New}, "all" -> every state in list order; nullopt when unknown.
std::optional<std::vector<spool::State>> parse_state_filter(std::string_view name);
// Every state, in the order queue list prints them.
std::vector<spool::State> all_states();

// One entry as text: a head line
//   ID  STATE  SIZE  ARRIVAL  attempts=N  from=<sender>
// then one indented line per recipient ("to=<a@b> pending") and, when set,
// "next attempt" and "last error" lines.
std::string format_entry(const spool::EntryInfo& e, std::int64_t now);
// One entry as a JSON object (one line).
std::string entry_json(const spool::EntryInfo& e);
// Envelope fields as "key: value" lines for queue show.
std::string format_envelope(const spool::Envelope& env);

}  // namespace relay::admin
