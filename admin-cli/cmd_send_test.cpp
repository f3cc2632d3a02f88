// relayctl send-test --to ADDR — sends one real message to the configured
// receiver listener, reads "queued as <id>" from the reply, then watches the
// delivery log (messages row) and the spool until the outcome is known.
// AUTH: --user U with the password from --password-file, the environment
// or a no-echo prompt (never argv: --password is refused).
// Exit 0 only when the message was sent; 1 when it failed, was deferred, or
// no outcome appeared within --timeout.
#include <fmt/format.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <ctime>
#include <thread>

#include "admin-cli/command.hpp"
#include "admin-cli/db_access.hpp"
#include "admin-cli/handlers.hpp"
#include "admin-cli/password_input.hpp"
#include "admin-cli/smtp_test_client.hpp"
#include "admin-cli/spool_access.hpp"
#include "common/config.hpp"

namespace relay::admin {
namespace {

constexpr const char* kPasswordEnv = "RELAY_SEND_TEST_PASSWORD";

enum class Seen { Pending, Sent, Failed, Deferred, Gone };
struct Observation {
  Seen seen = Seen::Pending;
  std::string detail;
};

Observation observe_db(const dlog::PgConn& db, const std::string& id) {
  dlog::PgResult r = db.exec(
      "SELECT m.status, m.provider, m.last_error, m.attempts, COALESCE((SELECT concat_ws(' ', NULLIF(a.code, 0)::text,"
      " NULLIF(a.enhanced, ''), a.response) FROM attempts a WHERE a.queue_id = m.queue_id"
      " ORDER BY a.started_at DESC, a.id DESC LIMIT 1), '') FROM messages m WHERE m.queue_id = $1",
      {id});
  if (!r.ok() || r.rows() == 0) return {};
  std::string status = r.value(0, 0);
  std::string detail = fmt::format("provider={} attempts={} response={}", r.value(0, 1), r.value(0, 3),
                                   r.value(0, 4).empty() ? r.value(0, 2) : r.value(0, 4));
  if (status == "sent") return {Seen::Sent, detail};
  if (status == "failed" || status == "partial") return {Seen::Failed, status + ": " + detail};
  return {};
}

Observation observe_spool(const spool::Spool& sp, const spool::QueueId& id) {
  auto e = sp.find(id);
  if (!e) return {Seen::Gone, "left the spool"};
  std::string err = e->envelope ? e->envelope->last_error : e->error;
  if (e->state == spool::State::Failed || e->state == spool::State::Corrupt)
    return {Seen::Failed, fmt::format("in {}/: {}", spool::dir_name(e->state), err)};
  if (e->state == spool::State::Deferred) return {Seen::Deferred, "deferred: " + err};
  return {};
}

// The AUTH password, never from argv (ps shows argv to every local user):
// --password-file F, else $RELAY_SEND_TEST_PASSWORD, else a prompt without
// echo when stdin is a terminal. nullopt (error printed) when none works.
std::optional<std::string> auth_password(const Context& ctx) {
  const Args& a = ctx.args();
  if (auto file = a.get("password-file")) {
    std::string error;
    auto pw = read_password_file(*file, &error);
    if (!pw) fmt::print(ctx.err(), "relayctl send-test: {}\n", error);
    return pw;
  }
  if (const char* env = std::getenv(kPasswordEnv); env && *env) return std::string(env);
  if (::isatty(STDIN_FILENO)) {
    std::string pw = prompt_no_echo(ctx.err(), "Password: ");
    if (!pw.empty()) return pw;
  }
  fmt::print(ctx.err(),
             "relayctl send-test: --user needs a password: --password-file FILE, ${} or a terminal to prompt on\n",
             kPasswordEnv);
  return std::nullopt;
}

std::string hostname_or(std::string_view fallback) {
  char buf[256] = "";
  if (gethostname(buf, sizeof buf - 1) != 0 || !buf[0]) return std::string(fallback);
  return buf;
}

// Polls until an outcome is known or the deadline passes.
int wait_outcome(Context& ctx, const config::Config& cfg, const spool::QueueId& id, std::int64_t timeout_s) {
  using Clock = std::chrono::steady_clock;
  auto deadline = Clock::now() + std::chrono::seconds(timeout_s);
  dlog::PgConn db;
  if (!cfg.database.conninfo.empty()) db = connect_db(cfg, ctx.err());
  auto sp = open_spool(cfg, ctx.err());
  std::optional<Clock::time_point> gone_at;
  for (;;) {
    Observation o = db ? observe_db(db, id.str()) : Observation{};
    if (o.seen == Seen::Pending && sp) o = observe_spool(*sp, id);
    if (o.seen == Seen::Sent) {
      fmt::print(ctx.out(), "{}: sent ({})\n", id.str(), o.detail);
      return kOk;
    }
    if (o.seen == Seen::Failed || o.seen == Seen::Deferred) {
      fmt::print(ctx.out(), "{}: NOT sent, {}\n", id.str(), o.detail);
      return kFail;
    }
    if (o.seen == Seen::Gone) {
      // Delivered and removed; the log row may lag (journal replay) a moment.
      if (!db) {
        fmt::print(ctx.out(), "{}: sent (left the spool; no database to confirm)\n", id.str());
        return kOk;
      }
      if (!gone_at) gone_at = Clock::now();
      if (Clock::now() - *gone_at > std::chrono::seconds(5)) {
        fmt::print(ctx.out(), "{}: sent (left the spool; not in the database yet)\n", id.str());
        return kOk;
      }
    }
    if (Clock::now() >= deadline) {
      fmt::print(ctx.out(), "{}: no outcome within {} s (still queued: is relay-dispatcher running?)\n", id.str(),
                 timeout_s);
      return kFail;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
}

}  // namespace

int cmd_send_test(Context& ctx) {
  const Args& a = ctx.args();
  if (a.has("password")) {
    fmt::print(ctx.err(), "relayctl send-test: --password on the command line is refused (every local user sees "
                          "argv in ps); use --password-file FILE, ${} or the prompt\n",
               kPasswordEnv);
    return kUsage;
  }
  if (a.has("password-file") && !a.has("user")) {
    fmt::print(ctx.err(), "relayctl send-test: --password-file needs --user\n");
    return kUsage;
  }
  const config::Config* cfg = ctx.config();
  if (!cfg) return kFail;
  auto to = a.get("to");
  if (!to || to->empty()) {
    fmt::print(ctx.err(), "relayctl send-test: --to ADDR is required\n");
    return kUsage;
  }
  auto timeout = config::parse_duration(a.get_or("timeout", "60s"));
  if (!timeout || *timeout <= 0) {
    fmt::print(ctx.err(), "relayctl send-test: --timeout wants a duration like 60s\n");
    return kUsage;
  }
  SmtpSendRequest req;
  if (cfg->receiver.listeners.empty()) {
    fmt::print(ctx.err(), "relayctl: no receiver listener configured\n");
    return kFail;
  }
  req.target = target_for(cfg->receiver.listeners.front());
  if (auto server = a.get("server")) req.target.url = "smtp://" + *server;
  std::string host = hostname_or("localhost");
  req.helo = host;
  req.from = a.get_or("from", cfg->senders.default_sender.empty() ? "relayctl@" + host : cfg->senders.default_sender);
  req.to = *to;
  req.user = a.get_or("user", "");
  if (!req.user.empty()) {
    auto pw = auth_password(ctx);
    if (!pw) return kFail;
    req.password = std::move(*pw);
  }
  req.ca_file = a.get_or("ca-file", "");
  req.insecure = a.has("insecure");
  req.timeout_s = static_cast<long>(*timeout);
  std::int64_t now = std::time(nullptr);
  std::string msgid = fmt::format("{}.{}.send-test@{}", now, getpid(), host);
  req.message = build_test_message(req.from, req.to, a.get_or("subject", fmt::format("relay send-test {}", now)),
                                   now, msgid);
  SmtpSendResult r = smtp_send(req);
  if (!r.ok) {
    fmt::print(ctx.err(), "relayctl: send-test to {}: {}{}\n", req.target.url, r.error,
               r.last_reply.empty() ? "" : " (last reply: " + r.last_reply + ")");
    return kFail;
  }
  auto id = r.queue_id ? spool::QueueId::parse(*r.queue_id) : std::nullopt;
  if (!id) {
    fmt::print(ctx.err(), "relayctl: send-test: no queue id in the reply '{}'\n", r.last_reply);
    return kFail;
  }
  fmt::print(ctx.out(), "{}: accepted by {} ({})\n", id->str(), req.target.url, r.last_reply);
  return wait_outcome(ctx, *cfg, *id, *timeout);
}

}  // namespace relay::admin
