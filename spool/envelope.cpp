// relay::spool::Envelope — serialise / parse the `.env` text (see envelope.hpp
// and spool/README.md for the format). Pure functions, thread-safe; parse
// errors are values.
#include "spool/envelope.hpp"

#include <charconv>
#include <cstdio>
#include <set>

namespace relay::spool {
namespace {

constexpr std::string_view kMagic = "relay-envelope ";

// Scalars keep spaces (the value is the rest of the line); rcpt tokens are
// space-separated, so they encode the space too.
void encode(std::string& out, std::string_view v, bool space) {
  static constexpr char hex[] = "0123456789ABCDEF";
  for (unsigned char c : v) {
    if (c < 0x20 || c == 0x7f || c == '%' || (space && c == ' ')) {
      out += '%';
      out += hex[c >> 4];
      out += hex[c & 15];
    } else {
      out += static_cast<char>(c);
    }
  }
}

int hexval(char c) noexcept {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;
}

bool decode(std::string_view v, std::string* out) {
  out->clear();
  out->reserve(v.size());
  for (std::size_t i = 0; i < v.size(); ++i) {
    if (v[i] != '%') {
      *out += v[i];
      continue;
    }
    if (i + 2 >= v.size()) return false;
    int h = hexval(v[i + 1]), l = hexval(v[i + 2]);
    if (h < 0 || l < 0) return false;
    *out += static_cast<char>(h * 16 + l);
    i += 2;
  }
  return true;
}

template <typename T>
bool parse_num(std::string_view v, T* out, int base = 10) {
  if (v.empty()) return false;
  auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), *out, base);
  return ec == std::errc() && p == v.data() + v.size();
}

void put(std::string& out, std::string_view key, std::string_view value) {
  out += key;
  out += ':';
  if (!value.empty()) {
    out += ' ';
    encode(out, value, false);
  }
  out += '\n';
}

std::string hex8(std::uint32_t v) {
  char buf[9];
  std::snprintf(buf, sizeof buf, "%08x", v);
  return buf;
}

std::optional<RcptState> parse_rcpt_state(std::string_view s) {
  if (s == "pending") return RcptState::Pending;
  if (s == "sent") return RcptState::Sent;
  if (s == "failed") return RcptState::Failed;
  return std::nullopt;
}

// `rcpt: state=pending to=<enc> params=<enc> reply=<enc>`
std::string parse_rcpt(std::string_view v, Recipient* r) {
  bool have_to = false, have_state = false;
  while (!v.empty()) {
    auto sp = v.find(' ');
    std::string_view tok = v.substr(0, sp);
    v = sp == std::string_view::npos ? std::string_view() : v.substr(sp + 1);
    auto eq = tok.find('=');
    if (eq == std::string_view::npos) return "rcpt token without '='";
    std::string_view k = tok.substr(0, eq);
    std::string val;
    if (!decode(tok.substr(eq + 1), &val)) return "bad %-escape in rcpt";
    if (k == "state") {
      auto st = parse_rcpt_state(val);
      if (!st) return "bad rcpt state '" + val + "'";
      r->state = *st;
      have_state = true;
    } else if (k == "to") {
      r->address = std::move(val);
      have_to = true;
    } else if (k == "params") {
      r->params = std::move(val);
    } else if (k == "reply") {
      r->last_reply = std::move(val);
    }  // unknown tokens: ignored (additions within version 1)
  }
  if (!have_to || !have_state) return "rcpt without to= or state=";
  return {};
}

// Applies one `key: value` line; returns an error text or "".
std::string apply(Envelope& e, std::string_view key, const std::string& val, std::string_view raw) {
  if (key == "id") {
    auto id = QueueId::parse(val);
    if (!id) return "bad id";
    e.id = *id;
  } else if (key == "received-at") {
    if (!parse_num(val, &e.received_at)) return "bad received-at";
  } else if (key == "client-addr") {
    e.client_addr = val;
  } else if (key == "client-helo") {
    e.client_helo = val;
  } else if (key == "tls") {
    e.tls = val;
  } else if (key == "auth-user") {
    e.auth_user = val;
  } else if (key == "mail-from") {
    e.mail_from = val;
  } else if (key == "mail-params") {
    e.mail_params = val;
  } else if (key == "rcpt") {
    Recipient r;
    std::string err = parse_rcpt(raw, &r);
    if (!err.empty()) return err;
    e.rcpts.push_back(std::move(r));
  } else if (key == "size") {
    if (!parse_num(val, &e.size)) return "bad size";
  } else if (key == "data-crc32") {
    if (val.size() != 8 || !parse_num(val, &e.data_crc32, 16)) return "bad data-crc32";
  } else if (key == "attempts") {
    if (!parse_num(val, &e.attempts) || e.attempts < 0) return "bad attempts";
  } else if (key == "next-attempt") {
    if (!parse_num(val, &e.next_attempt)) return "bad next-attempt";
  } else if (key == "provider") {
    e.provider = val;
  } else if (key == "last-error") {
    e.last_error = val;
  }  // unknown keys: ignored (additions within version 1)
  return {};
}

