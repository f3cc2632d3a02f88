// relay::admin database access (see db_access.hpp).
#include "admin-cli/db_access.hpp"

#include <fmt/format.h>

#include "admin-cli/format.hpp"
#include "common/config.hpp"

namespace relay::admin {
namespace {

bool numeric_type(Oid t) {
  // int8, int2, int4, numeric, float4, float8 (pg_type.h OIDs, stable)
  return t == 20 || t == 21 || t == 23 || t == 1700 || t == 700 || t == 701;
}

// json, jsonb: the server's text form is already JSON (valid UTF-8, escaped).
bool json_type(Oid t) { return t == 114 || t == 3802; }

}  // namespace

dlog::PgConn connect_db(const config::Config& cfg, std::FILE* err) {
  if (cfg.database.conninfo.empty()) {
    fmt::print(err, "relayctl: no database configured (database.conninfo in {})\n", cfg.file.string());
    return {};
  }
  std::string error;
  auto db = dlog::PgConn::connect(cfg.database.conninfo, cfg.database.connect_timeout, &error);
  if (!db) fmt::print(err, "relayctl: database: {}\n", error);
  return db;
}

std::optional<dlog::PgResult> query(const dlog::PgConn& db, const char* what, const char* sql,
                                    const std::vector<std::optional<std::string>>& params, std::FILE* err) {
  dlog::PgResult r = params.empty() ? db.exec(sql) : db.exec(sql, params);
  if (!r.ok()) {
    fmt::print(err, "relayctl: {}: {}\n", what, r.error());
    if (r.sqlstate() == "42P01") fmt::print(err, "relayctl: hint: run `relayctl db migrate`\n");
    return std::nullopt;
  }
  return r;
}

std::string result_json(const dlog::PgResult& r) {
  std::string out = "[";
  int cols = r.get() ? PQnfields(r.get()) : 0;
  for (int row = 0; row < r.rows(); ++row) {
    out += row ? ",{" : "{";
    for (int c = 0; c < cols; ++c) {
      if (c) out += ",";
      out += json_string(PQfname(r.get(), c)) + ":";
      if (r.is_null(row, c)) out += "null";
      else if (numeric_type(PQftype(r.get(), c)) || json_type(PQftype(r.get(), c))) out += r.value(row, c);
      else out += json_string(r.value(row, c));
    }
    out += "}";
  }
  return out + "]";
}

bool relation_exists(const dlog::PgConn& db, const std::string& name) {
  dlog::PgResult r = db.exec("SELECT to_regclass($1) IS NOT NULL", {name});
  return r.ok() && r.value(0, 0) == "t";
}

}  // namespace relay::admin
