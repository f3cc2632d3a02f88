// relay::admin spool access — opens the configured spool for relayctl
// commands and summarises it (counts per state, oldest entry).
// Does: only reads directory listings; every change goes through
// spool::Spool's operator API (same lock + rename protocol as the daemons).
// The spool must exist (a relay spool: new/ and data/ in it); relayctl never
// creates one, so a wrong -c or spool.directory is an error, not an empty
// queue. Run as root, open_spool first becomes the spool's owner for good
// (the owner of spool.directory; a spool owned by someone else than `user:`
// is refused), so that nothing it writes is root's.
// Fails: open_spool prints "relayctl: spool DIR: reason" and returns nullopt.
#pragma once
#include <cstdint>
#include <cstdio>
#include <map>
#include <optional>
#include <string>

#include "spool/spool.hpp"

namespace relay::config {
struct Config;
}

namespace relay::admin {

std::optional<spool::Spool> open_spool(const config::Config& cfg, std::FILE* err);
// The existence check and owner switch open_spool does (true: go on).
// Exposed for commands that touch the spool without opening it.
bool act_as_spool_owner(const config::Config& cfg, std::FILE* err);

struct QueueSummary {
  std::map<std::string, std::size_t> counts;  // "new" -> 3, every state present
  std::size_t queued = 0;                     // new + active + deferred + hold
  std::int64_t oldest_millis = 0;             // id time of the oldest queued entry; 0 = none
};
QueueSummary summarize(const spool::Spool& spool);

}  // namespace relay::admin
