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
// queue list --limit N: no option -> SIZE_MAX (everything), "N" (1 ..
// 10^9) -> N, anything else -> nullopt (a usage error).
std::optional<std::size_t> parse_limit(const std::optional<std::string>& text);
// The last line of the text listing: "-- 1.5K in 3 entries." or, when
// --limit cut it short, "-- 1.5K in 3 entries shown of 10 (--limit)."
std::string list_summary(std::size_t shown, std::size_t total, std::uint64_t shown_bytes);
// Envelope fields as "key: value" lines for queue show.
std::string format_envelope(const spool::Envelope& env);

}  // namespace relay::admin
