// relay::provider::SmtpTranscript — what happened in one libcurl SMTP
// transfer, rebuilt from libcurl's debug callback (commands out, reply lines
// in), and its classification into a provider::Result with per-recipient
// results. libcurl gives one CURLcode per transfer; the reply codes here are
// what we classify by (DESIGN.md: "classify by SMTP reply code, not CURLcode").
//
// Does: pairs every final reply line with the command it answers (only the
// verb and, for RCPT, the address are kept: never AUTH data or body bytes);
// classifies. Pure, no I/O, testable with byte strings.
// Runs on: the loop thread of the transfer (any single thread).
// Fails: never; a transcript with no reply at all classifies by CURLcode.
#pragma once
#include <curl/curl.h>

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

class SmtpTranscript {
 public:
  // Feed from CURLOPT_DEBUGFUNCTION; other info types are ignored.
  void on_debug(curl_infotype type, std::string_view data);
  void clear();
  const std::vector<SmtpStep>& steps() const noexcept { return steps_; }
  const SmtpStep* last(std::string_view verb) const noexcept;
  bool saw_starttls() const noexcept;
  // Compact summary for logs: "EHLO=250 STARTTLS=220 AUTH=235 MAIL=250 RCPT=250,550 DATA=354 EOD=250".
  std::string summary() const;

 private:
  void command(std::string_view line);
  void reply_line(std::string_view line);
  std::vector<SmtpStep> steps_;
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
