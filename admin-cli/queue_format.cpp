// relay::admin queue formatting (see queue_format.hpp).
#include "admin-cli/queue_format.hpp"

#include <fmt/format.h>

#include <cstdint>

#include "admin-cli/format.hpp"
#include "admin-cli/safe_output.hpp"

namespace relay::admin {

std::vector<spool::State> all_states() {
  using S = spool::State;
  return {S::New, S::Active, S::Deferred, S::Hold, S::Failed, S::Corrupt};
}

std::optional<std::vector<spool::State>> parse_state_filter(std::string_view name) {
  if (name == "all") return all_states();
  if (auto s = spool::parse_state(name)) return std::vector<spool::State>{*s};
  return std::nullopt;
}

std::optional<std::size_t> parse_limit(const std::optional<std::string>& text) {
  if (!text) return SIZE_MAX;
  if (text->empty() || text->size() > 10) return std::nullopt;
  std::size_t n = 0;
  for (char c : *text) {
    if (c < '0' || c > '9') return std::nullopt;
    n = n * 10 + static_cast<std::size_t>(c - '0');
  }
  if (n == 0 || n > 1000000000) return std::nullopt;
  return n;
}

std::string list_summary(std::size_t shown, std::size_t total, std::uint64_t shown_bytes) {
  std::string out = fmt::format("-- {} in {} {}", human_size(shown_bytes), shown, shown == 1 ? "entry" : "entries");
  if (shown < total) out += fmt::format(" shown of {} (--limit)", total);
  return out + ".";
}

std::string format_entry(const spool::EntryInfo& e, std::int64_t now) {
  std::string state(spool::dir_name(e.state));
  if (e.locked && e.state != spool::State::Active) state += "*";  // someone works on it
  if (!e.envelope) {
    return fmt::format("{}  {:<8}  unreadable: {}\n", e.id.str(), state, printable(e.error));
  }
  const spool::Envelope& env = *e.envelope;
  std::string out = fmt::format("{}  {:<8}  {:>6}  {}  attempts={}  from=<{}>\n", e.id.str(), state,
                                human_size(env.size), utc_time(env.received_at), env.attempts, printable(env.mail_from));
  for (const auto& r : env.rcpts) {
    out += fmt::format("    to=<{}> {}", printable(r.address), spool::to_string(r.state));
    if (!r.last_reply.empty()) out += fmt::format(" ({})", printable(r.last_reply));
    out += "\n";
  }
  if (e.state == spool::State::Deferred && env.next_attempt > 0) {
    out += fmt::format("    next attempt {} (in {})\n", utc_time(env.next_attempt), human_age(env.next_attempt - now));
  }
  if (!env.last_error.empty()) out += fmt::format("    last error: {}\n", printable(env.last_error));
  return out;
}

std::string entry_json(const spool::EntryInfo& e) {
  std::string out = fmt::format("{{\"id\":{},\"state\":{},\"locked\":{}", json_string(e.id.str()),
                                json_string(spool::dir_name(e.state)), e.locked ? "true" : "false");
  if (!e.envelope) return out + fmt::format(",\"error\":{}}}", json_string(e.error));
  const spool::Envelope& env = *e.envelope;
  out += fmt::format(",\"size\":{},\"received_at\":{},\"from\":{},\"attempts\":{},\"next_attempt\":{}", env.size,
                     env.received_at, json_string(env.mail_from), env.attempts, env.next_attempt);
  out += fmt::format(",\"last_error\":{},\"provider\":{},\"rcpts\":[", json_string(env.last_error),
                     json_string(env.provider));
  for (std::size_t i = 0; i < env.rcpts.size(); ++i) {
    const auto& r = env.rcpts[i];
    out += fmt::format("{}{{\"address\":{},\"state\":{},\"last_reply\":{}}}", i ? "," : "", json_string(r.address),
                       json_string(spool::to_string(r.state)), json_string(r.last_reply));
  }
  return out + "]}";
}

std::string format_envelope(const spool::Envelope& env) {
  std::string out;
  // Every value may come from a client or a remote server: printable().
  auto line = [&](std::string_view k, std::string_view v) {
    out += fmt::format("{:<13} {}\n", fmt::format("{}:", k), printable(v));
  };
  line("id", env.id.str());
  line("received", utc_time(env.received_at));
  line("client", fmt::format("{} (helo {})", env.client_addr, env.client_helo.empty() ? "-" : env.client_helo));
  line("tls", env.tls.empty() ? "-" : env.tls);
  line("auth user", env.auth_user.empty() ? "-" : env.auth_user);
  line("mail from", fmt::format("<{}>{}{}", env.mail_from, env.mail_params.empty() ? "" : " ", env.mail_params));
  for (const auto& r : env.rcpts) {
    line("rcpt", fmt::format("<{}> {}{}", r.address, spool::to_string(r.state),
                             r.last_reply.empty() ? "" : " (" + r.last_reply + ")"));
  }
  line("size", fmt::format("{} bytes", env.size));
  line("crc32", fmt::format("{:08x}", env.data_crc32));
  line("attempts", std::to_string(env.attempts));
  line("next attempt", utc_time(env.next_attempt));
  line("provider", env.provider.empty() ? "-" : env.provider);
  line("last error", env.last_error.empty() ? "-" : env.last_error);
  return out;
}

}  // namespace relay::admin
