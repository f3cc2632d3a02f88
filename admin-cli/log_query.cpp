// relay::admin log query (see log_query.hpp).
#include "admin-cli/log_query.hpp"

#include <fmt/format.h>

#include <cctype>
#include <ctime>

#include "admin-cli/command.hpp"
#include "common/config.hpp"

namespace relay::admin {
namespace {

constexpr const char* kUtc = "'YYYY-MM-DD HH24:MI:SS\"Z\"'";

// Reads exactly n digits at s[*i].
bool digits(std::string_view s, std::size_t* i, int n, int* out) {
  if (*i + static_cast<std::size_t>(n) > s.size()) return false;
  int v = 0;
  for (int k = 0; k < n; ++k) {
    char c = s[*i + static_cast<std::size_t>(k)];
    if (c < '0' || c > '9') return false;
    v = v * 10 + (c - '0');
  }
  *i += static_cast<std::size_t>(n);
  *out = v;
  return true;
}

bool take(std::string_view s, std::size_t* i, char c) {
  if (*i < s.size() && s[*i] == c) return ++*i, true;
  return false;
}

// Zone suffix: "", "Z", "+HH:MM", "-HHMM", "+HH" -> offset seconds east.
bool zone(std::string_view s, std::size_t i, std::int64_t* offset) {
  *offset = 0;
  if (i == s.size() || (s.substr(i) == "Z" || s.substr(i) == "z")) return true;
  if (s[i] != '+' && s[i] != '-') return false;
  int sign = s[i] == '-' ? -1 : 1, hh = 0, mm = 0;
  ++i;
  if (!digits(s, &i, 2, &hh)) return false;
  take(s, &i, ':');
  if (i < s.size() && !digits(s, &i, 2, &mm)) return false;
  if (i != s.size() || hh > 23 || mm > 59) return false;
  *offset = sign * (hh * 3600 + mm * 60);
  return true;
}

std::optional<std::int64_t> absolute(std::string_view s) {
  std::size_t i = 0;
  int y, mo, d, h = 0, mi = 0, sec = 0;
  if (!digits(s, &i, 4, &y) || !take(s, &i, '-') || !digits(s, &i, 2, &mo) || !take(s, &i, '-') ||
      !digits(s, &i, 2, &d))
    return std::nullopt;
  if (i < s.size() && (s[i] == 'T' || s[i] == ' ')) {
    ++i;
    if (!digits(s, &i, 2, &h) || !take(s, &i, ':') || !digits(s, &i, 2, &mi)) return std::nullopt;
    if (take(s, &i, ':') && !digits(s, &i, 2, &sec)) return std::nullopt;
  }
  std::int64_t off = 0;
  if (!zone(s, i, &off) || mo < 1 || mo > 12 || d < 1 || h > 23 || mi > 59 || sec > 59) return std::nullopt;
  std::tm tm{};
  tm.tm_year = y - 1900, tm.tm_mon = mo - 1, tm.tm_mday = d, tm.tm_hour = h, tm.tm_min = mi, tm.tm_sec = sec;
  std::time_t t = timegm(&tm);
  if (tm.tm_mday != d || tm.tm_mon != mo - 1) return std::nullopt;  // 2026-02-30 normalised away: invalid
  return static_cast<std::int64_t>(t) - off;
}

bool valid_utf8_text(std::string_view s) {
  for (unsigned char c : s)
    if (c < 0x20 || c == 0x7f) return false;
  return true;
}

}  // namespace

std::optional<std::int64_t> parse_when(std::string_view text, std::int64_t now, std::string* error) {
  if (!text.empty() && std::isdigit(static_cast<unsigned char>(text[0])) && text.size() <= 8 &&
      std::isalpha(static_cast<unsigned char>(text.back()))) {
    if (auto d = config::parse_duration(text)) return now - *d;
  }
  if (auto t = absolute(text)) return t;
  *error = fmt::format("'{}' is not a date (YYYY-MM-DD[THH:MM[:SS]][Z|+HH:MM], UTC when no zone) "
                       "nor an age like 90m, 2h, 7d", text);
  return std::nullopt;
}

std::string like_substring(std::string_view text) {
  std::string out = "%";
  for (char c : text) {
    if (c == '\\' || c == '%' || c == '_') out += '\\';
    out += c;
  }
  return out + "%";
}

std::optional<LogFilter> parse_log_filter(const Args& args, std::int64_t now, std::string* error) {
  LogFilter f;
  std::string limit = args.get_or("limit", "20");
  if (limit.empty() || limit.size() > 7 || limit.find_first_not_of("0123456789") != std::string::npos) {
    *error = fmt::format("--limit wants a number up to 9999999 (got '{}')", limit);
    return std::nullopt;
  }
  f.limit = std::stoll(limit);
  for (const char* name : {"since", "until"}) {
    auto v = args.get(name);
    if (!v) continue;
    std::string why;
    auto t = parse_when(*v, now, &why);
    if (!t) return *error = fmt::format("--{}: {}", name, why), std::nullopt;
    (std::string_view(name) == "since" ? f.since : f.until) = *t;
  }
  struct Text {
    const char* name;
    std::optional<std::string>* field;
  } texts[] = {{"id", &f.id},           {"from", &f.from},       {"to", &f.to},          {"status", &f.status},
               {"message-id", &f.message_id}, {"subject", &f.subject}, {"provider", &f.provider}};
  for (const auto& t : texts) {
    auto v = args.get(t.name);
    if (!v) continue;
    if (v->empty() || v->size() > 998 || !valid_utf8_text(*v))
      return *error = fmt::format("--{} wants a non-empty value of at most 998 bytes without control characters",
                                  t.name), std::nullopt;
    *t.field = *v;
  }
  if (f.status && *f.status != "sent" && *f.status != "failed" && *f.status != "partial" && *f.status != "queued")
    return *error = fmt::format("--status wants sent, failed, partial or queued (got '{}')", *f.status), std::nullopt;
  if (f.message_id && f.message_id->size() > 2 && f.message_id->front() == '<' && f.message_id->back() == '>')
    f.message_id = f.message_id->substr(1, f.message_id->size() - 2);
  f.failed = args.has("failed");
  if (f.failed && f.status) return *error = "--failed and --status exclude each other", std::nullopt;
  return f;
}

SqlQuery build_log_query(const LogFilter& f) {
  SqlQuery q;
  auto param = [&](std::string v) {
    q.params.emplace_back(std::move(v));
    return fmt::format("${}", q.params.size());
  };
  const bool by_rcpt = f.to.has_value();
  const std::string t = by_rcpt ? "r" : "m";  // the alias whose received_at orders and bounds
  std::string where = "TRUE";
  if (by_rcpt) {
    // One row per message: of its matching recipients, the first by name
    // (a domain, or one address in two spellings, may match several).
    bool domain = f.to->front() == '@';
    std::string p = param(domain ? f.to->substr(1) : *f.to);
    auto match = [&](const char* a) {
      return domain ? fmt::format("lower(substring({}.rcpt from '[^@]*$')) = lower({})", a, p)
                    : fmt::format("lower({}.rcpt) = lower({})", a, p);
    };
    where += " AND " + match("r") + " AND NOT EXISTS (SELECT 1 FROM recipients r2 WHERE r2.queue_id = r.queue_id AND " +
             match("r2") + " AND r2.rcpt < r.rcpt)";
  }
  if (f.id) where += " AND m.queue_id = " + param(*f.id);
  if (f.since) where += " AND " + t + ".received_at >= to_timestamp(" + param(std::to_string(*f.since)) + "::bigint)";
  if (f.until) where += " AND " + t + ".received_at < to_timestamp(" + param(std::to_string(*f.until)) + "::bigint)";
  if (f.from) {
    std::string p = param(*f.from);
    where += " AND (lower(m.mail_from) = lower(" + p + ") OR lower(m.header_from) = lower(" + p + "))";
  }
  if (f.status) where += " AND m.status = " + param(*f.status);
  if (f.failed) where += " AND m.status IN ('failed', 'partial')";
  if (f.message_id) where += " AND m.message_id = " + param(*f.message_id);
  if (f.subject) where += " AND m.subject ILIKE " + param(like_substring(*f.subject)) + " ESCAPE '\\'";
  if (f.provider) where += " AND m.provider = " + param(*f.provider);
  std::string limit = param(std::to_string(f.limit));
  q.sql = fmt::format(
      "SELECT m.queue_id, m.status, to_char(m.received_at AT TIME ZONE 'UTC', {0}) AS received,"
      " COALESCE(to_char(m.finished_at AT TIME ZONE 'UTC', {0}), '') AS finished, m.mail_from,"
      " array_to_string(m.rcpts, ',') AS rcpts, m.provider, m.attempts, m.size, m.subject, m.last_error,"
      " m.message_id, m.client_addr, m.auth_user, m.tls,"
      " COALESCE((SELECT json_agg(json_build_object('rcpt', rc.rcpt, 'state', rc.state, 'reply', rc.reply)"
      " ORDER BY rc.rcpt) FROM recipients rc WHERE rc.queue_id = m.queue_id), '[]'::json) AS recipients"
      " FROM messages m{1} WHERE {2} ORDER BY {3}.received_at DESC, {3}.queue_id DESC LIMIT {4}::integer",
      kUtc, by_rcpt ? " JOIN recipients r ON r.queue_id = m.queue_id" : "", where, t, limit);
  return q;
}

}  // namespace relay::admin
