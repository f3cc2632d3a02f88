// Outcome rules: per-recipient results, partial success, retry/give-up.
#include <doctest/doctest.h>

#include "dispatcher/outcome.hpp"

using namespace relay;
using dispatch::Action;

namespace {
spool::Envelope env2() {
  spool::Envelope e;
  e.received_at = 1000;
  e.mail_from = "a@example.com";
  e.rcpts = {{"x@dest.test", "", spool::RcptState::Pending, ""}, {"y@dest.test", "", spool::RcptState::Pending, ""}};
  e.attempts = 1;
  return e;
}
dispatch::RetryPolicy policy() {
  config::RetryConfig c;
  c.min_backoff = 10;
  c.max_backoff = 100;
  c.max_lifetime = 1000;
  c.jitter = 0;
  return dispatch::RetryPolicy(c);
}
}  // namespace

TEST_CASE("all sent -> done") {
  auto e = env2();
  provider::Result r;
  r.outcome = provider::Outcome::Sent;
  CHECK(dispatch::apply_result(e, {"x@dest.test", "y@dest.test"}, r) == 2);
  auto d = dispatch::decide(e, policy(), 1100, std::nullopt);
  CHECK(d.action == Action::Done);
  CHECK(d.status == "sent");
}

TEST_CASE("one refused, one accepted: only the refused one fails") {
  auto e = env2();
  provider::Result r;
  r.outcome = provider::Outcome::Sent;
  r.rcpts = {{"x@dest.test", provider::Outcome::Sent, 250, "ok"},
             {"Y@dest.test", provider::Outcome::Permanent, 550, "5.1.1 no such user"}};
  dispatch::apply_result(e, {"x@dest.test", "y@dest.test"}, r);
  CHECK(e.rcpts[0].state == spool::RcptState::Sent);
  CHECK(e.rcpts[1].state == spool::RcptState::Failed);
  CHECK(e.last_error.find("550") != std::string::npos);
  auto d = dispatch::decide(e, policy(), 1100, std::nullopt);
  CHECK(d.action == Action::Fail);
  CHECK(d.status == "partial");
}

TEST_CASE("one deferred, one accepted: only the deferred one stays pending") {
  auto e = env2();
  provider::Result r;
  r.outcome = provider::Outcome::Sent;
  r.rcpts = {{"x@dest.test", provider::Outcome::Sent, 250, "ok"},
             {"y@dest.test", provider::Outcome::Transient, 451, "4.3.0 later"}};
  dispatch::apply_result(e, {"x@dest.test", "y@dest.test"}, r);
  auto d = dispatch::decide(e, policy(), 1100, std::nullopt);
  CHECK(d.action == Action::Defer);
  CHECK(d.status == "queued");
  CHECK(e.next_attempt == 1110);
  CHECK(e.pending_count() == 1);
  // The next attempt covers only y; a later success finishes the message.
  e.attempts = 2;
  provider::Result ok;
  ok.outcome = provider::Outcome::Sent;
  dispatch::apply_result(e, {"y@dest.test"}, ok);
  CHECK(dispatch::decide(e, policy(), 1200, std::nullopt).action == Action::Done);
}

TEST_CASE("transient past max_lifetime -> failed with expiry reason") {
  auto e = env2();
  provider::Result r;
  r.outcome = provider::Outcome::Transient;
  r.code = 421;
  r.text = "busy";
  dispatch::apply_result(e, {"x@dest.test", "y@dest.test"}, r);
  CHECK(e.last_error == "421 busy");
  auto d = dispatch::decide(e, policy(), 2000, std::nullopt);
  CHECK(d.action == Action::Fail);
  CHECK(d.status == "failed");
  CHECK(d.reason.find("expired") != std::string::npos);
  CHECK(e.rcpts[0].state == spool::RcptState::Failed);
}

TEST_CASE("recipients not attempted are left alone") {
  auto e = env2();
  provider::Result r;
  r.outcome = provider::Outcome::Permanent;
  dispatch::apply_result(e, {"x@dest.test"}, r);
  CHECK(e.rcpts[0].state == spool::RcptState::Failed);
  CHECK(e.rcpts[1].state == spool::RcptState::Pending);
}
