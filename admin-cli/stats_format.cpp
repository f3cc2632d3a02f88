// relay::admin::Stats formatting (see stats_format.hpp).
#include "admin-cli/stats_format.hpp"

#include <fmt/format.h>

#include "admin-cli/format.hpp"

namespace relay::admin {
namespace {

std::string rate_json(std::int64_t errors, std::int64_t attempts) {
  if (attempts <= 0) return "null";
  return fmt::format("{:.4f}", static_cast<double>(errors) / static_cast<double>(attempts));
}

template <typename T>
std::string opt_json(const std::optional<T>& v) {
  return v ? fmt::format("{}", *v) : "null";
}

}  // namespace

std::string format_rate(std::int64_t errors, std::int64_t attempts) {
  if (attempts <= 0) return "-";
  double pct = 100.0 * static_cast<double>(errors) / static_cast<double>(attempts);
  return fmt::format("{:.2f}% ({} of {} attempt{})", pct, errors, attempts, attempts == 1 ? "" : "s");
}

std::string format_stats_text(const Stats& s) {
  std::string out;
  auto line = [&](std::string_view k, const std::string& v) { out += fmt::format("{:<20} {}\n", k, v); };
  if (s.have_db) {
    line("uptime:", s.uptime_s ? fmt::format("{} ({} live process{})", human_age(*s.uptime_s), s.live_processes,
                                             s.live_processes == 1 ? "" : "es")
                               : "- (no live heartbeat)");
    line("sent:", fmt::format("{} (24h: {})", s.sent, s.sent_24h));
    line("failed:", fmt::format("{} (24h: {}){}", s.failed + s.partial, s.failed_24h,
                                s.partial ? fmt::format(", {} partial", s.partial) : ""));
    line("error rate 24h:", format_rate(s.errors_24h, s.attempts_24h));
    line("error rate all:", format_rate(s.errors_all, s.attempts_all));
    if (s.last_error) {
      const auto& e = *s.last_error;
      line("last error:", fmt::format("{} {} provider={} {}: {}", e.time, e.queue_id, e.provider, e.outcome, e.text));
    } else {
      line("last error:", "-");
    }
    for (const auto& h : s.hosts)
      line("host:", fmt::format("{} sent={} (24h: {}) failed={} (24h: {})", h.host.empty() ? "-" : h.host, h.sent,
                                h.sent_24h, h.failed, h.failed_24h));
    for (const auto& x : s.secrets)
      line("secret:", fmt::format("{} {} expires={} {}", x.provider, x.state, x.expires.empty() ? "?" : x.expires,
                                  x.detail));
  }
  if (s.have_spool) {
    line("spool:", s.local_host + " (local spool: queue figures are this host's only)");
    std::string counts;
    for (const auto& [state, n] : s.queue) counts += fmt::format("{}{}={}", counts.empty() ? "" : " ", state, n);
    line("queue:", counts);
    line("queued:", std::to_string(s.queued));
    line("oldest queued:", s.oldest_age_s ? human_age(*s.oldest_age_s) : "-");
  }
  return out;
}

std::string format_stats_json(const Stats& s) {
  std::string out = "{";
  if (s.have_db) {
    out += fmt::format(
        "\"uptime_s\":{},\"live_processes\":{},\"sent\":{},\"failed\":{},\"partial\":{},\"queued_db\":{},"
        "\"sent_24h\":{},\"failed_24h\":{},\"attempts_24h\":{},\"errors_24h\":{},\"error_rate_24h\":{},"
        "\"attempts_all\":{},\"errors_all\":{},\"error_rate_all\":{},",
        opt_json(s.uptime_s), s.live_processes, s.sent, s.failed, s.partial, s.queued_db, s.sent_24h, s.failed_24h,
        s.attempts_24h, s.errors_24h, rate_json(s.errors_24h, s.attempts_24h), s.attempts_all, s.errors_all,
        rate_json(s.errors_all, s.attempts_all));
    if (s.last_error) {
      const auto& e = *s.last_error;
      out += fmt::format("\"last_error\":{{\"time\":{},\"queue_id\":{},\"provider\":{},\"outcome\":{},\"text\":{}}},",
                         json_string(e.time), json_string(e.queue_id), json_string(e.provider),
                         json_string(e.outcome), json_string(e.text));
    } else {
      out += "\"last_error\":null,";
    }
    out += "\"secrets\":[";
    for (std::size_t i = 0; i < s.secrets.size(); ++i) {
      const auto& x = s.secrets[i];
      out += fmt::format("{}{{\"provider\":{},\"state\":{},\"expires\":{},\"detail\":{}}}", i ? "," : "",
                         json_string(x.provider), json_string(x.state), json_string(x.expires),
                         json_string(x.detail));
    }
    out += "],\"hosts\":[";
    for (std::size_t i = 0; i < s.hosts.size(); ++i) {
      const auto& h = s.hosts[i];
      out += fmt::format("{}{{\"host\":{},\"sent\":{},\"failed\":{},\"sent_24h\":{},\"failed_24h\":{}}}",
                         i ? "," : "", json_string(h.host), h.sent, h.failed, h.sent_24h, h.failed_24h);
    }
    out += "],";
    if (!s.host_filter.empty()) out += fmt::format("\"host_filter\":{},", json_string(s.host_filter));
  }
  if (s.have_spool) {
    out += fmt::format("\"spool_host\":{},", json_string(s.local_host));
    out += "\"queue\":{";
    bool first = true;
    for (const auto& [state, n] : s.queue) {
      out += fmt::format("{}{}:{}", first ? "" : ",", json_string(state), n);
      first = false;
    }
    out += fmt::format("}},\"queued\":{},\"oldest_queued_s\":{},", s.queued, opt_json(s.oldest_age_s));
  }
  if (out.back() == ',') out.pop_back();
  return out + "}";
}

}  // namespace relay::admin
