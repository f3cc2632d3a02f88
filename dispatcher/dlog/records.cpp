// See records.hpp.
#include "dispatcher/dlog/records.hpp"

#include <chrono>
#include <nlohmann/json.hpp>

namespace relay::dlog {
namespace {

using nlohmann::json;

json encode(const MessageRecord& m) {
  return json{{"queue_id", m.queue_id},       {"mail_from", m.mail_from},     {"header_from", m.header_from},
              {"rcpts", m.rcpts},             {"subject", m.subject},         {"message_id", m.message_id},
              {"size", m.size},               {"client_addr", m.client_addr}, {"auth_user", m.auth_user},
              {"provider", m.provider},       {"status", m.status},           {"received_at", m.received_at},
              {"first_attempt_at", m.first_attempt_at},                       {"finished_at", m.finished_at},
              {"last_error", m.last_error},   {"attempts", m.attempts},
              {"tls", m.tls},                 {"client_helo", m.client_helo}, {"host", m.host},
              {"rcpt_states", m.rcpt_states}, {"rcpt_replies", m.rcpt_replies}};
}

json encode(const AttemptRecord& a) {
  return json{{"queue_id", a.queue_id}, {"attempt_no", a.attempt_no},   {"provider", a.provider},
              {"outcome", a.outcome},   {"code", a.code},               {"enhanced", a.enhanced},
              {"response", a.response}, {"rcpts", a.rcpts},             {"duration_ms", a.duration_ms},
              {"host", a.host},         {"pid", a.pid},                 {"started_at", a.started_at}};
}

json encode(const HeartbeatRecord& h) {
  return json{{"kind", h.kind}, {"host", h.host}, {"pid", h.pid}, {"started_at", h.started_at},
              {"seen_at", h.seen_at}, {"counters", h.counters_json}};
}

json encode(const SecretRecord& s) {
  json j{{"provider", s.provider}, {"expires", s.expires}, {"source", s.source},
         {"state", s.state},       {"detail", s.detail},   {"checked_at", s.checked_at}};
  if (s.days_left) j["days_left"] = *s.days_left;
  return j;
}

template <typename T>
void get(const json& j, const char* key, T* out) {
  auto it = j.find(key);
  if (it != j.end() && !it->is_null()) *out = it->get<T>();
}

MessageRecord decode_message(const json& j) {
  MessageRecord m;
  get(j, "queue_id", &m.queue_id), get(j, "mail_from", &m.mail_from), get(j, "header_from", &m.header_from);
  get(j, "rcpts", &m.rcpts), get(j, "subject", &m.subject), get(j, "message_id", &m.message_id);
  get(j, "size", &m.size), get(j, "client_addr", &m.client_addr), get(j, "auth_user", &m.auth_user);
  get(j, "provider", &m.provider), get(j, "status", &m.status), get(j, "received_at", &m.received_at);
  get(j, "first_attempt_at", &m.first_attempt_at), get(j, "finished_at", &m.finished_at);
  get(j, "last_error", &m.last_error), get(j, "attempts", &m.attempts);
  get(j, "tls", &m.tls), get(j, "client_helo", &m.client_helo), get(j, "host", &m.host);
  get(j, "rcpt_states", &m.rcpt_states), get(j, "rcpt_replies", &m.rcpt_replies);
  return m;
}

AttemptRecord decode_attempt(const json& j) {
  AttemptRecord a;
  get(j, "queue_id", &a.queue_id), get(j, "attempt_no", &a.attempt_no), get(j, "provider", &a.provider);
  get(j, "outcome", &a.outcome), get(j, "code", &a.code), get(j, "enhanced", &a.enhanced);
  get(j, "response", &a.response), get(j, "rcpts", &a.rcpts), get(j, "duration_ms", &a.duration_ms);
  get(j, "host", &a.host), get(j, "pid", &a.pid), get(j, "started_at", &a.started_at);
  return a;
}

}  // namespace

bool journaled(const Record& r) noexcept {
  return std::holds_alternative<MessageRecord>(r) || std::holds_alternative<AttemptRecord>(r);
}

std::string_view kind_name(const Record& r) noexcept {
  static constexpr std::string_view names[] = {"message", "attempt", "heartbeat", "secret"};
  return names[r.index()];
}

std::string_view record_id(const Record& r) noexcept {
  if (auto* m = std::get_if<MessageRecord>(&r)) return m->queue_id;
  if (auto* a = std::get_if<AttemptRecord>(&r)) return a->queue_id;
  return "-";
}

std::string to_journal_line(const Record& r, std::uint64_t seq) {
  json j = std::visit([](const auto& v) { return encode(v); }, r);
  j["seq"] = seq;
  j["kind"] = kind_name(r);
  return j.dump(-1, ' ', false, json::error_handler_t::replace);
}

std::optional<JournalEntry> from_journal_line(std::string_view line, std::string* error) {
  json j = json::parse(line, nullptr, false);
  if (j.is_discarded() || !j.is_object()) {
    if (error) *error = "not a JSON object (torn write?)";
    return std::nullopt;
  }
  try {
    JournalEntry e;
    e.seq = j.at("seq").get<std::uint64_t>();
    std::string kind = j.at("kind").get<std::string>();
    if (kind == "message") {
      e.record = decode_message(j);
    } else if (kind == "attempt") {
      e.record = decode_attempt(j);
    } else {
      if (error) *error = "unknown kind '" + kind + "'";
      return std::nullopt;
    }
    return e;
  } catch (const json::exception& ex) {
    if (error) *error = std::string("bad field: ") + ex.what();
    return std::nullopt;
  }
}

std::string clean_utf8(std::string_view in) {
  std::string out;
  out.reserve(in.size());
  std::size_t i = 0;
  while (i < in.size()) {
    auto c = static_cast<unsigned char>(in[i]);
    if (c == 0) {
      ++i;
      continue;
    }
    std::size_t len = c < 0x80 ? 1 : (c >> 5) == 0x6 ? 2 : (c >> 4) == 0xE ? 3 : (c >> 3) == 0x1E ? 4 : 0;
    bool ok = len > 0 && i + len <= in.size();
    for (std::size_t k = 1; ok && k < len; ++k) ok = (static_cast<unsigned char>(in[i + k]) >> 6) == 0x2;
    if (ok && len >= 2) {  // overlong forms, UTF-16 surrogates, > U+10FFFF
      auto n = static_cast<unsigned char>(in[i + 1]);
      if ((len == 2 && c < 0xC2) || (c == 0xE0 && n < 0xA0) || (c == 0xED && n >= 0xA0) ||
          (c == 0xF0 && n < 0x90) || c > 0xF4 || (c == 0xF4 && n >= 0x90))
        ok = false;
    }
    if (ok) {
      out.append(in.substr(i, len));
      i += len;
    } else {
      out += "\xEF\xBF\xBD";
      ++i;
    }
  }
  return out;
}

std::int64_t now_us() noexcept {
  using namespace std::chrono;
  return duration_cast<microseconds>(system_clock::now().time_since_epoch()).count();
}

}  // namespace relay::dlog
