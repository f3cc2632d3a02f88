// Golden SMTP transcripts (tests/receiver/transcripts/*.txt) replayed
// against the Session with the recording host.
//
// File format, one item per line:
//   # comment
//   O: auth=optional | listener=starttls | senders=<pattern>   (options, before C:)
//   C: client line — escapes \r \n \0 \\ ; CRLF is appended unless the line
//      ends with \c ; each C: line is one feed()
//   S: expected server line (CRLF appended)
//   E: the next committed message body (after Received:), escapes as C:
// The whole server output must equal the S: lines.
#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>

#include "tests/receiver/fake_host.hpp"

using namespace relay::smtp;
using namespace relay::smtp::test;

namespace {
std::string unescape(std::string_view s, bool* no_crlf) {
  std::string out;
  *no_crlf = false;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] != '\\' || i + 1 == s.size()) {
      out += s[i];
      continue;
    }
    char n = s[++i];
    if (n == 'r') out += '\r';
    else if (n == 'n') out += '\n';
    else if (n == '0') out += '\0';
    else if (n == 'c' && i + 1 == s.size()) *no_crlf = true;
    else out += n;
  }
  return out;
}

void run_transcript(const std::filesystem::path& file) {
  std::ifstream in(file);
  REQUIRE(in);
  std::string line, expected, out;
  std::vector<std::string> bodies;
  ListenerInfo listener;
  auto policy = default_policy();
  std::unique_ptr<Harness> h;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') continue;
    std::string_view rest = std::string_view(line).substr(std::min<std::size_t>(3, line.size()));
    bool no_crlf = false;
    if (line.rfind("O: ", 0) == 0) {
      if (rest == "auth=optional") policy->auth = relay::config::AuthMode::Optional;
      if (rest == "listener=starttls") listener.tls = relay::config::TlsMode::StartTls;
      if (rest.rfind("senders=", 0) == 0) policy->senders_allowed.emplace_back(rest.substr(8));
    } else if (line.rfind("C: ", 0) == 0) {
      if (!h) {
        h = std::make_unique<Harness>(listener, false);
        *h->policy = *policy;
        h->reset(false);
      }
      std::string bytes = unescape(rest, &no_crlf);
      if (!no_crlf) bytes += "\r\n";
      out += h->talk(bytes);
    } else if (line.rfind("S: ", 0) == 0) {
      if (!h) {  // the greeting
        h = std::make_unique<Harness>(listener, false);
        *h->policy = *policy;
        h->reset(false);
        out += h->host.out;
      }
      expected += std::string(rest) + "\r\n";
    } else if (line.rfind("E: ", 0) == 0) {
      bodies.push_back(unescape(rest, &no_crlf));
    }
  }
  CHECK(out == expected);
  REQUIRE(h);
  REQUIRE(h->host.committed.size() == bodies.size());
  for (std::size_t i = 0; i < bodies.size(); ++i) CHECK(body_of(h->host.committed[i]) == bodies[i]);
}
}  // namespace

TEST_CASE("golden transcripts") {
  int n = 0;
  for (const auto& e : std::filesystem::directory_iterator(RELAY_TRANSCRIPT_DIR)) {
    if (e.path().extension() != ".txt") continue;
    CAPTURE(e.path().filename().string());
    run_transcript(e.path());
    ++n;
  }
  CHECK(n >= 3);
}
