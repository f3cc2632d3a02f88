// SmtpTranscript and the SMTP classification rules (see smtp_transcript.hpp).
//
// Rules, in order:
//  1. AUTH refused (or CURLE_LOGIN_DENIED): transient + config_error — our
//     credentials are wrong (535/534/454) or the upstream will not take them
//     at all (550 5.7.30 basic auth disabled, 504 5.7.4, 530 5.7.0); the mail
//     stays queued and the operator is alerted. The same for MAIL answered
//     530 / 5.7.57 (authentication required). A reply naming Exchange's
//     SubmissionQuotaExceeded is transient with Retry-After 1 h, whatever the
//     command (outcome_table: cause_for_smtp_reply).
//  2. No MAIL reply: the session never got that far (connect, greeting, TLS):
//     classify by CURLcode; STARTTLS required but not offered is transient +
//     config_error ("TLS is required, but was not offered"), never sent in clear.
//  3. MAIL refused: every recipient gets the MAIL reply (4xx transient,
//     5xx permanent).
//  4. Each RCPT reply decides its recipient when it is not 2xx; the DATA and
//     end-of-data replies decide the accepted ones. An accepted recipient
//     without an end-of-data reply (connection lost) is transient: delivery is
//     at-least-once, so we retry.
//  5. Overall: sent when every recipient is sent; else transient if any is
//     transient, else permanent; code/text of the first unsent recipient.
#include "dispatcher/providers/smtp_transcript.hpp"

#include <algorithm>
#include <array>
#include <cctype>

#include "dispatcher/providers/outcome_table.hpp"

namespace relay::provider {

namespace {

constexpr std::array<std::string_view, 14> kVerbs{"EHLO", "HELO", "STARTTLS", "AUTH", "MAIL",
                                                 "RCPT", "DATA", "QUIT", "NOOP", "RSET",
                                                 "VRFY", "EXPN", "HELP", "BDAT"};

std::string upper_word(std::string_view line) {
  std::string w;
  for (char c : line) {
    if (c == ' ' || c == '\r' || c == '\n' || c == ':' || w.size() > 10) break;
    w += static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  }
  return w;
}

std::string angle_address(std::string_view line) {
  auto lt = line.find('<');
  auto gt = line.find('>', lt == std::string_view::npos ? 0 : lt);
  if (lt == std::string_view::npos || gt == std::string_view::npos) return {};
  return std::string(line.substr(lt + 1, gt - lt - 1));
}

bool iequal(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) == std::tolower(static_cast<unsigned char>(y));
         });
}

// The address libcurl sent (`sent`, domain converted to IDNA/punycode when
// it was not ASCII) is the recipient `ours`.
bool same_rcpt(std::string_view sent, std::string_view ours) {
  if (iequal(sent, ours)) return true;
  auto a = sent.rfind('@'), b = ours.rfind('@');
  if (a == std::string_view::npos || b == std::string_view::npos || sent.substr(0, a) != ours.substr(0, b)) return false;
  std::string_view domain = ours.substr(b + 1);
  bool ascii = std::all_of(domain.begin(), domain.end(), [](char c) { return static_cast<unsigned char>(c) < 0x80; });
  return !ascii && sent.substr(a + 1).find("xn--") != std::string_view::npos;
}

std::string describe(const SmtpStep& s) {
  std::string verb = s.verb == "EOD" ? "end of data" : s.verb;
  return verb + ": " + std::to_string(s.code) + " " + s.text;
}

// A Result carrying the upstream's own reply; classified by the command it
// answers (outcome_table: cause_for_smtp_reply).
Result from_reply(const SmtpStep& s) {
  Cause c = cause_for_smtp_reply(s.verb, s.code, s.text);
  Result r = make_result(c);
  r.outcome = outcome_for_smtp_reply(s.verb, s.code, s.text);
  r.code = s.code;
  r.enhanced = parse_enhanced(s.text);
  if (r.enhanced.empty()) r.enhanced = default_enhanced(s.code);
  r.text = "upstream " + describe(s);
  if (c == Cause::QuotaExceeded) r.retry_after = kQuotaRetryAfter;
  return r;
}

