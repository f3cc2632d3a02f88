// relay::spool refusal summaries (see refusal_summary.hpp).
#include "spool/refusal_summary.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstring>

#include "spool/queue_id.hpp"

namespace relay::spool {
namespace {

constexpr std::string_view kMagic = "relay-refusals 1";

std::string_view cut(std::string_view s, std::size_t n) { return s.substr(0, std::min(s.size(), n)); }

// "" -> "~"; bytes <= 0x20, '%', '~', 0x7f -> %XX: a field never holds a space.
void encode(std::string& out, std::string_view v) {
  static constexpr char hex[] = "0123456789ABCDEF";
  if (v.empty()) {
    out += '~';
    return;
  }
  for (unsigned char c : v) {
    if (c <= 0x20 || c == 0x7f || c == '%' || c == '~') {
      out += '%';
      out += hex[c >> 4];
      out += hex[c & 15];
    } else {
      out += static_cast<char>(c);
    }
  }
}

int hexval(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

bool decode(std::string_view v, std::string* out) {
  out->clear();
  if (v == "~") return true;
  for (std::size_t i = 0; i < v.size(); ++i) {
    if (v[i] != '%') {
      *out += v[i];
      continue;
    }
    if (i + 2 >= v.size()) return false;
    int hi = hexval(v[i + 1]), lo = hexval(v[i + 2]);
    if (hi < 0 || lo < 0) return false;
    *out += static_cast<char>(hi * 16 + lo);
    i += 2;
  }
  return true;
}

template <typename T>
bool number(std::string_view s, T* out) {
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), *out);
  return ec == std::errc() && p == s.data() + s.size();
}

bool parse_line(std::string_view line, RefusalEntry* e) {
  std::vector<std::string_view> f;
  while (!line.empty()) {
    auto sp = line.find(' ');
    f.push_back(line.substr(0, sp));
    line = sp == std::string_view::npos ? std::string_view() : line.substr(sp + 1);
  }
  if (f.size() != 8 || f[0] != "r") return false;
  return number(f[1], &e->count) && number(f[2], &e->tls_count) && number(f[3], &e->first_at) &&
         number(f[4], &e->last_at) && decode(f[5], &e->client_addr) && decode(f[6], &e->auth_user) &&
         decode(f[7], &e->last_reason);
}

}  // namespace

void RefusalTally::note(std::string_view client, std::string_view user, bool tls, std::string_view reason,
                        std::int64_t now) {
  std::pair<std::string, std::string> key{std::string(cut(client, kMaxClient)), std::string(cut(user, kMaxUser))};
  auto it = entries_.find(key);
  if (it == entries_.end()) {
    if (entries_.size() >= max_entries_) {  // full: the overflow entry counts it (it may exceed the cap by one)
      key = {"*", "*"};
      ++overflowed_;
    }
    it = entries_.try_emplace(key).first;
    if (it->second.count == 0) {
      it->second.client_addr = key.first;
      it->second.auth_user = key.second;
      it->second.first_at = now;
    }
  }
  RefusalEntry& e = it->second;
  ++e.count;
  e.tls_count += tls ? 1 : 0;
  e.last_at = now;
  e.last_reason.assign(cut(reason, kMaxReason));
}

std::vector<RefusalEntry> RefusalTally::entries() const {
  std::vector<RefusalEntry> out;
  out.reserve(entries_.size());
  for (const auto& [k, e] : entries_) out.push_back(e);
  return out;
}

std::string serialize_refusals(const std::vector<RefusalEntry>& entries) {
  std::string out(kMagic);
  out += '\n';
  for (const auto& e : entries) {
    out += "r " + std::to_string(e.count) + ' ' + std::to_string(e.tls_count) + ' ' + std::to_string(e.first_at) +
           ' ' + std::to_string(e.last_at) + ' ';
    encode(out, e.client_addr);
    out += ' ';
    encode(out, e.auth_user);
    out += ' ';
    encode(out, e.last_reason);
    out += '\n';
  }
  return out + "end\n";
}

bool parse_refusals(std::string_view text, std::vector<RefusalEntry>* out, std::string* error) {
  out->clear();
  std::size_t line_no = 0;
  bool ended = false;
  while (!text.empty()) {
    auto nl = text.find('\n');
    if (nl == std::string_view::npos) break;  // a last line without newline: truncated
    std::string_view line = text.substr(0, nl);
    text.remove_prefix(nl + 1);
    ++line_no;
    if (line_no == 1) {
      if (line != kMagic) return *error = "not a refusal summary (bad first line)", false;
      continue;
    }
    if (line == "end") {
      ended = true;
      break;
    }
    RefusalEntry e;
    if (!parse_line(line, &e)) return *error = "bad line " + std::to_string(line_no), false;
    out->push_back(std::move(e));
  }
  if (!ended) return *error = "truncated: no end line", false;
  return true;
}

std::vector<std::filesystem::path> pending_refusal_summaries(const std::filesystem::path& dir) {
  std::vector<std::filesystem::path> out;
  std::error_code ec;
  for (const auto& de : std::filesystem::directory_iterator(dir, ec)) {
    const auto& p = de.path();
    if (p.extension() == ".sum" && de.is_regular_file(ec)) out.push_back(p);
  }
  std::sort(out.begin(), out.end());
  return out;
}

bool write_refusal_summary(const std::filesystem::path& dir, const std::vector<RefusalEntry>& entries,
                           std::string* name, std::string* error) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (pending_refusal_summaries(dir).size() >= kMaxRefusalFiles) {
    *error = "too many summaries waiting for import (" + std::to_string(kMaxRefusalFiles) + ")";
    return false;
  }
  *name = QueueId::generate().str() + ".sum";
  const auto tmp = dir / ("." + *name + ".tmp");
  const std::string bytes = serialize_refusals(entries);
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0640);
  if (fd < 0) return *error = tmp.string() + ": " + std::strerror(errno), false;
  std::size_t off = 0;
  while (off < bytes.size()) {
    ssize_t n = ::write(fd, bytes.data() + off, bytes.size() - off);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    off += static_cast<std::size_t>(n);
  }
  int err = off == bytes.size() ? 0 : errno;
  if (::close(fd) != 0 && err == 0) err = errno;
  if (err == 0 && ::rename(tmp.c_str(), (dir / *name).c_str()) != 0) err = errno;
  if (err != 0) {
    ::unlink(tmp.c_str());
    *error = tmp.string() + ": " + std::strerror(err);
    return false;
  }
  return true;
}

bool read_refusal_summary(const std::filesystem::path& file, std::vector<RefusalEntry>* out, std::string* error) {
  int fd = ::open(file.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0) return *error = std::strerror(errno), false;
  std::string text;
  char buf[65536];
  for (;;) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    text.append(buf, static_cast<std::size_t>(n));
    if (text.size() > (8u << 20)) break;  // far above any summary: refuse to parse
  }
  ::close(fd);
  if (text.size() > (8u << 20)) return *error = "file too large", false;
  return parse_refusals(text, out, error);
}

}  // namespace relay::spool
