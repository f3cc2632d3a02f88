// Session: the envelope commands (EHLO/HELO, MAIL, RCPT, DATA, BDAT, RSET,
// STARTTLS).
#include "common/log.hpp"
#include "receiver/smtp/command.hpp"
#include "receiver/smtp/session.hpp"
#include "receiver/smtp/text.hpp"

namespace relay::smtp {

bool Session::tls_required_missing() const {
  return listener_.tls == config::TlsMode::StartTlsRequired && tls_.empty();
}

void Session::cmd_ehlo(std::string_view arg, bool extended) {
  if (arg.empty()) return error_reply(extended ? "501 5.5.4 Syntax: EHLO hostname" : "501 5.5.4 Syntax: HELO hostname");
  reset_transaction();
  helo_.clear();
  for (char c : arg.substr(0, 255)) helo_ += (c > ' ' && c < 0x7f && c != '(' && c != ')') ? c : '_';
  greeted_ = true;
  esmtp_ = extended;
  const Policy& p = *policy_;
  if (!extended) return reply("250 " + p.hostname);
  std::string r = "250-" + p.hostname + "\r\n250-PIPELINING\r\n250-SIZE " + std::to_string(p.advertised_size()) +
                  "\r\n250-8BITMIME\r\n250-SMTPUTF8\r\n250-ENHANCEDSTATUSCODES\r\n250-CHUNKING\r\n";
  bool starttls_listener =
      listener_.tls == config::TlsMode::StartTls || listener_.tls == config::TlsMode::StartTlsRequired;
  if (starttls_listener && tls_.empty() && host_.tls_available()) r += "250-STARTTLS\r\n";
  if (p.auth != config::AuthMode::Off && (!tls_.empty() || (listener_.loopback && !tls_required_missing()))) {
    r += "250-AUTH PLAIN LOGIN\r\n";
  }
  r += "250 HELP";
  reply(r);
}

namespace {
bool all_digits(std::string_view s) {
  if (s.empty()) return false;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
  }
  return true;
}
}  // namespace

bool Session::mail_params_ok(const std::vector<Param>& params) {
  for (std::size_t i = 0; i < params.size(); ++i) {
    for (std::size_t j = 0; j < i; ++j) {
      if (iequals(params[j].key, params[i].key)) {
        error_reply("501 5.5.4 Error: duplicate MAIL parameter " + std::string(params[i].key.substr(0, 32)));
        return false;
      }
    }
  }
  for (const auto& prm : params) {
    if (iequals(prm.key, "SIZE")) {
      auto n = parse_decimal(prm.value);
      if (!n && all_digits(prm.value)) n = ~std::uint64_t{0};  // too many digits: more than any limit
      if (!n || !prm.has_value) {
        error_reply("501 5.5.4 Error: bad SIZE parameter");
        return false;
      }
      if (*n > policy_->limits.max_message_size) {
        log::info("{} event=refused reason=size_declared size={} limit={}", id_, *n, policy_->limits.max_message_size);
        count_refused("size_declared");
        reply("552 5.3.4 Error: message size exceeds fixed maximum message size");
        return false;
      }
      declared_size_ = *n;
    } else if (iequals(prm.key, "BODY") && prm.has_value &&
               (iequals(prm.value, "7BIT") || iequals(prm.value, "8BITMIME"))) {
    } else if (iequals(prm.key, "SMTPUTF8") && !prm.has_value) {
      utf8_ = true;
    } else if (iequals(prm.key, "AUTH") && prm.has_value) {
      // RFC 4954 5: accepted and ignored (we do not relay the identity).
    } else {
      error_reply("555 5.5.4 Error: unsupported MAIL parameter " + std::string(prm.key.substr(0, 32)));
      return false;
    }
  }
  return true;
}

