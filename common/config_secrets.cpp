// relay::config — ${env:NAME} / ${file:PATH} references; see config_values.hpp.
// Secret values never appear in error messages: only the name or path does.
#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <sstream>

#include "common/config_values.hpp"

namespace relay::config {
namespace {

std::optional<std::string> read_secret_file(const std::filesystem::path& p, std::string* why) {
  std::ifstream in(p, std::ios::binary);
  if (!in) {
    *why = "cannot read ${file:" + p.string() + "}";
    return std::nullopt;
  }
  std::ostringstream ss;
  ss << in.rdbuf();
  if (in.bad()) {
    *why = "error reading ${file:" + p.string() + "}";
    return std::nullopt;
  }
  std::string s = ss.str();
  if (!s.empty() && s.back() == '\n') s.pop_back();
  if (!s.empty() && s.back() == '\r') s.pop_back();
  return s;
}

std::optional<std::string> resolve(std::string_view ref, const std::filesystem::path& base_dir, std::string* why) {
  if (ref.substr(0, 4) == "env:") {
    std::string name(ref.substr(4));
    if (name.empty()) {
      *why = "empty variable name in ${env:}";
      return std::nullopt;
    }
    const char* v = std::getenv(name.c_str());
    if (v == nullptr) {
      *why = "environment variable " + name + " is not set (in ${env:" + name + "})";
      return std::nullopt;
    }
    return std::string(v);
  }
  if (ref.substr(0, 5) == "file:") {
    std::filesystem::path p(std::string(ref.substr(5)));
    if (p.empty()) {
      *why = "empty path in ${file:}";
      return std::nullopt;
    }
    if (p.is_relative()) p = base_dir / p;
    return read_secret_file(p, why);
  }
  // Only the part before ':' is shown: the rest may be part of a secret.
  std::string kind(ref.substr(0, std::min<size_t>(ref.find(':'), 16)));
  *why = "unknown reference type '" + kind + "' in ${...} (expected ${env:NAME} or ${file:PATH}; write $${ for a literal ${)";
  return std::nullopt;
}

}  // namespace

std::optional<std::string> expand_secrets(std::string_view text, const std::filesystem::path& base_dir,
                                          std::string* why) {
  std::string scratch;
  if (why == nullptr) why = &scratch;
  if (text.find("${") == text.npos) return std::string(text);
  std::string out;
  size_t i = 0;
  while (i < text.size()) {
    if (text.compare(i, 3, "$${") == 0) {
      out += "${";
      i += 3;
      continue;
    }
    if (text.compare(i, 2, "${") != 0) {
      out += text[i++];
      continue;
    }
    auto close = text.find('}', i + 2);
    if (close == text.npos) {
      *why = "unterminated ${ (expected ${env:NAME} or ${file:PATH})";
      return std::nullopt;
    }
    auto v = resolve(text.substr(i + 2, close - i - 2), base_dir, why);
    if (!v) return std::nullopt;
    out += *v;
    i = close + 1;
  }
  return out;
}

}  // namespace relay::config
