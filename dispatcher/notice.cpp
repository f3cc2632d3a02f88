// See notice.hpp.
#include "dispatcher/notice.hpp"

#include <fmt/format.h>

#include <ctime>

#include "dispatcher/generated_mail.hpp"
#include "dispatcher/providers/mail_util.hpp"

namespace relay::dispatch {
namespace {

// Header values come from the failed message: keep them on one line.
std::string notice_field(std::string s) {
  for (auto& c : s)
    if (c == '\r' || c == '\n') c = ' ';
  if (s.size() > 200) s.resize(200);
  return s;
}

}  // namespace

bool wants_notice(const spool::Envelope& failed, const std::string& notice_to) {
  return !notice_to.empty() && !failed.mail_from.empty();
}

std::string build_failure_notice(const spool::Envelope& failed, const MessageInfo& info,
                                 const std::string& notice_to, const std::string& from,
                                 const std::string& hostname, std::int64_t now) {
  std::string subject = info.subject.empty() ? "(no subject)" : notice_field(info.subject);
  std::string out;
  out += from.empty() ? fmt::format("From: Mail Delivery System <MAILER-DAEMON@{}>\r\n", hostname)
                      : fmt::format("From: Mail Delivery System <{}>\r\n", from);
  out += fmt::format("To: <{}>\r\n", notice_to);
  out += fmt::format("Subject: Undelivered mail: {}\r\n", subject);
  out += fmt::format("Date: {}\r\n", provider::rfc5322_date(static_cast<std::time_t>(now)));
  out += fmt::format("Message-ID: <{}.notice@{}>\r\n", failed.id.str(), hostname);
  out += "Auto-Submitted: auto-replied\r\nMIME-Version: 1.0\r\n";
  out += "Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n";
  out += "relay could not deliver the following message. It is kept in the spool's failed/\r\n";
  out += "directory (relayctl queue show " + failed.id.str() + ").\r\n\r\n";
  out += fmt::format("Queue id:        {}\r\n", failed.id.str());
  out += fmt::format("Envelope sender: <{}>\r\n", notice_field(failed.mail_from));
  out += fmt::format("From:            {}\r\n", notice_field(info.from));
  out += fmt::format("Subject:         {}\r\n", subject);
  out += fmt::format("Message-ID:      <{}>\r\n", notice_field(info.message_id));
  out += fmt::format("Received:        {} from {}\r\n", provider::rfc5322_date(static_cast<std::time_t>(failed.received_at)), failed.client_addr);
  out += fmt::format("Attempts:        {}\r\n", failed.attempts);
  out += fmt::format("Provider:        {}\r\n\r\nRecipients:\r\n", failed.provider);
  for (const auto& r : failed.rcpts)
    out += fmt::format("  <{}>: {}{}\r\n", r.address, spool::to_string(r.state),
                       r.last_reply.empty() ? "" : " - " + notice_field(r.last_reply));
  out += fmt::format("\r\nLast error: {}\r\n", notice_field(failed.last_error));
  return out;
}

spool::Status enqueue_failure_notice(const spool::Spool& spool, const spool::Envelope& failed,
                                     const MessageInfo& info, const std::string& notice_to,
                                     const std::string& from, const std::string& hostname,
                                     std::string* notice_id) {
  const auto now = static_cast<std::int64_t>(std::time(nullptr));
  return enqueue_generated(spool, notice_to, build_failure_notice(failed, info, notice_to, from, hostname, now),
                           notice_id);
}

}  // namespace relay::dispatch