void Session::cmd_mail(std::string_view arg) {
  if (!greeted_) return error_reply("503 5.5.1 Error: send HELO/EHLO first");
  if (tls_required_missing()) return reply("530 5.7.0 Must issue a STARTTLS command first");
  if (policy_->auth == config::AuthMode::Required && auth_user_.empty()) {
    log::info("{} event=refused reason=auth_required client={}", id_, client_ip_);
    count_refused("auth_required");
    return reply("530 5.7.0 Authentication required");
  }
  if (has_mail_ || bdat_active_) return error_reply("503 5.5.1 Error: nested MAIL command");
  Path path;
  if (parse_path(arg, "FROM:", path) != PathError::None) return error_reply("501 5.5.4 Syntax: MAIL FROM:<address>");
  utf8_ = false;
  declared_size_ = 0;
  if (!mail_params_ok(path.params)) return;
  switch (check_address(path.address, utf8_)) {
    case PathError::None: break;
    case PathError::NeedSmtpUtf8: return reply("553 5.6.7 Error: non-ASCII address requires SMTPUTF8");
    default: return error_reply("501 5.1.7 Error: bad sender address syntax");
  }
  if (!policy_->enforced_rules(auth_user_).allows(path.address)) {
    log::info("{} event=refused reason=sender_not_allowed client={} auth={} from=<{}>", id_, client_ip_,
              log::quote(auth_user_), log::quote(path.address));
    count_refused("sender_not_allowed");
    return reply("550 5.7.1 <" + path.address + ">: Sender address not allowed");
  }
  route_limit_ = policy_->route_limit(path.address, auth_user_, !path.address.empty());
  if (declared_size_ > route_limit_) {
    log::info("{} event=refused reason=size_declared_route size={} limit={} auth={} from=<{}>", id_, declared_size_,
              route_limit_, log::quote(auth_user_), log::quote(path.address));
    count_refused("size_declared_route");
    return reply(route_size_reply());
  }
  if (const std::uint64_t min_free = policy_->limits.min_free_space; min_free > 0) {
    // Postfix's queue_minfree, plus room for the declared size 1.5 times over.
    const std::uint64_t need = min_free + declared_size_ + declared_size_ / 2;
    const std::uint64_t free = host_.storage_free();
    if (free < need) {
      log::warn("{} event=refused reason=storage_low client={} free={} need={} size={}", id_, client_ip_, free, need,
                declared_size_);
      count_refused("storage_low");
      return reply("452 4.3.1 Error: insufficient system storage");
    }
  }
  has_mail_ = true;
  mail_from_ = std::move(path.address);
  mail_params_.assign(path.params_text);
  reply("250 2.1.0 Ok");
}

void Session::cmd_rcpt(std::string_view arg) {
  if (!has_mail_) return error_reply("503 5.5.1 Error: need MAIL command");
  Path path;
  if (parse_path(arg, "TO:", path) != PathError::None) return error_reply("501 5.5.4 Syntax: RCPT TO:<address>");
  switch (path.address.empty() ? PathError::BadAddress : check_address(path.address, utf8_)) {
    case PathError::None: break;
    case PathError::NeedSmtpUtf8: return reply("553 5.6.7 Error: non-ASCII address requires SMTPUTF8");
    default: return error_reply("501 5.1.3 Error: bad recipient address syntax");
  }
  if (path.address.find('@') == std::string::npos && !iequals(path.address, "postmaster")) {
    return error_reply("501 5.1.3 Error: recipient address must have a domain");
  }
  if (!path.params.empty()) {
    return error_reply("555 5.5.4 Error: unsupported RCPT parameter " + std::string(path.params[0].key.substr(0, 32)));
  }
  if (rcpts_.size() >= static_cast<std::size_t>(policy_->limits.max_recipients)) {
    log::info("{} event=refused reason=too_many_recipients limit={}", id_, policy_->limits.max_recipients);
    return reply("452 4.5.3 Error: too many recipients");
  }
  rcpts_.push_back(Rcpt{std::move(path.address), std::string(path.params_text)});
  reply("250 2.1.5 Ok");
}

