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
  if (closed_ || wait_ == Wait::Tls || input_ended_) return;  // input pipelined before the TLS handshake is discarded
  if (in_.empty()) {
    std::size_t n = process(bytes);
    if (!closed_ && wait_ != Wait::Tls) in_.assign(bytes.substr(n));
    return;
  }
  in_.append(bytes);
  pump();
}

void Session::pump() {
  if (closed_ || processing_) return;
  if (!in_.empty()) {
    std::size_t n = process(in_);
    if (closed_ || wait_ == Wait::Tls) {
      in_.clear();
    } else {
      in_.erase(0, n);
    }
  }
  close_if_input_ended();
}

void Session::end_of_input() {
  input_ended_ = true;
  close_if_input_ended();
}

// After the client's end of input (a half-close) every complete command it
// sent is still answered — above all the end of data whose commit may be
// pending — and only then is the session closed; what is left is an
// unfinished command or message (discarded, never committed). No reply:
// nothing the client sent asks for one.
void Session::close_if_input_ended() {
  if (!input_ended_ || closed_ || processing_ || (wait_ != Wait::None && wait_ != Wait::Tls)) return;
  if (host_.output_blocked()) return;  // resume() comes back here once the replies drained
  const bool transfer = message_open_ || mode_ == Mode::Data || mode_ == Mode::Bdat;
  if (transfer || !in_.empty() || mode_ == Mode::AuthLine) {  // a plain hang-up is logged by the host
    log::info("{} event=client_eof client={} pending_octets={} reason={}", id_, client_ip_, in_.size(),
              transfer ? "unfinished_transfer_dropped" : "incomplete_command");
  }
  if (message_open_) {
    host_.discard_message();
    message_open_ = false;
  }
  in_.clear();
  closed_ = true;
  host_.close("client disconnected");
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
  bool auth = mode_ == Mode::AuthLine || istarts_with(in, "AUTH ") || (discard_long_ && discard_auth_);
  std::size_t limit = auth ? kMaxAuthLine : kMaxCommandLine;
  auto nl = in.find('\n');
  if (nl == std::string_view::npos) {
    if (in.size() <= limit) return 0;
    discard_long_ = true;  // drop what we have; reply when the line finally ends
    discard_auth_ = auth;  // (the rest no longer starts with "AUTH ")
    return in.size();
  }
  std::string_view line = in.substr(0, nl);
  bool crlf = !line.empty() && line.back() == '\r';
  if (crlf) line.remove_suffix(1);
  if (discard_long_ || line.size() + 2 > limit) {
    discard_long_ = discard_auth_ = false;
    if (mode_ == Mode::AuthLine) {
      mode_ = Mode::Command;
      auth_step_ = AuthStep::None;
    }
    log::info("{} event=refused reason=line_too_long", id_);
    // RFC 4954 4: an over-long SASL line (the AUTH command's initial response too) has its own code
    error_reply(auth ? "500 5.5.6 Authentication Exchange line is too long" : "500 5.5.2 Error: line too long");
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
  if (istarts_with(line, "BDAT") && line.size() > 4 && line[4] != ' ') {
    // "BDAT\t5": a front end that splits on any white space sees a chunk
    // here; we cannot tell where it ends, so nothing after it is read.
    return bdat_unreadable();
  }
  CommandLine c = split_command(line);
  const std::string_view v = c.verb;
  count_junk(v);
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

// NOOP, RSET, VRFY, HELP, EHLO and HELO move no mail forward. Past
// kMaxJunkCommands of them without an accepted message each also counts as
// an error (Postfix smtpd_junk_command_limit): a client that loops on them
// reaches max_bad_commands and is closed instead of holding its slot
// forever (every answer would otherwise reset the idle timer).
void Session::count_junk(std::string_view verb) {
  static constexpr std::string_view kJunk[] = {"NOOP", "RSET", "VRFY", "HELP", "EHLO", "HELO"};
  for (auto j : kJunk) {
    if (!iequals(verb, j)) continue;
    if (++junk_commands_ > kMaxJunkCommands) {
      if (junk_commands_ == kMaxJunkCommands + 1) {
        log::info("{} event=junk_limit client={} limit={}", id_, client_ip_, kMaxJunkCommands);
      }
      ++bad_commands_;
    }
    return;
  }
}

}  // namespace relay::smtp
