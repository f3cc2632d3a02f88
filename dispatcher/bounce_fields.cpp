// See bounce.hpp. This file: the field-level helpers of the DSN (status
// from a reply, folding, reading the original header block) and the
// decision whether a bounce is due.
#include <fcntl.h>
#include <unistd.h>

#include <cctype>
#include <cerrno>

#include "dispatcher/bounce.hpp"

namespace relay::dispatch {
namespace {

bool digit(char c) { return c >= '0' && c <= '9'; }

// "d.ddd.ddd" at the start of s; its length or 0.
std::size_t enhanced_at(std::string_view s) {
  if (s.size() < 5 || (s[0] != '2' && s[0] != '4' && s[0] != '5') || s[1] != '.') return 0;
  std::size_t i = 2, n = 0;
  while (i < s.size() && digit(s[i]) && n < 3) ++i, ++n;
  if (n == 0 || i >= s.size() || s[i] != '.') return 0;
  ++i;
  n = 0;
  while (i < s.size() && digit(s[i]) && n < 3) ++i, ++n;
  if (n == 0 || (i < s.size() && digit(s[i]))) return 0;
  return i;
}

}  // namespace

std::string bounce_reason(bool enabled, const spool::Envelope& failed, const MessageInfo& info) {
  if (!enabled) return "bounces off";
  // RFC 5321 4.5.5 / RFC 3464 2: never answer the null reverse path (a DSN,
  // a notice). A DSN that arrived with a sender anyway is not answered
  // either: two broken MTAs could otherwise bounce to each other forever.
  if (failed.mail_from.empty()) return "null sender";
  if (info.is_dsn) return "message is a delivery status notification";
  for (const auto& r : failed.rcpts)
    if (r.state == spool::RcptState::Failed) return "";
  return "no failed recipient";
}

std::string dsn_status(std::string_view reply) {
  if (reply.starts_with("expired after ")) return "4.4.7";
  if (reply.starts_with("unparseable message")) return "5.6.0";
  std::string_view s = reply;
  if (s.size() >= 4 && digit(s[0]) && digit(s[1]) && digit(s[2]) && (s[3] == ' ' || s[3] == '-')) s.remove_prefix(4);
  if (std::size_t n = enhanced_at(s)) return std::string(s.substr(0, n));
  return "5.0.0";
}

std::string fold_field(std::string_view name, std::string_view value) {
  std::string v(value);
  for (auto& c : v)
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) c = ' ';
  std::string out(name);
  out += ':';
  std::size_t line = out.size(), i = 0;
  bool first = true;
  while (i < v.size()) {
    while (i < v.size() && v[i] == ' ') ++i;  // runs of spaces collapse into the fold
    if (i >= v.size()) break;
    std::size_t end = v.find(' ', i);
    if (end == std::string::npos) end = v.size();
    std::string_view word(v.data() + i, end - i);
    while (!word.empty()) {  // a word over 900 octets has no whitespace to fold at: hard chunks
      std::string_view chunk = word.substr(0, 900);
      word.remove_prefix(chunk.size());
      if (!first && line + 1 + chunk.size() > 78) {
        out += "\r\n ";
        line = 1;
      } else {
        out += ' ';
        ++line;
      }
      out.append(chunk);
      line += chunk.size();
      first = false;
    }
    i = end;
  }
  out += "\r\n";
  return out;
}

std::string read_header_block(const std::filesystem::path& path, std::size_t max) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return "";
  std::string buf(max + 1, '\0');
  std::size_t have = 0;
  while (have < buf.size()) {
    ssize_t n = ::read(fd, buf.data() + have, buf.size() - have);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    have += static_cast<std::size_t>(n);
  }
  ::close(fd);
  buf.resize(have);
  std::size_t end = buf.find("\r\n\r\n");
  if (end != std::string::npos) return buf.substr(0, end + 2);
  if (have <= max) return buf;  // no body at all: the whole file is headers
  // Over the bound: keep the fields that are complete (a line break followed
  // by a non-continuation line starts the next field).
  std::size_t cut = 0;
  for (std::size_t p = buf.find("\r\n"); p != std::string::npos && p + 2 <= max; p = buf.find("\r\n", p + 2))
    if (buf[p + 2] != ' ' && buf[p + 2] != '\t') cut = p + 2;
  return buf.substr(0, cut);
}

}  // namespace relay::dispatch
