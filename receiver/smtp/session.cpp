// Session core: input framing, command dispatch, replies, error counting.
#include "receiver/smtp/session.hpp"

#include "common/log.hpp"
#include "receiver/smtp/command.hpp"
#include "receiver/smtp/text.hpp"

namespace relay::smtp {

Session::Session(SessionHost& host, std::shared_ptr<const Policy> policy, ListenerInfo listener,
                 std::string client_ip, std::string id)
    : host_(host), policy_(std::move(policy)), listener_(listener), client_ip_(std::move(client_ip)),
      id_(std::move(id)) {}

void Session::start() { reply("220 " + policy_->hostname + " ESMTP relay"); }

bool Session::in_transfer() const noexcept {
  return !closed_ && (mode_ == Mode::Data || mode_ == Mode::Bdat || wait_ == Wait::Commit || bdat_active_);
}

void Session::reply(std::string_view text) {
  host_.send(text);
  host_.send("\r\n");
}

void Session::error_reply(std::string_view text) {
  ++bad_commands_;
  reply(text);
}

void Session::close_with(std::string_view text, std::string_view reason) {
  if (closed_) return;
  reply(text);
  if (message_open_) {
    host_.discard_message();
    message_open_ = false;
  }
  closed_ = true;
  host_.close(reason);
}

void Session::timeout(std::string_view why) {
  if (closed_) return;
  if (!why.empty()) {
    return close_with("421 4.4.2 " + policy_->hostname + " Error: " + std::string(why) + ", closing connection", why);
  }
  bool data = in_transfer();
  close_with(data ? "421 4.4.2 " + policy_->hostname + " Error: timeout exceeded during data transfer"
                  : "421 4.4.2 " + policy_->hostname + " Error: timeout exceeded",
             data ? "data timeout" : "idle timeout");
}

bool Session::line_pending() const noexcept {
  if (closed_ || wait_ != Wait::None || (mode_ != Mode::Command && mode_ != Mode::AuthLine)) return false;
  return discard_long_ || (!in_.empty() && in_.find('\n') == std::string::npos);
}

void Session::shutdown() {
  close_with("421 4.3.2 " + policy_->hostname + " Service shutting down, closing channel", "shutdown");
}

void Session::feed(std::string_view bytes) {
  if (closed_ || wait_ == Wait::Tls) return;  // input pipelined before the TLS handshake is discarded
  if (in_.empty()) {
    std::size_t n = process(bytes);
    if (!closed_ && wait_ != Wait::Tls) in_.assign(bytes.substr(n));
    return;
  }
  in_.append(bytes);
  pump();
}

void Session::pump() {
  if (closed_ || in_.empty() || processing_) return;
  std::size_t n = process(in_);
  if (closed_ || wait_ == Wait::Tls) {
    in_.clear();
  } else {
    in_.erase(0, n);
  }
}

std::size_t Session::process(std::string_view in) {
  struct Guard {
    bool& flag;
    explicit Guard(bool& f) : flag(f) { flag = true; }
    ~Guard() { flag = false; }
  } guard(processing_);
  std::size_t pos = 0;
  while (pos < in.size() && !closed_ && wait_ == Wait::None && !host_.output_blocked()) {
    std::string_view rest = in.substr(pos);
    std::size_t n = 0;
    switch (mode_) {
      case Mode::Command:
      case Mode::AuthLine: n = process_line_input(rest); break;
      case Mode::Data: n = process_data(rest); break;
      case Mode::Bdat: n = process_bdat(rest); break;
    }
    if (n == 0) break;  // need more input
    pos += n;
  }
  return pos;
}

std::size_t Session::process_line_input(std::string_view in) {
  bool auth = mode_ == Mode::AuthLine || istarts_with(in, "AUTH ");
  std::size_t limit = auth ? kMaxAuthLine : kMaxCommandLine;
  auto nl = in.find('\n');
  if (nl == std::string_view::npos) {
    if (in.size() <= limit) return 0;
    discard_long_ = true;  // drop what we have; reply when the line finally ends
    return in.size();
  }
  std::string_view line = in.substr(0, nl);
  bool crlf = !line.empty() && line.back() == '\r';
  if (crlf) line.remove_suffix(1);
  if (discard_long_ || line.size() + 2 > limit) {
    discard_long_ = false;
    if (mode_ == Mode::AuthLine) {
      mode_ = Mode::Command;
      auth_step_ = AuthStep::None;
    }
    log::info("{} event=refused reason=line_too_long", id_);
    error_reply("500 5.5.2 Error: line too long");
    return nl + 1;
  }
  if (!crlf || line.find('\r') != std::string_view::npos) {
    bad_line_end(crlf);
    return nl + 1;
  }
  handle_line(line);
  return nl + 1;
}

// A command line must end in CRLF and hold no other CR (RFC 5321 2.3.8);
// a bare LF or CR is how pipelines are smuggled past a front end that
// splits lines differently. Like the DATA path (550 5.5.2): refused, not
// executed, counted toward max_bad_commands; the session stays open.
void Session::bad_line_end(bool crlf) {
  if (mode_ == Mode::AuthLine) {
    mode_ = Mode::Command;
    auth_step_ = AuthStep::None;
  }
  log::info("{} event=refused reason={} client={}", id_, crlf ? "bare_cr_in_command" : "bare_lf_in_command",
            client_ip_);
  error_reply(crlf ? "500 5.5.2 Error: bare <CR> received in command line"
                   : "500 5.5.2 Error: bare <LF> received (command lines must end with <CR><LF>)");
}

void Session::handle_line(std::string_view line) {
  if (mode_ == Mode::AuthLine) {
    auth_line(line);
    return;
  }
  handle_command(line);
}

void Session::handle_command(std::string_view line) {
  if (is_non_smtp_command(line)) {  // HTTP and friends: Postfix smtpd_forbidden_commands
    log::warn("{} event=refused reason=non_smtp_command client={} command={}", id_, client_ip_,
              log::quote(line.substr(0, 64)));
    return close_with("554 5.5.1 " + policy_->hostname + " Error: non-SMTP command, closing connection",
                      "non-SMTP command");
  }
  if (bad_commands_ >= policy_->limits.max_bad_commands) {
    log::info("{} event=refused reason=too_many_errors errors={}", id_, bad_commands_);
    close_with("421 4.7.0 " + policy_->hostname + " Error: too many errors", "too many errors");
    return;
  }
  if (line.find('\0') != std::string_view::npos) {
    error_reply("500 5.5.2 Error: NUL character in command");
    return;
  }
  CommandLine c = split_command(line);
  const std::string_view v = c.verb;
  if (iequals(v, "EHLO")) return cmd_ehlo(c.arg, true);
  if (iequals(v, "HELO")) return cmd_ehlo(c.arg, false);
  if (iequals(v, "MAIL")) return cmd_mail(c.arg);
  if (iequals(v, "RCPT")) return cmd_rcpt(c.arg);
  if (iequals(v, "DATA")) return cmd_data(c.arg);
  if (iequals(v, "BDAT")) return cmd_bdat(c.arg);
  if (iequals(v, "RSET")) return cmd_rset();
  if (iequals(v, "NOOP")) return reply("250 2.0.0 Ok");
  if (iequals(v, "QUIT")) return close_with("221 2.0.0 Bye", "quit");
  if (iequals(v, "VRFY")) {
    if (c.arg.empty()) return error_reply("501 5.5.4 Syntax: VRFY address");
    return reply("252 2.5.0 Cannot VRFY user, but will accept message and attempt delivery");
  }
  if (iequals(v, "HELP")) return reply("214 2.0.0 Commands: EHLO HELO MAIL RCPT DATA BDAT RSET NOOP QUIT VRFY HELP STARTTLS AUTH");
  if (iequals(v, "STARTTLS")) return cmd_starttls(c.arg);
  if (iequals(v, "AUTH")) return cmd_auth(c.arg);
  if (iequals(v, "EXPN") || iequals(v, "TURN") || iequals(v, "ETRN")) {
    return error_reply("502 5.5.1 Error: command not implemented");
  }
  error_reply("500 5.5.2 Error: command not recognized");
}

}  // namespace relay::smtp
