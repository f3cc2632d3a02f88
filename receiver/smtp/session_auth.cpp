// Session: AUTH PLAIN / LOGIN (RFC 4954, 4616), the SASL exchange only; the
// password check is the host's asynchronous verify_password().
#include <openssl/crypto.h>

#include "common/log.hpp"
#include "receiver/smtp/command.hpp"
#include "receiver/smtp/session.hpp"
#include "receiver/smtp/text.hpp"

namespace relay::smtp {

namespace {
constexpr std::string_view kUsername = "334 VXNlcm5hbWU6";  // "Username:"
constexpr std::string_view kPassword = "334 UGFzc3dvcmQ6";  // "Password:"

void wipe(std::string& s) {
  if (!s.empty()) OPENSSL_cleanse(s.data(), s.size());
  s.clear();
}
}  // namespace

void Session::cmd_auth(std::string_view arg) {
  const Policy& p = *policy_;
  if (p.auth == config::AuthMode::Off) return error_reply("503 5.5.1 Error: authentication not enabled");
  if (!greeted_ || !esmtp_) return error_reply("503 5.5.1 Error: send EHLO first");
  if (!auth_user_.empty()) return error_reply("503 5.5.1 Error: already authenticated");
  if (has_mail_ || bdat_active_) return error_reply("503 5.5.1 Error: MAIL transaction in progress");
  if (tls_.empty() && (!listener_.loopback || tls_required_missing())) {
    return reply("538 5.7.11 Encryption required for requested authentication mechanism");
  }
  if (host_.auth_blocked()) {
    log::warn("{} event=auth_throttled client={}", id_, client_ip_);
    return close_with("421 4.7.0 " + p.hostname + " Error: too many failed authentications", "auth throttled");
  }
  CommandLine c = split_command(arg);
  if (c.verb.empty()) return error_reply("501 5.5.4 Syntax: AUTH mechanism");
  std::string_view initial = c.arg;
  bool has_initial = !initial.empty();
  if (initial == "=") initial = {};  // RFC 4954: "=" is an empty initial response
  if (iequals(c.verb, "PLAIN")) {
    if (!has_initial) {
      auth_step_ = AuthStep::PlainResponse;
      mode_ = Mode::AuthLine;
      return reply("334 ");
    }
    if (initial == "*") return reply("501 5.0.0 Authentication cancelled");
    auto decoded = base64_decode(initial);
    if (!decoded) return auth_fail_syntax("501 5.5.2 Error: cannot decode AUTH response");
    return auth_plain(*decoded);
  }
  if (iequals(c.verb, "LOGIN")) {
    if (!has_initial) {
      auth_step_ = AuthStep::LoginUser;
      mode_ = Mode::AuthLine;
      return reply(kUsername);
    }
    auto decoded = base64_decode(initial);
    if (!decoded) return auth_fail_syntax("501 5.5.2 Error: cannot decode AUTH response");
    login_user_ = std::move(*decoded);
    auth_step_ = AuthStep::LoginPassword;
    mode_ = Mode::AuthLine;
    return reply(kPassword);
  }
  error_reply("504 5.5.4 Error: unsupported authentication mechanism");
}

void Session::auth_fail_syntax(std::string_view text) {
  mode_ = Mode::Command;
  auth_step_ = AuthStep::None;
  error_reply(text);
}

void Session::auth_line(std::string_view line) {
  if (line == "*") {
    mode_ = Mode::Command;
    auth_step_ = AuthStep::None;
    return reply("501 5.0.0 Authentication cancelled");
  }
  auto decoded = base64_decode(line);
  if (!decoded) return auth_fail_syntax("501 5.5.2 Error: cannot decode AUTH response");
  switch (auth_step_) {
    case AuthStep::PlainResponse:
      mode_ = Mode::Command;
      auth_step_ = AuthStep::None;
      return auth_plain(*decoded);
    case AuthStep::LoginUser:
      login_user_ = std::move(*decoded);
      auth_step_ = AuthStep::LoginPassword;
      return reply(kPassword);
    case AuthStep::LoginPassword: {
      mode_ = Mode::Command;
      auth_step_ = AuthStep::None;
      std::string user = std::move(login_user_);
      login_user_.clear();
      return auth_credentials({}, user, std::move(*decoded));
    }
    case AuthStep::None: break;
  }
  auth_fail_syntax("503 5.5.1 Error: unexpected AUTH state");
}

void Session::auth_plain(std::string_view decoded) {
  // authzid NUL authcid NUL passwd
  auto a = decoded.find('\0');
  auto b = a == std::string_view::npos ? a : decoded.find('\0', a + 1);
  if (b == std::string_view::npos) {
    std::string tmp(decoded);
    wipe(tmp);
    return auth_fail_syntax("501 5.5.2 Error: malformed PLAIN response");
  }
  auth_credentials(decoded.substr(0, a), decoded.substr(a + 1, b - a - 1), std::string(decoded.substr(b + 1)));
}

void Session::auth_credentials(std::string_view authzid, std::string_view user, std::string password) {
  pending_user_.assign(user);
  if ((!authzid.empty() && authzid != user) || user.empty() || user.size() > 255) {
    wipe(password);
    wait_ = Wait::Auth;
    return auth_result(false);
  }
  wait_ = Wait::Auth;
  if (host_.auth_blocked()) {  // the limit was reached while this client typed (AUTH LOGIN)
    wipe(password);
    return auth_throttled();
  }
  host_.verify_password(pending_user_, std::move(password));
}

void Session::auth_throttled() {
  if (wait_ != Wait::Auth || closed_) return;
  wait_ = Wait::None;
  pending_user_.clear();
  log::warn("{} event=auth_throttled client={} reason=failure_limit_reached_while_queued", id_, client_ip_);
  close_with("421 4.7.0 " + policy_->hostname + " Error: too many failed authentications", "auth throttled");
}

void Session::auth_result(bool ok) {
  if (wait_ != Wait::Auth || closed_) return;
  wait_ = Wait::None;
  if (ok) {
    auth_user_ = pending_user_;
    log::info("{} event=auth result=ok client={} user={}", id_, client_ip_, log::quote(auth_user_));
    reply("235 2.7.0 Authentication successful");
  } else {
    log::warn("{} event=auth result=failed client={} user={}", id_, client_ip_, log::quote(pending_user_));
    reply("535 5.7.8 Error: authentication credentials invalid");
  }
  pending_user_.clear();
  if (!processing_) pump();
}

}  // namespace relay::smtp
