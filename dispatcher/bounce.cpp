// See bounce.hpp. This file: the DSN's three parts and its queueing.
#include "dispatcher/bounce.hpp"

#include <fmt/format.h>

#include <cctype>
#include <ctime>

#include "dispatcher/generated_mail.hpp"
#include "dispatcher/providers/mail_util.hpp"

namespace relay::dispatch {
namespace {

bool ascii(std::string_view s) {
  for (unsigned char c : s)
    if (c >= 0x80) return false;
  return true;
}

std::string date(std::int64_t t) { return provider::rfc5322_date(static_cast<std::time_t>(t)); }

std::string one_line(std::string s, std::size_t max = 200) {
  for (auto& c : s)
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) c = ' ';
  if (s.size() > max) s.resize(max);
  return s;
}

// RFC 3464 2.3.2 / RFC 6533 3: an ASCII address is "rfc822; addr"; one with
// UTF-8 is "utf-8; " in utf-8-addr-xtext form (non-ASCII code points as
// \x{HEX}, '+', '=', '\' and controls as +HH), which message/delivery-status
// may carry.
std::string typed_address(std::string_view a) {
  bool plain = true;
  for (unsigned char c : a) plain = plain && c >= 0x20 && c < 0x7f;
  if (plain) return "rfc822; " + std::string(a);
  std::string out = "utf-8; ";
  for (std::size_t i = 0; i < a.size();) {
    auto c = static_cast<unsigned char>(a[i]);
    int len = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
    if (len > 1 && i + len <= a.size()) {
      std::uint32_t cp = c & (0x7f >> len);
      bool ok = true;
      for (int k = 1; k < len; ++k) {
        auto cc = static_cast<unsigned char>(a[i + k]);
        ok = ok && (cc & 0xc0) == 0x80;
        cp = (cp << 6) | (cc & 0x3f);
      }
      if (ok) {
        out += fmt::format("\\x{{{:X}}}", cp);
        i += len;
        continue;
      }
    }
    if (c > 0x20 && c < 0x7f && c != '+' && c != '=' && c != '\\') out += static_cast<char>(c);
    else out += fmt::format("+{:02X}", c);
    ++i;
  }
  return out;
}

std::string advice(const std::string& status) {
  if (status == "4.4.7")
    return "The destination did not accept the message before relay gave up retrying.\r\n"
           "You can send it again later; if it keeps failing, contact your mail administrator.";
  if (status.starts_with("5.1."))
    return "The address was refused as unknown or invalid: check it for typos, or ask\r\n"
           "the recipient for the right address, then send the message again.";
  if (status.starts_with("5.2."))
    return "The recipient's mailbox is full or disabled: try again later or reach the\r\n"
           "recipient another way.";
  if (status.starts_with("5.7."))
    return "The message was refused by policy or for lack of permission: contact your\r\n"
           "mail administrator and quote the queue id below.";
  return "Contact your mail administrator (postmaster) and quote the queue id below.";
}

std::string human_part(const spool::Envelope& failed, const MessageInfo& info, const BounceContext& ctx) {
  std::string out = fmt::format(
      "This is the mail system at host {}.\r\n\r\nYour message could not be delivered to one or more recipients.\r\n"
      "It failed permanently; relay will not try again.\r\n\r\n",
      ctx.hostname);
  out += fmt::format("Queue id: {}\r\nSubject:  {}\r\nSent:     {}\r\n\r\n", failed.id.str(),
                     info.subject.empty() ? "(no subject)" : one_line(info.subject), date(failed.received_at));
  std::string last_status;
  for (const auto& r : failed.rcpts) {
    if (r.state != spool::RcptState::Failed) continue;
    last_status = dsn_status(r.last_reply);
    out += fmt::format("<{}>:\r\n", one_line(r.address, 998));
    out += fold_field("   The server said", r.last_reply.empty() ? "(no reply)" : r.last_reply);
  }
  out += "\r\nWhat you can do: " + advice(last_status) + "\r\n";
  return out;
}

std::string status_part(const spool::Envelope& failed, const BounceContext& ctx) {
  std::string out = fold_field("Reporting-MTA", "dns; " + ctx.hostname);
  out += fold_field("X-Relay-Queue-ID", failed.id.str());
  out += fold_field("Arrival-Date", date(failed.received_at));
  const std::string type = ctx.diagnostic_type.empty() ? "X-relay" : ctx.diagnostic_type;
  for (const auto& r : failed.rcpts) {
    if (r.state != spool::RcptState::Failed) continue;
    out += "\r\n";
    out += fold_field("Final-Recipient", typed_address(r.address));
    out += "Action: failed\r\n";
    out += "Status: " + dsn_status(r.last_reply) + "\r\n";
    // An SMTP reply names the upstream; relay's own verdicts (expired,
    // unparseable) came from no remote MTA.
    const bool from_remote = r.last_reply.size() >= 3 && std::isdigit(static_cast<unsigned char>(r.last_reply[0]));
    if (from_remote && !ctx.remote_mta.empty()) out += fold_field("Remote-MTA", "dns; " + ctx.remote_mta);
    const std::string dtype = from_remote ? type : "X-relay";
    out += fold_field("Diagnostic-Code", dtype + "; " + (r.last_reply.empty() ? "no reply" : r.last_reply));
    out += fold_field("Last-Attempt-Date", date(ctx.now));
  }
  return out;
}

}  // namespace

