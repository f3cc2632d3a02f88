#include "receiver/smtp/command.hpp"

#include "receiver/smtp/text.hpp"

namespace relay::smtp {

CommandLine split_command(std::string_view line) noexcept {
  CommandLine c;
  auto sp = line.find(' ');
  c.verb = line.substr(0, sp);
  c.arg = sp == std::string_view::npos ? std::string_view{} : trim(line.substr(sp + 1));
  return c;
}

bool is_non_smtp_command(std::string_view line) noexcept {
  std::string_view verb = split_command(line).verb;
  static constexpr std::string_view kHttp[] = {"GET", "POST", "CONNECT", "HEAD", "PUT", "OPTIONS", "DELETE", "PATCH",
                                               "TRACE"};
  for (auto m : kHttp) {
    if (iequals(verb, m)) return true;
  }
  // "Host:", "User-Agent:", "Content-Type:": no SMTP verb ends in a colon
  return verb.size() > 1 && verb.back() == ':';
}

bool has_non_ascii(std::string_view s) noexcept {
  for (unsigned char ch : s) {
    if (ch >= 0x80) return true;
  }
  return false;
}

// RFC 3629 well-formed UTF-8: no overlong forms, surrogates or code
// points above U+10FFFF (RFC 6531 addresses are UTF-8; the dispatcher puts
// them into JSON and MIME headers, where anything else breaks).
bool valid_utf8(std::string_view s) noexcept {
  std::size_t i = 0;
  while (i < s.size()) {
    const auto c = static_cast<unsigned char>(s[i]);
    std::size_t n = 0;
    unsigned char lo = 0x80, hi = 0xbf;  // bounds of the second octet
    if (c < 0x80) {
      ++i;
      continue;
    }
    if (c >= 0xc2 && c <= 0xdf) n = 1;
    else if (c == 0xe0) n = 2, lo = 0xa0;
    else if (c == 0xed) n = 2, hi = 0x9f;
    else if (c >= 0xe1 && c <= 0xef) n = 2;
    else if (c == 0xf0) n = 3, lo = 0x90;
    else if (c == 0xf4) n = 3, hi = 0x8f;
    else if (c >= 0xf1 && c <= 0xf3) n = 3;
    else return false;
    if (i + n >= s.size()) return false;  // truncated sequence
    for (std::size_t k = 1; k <= n; ++k) {
      const auto d = static_cast<unsigned char>(s[i + k]);
      if (d < (k == 1 ? lo : 0x80) || d > (k == 1 ? hi : 0xbf)) return false;
    }
    i += n + 1;
  }
  return true;
}

PathError check_address(std::string_view address, bool utf8_ok) {
  if (address.size() > kMaxAddress) return PathError::BadAddress;
  bool quoted = false;
  for (std::size_t i = 0; i < address.size(); ++i) {
    auto ch = static_cast<unsigned char>(address[i]);
    if (ch < 0x20 || ch == 0x7f) return PathError::BadAddress;
    if (quoted && ch == '\\') {  // quoted-pair: the next octet is literal (still no controls)
      if (++i == address.size()) return PathError::BadAddress;
      ch = static_cast<unsigned char>(address[i]);
      if (ch < 0x20 || ch == 0x7f) return PathError::BadAddress;
      continue;
    }
    if (ch == '"') quoted = !quoted;
    if (!quoted && (ch == ' ' || ch == '<' || ch == '>' || ch == ',')) return PathError::BadAddress;
  }
  if (quoted) return PathError::BadAddress;
  if (!address.empty()) {
    auto at = address.rfind('@');
    if (at == 0 || (at != std::string_view::npos && at + 1 == address.size())) return PathError::BadAddress;
  }
  if (has_non_ascii(address)) {
    if (!utf8_ok) return PathError::NeedSmtpUtf8;
    if (!valid_utf8(address)) return PathError::BadAddress;
  }
  return PathError::None;
}

namespace {
void split_params(std::string_view text, std::vector<Param>& out) {
  while (!text.empty()) {
    auto sp = text.find(' ');
    std::string_view tok = text.substr(0, sp);
    text = sp == std::string_view::npos ? std::string_view{} : trim(text.substr(sp + 1));
    if (tok.empty()) continue;
    Param p;
    auto eq = tok.find('=');
    p.key = tok.substr(0, eq);
    if (eq != std::string_view::npos) {
      p.value = tok.substr(eq + 1);
      p.has_value = true;
    }
    out.push_back(p);
  }
}
}  // namespace

namespace {
// The '>' that closes a path ("<...>" without its '<'): one inside a
// quoted local part ("a>b"@x, with quoted pairs) does not count.
std::size_t path_end(std::string_view s) noexcept {
  bool quoted = false;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (quoted && s[i] == '\\') {
      ++i;
    } else if (s[i] == '"') {
      quoted = !quoted;
    } else if (!quoted && s[i] == '>') {
      return i;
    }
  }
  return std::string_view::npos;
}
}  // namespace

PathError parse_path(std::string_view arg, std::string_view keyword, Path& out) {
  if (!istarts_with(arg, keyword)) return PathError::Syntax;
  std::string_view rest = trim(arg.substr(keyword.size()));
  std::string_view addr;
  if (!rest.empty() && rest.front() == '<') {
    auto close = path_end(rest.substr(1));
    if (close == std::string_view::npos) return PathError::Syntax;
    addr = rest.substr(1, close);
    rest = rest.substr(close + 2);
    if (!rest.empty() && rest.front() != ' ') return PathError::Syntax;
  } else {
    // Lenient: "MAIL FROM:user@example.com" (no brackets, as old clients send).
    auto sp = rest.find(' ');
    addr = rest.substr(0, sp);
    rest = sp == std::string_view::npos ? std::string_view{} : rest.substr(sp);
    if (addr.empty()) return PathError::Syntax;
  }
  if (!addr.empty() && addr.front() == '@') {  // source route: drop it
    auto colon = addr.find(':');
    if (colon == std::string_view::npos) return PathError::BadAddress;
    addr = addr.substr(colon + 1);
  }
  out.address.assign(addr);
  out.params.clear();
  out.params_text = trim(rest);
  split_params(out.params_text, out.params);
  return PathError::None;
}

}  // namespace relay::smtp
