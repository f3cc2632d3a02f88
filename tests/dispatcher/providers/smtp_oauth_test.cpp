// smtp_oauth (dispatcher/providers/smtp_oauth.hpp): the XOAUTH2 SASL string
// as libcurl really sends it (a scripted SMTP server on a loopback socket
// reads it off the wire), the error challenge, and which AUTH replies count
// as "the token was refused".
#include <arpa/inet.h>
#include <doctest/doctest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <optional>
#include <string>
#include <thread>

#include "common/curl_multi.hpp"
#include "dispatcher/providers/cloud/codec.hpp"
#include "dispatcher/providers/outcome_table.hpp"
#include "dispatcher/providers/smtp_oauth.hpp"
#include "dispatcher/providers/smtp_transcript.hpp"
#include "test_support.hpp"

using namespace relay;
using provider::Outcome;
using provider::Result;

namespace {

const std::string kChallengeJson = R"({"status":"401","schemes":"bearer","scope":"https://mail.google.com/"})";

// One SMTP session, scripted: greeting, EHLO offering only XOAUTH2, the
// empty 334, then the client's SASL response is kept and answered with the
// error challenge and 535. Blocking socket I/O on its own thread, 5 s cap.
struct ScriptedServer {
  int listen_fd = -1;
  int port = 0;
  std::string sasl_line;  // what the client sent after "334 "
  std::thread th;

