// relay::metrics text helpers (see metrics_text.hpp).
#include "common/metrics_text.hpp"

#include <fmt/format.h>

#include <charconv>
#include <cmath>
#include <set>

namespace relay::metrics {
namespace {

bool name_char(char c, bool first, bool colon) {
  bool alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || (colon && c == ':');
  return alpha || (!first && c >= '0' && c <= '9');
}

bool valid_name(std::string_view s, bool colon) {
  if (s.empty() || s.size() > 200) return false;
  for (std::size_t i = 0; i < s.size(); ++i)
    if (!name_char(s[i], i == 0, colon)) return false;
  return true;
}

// Reads `"..."` at the front of `s` (after the opening quote) and unescapes it.
std::optional<std::string> read_quoted(std::string_view& s) {
  std::string out;
  for (std::size_t i = 0; i < s.size(); ++i) {
    char c = s[i];
    if (c == '"') {
      s.remove_prefix(i + 1);
      return out;
    }
    if (c == '\n') return std::nullopt;
    if (c != '\\') {
      out += c;
      continue;
    }
    if (++i >= s.size()) return std::nullopt;
    switch (s[i]) {
      case '\\': out += '\\'; break;
      case '"': out += '"'; break;
      case 'n': out += '\n'; break;
      default: return std::nullopt;
    }
  }
  return std::nullopt;
}

std::optional<double> parse_value(std::string_view s) {
  if (s == "+Inf") return INFINITY;
  if (s == "-Inf") return -INFINITY;
  if (s == "NaN") return NAN;
  if (s.empty() || s.size() > 40) return std::nullopt;
  double v = 0;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || end != s.data() + s.size() || !std::isfinite(v)) return std::nullopt;
  return v;
}

bool parse_labels(std::string_view& s, Labels& out) {
  std::set<std::string, std::less<>> seen;
  s.remove_prefix(1);  // '{'
  while (!s.empty() && s.front() != '}') {
    auto eq = s.find('=');
    if (eq == std::string_view::npos) return false;
    std::string_view key = s.substr(0, eq);
    if (!valid_label_name(key) || !seen.emplace(key).second) return false;
    s.remove_prefix(eq + 1);
    if (s.empty() || s.front() != '"') return false;
    s.remove_prefix(1);
    auto value = read_quoted(s);
    if (!value) return false;
    out.emplace_back(std::string(key), std::move(*value));
    if (!s.empty() && s.front() == ',') s.remove_prefix(1);
    else if (s.empty() || s.front() != '}') return false;
  }
  if (s.empty()) return false;
  s.remove_prefix(1);  // '}'
  return true;
}

}  // namespace

std::string escape_label_value(std::string_view v) {
  std::string out;
  out.reserve(v.size());
  for (char c : v) {
    if (c == '\\') out += "\\\\";
    else if (c == '"') out += "\\\"";
    else if (c == '\n') out += "\\n";
    else out += c;
  }
  return out;
}

std::string escape_help(std::string_view v) {
  std::string out;
  for (char c : v) {
    if (c == '\\') out += "\\\\";
    else if (c == '\n') out += "\\n";
    else out += c;
  }
  return out;
}

bool valid_metric_name(std::string_view name) { return valid_name(name, true); }

bool valid_label_name(std::string_view name) {
  return valid_name(name, false) && name.substr(0, 2) != "__";
}

std::string series(std::string_view name, const Labels& labels) {
  std::string out(name);
  if (labels.empty()) return out;
  out += '{';
  for (std::size_t i = 0; i < labels.size(); ++i) {
    if (i) out += ',';
    out += labels[i].first;
    out += "=\"";
    out += escape_label_value(labels[i].second);
    out += '"';
  }
  out += '}';
  return out;
}

std::string format_value(double v) {
  if (std::isnan(v)) return "NaN";
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  if (v == std::floor(v) && std::fabs(v) < 9007199254740992.0) return fmt::format("{}", static_cast<long long>(v));
  return fmt::format("{}", v);
}

std::optional<Sample> parse_sample(std::string_view line) {
  Sample out;
  std::size_t n = 0;
  while (n < line.size() && line[n] != '{' && line[n] != ' ') ++n;
  out.name = std::string(line.substr(0, n));
  if (!valid_metric_name(out.name)) return std::nullopt;
  line.remove_prefix(n);
  if (!line.empty() && line.front() == '{' && !parse_labels(line, out.labels)) return std::nullopt;
  if (line.empty() || line.front() != ' ') return std::nullopt;
  line.remove_prefix(1);
  auto v = parse_value(line);
  if (!v) return std::nullopt;
  out.value = *v;
  return out;
}

}  // namespace relay::metrics