RcptResult rcpt_from(const std::string& addr, const SmtpStep& s) {
  return RcptResult{addr, outcome_for_smtp_reply(s.verb, s.code, s.text), s.code, s.text};
}

}  // namespace

void SmtpTranscript::clear() { *this = SmtpTranscript{}; }

void SmtpTranscript::on_debug(curl_infotype type, std::string_view data) {
  if (type == CURLINFO_TEXT) {
    // libcurl's own words once the body and its end-of-data dot are out.
    if (data.find("completely uploaded") != std::string_view::npos) body_sent_ = true;
  } else if (type == CURLINFO_HEADER_OUT) {
    command(data);
  } else if (type == CURLINFO_HEADER_IN) {
    partial_.append(data);
    std::size_t nl;
    while ((nl = partial_.find('\n')) != std::string::npos) {
      std::string line = partial_.substr(0, nl);
      partial_.erase(0, nl + 1);
      if (!line.empty() && line.back() == '\r') line.pop_back();
      reply_line(line);
    }
    // A line without end (libcurl stops at 300 KB of reply): keep its start.
    if (partial_.size() > 65536) partial_.resize(kMaxReplyText);
  }
}

void SmtpTranscript::command(std::string_view line) {
  std::string w = upper_word(line);
  if (std::find(kVerbs.begin(), kVerbs.end(), w) == kVerbs.end()) return;  // AUTH continuation
  verb_ = w;
  rcpt_ = w == "RCPT" ? angle_address(line) : std::string();
  if (w == "EHLO") {
    caps_ = SmtpCapabilities{};
    ehlo_first_line_ = true;
  }
}

// One line of a 250 reply to EHLO: "250-SIZE 1000" / "250 AUTH PLAIN".
// The first line names the server, not an extension.
void SmtpTranscript::capability(std::string_view line) {
  if (line.size() < 4 || line.substr(0, 3) != "250") return;
  if (ehlo_first_line_) {
    ehlo_first_line_ = false;
    return;
  }
  std::string kw(line.substr(4, 200));
  if (caps_.keywords.size() < 400) caps_.keywords += (caps_.keywords.empty() ? "" : " ") + kw;
  std::string up = kw;
  std::transform(up.begin(), up.end(), up.begin(), [](unsigned char c) { return std::toupper(c); });
  std::string word = up.substr(0, up.find_first_of(" ="));
  std::string rest = word.size() < up.size() ? up.substr(word.size() + 1) : std::string();
  if (word == "STARTTLS") caps_.starttls = true;
  if (word == "8BITMIME") caps_.eightbitmime = true;
  if (word == "SMTPUTF8") caps_.smtputf8 = true;
  if (word == "AUTH") {
    caps_.auth = true;
    if (caps_.auth_mechs.size() < 200) caps_.auth_mechs += (caps_.auth_mechs.empty() ? "" : " ") + rest;
  }
  if (word == "SIZE" && !rest.empty() && rest.size() < 20 &&
      std::all_of(rest.begin(), rest.end(), [](unsigned char c) { return std::isdigit(c); })) {
    caps_.size = std::stoull(rest);
  }
}

void SmtpTranscript::reply_line(std::string_view line) {
  if (line.size() < 3 || !std::isdigit(static_cast<unsigned char>(line[0])) ||
      !std::isdigit(static_cast<unsigned char>(line[1])) || !std::isdigit(static_cast<unsigned char>(line[2]))) {
    return;
  }
  if (verb_ == "EHLO") capability(line);
  if (line.size() > 3 && line[3] == '-') return;  // multi-line: keep the final line
  int code = (line[0] - '0') * 100 + (line[1] - '0') * 10 + (line[2] - '0');
  if (verb_ == "EHLO" && code == 250) caps_.seen = true;
  std::string verb = verb_;
  if (verb == "DATA" && data_started_) verb = "EOD";
  if (verb == "DATA" && code == 354) data_started_ = true;
  std::string text(line.size() > 4 ? line.substr(4, kMaxReplyText) : std::string_view{});
  steps_.push_back(SmtpStep{verb, rcpt_, code, std::move(text)});
  if (verb == "QUIT") verb_ = "CONNECT";  // a reply after this one greets a new connection
}