  ScriptedServer() {
    listen_fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(::bind(listen_fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
    REQUIRE(::listen(listen_fd, 1) == 0);
    socklen_t len = sizeof a;
    ::getsockname(listen_fd, reinterpret_cast<sockaddr*>(&a), &len);
    port = ntohs(a.sin_port);
    th = std::thread([this] { serve(); });
  }
  ~ScriptedServer() {
    th.join();
    ::close(listen_fd);
  }
  static std::string read_line(int fd) {
    std::string line;
    char c;
    while (::recv(fd, &c, 1, 0) == 1) {
      if (c == '\n') break;
      if (c != '\r') line += c;
    }
    return line;
  }
  static void say(int fd, const std::string& s) { (void)!::send(fd, s.data(), s.size(), MSG_NOSIGNAL); }
  void serve() {
    int fd = ::accept(listen_fd, nullptr, nullptr);
    if (fd < 0) return;
    timeval tv{5, 0};
    ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    say(fd, "220 scripted ESMTP\r\n");
    read_line(fd);  // EHLO
    say(fd, "250-scripted\r\n250 AUTH XOAUTH2\r\n");
    if (read_line(fd) == "AUTH XOAUTH2") {
      say(fd, "334 \r\n");
      sasl_line = read_line(fd);
      say(fd, "334 " + provider::cloud::base64(kChallengeJson) + "\r\n");
      read_line(fd);  // whatever the client does with the challenge
      say(fd, "535 5.7.8 Username and Password not accepted\r\n");
    }
    ::close(fd);
  }
};

}  // namespace

TEST_CASE("xoauth2: the SASL string on the wire is user=U^Aauth=Bearer T^A^A, base64") {
  CHECK(provider::smtp_oauth::sasl_string("scan@example.com", "ya29.abc") ==
        std::string("user=scan@example.com\x01" "auth=Bearer ya29.abc\x01\x01"));
  ScriptedServer srv;
  relay::test::Loop loop;
  auto curl = std::make_unique<net::CurlMulti>(loop.get());
  {
    config::ProviderConfig pc;
    pc.name = "up";
    pc.type = config::ProviderType::Smtp;
    pc.smtp.host = "127.0.0.1";
    pc.smtp.port = static_cast<std::uint16_t>(srv.port);
    pc.smtp.tls = config::TlsMode::None;
    pc.smtp.timeout = 5;
    pc.smtp.helo = "relay.test";
    pc.smtp.username = "scan@example.com";
    pc.smtp.auth = "xoauth2";
    pc.smtp.oauth_token = "ya29.static-token";
    auto p = provider::make(pc, provider::Context{loop.get(), curl.get(), nullptr});
    std::optional<Result> out;
    p->test([&](Result r) { out = std::move(r); });
    REQUIRE(loop.run_until([&] { return out.has_value(); }, 15));
    // The error challenge is an authentication failure: held as a config error, never "sent".
    CHECK(out->outcome == Outcome::Transient);
    CHECK(out->config_error);
  }
  curl.reset();
  loop.close();
  std::string decoded;
  REQUIRE(provider::cloud::base64_decode(srv.sasl_line, &decoded));
  CHECK(decoded == provider::smtp_oauth::sasl_string("scan@example.com", "ya29.static-token"));
}

TEST_CASE("xoauth2: the error challenge is decoded for the log, garbage is not") {
  using provider::smtp_oauth::describe_challenge;
  CHECK(describe_challenge(provider::cloud::base64(kChallengeJson)) ==
        "status=401 schemes=bearer scope=https://mail.google.com/");
  CHECK(describe_challenge("") == "");
  CHECK(describe_challenge("not base64 !!") == "");
  CHECK(describe_challenge(provider::cloud::base64("[1,2]")) == "");
  CHECK(describe_challenge(provider::cloud::base64(R"({"status":"401\u001b[31m"})")) == "status=401[31m");
}

namespace {
provider::SmtpTranscript transcript(std::initializer_list<std::pair<const char*, const char*>> exchange) {
  provider::SmtpTranscript t;
  for (const auto& [out, in] : exchange) {
    if (*out) t.on_debug(CURLINFO_HEADER_OUT, out);
    if (*in) t.on_debug(CURLINFO_HEADER_IN, in);
  }
  return t;
}
}  // namespace

TEST_CASE("xoauth2: which AUTH replies mean the token was refused") {
  using provider::smtp_oauth::token_refused;
  auto ok = transcript({{"", "220 hi\r\n"}, {"EHLO x\r\n", "250 AUTH XOAUTH2\r\n"}, {"AUTH XOAUTH2\r\n", "334 \r\n"},
                        {"dXNlcj0=\r\n", "235 2.7.0 ok\r\n"}});
  CHECK_FALSE(token_refused(ok, CURLE_OK));
  auto r535 = transcript({{"EHLO x\r\n", "250 AUTH XOAUTH2\r\n"}, {"AUTH XOAUTH2\r\n", "334 \r\n"},
                          {"dXNlcj0=\r\n", "535 5.7.3 Authentication unsuccessful\r\n"}});
  CHECK(token_refused(r535, CURLE_LOGIN_DENIED));
  auto challenge = transcript({{"EHLO x\r\n", "250 AUTH XOAUTH2\r\n"}, {"AUTH XOAUTH2\r\n", "334 \r\n"},
                               {"dXNlcj0=\r\n", "334 eyJzdGF0dXMiOiI0MDEifQ==\r\n"}});
  CHECK(token_refused(challenge, CURLE_LOGIN_DENIED));
  Result r = provider::smtp_oauth::refused_result(challenge, "scan@example.com");
  CHECK(r.outcome == Outcome::Transient);
  CHECK(r.config_error);
  CHECK(r.code == 535);
  CHECK(r.text.find("status=401") != std::string::npos);
  CHECK(r.text.find("scan@example.com") != std::string::npos);
  CHECK(r.text.find("eyJ") == std::string::npos);
  // Not the token: the mechanism is off (Exchange 504 / 550 5.7.30) or a pause (454).
  auto off = transcript({{"EHLO x\r\n", "250 AUTH XOAUTH2\r\n"},
                         {"AUTH XOAUTH2\r\n", "550 5.7.30 Basic authentication is not supported\r\n"}});
  CHECK_FALSE(token_refused(off, CURLE_LOGIN_DENIED));
  auto busy = transcript({{"EHLO x\r\n", "250 AUTH XOAUTH2\r\n"}, {"AUTH XOAUTH2\r\n", "334 \r\n"},
                          {"dXNlcj0=\r\n", "454 4.7.0 Temporary authentication failure\r\n"}});
  CHECK_FALSE(token_refused(busy, CURLE_LOGIN_DENIED));
}
