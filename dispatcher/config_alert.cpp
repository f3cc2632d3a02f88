// See config_alert.hpp.
#include "dispatcher/config_alert.hpp"

#include <fmt/format.h>

#include <cctype>
#include <ctime>

namespace relay::dispatch {

ConfigAlerts::Change ConfigAlerts::on_result(std::string_view provider, const provider::Result& r) {
  if (r.outcome == provider::Outcome::Transient && r.config_error) {
    return active_.emplace(provider).second ? Change::Raised : Change::None;
  }
  bool accepted = r.outcome == provider::Outcome::Sent;
  for (const auto& rc : r.rcpts) accepted = accepted || rc.outcome == provider::Outcome::Sent;
  if (!accepted) return Change::None;  // a timeout proves nothing about the configuration
  auto it = active_.find(provider);
  if (it == active_.end()) return Change::None;
  active_.erase(it);
  return Change::Cleared;
}

}  // namespace relay::dispatch

namespace relay::dispatch {
namespace {

std::string utc(std::int64_t now, const char* format) {
  std::time_t t = static_cast<std::time_t>(now);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[64];
  std::strftime(buf, sizeof buf, format, &tm);
  return buf;
}

std::string one_line(std::string s) {
  for (auto& c : s)
    if (c == '\r' || c == '\n') c = ' ';
  return s;
}

}  // namespace

std::string config_notice_key(const std::string& provider, std::int64_t now) {
  std::string safe;
  for (char c : provider) safe += std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' ? c : '_';
  return "config-error-" + safe + "-" + utc(now, "%Y-%m-%d");
}

std::string build_config_notice(const std::string& provider, const std::string& reason, const std::string& notice_to,
                                const std::string& from, const std::string& hostname, const std::string& key,
                                std::int64_t now) {
  std::string out;
  out += from.empty() ? fmt::format("From: Mail Delivery System <MAILER-DAEMON@{}>\r\n", hostname)
                      : fmt::format("From: relay <{}>\r\n", from);
  out += fmt::format("To: <{}>\r\n", notice_to);
  out += fmt::format("Subject: relay: provider {} has a configuration error; mail is held\r\n", one_line(provider));
  out += fmt::format("Date: {}\r\n", utc(now, "%a, %d %b %Y %H:%M:%S +0000"));
  out += fmt::format("Message-ID: <{}.config-notice@{}>\r\n", key, hostname);
  out += "Auto-Submitted: auto-generated\r\nMIME-Version: 1.0\r\n";
  out += "Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n";
  out += fmt::format("Provider '{}' refused a delivery for a reason that is its configuration,\r\n"
                     "not the message:\r\n\r\n  {}\r\n\r\n", one_line(provider), one_line(reason));
  out += "Mail for this provider stays queued (it is not bounced) and is retried; it goes\r\n"
         "to the fallback provider when one is configured. Fix the credentials,\r\n"
         "permissions or TLS settings the reason names, then check with\r\n"
         "`relayctl provider test " + one_line(provider) + "`. This notice is sent at most once a day.\r\n";
  return out;
}

}  // namespace relay::dispatch
