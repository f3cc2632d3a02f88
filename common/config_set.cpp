// relay::config — converting one YAML value into its struct member, by the
// key's Kind (see config_table.hpp). Every failure names FILE:LINE: key.
#include <sys/stat.h>

#include <charconv>
#include <cstdio>
#include <cmath>

#include "common/cidr.hpp"
#include "common/config_loader.hpp"
#include "common/config_values.hpp"
#include "common/password.hpp"

namespace relay::config::detail {
namespace {

std::string fmt_num(double v) {
  if (v == std::floor(v) && std::fabs(v) < 1e15) return std::to_string(static_cast<long long>(v));
  std::string s = std::to_string(v);
  while (s.size() > 1 && s.back() == '0') s.pop_back();
  return s;
}

std::string fmt_duration(double s) {
  static constexpr std::pair<double, const char*> kUnits[] = {{86400, "d"}, {3600, "h"}, {60, "m"}};
  for (const auto& [n, u] : kUnits)
    if (s >= n && std::fmod(s, n) == 0) return fmt_num(s / n) + u;
  return fmt_num(s) + "s";
}

std::string fmt_size(double b) {
  static constexpr std::pair<double, const char*> kUnits[] = {
      {1099511627776.0, "TB"}, {1073741824.0, "GB"}, {1048576.0, "MB"}, {1024.0, "KB"}};
  for (const auto& [n, u] : kUnits)
    if (b >= n && std::fmod(b, n) == 0) return fmt_num(b / n) + u;
  return fmt_num(b);
}

std::string range_text(const Key& k) {
  if (k.kind == Kind::Duration) return fmt_duration(k.min) + " and " + fmt_duration(k.max);
  if (k.kind == Kind::Size) return fmt_size(k.min) + " and " + fmt_size(k.max);
  return fmt_num(k.min) + " and " + fmt_num(k.max);
}

std::string choices_text(std::string_view c) {
  std::string out;
  size_t start = 0;
  while (start <= c.size()) {
    auto bar = c.find('|', start);
    if (!out.empty()) out += (bar == c.npos ? " or " : ", ");
    out += c.substr(start, bar == c.npos ? c.npos : bar - start);
    if (bar == c.npos) break;
    start = bar + 1;
  }
  return out;
}

template <typename T>
bool parse_int(const std::string& text, T& out) {
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), out);
  return !text.empty() && ec == std::errc() && end == text.data() + text.size();
}

std::optional<bool> parse_bool(std::string t) {
  for (auto& c : t) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (t == "true" || t == "yes" || t == "on") return true;
  if (t == "false" || t == "no" || t == "off") return false;
  return std::nullopt;
}

}  // namespace

bool has_range(const Key& k) { return k.min <= k.max; }

std::string expectation(const Key& k) {
  std::string r = has_range(k) ? " between " + range_text(k) : "";
  switch (k.kind) {
    case Kind::Int: return "an integer" + r;
    case Kind::Port: return "a port number between 1 and 65535";
    case Kind::Double: return "a number" + r;
    case Kind::Bool: return "true or false";
    case Kind::Duration: return has_range(k) ? "a duration" + r : "a duration like 30s, 5m, 2h or 7d";
    case Kind::Size: return has_range(k) ? "a size" + r : "a size like 512, 64KB, 35MB or 1GB";
    case Kind::Date: return "a date like 2027-06-30";
    case Kind::Url: return "an http:// or https:// URL";
    case Kind::Address: return "an address like 127.0.0.1:2525 or [::1]:2525";
    case Kind::Email: return "a mail address like relay@example.com";
    case Kind::SenderPattern:
    case Kind::SenderList: return "a sender like user@example.com, @example.com or *.example.com";
    case Kind::CidrList: return "a list of networks like 10.0.0.0/8 or fd00::/8";
    case Kind::IntList: return "a list of integers" + r;
    case Kind::Choice:
    case Kind::TlsMode:
    case Kind::AuthMode:
    case Kind::SenderPolicy:
    case Kind::ProviderType: return "one of " + choices_text(k.choices);
    case Kind::Listeners: return "a list of listeners like {address: \"127.0.0.1:2525\", tls: none}";
    case Kind::Users: return "a list of users like {name: ..., password_hash: ...}";
    case Kind::Routes: return "a list of routes like {sender: \"@example.com\", provider: NAME}";
    case Kind::Providers: return "a mapping of provider names to settings";
    default: return "a string";
  }
}

