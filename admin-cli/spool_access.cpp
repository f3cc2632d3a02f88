// relay::admin spool access (see spool_access.hpp).
#include "admin-cli/spool_access.hpp"

#include <fmt/format.h>

#include "admin-cli/queue_format.hpp"
#include "common/config.hpp"

namespace relay::admin {

std::optional<spool::Spool> open_spool(const config::Config& cfg, std::FILE* err) {
  std::string error;
  auto s = spool::Spool::open(cfg.spool.directory, &error);
  if (!s) fmt::print(err, "relayctl: spool {}: {}\n", cfg.spool.directory.string(), error);
  return s;
}

QueueSummary summarize(const spool::Spool& spool) {
  using S = spool::State;
  QueueSummary out;
  for (S s : all_states()) {
    auto ids = spool.list(s);
    out.counts[std::string(spool::dir_name(s))] = ids.size();
    bool queued = s == S::New || s == S::Active || s == S::Deferred || s == S::Hold;
    if (!queued) continue;
    out.queued += ids.size();
    for (const auto& id : ids) {
      if (out.oldest_millis == 0 || id.millis() < out.oldest_millis) out.oldest_millis = id.millis();
    }
  }
  return out;
}

}  // namespace relay::admin
