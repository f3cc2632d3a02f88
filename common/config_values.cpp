// relay::config value parsers; see config_values.hpp and config.hpp.
#include "common/config_values.hpp"

#include <charconv>

#include "common/cidr.hpp"
#include "common/config.hpp"

namespace relay::config {
namespace {

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

char lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i)
    if (lower(a[i]) != lower(b[i])) return false;
  return true;
}

// Leading decimal digits as uint64 (no sign); returns the unit suffix.
std::optional<std::pair<std::uint64_t, std::string_view>> number_and_unit(std::string_view text) {
  text = trim(text);
  std::uint64_t n = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), n);
  if (ec != std::errc() || end == text.data()) return std::nullopt;
  return std::make_pair(n, trim(std::string_view(end, static_cast<size_t>(text.data() + text.size() - end))));
}

bool valid_domain(std::string_view d) {
  if (d.empty() || d.size() > 253 || d.front() == '.' || d.back() == '.' || d.find("..") != d.npos) return false;
  for (char c : d) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '.' ||
              static_cast<unsigned char>(c) >= 0x80;  // SMTPUTF8 domains
    if (!ok) return false;
  }
  return true;
}

bool valid_local(std::string_view l) {
  if (l.empty() || l.size() > 64) return false;
  for (char c : l)
    if (static_cast<unsigned char>(c) <= ' ' || c == '@' || c == '<' || c == '>' || c == ',' || c == 0x7f) return false;
  return true;
}

std::string_view domain_of(std::string_view address) {
  auto at = address.rfind('@');
  return at == address.npos ? std::string_view{} : address.substr(at + 1);
}

bool pattern_matches(std::string_view addr, std::string_view pat) {
  auto at = addr.rfind('@');
  if (at == addr.npos) return false;
  std::string_view local = addr.substr(0, at), dom = addr.substr(at + 1);
  if (pat.substr(0, 2) == "*.") {
    std::string_view base = pat.substr(2);
    if (iequals(dom, base)) return true;
    return dom.size() > base.size() + 1 && dom[dom.size() - base.size() - 1] == '.' &&
           iequals(dom.substr(dom.size() - base.size()), base);
  }
  if (pat.front() == '@') return iequals(dom, pat.substr(1));
  auto pat_at = pat.rfind('@');
  return pat.substr(0, pat_at) == local && iequals(pat.substr(pat_at + 1), dom);
}

}  // namespace

std::optional<std::int64_t> parse_duration(std::string_view text) {
  auto nu = number_and_unit(text);
  if (!nu) return std::nullopt;
  auto [n, unit] = *nu;
  std::uint64_t mult = 0;
  if (unit.empty() || unit == "s") mult = 1;
  else if (unit == "m") mult = 60;
  else if (unit == "h") mult = 3600;
  else if (unit == "d") mult = 86400;
  else if (unit == "w") mult = 7 * 86400;
  else return std::nullopt;
  constexpr std::uint64_t kMax = std::uint64_t{1} << 52;  // far beyond any sane setting, no overflow
  if (n > kMax / mult) return std::nullopt;
  return static_cast<std::int64_t>(n * mult);
}

std::optional<std::uint64_t> parse_size(std::string_view text) {
  auto nu = number_and_unit(text);
  if (!nu) return std::nullopt;
  auto [n, unit] = *nu;
  int shift = -1;
  static constexpr std::pair<std::string_view, int> kUnits[] = {
      {"", 0},    {"b", 0},    {"k", 10},   {"kb", 10}, {"kib", 10}, {"m", 20}, {"mb", 20},
      {"mib", 20}, {"g", 30}, {"gb", 30}, {"gib", 30}, {"t", 40},  {"tb", 40}, {"tib", 40}};
  for (const auto& [name, s] : kUnits)
    if (iequals(unit, name)) shift = s;
  if (shift < 0) return std::nullopt;
  if (shift > 0 && n > (~std::uint64_t{0} >> shift)) return std::nullopt;
  return n << shift;
}

std::optional<std::int64_t> parse_date(std::string_view t) {
  t = trim(t);
  if (t.size() != 10 || t[4] != '-' || t[7] != '-') return std::nullopt;
  int y = 0, m = 0, d = 0;
  auto num = [&](size_t pos, size_t len, int& out) {
    auto [e, ec] = std::from_chars(t.data() + pos, t.data() + pos + len, out);
    return ec == std::errc() && e == t.data() + pos + len;
  };
  if (!num(0, 4, y) || !num(5, 2, m) || !num(8, 2, d)) return std::nullopt;
  static constexpr int kDays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
  if (y < 1970 || m < 1 || m > 12 || d < 1 || d > kDays[m - 1] + (m == 2 && leap ? 1 : 0)) return std::nullopt;
  // Days from civil (Howard Hinnant's algorithm).
  y -= m <= 2;
  const int era = y / 400;
  const int yoe = y - era * 400;
  const int doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  const int doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return static_cast<std::int64_t>(era) * 146097 + doe - 719468;
}

std::optional<HostPort> parse_listen_address(std::string_view text) {
  text = trim(text);
  HostPort hp;
  std::string_view port;
  if (!text.empty() && text.front() == '[') {
    auto close = text.find(']');
    if (close == text.npos || close + 1 >= text.size() || text[close + 1] != ':') return std::nullopt;
    hp.host = std::string(text.substr(1, close - 1));
    port = text.substr(close + 2);
    auto a = net::parse_address(hp.host);
    if (!a || hp.host.find(':') == std::string::npos) return std::nullopt;
  } else {
    auto colon = text.rfind(':');
    if (colon == text.npos || text.find(':') != colon) return std::nullopt;  // bare v6 needs brackets
    hp.host = std::string(text.substr(0, colon));
    port = text.substr(colon + 1);
    auto a = net::parse_address(hp.host);
    if (!a || a->family != AF_INET) return std::nullopt;
  }
  unsigned p = 0;
  auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), p);
  if (port.empty() || ec != std::errc() || end != port.data() + port.size() || p == 0 || p > 65535)
    return std::nullopt;
  hp.port = static_cast<std::uint16_t>(p);
  return hp;
}

bool valid_sender_pattern(std::string_view p) {
  if (p.substr(0, 2) == "*.") return valid_domain(p.substr(2));
  if (!p.empty() && p.front() == '@') return valid_domain(p.substr(1));
  return valid_address(p);
}

bool valid_address(std::string_view a) {
  auto at = a.rfind('@');
  return at != a.npos && valid_local(a.substr(0, at)) && valid_domain(a.substr(at + 1));
}

bool sender_allowed(std::string_view address, const std::vector<std::string>& patterns) {
  if (patterns.empty()) return true;
  if (domain_of(address).empty()) return false;
  for (const auto& p : patterns)
    if (!p.empty() && pattern_matches(address, p)) return true;
  return false;
}

}  // namespace relay::config
