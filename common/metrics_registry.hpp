// relay::metrics::Registry — this process's counters and gauges, published
// to the admin endpoint through a file (metrics_publisher.hpp).
//
// Does: keeps one value per series (`name{labels}`) in memory: add() for
// counters, set()/erase() for gauges, observe() for a histogram (cumulative
// _bucket{le}, _sum, _count, buckets from buckets()). serialize() writes the
// whole set as text, one `c|g <sample>` line each; restore() takes the
// counters of a predecessor's file so counters stay monotonic across a
// restart of the process.
// Hot path: one mutex (uncontended) and a map lookup per update; no syscall,
// no I/O. Callers pass short, bounded label values (provider names, refusal
// reasons from a fixed set), never client-supplied text.
// Does not: decide where the file goes or when it is written.
// Thread-safe. The process-wide instance is registry().
#pragma once
#include <map>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "common/metrics_text.hpp"

namespace relay::metrics {

class Registry {
 public:
  void add(std::string_view name, const Labels& labels, double n = 1);
  void set(std::string_view name, const Labels& labels, double value);
  // Drops every gauge series of `name` whose label `key` equals `value`.
  void erase(std::string_view name, std::string_view key, std::string_view value);
  void observe(std::string_view name, const Labels& labels, double seconds);
  std::string serialize() const;
  // Adds the counter lines of `text` (a file written by serialize());
  // malformed lines and gauges are skipped. Returns the counters taken.
  int restore(std::string_view text);
  double value(std::string_view name, const Labels& labels) const;  // tests
  void clear();  // tests

  static const std::vector<double>& buckets();  // seconds, ascending, +Inf implied

 private:
  struct Entry {
    char type;  // 'c' counter, 'g' gauge
    double value;
  };
  mutable std::mutex mu_;
  std::map<std::string, Entry, std::less<>> series_;
};

Registry& registry();

// The first line of every metrics file.
inline constexpr std::string_view kFileHeader = "# relay metrics 1";

}  // namespace relay::metrics