// Checks the first line and the `end <crc>` line; returns the body between.
std::string check_frame(std::string_view bytes, std::string_view* body) {
  if (bytes.empty()) return "empty file";
  auto nl = bytes.find('\n');
  std::string_view first = bytes.substr(0, nl);
  if (first.substr(0, kMagic.size()) != kMagic) return "not an envelope (bad first line)";
  int version = 0;
  if (!parse_num(first.substr(kMagic.size()), &version)) return "not an envelope (bad version field)";
  if (version != Envelope::kVersion) return "unsupported version " + std::to_string(version);
  if (nl == std::string_view::npos || bytes.back() != '\n') return "truncated: no end line";
  auto last_start = bytes.rfind('\n', bytes.size() - 2);
  last_start = last_start == std::string_view::npos ? 0 : last_start + 1;
  std::string_view last = bytes.substr(last_start, bytes.size() - 1 - last_start);
  std::uint32_t stored = 0;
  if (last.size() != 12 || last.substr(0, 4) != "end " ||
      last.find_first_not_of("0123456789abcdef", 4) != std::string_view::npos ||
      !parse_num(last.substr(4), &stored, 16))
    return "truncated: no end line";
  std::uint32_t actual = crc32(bytes.substr(0, last_start));
  if (actual != stored) return "checksum mismatch: stored " + hex8(stored) + " computed " + hex8(actual);
  *body = bytes.substr(nl + 1, last_start - (nl + 1));
  return {};
}

}  // namespace

std::string_view to_string(RcptState s) noexcept {
  switch (s) {
    case RcptState::Pending: return "pending";
    case RcptState::Sent: return "sent";
    case RcptState::Failed: return "failed";
  }
  return "pending";
}

std::size_t Envelope::pending_count() const noexcept {
  std::size_t n = 0;
  for (const auto& r : rcpts) n += r.state == RcptState::Pending;
  return n;
}

std::string serialize(const Envelope& e) {
  std::string out;
  out.reserve(256 + e.rcpts.size() * 64);
  out += kMagic;
  out += std::to_string(Envelope::kVersion);
  out += '\n';
  put(out, "id", e.id.str());
  put(out, "received-at", std::to_string(e.received_at));
  put(out, "client-addr", e.client_addr);
  put(out, "client-helo", e.client_helo);
  put(out, "tls", e.tls);
  put(out, "auth-user", e.auth_user);
  put(out, "mail-from", e.mail_from);
  put(out, "mail-params", e.mail_params);
  for (const auto& r : e.rcpts) {
    out += "rcpt: state=";
    out += to_string(r.state);
    out += " to=";
    encode(out, r.address, true);
    out += " params=";
    encode(out, r.params, true);
    out += " reply=";
    encode(out, r.last_reply, true);
    out += '\n';
  }
  put(out, "size", std::to_string(e.size));
  put(out, "data-crc32", hex8(e.data_crc32));
  put(out, "attempts", std::to_string(e.attempts));
  put(out, "next-attempt", std::to_string(e.next_attempt));
  put(out, "provider", e.provider);
  put(out, "last-error", e.last_error);
  std::uint32_t c = crc32(out);
  out += "end ";
  out += hex8(c);
  out += '\n';
  return out;
}

ParseResult parse(std::string_view bytes) {
  ParseResult res;
  std::string_view body;
  std::string err = check_frame(bytes, &body);
  if (!err.empty()) return {std::nullopt, {std::move(err)}};
  Envelope env;
  std::set<std::string, std::less<>> seen;
  int lineno = 1;
  std::string val;
  while (!body.empty()) {
    ++lineno;
    auto nl = body.find('\n');
    std::string_view line = body.substr(0, nl);
    body = body.substr(nl + 1);
    auto colon = line.find(':');
    auto fail = [&](const std::string& why) {
      return ParseResult{std::nullopt, {"line " + std::to_string(lineno) + ": " + why}};
    };
    if (colon == std::string_view::npos || colon == 0) return fail("not a key: value line");
    std::string_view key = line.substr(0, colon);
    std::string_view raw = line.substr(colon + 1);
    if (!raw.empty() && raw.front() == ' ') raw.remove_prefix(1);
    if (key != "rcpt" && !seen.emplace(key).second) return fail("duplicate key " + std::string(key));
    if (key != "rcpt" && !decode(raw, &val)) return fail("bad %-escape");
    err = apply(env, key, val, raw);
    if (!err.empty()) return fail(err);
  }
  for (const char* k : {"id", "received-at", "mail-from", "size", "data-crc32"})
    if (!seen.count(std::string_view(k))) return {std::nullopt, {std::string("missing key ") + k}};
  res.envelope = std::move(env);
  return res;
}

}  // namespace relay::spool
