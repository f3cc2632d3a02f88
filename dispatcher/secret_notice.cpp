// See secret_notice.hpp.
#include "dispatcher/secret_notice.hpp"

#include "dispatcher/generated_mail.hpp"

#include <fcntl.h>
#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <optional>

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

// Marker file names and Message-IDs: keep [A-Za-z0-9._-] only.
std::string safe(std::string s) {
  for (auto& c : s)
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '.' && c != '-' && c != '_') c = '_';
  return s;
}

// The smallest threshold that days_left has reached.
std::optional<int> threshold(std::int64_t days_left, const std::vector<int>& warn_days) {
  std::optional<int> t;
  for (int d : warn_days)
    if (days_left <= d && (!t || d < *t)) t = d;
  return t;
}

std::string unfold_line(std::string s) {
  for (auto& c : s)
    if (c == '\r' || c == '\n') c = ' ';
  return s;
}

}  // namespace

std::string notice_header(const std::string& from, const std::string& notice_to, const std::string& subject,
                          const std::string& hostname, const std::string& message_id_local, std::int64_t now) {
  std::string out;
  out += from.empty() ? fmt::format("From: Mail Delivery System <MAILER-DAEMON@{}>\r\n", hostname)
                      : fmt::format("From: relay <{}>\r\n", from);
  out += fmt::format("To: <{}>\r\n", notice_to);
  out += fmt::format("Subject: {}\r\n", unfold_line(subject));
  out += fmt::format("Date: {}\r\n", utc(now, "%a, %d %b %Y %H:%M:%S +0000"));
  out += fmt::format("Message-ID: <{}@{}>\r\n", message_id_local, hostname);
  out += "Auto-Submitted: auto-generated\r\nMIME-Version: 1.0\r\n";
  out += "Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n";
  return out;
}

std::string utc_day(std::int64_t now) { return utc(now, "%Y-%m-%d"); }

std::string notice_one_line(std::string s) { return unfold_line(std::move(s)); }

std::string secret_notice_key(const std::string& provider, const provider::SecretStatus& s,
                              const std::vector<int>& warn_days, std::int64_t now) {
  const std::string base = safe(provider) + "." + safe(s.expires.empty() ? "nodate" : s.expires);
  if (s.state == "expired") return base + ".expired." + utc(now, "%Y-%m-%d");
  if (s.state != "warning") return {};
  if (warn_days.empty()) return base + ".warning";
  auto t = threshold(s.days_left, warn_days);
  return t ? base + ".warn" + std::to_string(*t) : std::string();
}

std::string build_secret_notice(const std::string& provider, const provider::SecretStatus& s,
                                const std::string& notice_to, const std::string& from, const std::string& hostname,
                                const std::string& key, std::int64_t now) {
  const bool expired = s.state == "expired";
  const std::string when = s.expires.empty() ? std::string("(date unknown)") : s.expires;
  std::string subject = expired ? fmt::format("relay: client secret of provider {} has EXPIRED ({})", provider, when)
                                : fmt::format("relay: client secret of provider {} expires in {} day{} ({})", provider,
                                              s.days_left, s.days_left == 1 ? "" : "s", when);
  std::string out = notice_header(from, notice_to, subject, hostname, key + ".secret-notice", now);
  out += expired ? fmt::format("The client secret that relay uses for provider '{}' expired on {}.\r\n"
                               "Mail for this provider stays queued until a valid secret is configured.\r\n\r\n",
                               provider, when)
                 : fmt::format("The client secret that relay uses for provider '{}' expires on {},\r\n"
                               "in {} days. After that, mail for this provider stays queued.\r\n\r\n",
                               provider, when, s.days_left);
  out += fmt::format("Provider:  {}\r\nExpires:   {}\r\nDays left: {}\r\nSource:    {}\r\nStatus:    {} ({})\r\n\r\n",
                     provider, when, s.days_left, s.source, s.state, unfold_line(s.detail));
  out += "To renew: create a new client secret for the app registration (Microsoft Entra\r\n"
         "admin center > App registrations > Certificates & secrets), put it into the\r\n"
         "provider's client_secret, set client_secret_expires to its end date, restart\r\n"
         "relay, and check with `relayctl provider test " + provider + "` and `relayctl secrets`.\r\n";
  return out;
}

spool::Status enqueue_secret_notice(const spool::Spool& spool, const std::string& key, const std::string& notice_to,
                                    const std::string& text, std::string* notice_id, bool* already) {
  *already = false;
  const auto dir = spool.root() / "notices";
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  const auto marker = dir / key;
  int fd = ::open(marker.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0640);
  if (fd < 0) {
    if (errno == EEXIST) {
      *already = true;
      return {};
    }
    return {errno, "create " + marker.string() + ": " + std::strerror(errno)};
  }
  ::close(fd);
  spool::Status st = enqueue_generated(spool, notice_to, text, notice_id);
  if (!st.ok()) std::filesystem::remove(marker, ec);  // let a later round try again
  return st;
}

}  // namespace relay::dispatch