const SmtpStep* SmtpTranscript::last(std::string_view verb) const noexcept {
  for (auto it = steps_.rbegin(); it != steps_.rend(); ++it) {
    if (it->verb == verb) return &*it;
  }
  return nullptr;
}

bool SmtpTranscript::authenticated() const noexcept {
  const SmtpStep* a = last("AUTH");
  return a != nullptr && a->code == 235;
}

void SmtpTranscript::set_curl_error(std::string_view e) {
  curl_error_ = std::string(e.substr(0, 300));
  while (!curl_error_.empty() && (curl_error_.back() == '\n' || curl_error_.back() == '\r')) curl_error_.pop_back();
}

bool SmtpTranscript::saw_starttls() const noexcept {
  const SmtpStep* s = last("STARTTLS");
  return s != nullptr && s->code == 220;
}

std::string SmtpTranscript::summary() const {
  std::string out;
  std::string prev;
  for (const auto& s : steps_) {
    if (s.verb == prev) {
      out += "," + std::to_string(s.code);
    } else {
      if (!out.empty()) out += ' ';
      out += s.verb + "=" + std::to_string(s.code);
    }
    prev = s.verb;
  }
  return out;
}

namespace {

Result transport_failure(const SmtpTranscript& t, CURLcode rc) {
  Cause c = cause_for_curl(rc == CURLE_OK ? CURLE_RECV_ERROR : rc);
  std::string detail = t.curl_error().empty() ? std::string(curl_easy_strerror(rc)) : t.curl_error();
  const SmtpStep* data = t.last("DATA");
  if (data != nullptr && data->code == 354 && t.last("EOD") == nullptr) {
    detail = t.body_sent() ? "no reply to the end of data (" + detail +
                                 "); the upstream may have accepted the message: it is retried, so a duplicate "
                                 "is possible (delivery is at-least-once)"
                           : "the transfer broke off while sending the message (" + detail + ")";
  } else if (!t.steps().empty() && t.steps().back().verb == "STARTTLS" && t.steps().back().code == 220) {
    // Whatever broke right after "220 ready to start TLS" (no handshake,
    // junk, data injected before it) is TLS failing: never plain text.
    c = Cause::TlsFailed;
    detail = "TLS handshake after STARTTLS failed: " + detail;
  } else if (!t.steps().empty() && t.steps().back().code >= 400) {
    detail += "; last reply " + describe(t.steps().back());
  }
  return make_result(c, detail);
}

// The greeting was not 2xx: the upstream will not talk to us now. A
// deferral even for 5xx (as Postfix's smtp_skip_5xx_greeting): it says
// nothing about this message, and the upstream is the only route.
Result greeting_refused(const SmtpStep& g) {
  Result r = make_result(Cause::ServiceUnavailable, "refused the session at greeting: " + std::to_string(g.code) +
                                                        " " + g.text);
  r.code = g.code;
  return r;
}

// The session ended before MAIL: by the greeting, or by the transport.
Result before_mail(const SmtpTranscript& t, CURLcode rc) {
  const auto& st = t.steps();
  if (st.size() == 1 && st[0].verb == "CONNECT" && (st[0].code < 200 || st[0].code >= 300)) {
    return greeting_refused(st[0]);
  }
  return transport_failure(t, rc);
}

// DATA answered with neither 354 nor an error (e.g. 250): libcurl sends no
// body, so nothing was delivered whatever the code says.
Result data_not_started(const SmtpStep& d) {
  Result r = make_result(Cause::TransportError, "upstream answered DATA with " + std::to_string(d.code) + " " +
                                                    d.text + " instead of 354: the message was not transferred");
  r.code = d.code;
  return r;
}

// Recipients decided by their RCPT reply or by `accepted_outcome` (the
// DATA/end-of-data step, or nullptr when the transfer broke before it).
std::vector<RcptResult> per_rcpt(const SmtpTranscript& t, const std::vector<std::string>& rcpts,
                                 const SmtpStep* final_step, const Result& broken) {
  std::vector<const SmtpStep*> replies;
  for (const auto& s : t.steps()) {
    if (s.verb == "RCPT") replies.push_back(&s);
  }
  std::vector<RcptResult> out;
  for (std::size_t i = 0; i < rcpts.size(); ++i) {
    const SmtpStep* r = i < replies.size() ? replies[i] : nullptr;
    if (r != nullptr && !r->rcpt.empty() && !same_rcpt(r->rcpt, rcpts[i])) {
      // A reply we cannot pair with this recipient never makes it "sent".
      out.push_back(RcptResult{rcpts[i], Outcome::Transient, 0, "RCPT reply not matched to this recipient"});
      continue;
    }
    if (r != nullptr && r->code >= 400) {
      out.push_back(rcpt_from(rcpts[i], *r));
    } else if (r != nullptr && final_step != nullptr) {
      out.push_back(rcpt_from(rcpts[i], *final_step));
    } else {
      out.push_back(RcptResult{rcpts[i], broken.outcome, broken.code, broken.enhanced + " " + broken.text});
    }
  }
  return out;
}

}  // namespace

