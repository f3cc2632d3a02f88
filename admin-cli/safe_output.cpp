// relay::admin safe output (see safe_output.hpp).
#include "admin-cli/safe_output.hpp"

#include <fmt/format.h>

#include <cerrno>
#include <cstdint>

namespace relay::admin {
namespace {

void escape(unsigned char c, std::string& out) { out += fmt::format("\\x{:02x}", c); }

// Leading byte -> number of continuation bytes (-1: not a valid lead).
int continuation_count(unsigned char c) {
  if (c >= 0xc2 && c <= 0xdf) return 1;
  if (c >= 0xe0 && c <= 0xef) return 2;
  if (c >= 0xf0 && c <= 0xf4) return 3;
  return -1;
}

}  // namespace

bool utf8_second_byte_ok(unsigned char lead, unsigned char c) noexcept {
  switch (lead) {
    case 0xe0: return c >= 0xa0 && c <= 0xbf;  // no overlong 3-byte forms
    case 0xed: return c >= 0x80 && c <= 0x9f;  // no surrogates U+D800..DFFF
    case 0xf0: return c >= 0x90 && c <= 0xbf;  // no overlong 4-byte forms
    case 0xf4: return c >= 0x80 && c <= 0x8f;  // nothing above U+10FFFF
    default: return (c & 0xc0) == 0x80;
  }
}

std::size_t utf8_sequence_length(std::string_view s, std::size_t i) noexcept {
  if (i >= s.size()) return 0;
  auto lead = static_cast<unsigned char>(s[i]);
  int more = continuation_count(lead);
  if (more < 0) return 0;
  std::size_t n = static_cast<std::size_t>(more) + 1;
  if (i + n > s.size() || !utf8_second_byte_ok(lead, static_cast<unsigned char>(s[i + 1]))) return 0;
  for (std::size_t k = 2; k < n; ++k)
    if ((static_cast<unsigned char>(s[i + k]) & 0xc0) != 0x80) return 0;
  return n;
}

void ControlFilter::flush_pending_as_escapes(std::string& out) {
  for (unsigned char p : pending_) escape(p, out);
  pending_.clear();
  need_ = 0;
}

void ControlFilter::byte(unsigned char c, std::string& out) {
  if (need_ > 0) {
    bool fits = pending_.size() == 1 ? utf8_second_byte_ok(static_cast<unsigned char>(pending_[0]), c)
                                     : (c & 0xc0) == 0x80;
    if (fits) {
      pending_ += static_cast<char>(c);
      if (--need_ > 0) return;
      // U+0080..U+009F (C2 80..C2 9F) are C1 controls: CSI, OSC, ...
      bool c1 = static_cast<unsigned char>(pending_[0]) == 0xc2 && c <= 0x9f;
      if (c1) flush_pending_as_escapes(out);
      else out += pending_;
      pending_.clear();
      return;
    }
    flush_pending_as_escapes(out);  // a cut-off sequence; judge c on its own
  }
  if (c < 0x80) {
    bool keep = keep_newlines_ && (c == '\n' || c == '\t');
    if ((c < 0x20 || c == 0x7f) && !keep) escape(c, out);
    else out += static_cast<char>(c);
    return;
  }
  int n = continuation_count(c);
  if (n < 0) return escape(c, out);
  pending_.assign(1, static_cast<char>(c));
  need_ = n;
}

void ControlFilter::feed(std::string_view bytes, std::string& out) {
  for (char ch : bytes) byte(static_cast<unsigned char>(ch), out);
}

void ControlFilter::finish(std::string& out) { flush_pending_as_escapes(out); }

std::string printable(std::string_view s) {
  ControlFilter f(false);
  std::string out;
  out.reserve(s.size());
  f.feed(s, out);
  f.finish(out);
  return out;
}

namespace {

struct Cookie {
  std::FILE* to;
  ControlFilter filter{true};
  bool reader_gone = false;  // EPIPE seen: the rest is dropped
};

ssize_t cookie_write(void* c, const char* buf, size_t size) {
  auto* k = static_cast<Cookie*>(c);
  if (k->reader_gone) return static_cast<ssize_t>(size);
  std::string out;
  k->filter.feed(std::string_view(buf, size), out);
  errno = 0;
  bool ok = out.empty() || std::fwrite(out.data(), 1, out.size(), k->to) == out.size();
  if (std::fflush(k->to) != 0) ok = false;
  if (ok) return static_cast<ssize_t>(size);
  if (errno != EPIPE) return -1;  // a real write error (disk full): the caller reports it
  // `relayctl queue list | head -1`: the reader has what it wanted. Finish
  // the command quietly (SIGPIPE is ignored in main.cpp).
  k->reader_gone = true;
  std::clearerr(k->to);
  return static_cast<ssize_t>(size);
}

int cookie_close(void* c) {
  auto* k = static_cast<Cookie*>(c);
  std::string out;
  k->filter.finish(out);
  if (!out.empty()) std::fwrite(out.data(), 1, out.size(), k->to);
  int rc = std::fflush(k->to);
  delete k;
  return rc;
}

}  // namespace

std::FILE* escaping_stream(std::FILE* to) {
  auto* k = new Cookie{to};
  cookie_io_functions_t io{nullptr, cookie_write, nullptr, cookie_close};
  std::FILE* f = ::fopencookie(k, "w", io);
  if (!f) {
    delete k;
    return to;
  }
  ::setvbuf(f, nullptr, _IOLBF, 0);  // a running command's lines appear as they are printed
  return f;
}

}  // namespace relay::admin