std::string build_bounce(const spool::Envelope& failed, const MessageInfo& info, const std::string& original_headers,
                         const BounceContext& ctx) {
  const std::string boundary = fmt::format("=_relay_dsn_{}_{}", failed.id.str(), ctx.now);
  const std::string human = human_part(failed, info, ctx);
  std::string out;
  out += fmt::format("From: Mail Delivery System <{}>\r\n", ctx.from);
  out += fmt::format("To: <{}>\r\n", one_line(failed.mail_from, 998));
  out += "Subject: Undelivered Mail Returned to Sender\r\n";
  out += fmt::format("Date: {}\r\n", date(ctx.now));
  out += fmt::format("Message-ID: <{}.dsn@{}>\r\n", failed.id.str(), ctx.hostname);
  if (!info.message_id.empty() && ascii(info.message_id) && info.message_id.size() < 900)
    out += fmt::format("In-Reply-To: <{}>\r\nReferences: <{}>\r\n", one_line(info.message_id, 900),
                       one_line(info.message_id, 900));
  out += "Auto-Submitted: auto-replied\r\nMIME-Version: 1.0\r\n";
  out += fmt::format("Content-Type: multipart/report; report-type=delivery-status;\r\n boundary=\"{}\"\r\n\r\n",
                     boundary);
  out += "This is a MIME-encapsulated delivery status notification.\r\n\r\n";
  out += fmt::format("--{}\r\nContent-Description: Notification\r\n"
                     "Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: {}\r\n\r\n",
                     boundary, ascii(human) ? "7bit" : "8bit");
  out += human;
  const std::string status = status_part(failed, ctx);
  out += fmt::format("\r\n--{}\r\nContent-Description: Delivery report\r\nContent-Type: message/delivery-status\r\n"
                     "Content-Transfer-Encoding: {}\r\n\r\n",
                     boundary, ascii(status) ? "7bit" : "8bit");
  out += status;
  out += fmt::format("\r\n--{}\r\nContent-Description: Undelivered message headers\r\n"
                     "Content-Type: text/rfc822-headers\r\nContent-Transfer-Encoding: {}\r\n\r\n",
                     boundary, ascii(original_headers) ? "7bit" : "8bit");
  out += original_headers.empty() ? "X-Relay-Note: the original headers could not be read\r\n" : original_headers;
  out += fmt::format("\r\n--{}--\r\n", boundary);
  return out;
}

spool::Status enqueue_bounce(const spool::Spool& spool, const spool::Envelope& failed, const MessageInfo& info,
                             const std::string& original_headers, BounceContext ctx, std::string* bounce_id) {
  ctx.now = static_cast<std::int64_t>(std::time(nullptr));
  return enqueue_generated(spool, failed.mail_from, build_bounce(failed, info, original_headers, ctx), bounce_id);
}

}  // namespace relay::dispatch
