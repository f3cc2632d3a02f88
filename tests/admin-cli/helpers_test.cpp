// relayctl helpers: restart backoff, program lookup, secret expiry, the
// send-test SMTP helpers.
#include <doctest/doctest.h>

#include <sys/wait.h>

#include "admin-cli/child_process.hpp"
#include "admin-cli/programs.hpp"
#include "admin-cli/restart_backoff.hpp"
#include "admin-cli/secret_expiry.hpp"
#include "admin-cli/smtp_test_client.hpp"

using namespace relay::admin;

TEST_CASE("restart backoff: at once after a child ran, doubling only for start-up failures") {
  RestartBackoff b;
  CHECK(b.next(-1) == 1000);  // never ready: a start-up failure
  CHECK(b.next(-1) == 2000);
  CHECK(b.next(-1) == 4000);
  CHECK(b.start_failures() == 3);
  for (int i = 0; i < 10; ++i) b.next(-1);
  CHECK(b.next(-1) == 60000);
  CHECK(b.next(5000) == 0);  // ran (was ready 5 s) and died: at once
  CHECK(b.start_failures() == 0);
  CHECK(b.next(0) == 1000);  // died right after ready: a short pause, no spinning
  CHECK(b.next(-1) == 1000);  // the next start-up failure starts the doubling again
  CHECK(b.start_failures() == 1);
}

TEST_CASE("program candidates: override, build layout, side by side, PATH") {
  auto c = program_candidates("relay-receiver", "receiver", "/w/build/admin-cli", nullptr, "/usr/sbin:/usr/bin");
  REQUIRE(c.size() == 5);
  CHECK(c[0] == "/w/build/receiver/relay-receiver");
  CHECK(c[1] == "/w/build/admin-cli/relay-receiver");
  CHECK(c[2] == "/w/build/lib/relay/relay-receiver");
  CHECK(c[3] == "/usr/sbin/relay-receiver");
  CHECK(c[4] == "/usr/bin/relay-receiver");
  auto o = program_candidates("relay-receiver", "receiver", "/w", "/opt/x/recv", "/usr/bin");
  REQUIRE(o.size() == 1);
  CHECK(o[0] == "/opt/x/recv");
}

TEST_CASE("secret expiry from the configured date") {
  auto today = parse_date_days("2026-06-01");
  REQUIRE(today);
  CHECK(*parse_date_days("1970-01-02") == 1);
  CHECK_FALSE(parse_date_days("2026-02-30"));
  CHECK_FALSE(parse_date_days("June 1st"));
  std::vector<int> warn{30, 14, 7};
  auto ok = secret_expiry("2026-12-31", warn, *today);
  CHECK(ok.state == "ok");
  CHECK(ok.days_left == 213);
  auto w = secret_expiry("2026-06-08", warn, *today);
  CHECK(w.state == "warning");
  CHECK(w.days_left == 7);
  CHECK(w.detail == "expires in 7 days (warn at 30)");
  auto x = secret_expiry("2026-05-31", warn, *today);
  CHECK(x.state == "expired");
  CHECK(x.detail == "expired 1 day ago");
  CHECK(secret_expiry("", warn, *today).state == "unknown");
}

TEST_CASE("send-test helpers") {
  CHECK(parse_queued_as("250 2.0.0 Ok: queued as 01JD5X3Y7Z8A9B0C1D2E") == "01JD5X3Y7Z8A9B0C1D2E");
  CHECK(parse_queued_as("250 2.0.0 queued as ABC123 (thanks)") == "ABC123");
  CHECK_FALSE(parse_queued_as("250 2.0.0 Ok"));
  relay::config::Listener l;
  l.host = "::1";
  l.port = 2465;
  l.tls = relay::config::TlsMode::Implicit;
  CHECK(target_for(l).url == "smtps://[::1]:2465");
  CHECK_FALSE(target_for(l).require_tls);
  l.host = "127.0.0.1";
  l.port = 2525;
  l.tls = relay::config::TlsMode::StartTlsRequired;
  CHECK(target_for(l).url == "smtp://127.0.0.1:2525");
  CHECK(target_for(l).require_tls);
  std::string m = build_test_message("a@x", "b@y", "subj", 1700000000, "1.2@h");
  CHECK(m.find("From: <a@x>\r\nTo: <b@y>\r\nSubject: subj\r\nDate: Tue, 14 Nov 2023 22:13:20 +0000\r\n") == 0);
  CHECK(m.find("Message-ID: <1.2@h>\r\n") != std::string::npos);
  CHECK(m.find("\r\n\r\n") != std::string::npos);
}

TEST_CASE("child exit status as a log value") {
  CHECK(describe_status(0) == "exit=0");
  CHECK(describe_status(2 << 8) == "exit=2");
  CHECK(describe_status(SIGKILL) == "signal=KILL");
  CHECK(describe_status(SIGSEGV) == "signal=SEGV");
}
