// relay::provider::SmtpTranscript — what happened in one libcurl SMTP
// transfer, rebuilt from libcurl's debug callback (commands out, reply lines
// in), and its classification into a provider::Result with per-recipient
// results. libcurl gives one CURLcode per transfer; the reply codes here are
// what we classify by (DESIGN.md: "classify by SMTP reply code, not CURLcode").
//
// Does: pairs every final reply line with the command it answers (only the
// verb and, for RCPT, the address are kept: never AUTH data or body bytes;
// each reply text at most kMaxReplyText bytes); reads what EHLO offered
// (SmtpCapabilities); classifies. Pure, no I/O, testable with byte strings.
// Runs on: the loop thread of the transfer (any single thread).
// Fails: never; a transcript with no reply at all classifies by CURLcode.
#pragma once
#include <curl/curl.h>

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "dispatcher/providers/provider.hpp"

namespace relay::provider {

struct SmtpStep {
  std::string verb;   // CONNECT (greeting), EHLO, STARTTLS, AUTH, MAIL, RCPT, DATA, EOD, NOOP, ...
  std::string rcpt;   // for RCPT: the address
  int code = 0;
  std::string text;   // reply text after the code (last line of a multi-line reply)
};

// What the upstream's latest EHLO reply offered (a STARTTLS session's
// second EHLO replaces the first). Texts are bounded.
struct SmtpCapabilities {
  bool seen = false;          // a 250 reply to EHLO was read
  bool starttls = false;
  bool eightbitmime = false;
  bool smtputf8 = false;
  bool auth = false;
  std::string auth_mechs;     // as offered: "PLAIN LOGIN"
  std::uint64_t size = 0;     // SIZE limit announced; 0 = none
  std::string keywords;       // "PIPELINING SIZE 1000 AUTH PLAIN" for error texts
};

// Longest reply text kept per step: a hostile upstream's 64 KB reply line
// must not become a 64 KB log line, database row or DSN.
inline constexpr std::size_t kMaxReplyText = 512;

class SmtpTranscript {
 public:
  // Feed from CURLOPT_DEBUGFUNCTION; other info types are ignored.
  void on_debug(curl_infotype type, std::string_view data);
  void clear();
  const std::vector<SmtpStep>& steps() const noexcept { return steps_; }
  const SmtpStep* last(std::string_view verb) const noexcept;
  bool saw_starttls() const noexcept;
  const SmtpCapabilities& capabilities() const noexcept { return caps_; }
  // AUTH succeeded (235) in this transfer.
  bool authenticated() const noexcept;
  // libcurl said the whole body was sent (CURLINFO_TEXT): a lost connection
  // after that is the at-least-once case (the upstream may have it).
  bool body_sent() const noexcept { return body_sent_; }
  // libcurl's error text for the transfer (CURLOPT_ERRORBUFFER), bounded.
  void set_curl_error(std::string_view e);
  const std::string& curl_error() const noexcept { return curl_error_; }
  // QUIT was sent and not answered yet: libcurl is closing the connection.
  bool quitting() const noexcept { return verb_ == "QUIT"; }
  // Compact summary for logs: "EHLO=250 STARTTLS=220 AUTH=235 MAIL=250 RCPT=250,550 DATA=354 EOD=250".
  std::string summary() const;

 private:
  void command(std::string_view line);
  void reply_line(std::string_view line);
  void capability(std::string_view line);
  std::vector<SmtpStep> steps_;
  SmtpCapabilities caps_;
  bool ehlo_first_line_ = false;
  bool body_sent_ = false;
  std::string curl_error_;
  std::string verb_ = "CONNECT";
  std::string rcpt_;
  bool data_started_ = false;
  std::string partial_;  // incomplete incoming line
};

// Classifies a finished delivery transfer for `rcpts` (in the order they
// were sent). See smtp_transcript.cpp for the rules.
Result classify_delivery(const SmtpTranscript& t, CURLcode rc, const std::vector<std::string>& rcpts);
// Classifies a test() transfer (EHLO, STARTTLS, AUTH, NOOP).
Result classify_probe(const SmtpTranscript& t, CURLcode rc);

}  // namespace relay::provider