void Session::cmd_data(std::string_view arg) {
  if (!arg.empty()) return error_reply("501 5.5.4 Syntax: DATA");
  if (bdat_active_) return error_reply("503 5.5.1 Error: DATA during a BDAT transaction");
  if (!has_mail_) return error_reply("503 5.5.1 Error: need MAIL command");
  if (rcpts_.empty()) return error_reply("503 5.5.1 Error: need RCPT command");
  if (!open_message()) return reply(write_error_reply());
  bdat_message_ = false;
  dot_.reset();
  mode_ = Mode::Data;
  reply("354 End data with <CR><LF>.<CR><LF>");
}

void Session::bdat_unreadable() {
  log::info("{} event=refused reason=bdat_size_unreadable client={}", id_, client_ip_);
  error_reply("501 5.5.4 Syntax: BDAT size [LAST]");
  close_with("421 4.7.0 " + policy_->hostname + " Error: BDAT chunk size unreadable, closing connection",
             "BDAT size unreadable");
}

void Session::cmd_bdat(std::string_view arg) {
  CommandLine c = split_command(arg);  // "<size> [LAST]"
  auto size = parse_decimal(c.verb);
  // RFC 3030: the chunk follows without waiting for our answer. Without a
  // size its end is unknown and any byte of it could be read as a command:
  // close. With a size, a bad rest of the line still consumes the chunk.
  if (!size) return bdat_unreadable();
  bool last = iequals(c.arg, "LAST");
  bdat_remaining_ = *size;
  bdat_last_ = last;
  chunk_error_.clear();
  if (!c.arg.empty() && !last) {
    chunk_error_ = "501 5.5.4 Syntax: BDAT size [LAST]";
    bdat_last_ = false;  // the transaction (if any) goes on; this chunk is not part of it
  } else if (!has_mail_) {
    chunk_error_ = "503 5.5.1 Error: need MAIL command";
  } else if (rcpts_.empty()) {
    chunk_error_ = "503 5.5.1 Error: need RCPT command";
  } else if (!bdat_active_) {
    bdat_active_ = true;
    bdat_message_ = true;
    if (!open_message()) write_failed_ = true;
  }
  mode_ = Mode::Bdat;
  if (!chunk_error_.empty()) {
    // RFC 3030: the client sends the chunk without waiting, so its N octets
    // follow whatever we answer. They are consumed as data (however the
    // reads split them) and dropped; none is ever parsed as a command.
    log::info("{} event=refused reason=bdat_out_of_sequence client={} size={}", id_, client_ip_, *size);
    error_reply(chunk_error_);
    bdat_skip_ = true;
  }
  if (bdat_remaining_ == 0) finish_chunk();
}

std::size_t Session::process_bdat(std::string_view in) {
  std::size_t n = static_cast<std::size_t>(std::min<std::uint64_t>(in.size(), bdat_remaining_));
  if (chunk_error_.empty()) content(in.substr(0, n));
  bdat_remaining_ -= n;
  if (bdat_remaining_ == 0) finish_chunk();
  return n;
}

void Session::finish_chunk() {
  mode_ = Mode::Command;
  if (bdat_skip_) {
    bdat_skip_ = false;
    return;
  }
  if (bdat_last_) return end_of_message();
  if (too_big_) return reply(size_reply());
  if (write_failed_) return reply(write_error_reply());
  reply("250 2.0.0 " + std::to_string(scan_.size()) + " octets received");
}

void Session::cmd_rset() {
  reset_transaction();
  reply("250 2.0.0 Ok");
}

void Session::cmd_starttls(std::string_view arg) {
  if (!arg.empty()) return error_reply("501 5.5.4 Syntax: STARTTLS");
  if (!tls_.empty()) return error_reply("503 5.5.1 Error: TLS already active");
  bool starttls_listener =
      listener_.tls == config::TlsMode::StartTls || listener_.tls == config::TlsMode::StartTlsRequired;
  if (!starttls_listener || !host_.tls_available()) return error_reply("502 5.5.1 Error: command not implemented");
  reset_transaction();
  reply("220 2.0.0 Ready to start TLS");
  wait_ = Wait::Tls;
  host_.start_tls();
}

}  // namespace relay::smtp
