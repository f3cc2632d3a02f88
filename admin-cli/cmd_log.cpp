// relayctl log — messages from the delivery log, newest first, with the
// filters of log_query.hpp and each recipient's state; with --id the
// message's recipients (state, last reply) and attempts too; --explain
// prints the query plan instead (which index the search uses).
#include <fmt/format.h>

#include <ctime>
#include <nlohmann/json.hpp>

#include "admin-cli/command.hpp"
#include "admin-cli/db_access.hpp"
#include "admin-cli/format.hpp"
#include "admin-cli/handlers.hpp"
#include "admin-cli/log_query.hpp"
#include "common/config.hpp"

namespace relay::admin {
namespace {

constexpr int kRecipientsCol = 15;

nlohmann::json recipients_of(const dlog::PgResult& r, int row) {
  auto j = nlohmann::json::parse(r.value(row, kRecipientsCol), nullptr, false);
  return j.is_array() ? j : nlohmann::json::array();
}

std::string str(const nlohmann::json& j, const char* key) {
  auto it = j.find(key);
  return it != j.end() && it->is_string() ? it->get<std::string>() : std::string();
}

// "a@x (sent), b@y (failed)"; the envelope list when no recipient rows exist (pre-003 rows).
std::string to_column(const dlog::PgResult& r, int row) {
  auto rc = recipients_of(r, row);
  if (rc.empty()) return r.value(row, 5);
  std::string out;
  for (const auto& x : rc) out += fmt::format("{}{} ({})", out.empty() ? "" : ", ", str(x, "rcpt"), str(x, "state"));
  return out;
}

void print_messages(std::FILE* out, const dlog::PgResult& r) {
  Table t({"RECEIVED", "QUEUE-ID", "STATUS", "FROM", "TO", "PROVIDER", "TRIES", "ERROR"});
  for (int i = 0; i < r.rows(); ++i)
    t.add({r.value(i, 2), r.value(i, 0), r.value(i, 1), "<" + r.value(i, 4) + ">", to_column(r, i), r.value(i, 6),
           r.value(i, 7), r.value(i, 10)});
  fmt::print(out, "{}", t.render());
}

void print_details(std::FILE* out, const dlog::PgResult& r) {
  fmt::print(out, "\nsubject: {}\nmessage-id: {}\nclient: {} user={} tls={}\nrecipients:\n", r.value(0, 9),
             r.value(0, 11), r.value(0, 12), r.value(0, 13).empty() ? "-" : r.value(0, 13),
             r.value(0, 14).empty() ? "no" : r.value(0, 14));
  Table t({"  RCPT", "STATE", "REPLY"});
  for (const auto& x : recipients_of(r, 0)) t.add({"  " + str(x, "rcpt"), str(x, "state"), str(x, "reply")});
  fmt::print(out, "{}", t.render());
}

std::string attempts_sql() {
  return "SELECT attempt_no, to_char(started_at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS\"Z\"') AS started,"
         " provider, outcome, code, enhanced, duration_ms, host, pid, response FROM attempts WHERE queue_id = $1"
         " ORDER BY started_at, id";
}

void print_attempts(std::FILE* out, const dlog::PgResult& r) {
  Table t({"  #", "STARTED", "PROVIDER", "OUTCOME", "CODE", "MS", "HOST/PID", "RESPONSE"});
  for (int i = 0; i < r.rows(); ++i) {
    std::string code = r.value(i, 4) + (r.value(i, 5).empty() ? "" : " " + r.value(i, 5));
    t.add({"  " + r.value(i, 0), r.value(i, 1), r.value(i, 2), r.value(i, 3), code, r.value(i, 6),
           r.value(i, 7) + "/" + r.value(i, 8), r.value(i, 9)});
  }
  fmt::print(out, "\nattempts:\n{}", t.render());
}

}  // namespace

int cmd_log(Context& ctx) {
  const config::Config* cfg = ctx.config();
  if (!cfg) return kFail;
  std::string error;
  auto filter = parse_log_filter(ctx.args(), static_cast<std::int64_t>(std::time(nullptr)), &error);
  if (!filter) {
    fmt::print(ctx.err(), "relayctl log: {}\n", error);
    return kUsage;
  }
  auto db = connect_db(*cfg, ctx.err());
  if (!db) return kFail;
  SqlQuery q = build_log_query(*filter);
  if (ctx.args().has("explain")) {  // the plan instead of the rows: which index a search uses
    auto plan = query(db, "log explain", ("EXPLAIN " + q.sql).c_str(), q.params, ctx.err());
    if (!plan) return kFail;
    for (int i = 0; i < plan->rows(); ++i) fmt::print(ctx.out(), "{}\n", plan->value(i, 0));
    return kOk;
  }
  auto rows = query(db, "log", q.sql.c_str(), q.params, ctx.err());
  if (!rows) return kFail;
  const auto& id = filter->id;
  if (ctx.args().has("json")) {
    std::string json = result_json(*rows);
    // --id: the message object carries its attempts, as the text form does.
    if (id && rows->rows() == 1) {
      auto att = query(db, "log attempts", attempts_sql().c_str(), {*id}, ctx.err());
      if (!att) return kFail;
      json = json.substr(0, json.size() - 2) + ",\"attempts\":" + result_json(*att) + "}]";
    }
    fmt::print(ctx.out(), "{}\n", json);
    return id && rows->rows() == 0 ? kFail : kOk;
  }
  if (rows->rows() == 0) {
    if (id) fmt::print(ctx.out(), "{}: not in the delivery log\n", *id);
    else fmt::print(ctx.out(), "no deliveries logged{}\n", q.params.size() > 1 ? " that match" : "");
    return id ? kFail : kOk;
  }
  print_messages(ctx.out(), *rows);
  if (id) {
    print_details(ctx.out(), *rows);
    auto att = query(db, "log attempts", attempts_sql().c_str(), {id}, ctx.err());
    if (!att) return kFail;
    print_attempts(ctx.out(), *att);
  }
  return kOk;
}

}  // namespace relay::admin