std::string Loader::scalar(const Key& k, const YAML::Node& v, const std::string& disp, int line) const {
  if (!v.IsDefined() || v.IsNull()) {
    bool empty_ok = k.kind == Kind::String || k.kind == Kind::Secret || k.kind == Kind::Path ||
                    k.kind == Kind::Email || k.kind == Kind::Date;
    if (empty_ok) return "";
    fail(line, disp, "expected " + expectation(k) + " (got nothing)");
  }
  if (!v.IsScalar()) fail(node_line(v, line), disp, "expected " + expectation(k) + " (got " + describe(v) + ")");
  // A program that never uses secrets (the receiver) does not read them:
  // the reference text stands in, so presence checks still work.
  if (k.kind == Kind::Secret && !expand_secret_keys_) return v.Scalar();
  std::string why;
  const size_t before = expanded_.size();
  auto text = expand_secrets(v.Scalar(), base_, &why, &expanded_);
  if (!text) fail(node_line(v, line), disp, why);
  for (size_t i = before; i < expanded_.size(); ++i) warn_if_world_readable(expanded_[i].second, disp, node_line(v, line));
  if (expanded_.size() != before && *text != v.Scalar()) expanded_.emplace_back(*text, v.Scalar());
  return *text;
}

// A secret any local user can read is no secret; group-readable (root:relay
// 0640) is the usual way to share it with the daemons and stays quiet.
void Loader::warn_if_world_readable(const std::string& ref, const std::string& disp, int line) const {
  if (ref.rfind("${file:", 0) != 0 || ref.size() < 9) return;
  std::filesystem::path p(ref.substr(7, ref.size() - 8));
  if (p.is_relative()) p = base_ / p;
  struct stat st{};
  if (::stat(p.c_str(), &st) != 0 || (st.st_mode & S_IROTH) == 0) return;
  char mode[8];
  std::snprintf(mode, sizeof mode, "%04o", static_cast<unsigned>(st.st_mode & 07777));
  warnings_.push_back(file_ + ":" + std::to_string(line) + ": " + disp + ": " + ref + " is readable by every user (mode " +
                      mode + "): chmod o-r it");
}

void Loader::set(const Key& k, const YAML::Node& v, const std::string& disp, int line, void* obj) {
  void* field = k.field(obj);
  switch (k.kind) {
    case Kind::SenderList:
    case Kind::CidrList:
    case Kind::IntList: return set_list(k, v, disp, line, field);
    case Kind::Listeners:
    case Kind::Users:
    case Kind::Routes: return set_objects(k, v, disp, line, field);
    case Kind::Providers: return set_providers(v, disp, line, *static_cast<Config*>(obj));
    default: return set_scalar(k, scalar(k, v, disp, line), disp, node_line(v, line), field);
  }
}

void Loader::set_scalar(const Key& k, const std::string& text, const std::string& disp, int line, void* field) {
  auto bad = [&]() {
    if (k.kind == Kind::Secret) fail(line, disp, "expected " + expectation(k));
    fail(line, disp, "expected " + expectation(k) + " (got '" + text + "')");
  };
  switch (k.kind) {
    case Kind::String:
    case Kind::Secret: *static_cast<std::string*>(field) = text; return;
    case Kind::Path: {
      std::filesystem::path p(text);
      if (!p.empty() && p.is_relative()) p = (base_ / p).lexically_normal();
      *static_cast<std::filesystem::path*>(field) = p;
      return;
    }
    case Kind::Url: {
      if (text.rfind("http://", 0) != 0 && text.rfind("https://", 0) != 0) bad();
      std::string u = text;
      while (u.size() > 8 && u.back() == '/') u.pop_back();
      *static_cast<std::string*>(field) = u;
      return;
    }
    case Kind::Bool: {
      auto b = parse_bool(text);
      if (!b) bad();
      *static_cast<bool*>(field) = *b;
      return;
    }
    case Kind::Int:
    case Kind::Port:
    case Kind::Double:
    case Kind::Duration:
    case Kind::Size: return set_number(k, text, disp, line, field);
    default: return set_special(k, text, disp, line, field);
  }
}

void Loader::set_number(const Key& k, const std::string& text, const std::string& disp, int line, void* field) {
  auto bad = [&]() { fail(line, disp, "expected " + expectation(k) + " (got '" + text + "')"); };
  auto in_range = [&](double v) { return !has_range(k) || (v >= k.min && v <= k.max); };
  switch (k.kind) {
    case Kind::Int: {
      int n = 0;
      if (!parse_int(text, n) || !in_range(n)) bad();
      *static_cast<int*>(field) = n;
      return;
    }
    case Kind::Port: {
      unsigned n = 0;
      if (!parse_int(text, n) || n < 1 || n > 65535) bad();
      *static_cast<std::uint16_t*>(field) = static_cast<std::uint16_t>(n);
      return;
    }
    case Kind::Double: {
      double d = 0;
      auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), d);
      if (text.empty() || ec != std::errc() || end != text.data() + text.size() || !in_range(d)) bad();
      *static_cast<double*>(field) = d;
      return;
    }
    case Kind::Duration: {
      auto d = parse_duration(text);
      if (!d || !in_range(static_cast<double>(*d))) bad();
      *static_cast<std::int64_t*>(field) = *d;
      return;
    }
    case Kind::Size: {
      auto s = parse_size(text);
      if (!s || !in_range(static_cast<double>(*s))) bad();
      *static_cast<std::uint64_t*>(field) = *s;
      return;
    }
    default: fail(line, disp, "internal error: not a number key");
  }
}

}  // namespace relay::config::detail
