// relay::admin metrics exposition (see metrics_exposition.hpp).
#include "admin-cli/metrics_exposition.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <map>

namespace relay::admin {
namespace {

using metrics::Labels;
using metrics::Sample;

std::string line(std::string_view name, const Labels& labels, double v) {
  return metrics::series(name, labels) + " " + metrics::format_value(v) + "\n";
}

std::string_view type_name(FamilyType t) {
  switch (t) {
    case FamilyType::Counter: return "counter";
    case FamilyType::Gauge: return "gauge";
    case FamilyType::Histogram: return "histogram";
  }
  return "untyped";
}

// The bucket bound; NaN when missing or not a number (such a line is left out).
double le_of(const Sample& s) {
  for (const auto& [k, v] : s.labels) {
    if (k != "le") continue;
    if (v == "+Inf") return INFINITY;
    double d = NAN;
    auto [end, ec] = std::from_chars(v.data(), v.data() + v.size(), d);
    return ec == std::errc() && end == v.data() + v.size() && std::isfinite(d) ? d : NAN;
  }
  return NAN;
}

Labels without(const Labels& in, std::string_view key) {
  Labels out;
  for (const auto& kv : in)
    if (kv.first != key) out.push_back(kv);
  return out;
}

// Buckets (by numeric le), then _sum and _count, per label set.
std::string render_histogram(std::string_view name, const std::map<std::string, Sample>& counters) {
  const std::string bucket = std::string(name) + "_bucket", sum = std::string(name) + "_sum",
                    count = std::string(name) + "_count";
  std::map<std::string, std::vector<const Sample*>> groups;  // series of the labels without le
  for (const auto& [key, s] : counters) {
    if (s.name == bucket && !std::isnan(le_of(s))) groups[metrics::series(name, without(s.labels, "le"))].push_back(&s);
  }
  std::string out;
  for (auto& [group, buckets] : groups) {
    std::sort(buckets.begin(), buckets.end(), [](const Sample* a, const Sample* b) { return le_of(*a) < le_of(*b); });
    for (const Sample* s : buckets) out += line(bucket, s->labels, s->value);
    const Labels base = without(buckets.front()->labels, "le");
    auto find = [&](const std::string& n) {
      auto it = counters.find(metrics::series(n, base));
      return it == counters.end() ? 0.0 : it->second.value;
    };
    out += line(sum, base, find(sum));
    out += line(count, base, find(count));
  }
  return out;
}

std::string render_computed(std::string_view name, const Collected& c) {
  std::string out;
  if (name == "relay_queue_entries" || name == "relay_queue_oldest_age_seconds") {
    for (const auto& q : c.queue)
      out += line(name, {{"state", q.state}}, name == "relay_queue_entries" ? double(q.entries) : q.oldest_age_seconds);
  } else if (name == "relay_journal_backlog_records") {
    out += line(name, {}, c.journal_backlog);
  } else if (name == "relay_process_up") {
    for (const auto& s : c.slots) out += line(name, {{"role", s.role}, {"index", std::to_string(s.index)}}, s.up ? 1 : 0);
  } else if (name == "relay_process_restarts_total") {
    for (const auto& [role, n] : c.restarts) out += line(name, {{"role", role}}, n);
  } else if (name == "relay_delivery_paused") {
    out += line(name, {}, c.paused ? 1 : 0);
  } else if (name == "relay_provider_config_error") {
    std::map<std::string, bool> providers;
    for (const auto& [key, s] : c.gauges)
      if (s.name == "relay_provider_config_error")
        for (const auto& [k, v] : s.labels)
          if (k == "provider") providers[v] = true;
    for (const auto& [p, on] : providers) out += line(name, {{"provider", p}}, 1);
  } else if (name == "relay_metrics_files_skipped") {
    out += line(name, {{"what", "file"}}, c.bad_files);
    out += line(name, {{"what", "line"}}, c.bad_lines);
  }
  return out;
}

bool computed(std::string_view name) {
  return name == "relay_queue_entries" || name == "relay_queue_oldest_age_seconds" ||
         name == "relay_journal_backlog_records" || name == "relay_process_up" ||
         name == "relay_process_restarts_total" || name == "relay_delivery_paused" ||
         name == "relay_provider_config_error" || name == "relay_metrics_files_skipped";
}

}  // namespace

const std::vector<Family>& metric_families() {
  using T = FamilyType;
  static const std::vector<Family> f{
      {"relay_smtp_connections_total", T::Counter, "SMTP connections by result (accepted|refused) and refusal reason."},
      {"relay_smtp_messages_total", T::Counter, "SMTP messages by result (accepted|refused) and refusal reason."},
      {"relay_queue_entries", T::Gauge, "Spool entries per state, counted at scrape."},
      {"relay_queue_oldest_age_seconds", T::Gauge, "Age of the oldest spool entry per state (0 when empty)."},
      {"relay_deliveries_total", T::Counter, "Delivery attempts by provider and outcome (sent|transient|permanent|held)."},
      {"relay_delivery_duration_seconds", T::Histogram, "Duration of delivery attempts by provider."},
      {"relay_token_requests_total", T::Counter, "OAuth token requests by provider."},
      {"relay_token_failures_total", T::Counter, "Failed OAuth token requests by provider."},
      {"relay_client_secret_days_left", T::Gauge, "Days until the provider's client secret expires."},
      {"relay_provider_config_error", T::Gauge, "1 while a provider is in a configuration-error state (mail held)."},
      {"relay_journal_backlog_records", T::Gauge, "Delivery-log records in the local journal not yet in PostgreSQL."},
      {"relay_process_up", T::Gauge, "1 when the relay process of this role and slot index is running."},
      {"relay_process_restarts_total", T::Counter, "Process restarts by role since relayctl run started."},
      {"relay_delivery_paused", T::Gauge, "1 when an operator paused delivery (relayctl dispatch pause)."},
      {"relay_metrics_files_skipped", T::Gauge, "Unreadable process metrics files and lines skipped in this scrape."},
  };
  return f;
}

std::string render_metrics(const Collected& c) {
  std::string out;
  for (const auto& f : metric_families()) {
    std::string body;
    if (computed(f.name)) body = render_computed(f.name, c);
    else if (f.type == FamilyType::Histogram) body = render_histogram(f.name, c.counters);
    else {
      const auto& from = f.type == FamilyType::Counter ? c.counters : c.gauges;
      for (const auto& [key, s] : from)
        if (s.name == f.name) body += line(s.name, s.labels, s.value);
    }
    out += "# HELP " + std::string(f.name) + " " + metrics::escape_help(f.help) + "\n";
    out += "# TYPE " + std::string(f.name) + " " + std::string(type_name(f.type)) + "\n";
    out += body;
  }
  return out;
}

}  // namespace relay::admin