Result classify_delivery(const SmtpTranscript& t, CURLcode rc, const std::vector<std::string>& rcpts) {
  if (const SmtpStep* a = t.last("AUTH"); a != nullptr && a->code >= 400) return from_reply(*a);
  if (rc == CURLE_LOGIN_DENIED) return transport_failure(t, rc);
  const SmtpStep* mail = t.last("MAIL");
  if (mail == nullptr) return before_mail(t, rc);
  if (mail->code >= 400) {
    Result r = from_reply(*mail);
    for (const auto& a : rcpts) r.rcpts.push_back(rcpt_from(a, *mail));
    return r;
  }
  const SmtpStep* data = t.last("DATA");
  const SmtpStep* eod = t.last("EOD");
  const SmtpStep* final_step = eod;
  // A 4xx/5xx to DATA decides every accepted recipient; any other non-354
  // (a 250!) means no body was sent: never "sent".
  if (data != nullptr && data->code != 354) final_step = data->code >= 400 ? data : nullptr;
  // Only a 2xx takes the message: a 3xx to the end of data is a broken
  // session to retry, never "sent" (tests/fuzz smtp_replies).
  if (final_step != nullptr && final_step->code >= 300 && final_step->code < 400) final_step = nullptr;
  Result broken = transport_failure(t, rc == CURLE_OK ? CURLE_RECV_ERROR : rc);
  if (data != nullptr && data->code != 354 && data->code < 400) broken = data_not_started(*data);
  if (final_step != nullptr) broken = from_reply(*final_step);

  Result r = final_step != nullptr ? from_reply(*final_step) : broken;
  r.rcpts = per_rcpt(t, rcpts, final_step, broken);
  const RcptResult* worst = nullptr;
  for (const auto& x : r.rcpts) {
    if (x.outcome == Outcome::Transient && (worst == nullptr || worst->outcome != Outcome::Transient)) worst = &x;
    if (x.outcome == Outcome::Permanent && worst == nullptr) worst = &x;
  }
  if (worst == nullptr) return r;  // every recipient sent
  if (worst->outcome != r.outcome || r.code < 400) {
    SmtpStep s{"RCPT", worst->address, worst->code, worst->text};
    Result w = worst->code >= 400 ? from_reply(s) : broken;
    w.outcome = worst->outcome;
    w.rcpts = std::move(r.rcpts);
    return w;
  }
  return r;
}

Result classify_probe(const SmtpTranscript& t, CURLcode rc) {
  if (const SmtpStep* a = t.last("AUTH"); a != nullptr && a->code >= 400) return from_reply(*a);
  if (rc != CURLE_OK) return before_mail(t, rc);
  Result r = make_result(Cause::Sent);
  const SmtpStep* n = t.last("NOOP");
  r.code = n != nullptr ? n->code : 250;
  r.text = "upstream reachable: " + t.summary();
  return r;
}

}  // namespace relay::provider
