// Session: the message itself — opening the spool entry, the Received:
// header, streaming content, the end-of-message checks and the commit.
#include <algorithm>
#include <ctime>

#include "common/header_reader.hpp"
#include "common/log.hpp"
#include "common/metrics_registry.hpp"
#include "receiver/smtp/session.hpp"
#include "receiver/smtp/text.hpp"

namespace relay::smtp {

std::string Session::received_header(const std::string& queue_id) const {
  std::string proto = esmtp_ ? "ESMTP" : "SMTP";
  if (!tls_.empty()) proto += 'S';
  if (!auth_user_.empty()) proto += 'A';
  bool v6 = client_ip_.find(':') != std::string::npos;
  std::string h = "Received: from " + (helo_.empty() ? std::string("unknown") : helo_) + " ([" +
                  (v6 ? "IPv6:" : "") + client_ip_ + "])\r\n\tby " + policy_->hostname + " (relay) with " + proto +
                  " id " + queue_id;
  if (!tls_.empty()) h += "\r\n\t(using " + tls_ + ")";
  if (!auth_user_.empty()) h += "\r\n\t(authenticated user " + auth_user_ + ")";
  std::time_t t = static_cast<std::time_t>(host_.now());
  std::tm tm{};
  gmtime_r(&t, &tm);
  char date[64];
  std::strftime(date, sizeof date, "%a, %d %b %Y %H:%M:%S +0000", &tm);
  h += ";\r\n\t";
  h += date;
  h += "\r\n";
  return h;
}

bool Session::open_message() {
  Transaction t{client_ip_, helo_, tls_, auth_user_, mail_from_, mail_params_, rcpts_};
  auto id = host_.open_message(t);
  scan_.reset(policy_->limits.max_header_size);
  too_big_ = write_failed_ = too_big_route_ = false;
  if (!id) {
    log::error("{} event=refused reason=spool_create_failed from=<{}>", id_, log::quote(mail_from_));
    count_refused("spool_create_failed");
    return false;
  }
  queue_id_ = *id;
  message_open_ = true;
  const std::string received = received_header(queue_id_);
  stored_extra_ = received.size();
  if (!host_.write_message(received)) write_failed_ = true;
  return true;
}

void Session::content(std::string_view bytes) {
  scan_.feed(bytes);
  if (too_big_) return;
  bool over_route = stored_extra_ + scan_.size() > route_limit_;
  if (scan_.size() > policy_->limits.max_message_size || scan_.header_too_big() || over_route) {
    too_big_ = true;  // keep reading to the end, store and scan nothing more
    too_big_route_ = over_route && scan_.size() <= policy_->limits.max_message_size && !scan_.header_too_big();
    scan_.stop();
    return;
  }
  if (content_refused()) {
    scan_.stop();  // refused at the end of data whatever follows: look at nothing more
    return;
  }
  if (message_open_ && !write_failed_ && !host_.write_message(bytes)) write_failed_ = true;
}

bool Session::content_refused() const {
  return scan_.bare_cr() || scan_.bare_lf() || scan_.long_line() || scan_.malformed_header() ||
         (scan_.nul() && !bdat_message_);
}

std::size_t Session::process_data(std::string_view in) {
  std::size_t n = dot_.feed(in, [this](std::string_view s) { content(s); });
  if (dot_.done()) {
    mode_ = Mode::Command;
    end_of_message();
  }
  return n;
}

// The From/Sender fields read by common/header_reader, the reader the
// dispatcher uses to choose the sending mailbox: what is checked here is
// what is sent as. Unreadable or ambiguous fields are refused whatever the
// policy (the dispatcher could not send them either).
std::string Session::header_sender_refusal() const {
  const std::vector<std::string_view> from(scan_.from_headers().begin(), scan_.from_headers().end());
  const std::vector<std::string_view> sender(scan_.sender_headers().begin(), scan_.sender_headers().end());
  const mail::Originator o = mail::read_originator(from, sender);
  if (!o.error.empty()) return "550 5.7.1 Error: From/Sender header refused: " + o.error;
  const mail::SenderRules rules = policy_->enforced_rules(auth_user_);
  if (o.from.empty()) {
    // Sent as senders.default_sender then: a user with a list of its own must be allowed that.
    if (rules.per_user && !rules.allows(policy_->default_sender)) {
      return "550 5.7.1 Error: message has no From header";
    }
    return {};
  }
  for (const auto& addr : o.addresses()) {
    if (!rules.allows(addr)) return "550 5.7.1 Error: header address <" + addr.substr(0, 256) + "> not allowed as sender";
  }
  return {};
}

std::string Session::size_reply() const {
  if (too_big_route_) return route_size_reply();
  return "552 5.3.4 Error: message size exceeds fixed maximum message size";
}

std::string Session::route_size_reply() const {
  return "552 5.3.4 Error: message size exceeds fixed maximum message size for this sender (" +
         std::to_string(route_limit_) + " bytes: the largest any route carries)";
}

// A size below route_limit_ may still fall in a gap between routes' size
// bounds; the header From now names the sender of a null envelope sender.
// The same question the dispatcher asks (config::RouteTable::match).
std::string Session::route_refusal() const {
  std::string sender = mail_from_;
  if (sender.empty()) {
    const std::vector<std::string_view> from(scan_.from_headers().begin(), scan_.from_headers().end());
    const mail::Originator o = mail::read_originator(from, {});
    if (!o.from.empty()) sender = o.from.front().address;
  }
  const std::uint64_t size = stored_extra_ + scan_.size();
  if (policy_->routable(sender, auth_user_, size)) return {};
  return "552 5.3.4 Error: no route carries a message of " + std::to_string(size) + " bytes from this sender (largest " +
         std::to_string(std::min(policy_->limits.max_message_size, policy_->route_limit(sender, auth_user_, true))) +
         " bytes)";
}

std::string Session::refusal() const {
  if (too_big_ && scan_.header_too_big()) return "552 5.3.4 Error: message header size exceeds limit";
  if (too_big_) return size_reply();
  if (scan_.nul() && !bdat_message_) return "554 5.6.0 Error: message contains NUL characters";
  if (scan_.bare_cr() || scan_.bare_lf()) {
    return "550 5.5.2 Error: bare CR or LF in message (lines must end with CRLF)";
  }
  if (scan_.long_line()) {
    return "554 5.6.0 Error: message line longer than " + std::to_string(BodyScanner::kMaxLine) + " octets";
  }
  if (scan_.malformed_header()) return "554 5.6.0 Error: malformed header (continuation line before the first field)";
  if (write_failed_ || !message_open_) return write_error_reply();
  if (std::string r = header_sender_refusal(); !r.empty()) return r;
  return route_refusal();
}

// The metrics label of refusal(): same order of checks, one short token.
std::string_view Session::refusal_reason() const {
  if (too_big_ && scan_.header_too_big()) return "header_size";
  if (too_big_) return too_big_route_ ? "size_route" : "size";
  if (scan_.nul() && !bdat_message_) return "nul";
  if (scan_.bare_cr() || scan_.bare_lf()) return "bare_cr_lf";
  if (scan_.long_line()) return "line_too_long";
  if (scan_.malformed_header()) return "malformed_header";
  if (write_failed_ || !message_open_) return "spool_write_failed";
  if (!header_sender_refusal().empty()) return "header_sender_not_allowed";
  return "size_no_route";
}

std::string Session::write_error_reply() const {
  if (host_.storage_full()) return "452 4.3.1 Error: insufficient system storage";  // RFC 3463 X.3.1
  return "451 4.3.0 Error: queue file write error";
}

void Session::count_refused(std::string_view reason) {
  metrics::registry().add("relay_smtp_messages_total", {{"result", "refused"}, {"reason", std::string(reason)}});
}

void Session::log_refused(std::string_view code_text) {
  log::info("{} event=refused id={} client={} tls={} auth={} from=<{}> rcpts={} size={} reason={}", id_, queue_id_,
            client_ip_, log::quote(tls_), log::quote(auth_user_), log::quote(mail_from_), rcpts_.size(), scan_.size(),
            log::quote(code_text));
}

void Session::end_of_message() {
  scan_.finish();
  std::string refuse = refusal();
  if (!refuse.empty()) {
    log_refused(refuse);
    count_refused(refusal_reason());
    reply(refuse);
    reset_transaction();
    return;
  }
  wait_ = Wait::Commit;
  message_open_ = false;  // the host owns the entry now
  host_.commit_message();
}

void Session::commit_result(const CommitResult& result, const std::string& queue_id) {
  if (wait_ != Wait::Commit || closed_) return;
  wait_ = Wait::None;
  if (result.ok) {
    log::info("{} event=accepted id={} client={} helo={} tls={} auth={} from=<{}> rcpts={} size={}", id_, queue_id,
              client_ip_, log::quote(helo_), log::quote(tls_), log::quote(auth_user_), log::quote(mail_from_),
              rcpts_.size(), scan_.size());
    reply("250 2.0.0 Ok: queued as " + queue_id);
    junk_commands_ = 0;  // progress: NOOP/RSET between messages are not junk
    metrics::registry().add("relay_smtp_messages_total", {{"result", "accepted"}, {"reason", "ok"}});
  } else {
    const std::string text = result.storage_full ? "452 4.3.1 Error: insufficient system storage"
                                                 : "451 4.3.0 Error: queue file write error";
    log_refused(text.substr(0, 9) + " spool commit failed: " + result.error);
    count_refused("spool_commit_failed");
    reply(text);
  }
  reset_transaction();
  if (!processing_) pump();
}

void Session::reset_transaction() {
  if (message_open_) {
    host_.discard_message();
    message_open_ = false;
  }
  has_mail_ = false;
  utf8_ = false;
  mail_from_.clear();
  mail_params_.clear();
  rcpts_.clear();
  declared_size_ = 0;
  bdat_active_ = false;
  bdat_message_ = false;
  too_big_ = write_failed_ = too_big_route_ = false;
  route_limit_ = config::kUnlimited;
  stored_extra_ = 0;
  scan_.reset();
  queue_id_.clear();
}

void Session::tls_established(std::string description) {
  bool was_starttls = wait_ == Wait::Tls;
  tls_ = std::move(description);
  if (!was_starttls) return;
  // RFC 3207 4.2: forget everything learnt before the handshake.
  wait_ = Wait::None;
  greeted_ = esmtp_ = false;
  helo_.clear();
  auth_user_.clear();
  reset_transaction();
  in_.clear();
}

}  // namespace relay::smtp
