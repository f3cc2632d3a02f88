// relay::admin metrics exposition — renders a Collected scrape as the
// Prometheus text format (version 0.0.4) that `relayctl run` serves at
// GET /metrics.
//
// Does: the one table of metric families relay exposes (name, type, help;
// docs/metrics.md describes each), every family with # HELP and # TYPE,
// series sorted, histogram buckets in ascending `le` order followed by
// _sum and _count. Families read from the processes' files are taken only
// when their name is in the table (anything else in a file is ignored).
// Does not: collect anything (metrics_collect.hpp).
// Thread: pure function.
#pragma once
#include <string>
#include <string_view>
#include <vector>

#include "admin-cli/metrics_collect.hpp"

namespace relay::admin {

enum class FamilyType { Counter, Gauge, Histogram };

struct Family {
  std::string_view name;
  FamilyType type;
  std::string_view help;
};

const std::vector<Family>& metric_families();
std::string render_metrics(const Collected& c);

}  // namespace relay::admin
