// relay::admin database access — connects relayctl to the configured
// PostgreSQL through relay_dlog's PgConn and turns results into text/JSON.
// Does: blocking libpq calls (a CLI, no event loop). Does not: migrate
// (dlog::migrate does) or write anything but what db migrate applies.
// Fails: connect_db prints "relayctl: database: reason" and returns an
// empty PgConn; query helpers print the server's error and return nullopt.
#pragma once
#include <cstdio>
#include <optional>
#include <string>
#include <vector>

#include "dispatcher/dlog/pg.hpp"

namespace relay::config {
struct Config;
}

namespace relay::admin {

dlog::PgConn connect_db(const config::Config& cfg, std::FILE* err);
// Runs a query; prints "relayctl: <what>: <error>" on failure.
std::optional<dlog::PgResult> query(const dlog::PgConn& db, const char* what, const char* sql,
                                    const std::vector<std::optional<std::string>>& params, std::FILE* err);
// Rows as a JSON array of objects keyed by column name; integer and numeric
// columns as numbers, json/jsonb columns as they are, NULL as null,
// everything else as strings.
std::string result_json(const dlog::PgResult& r);
// True when a table or view of that name exists in the search path.
bool relation_exists(const dlog::PgConn& db, const std::string& name);

}  // namespace relay::admin
