// relay::config — ${env:NAME} / ${file:PATH} references; see config_values.hpp.
// Secret values never appear in error messages: only the name or path does.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>

#include "common/config_values.hpp"

namespace relay::config {
namespace {

std::optional<std::string> read_secret_file(const std::filesystem::path& p, std::string* why) {
  const std::string ref = "${file:" + p.string() + "}";
  const std::string too_large = ref + " is larger than " + std::to_string(kMaxSecretFileSize / 1024) +
                                " KB (a secret file holds one secret; is the path right?)";
  std::string s;
  int err = 0;
  switch (read_regular_file(p, kMaxSecretFileSize + 2, &s, &err)) {  // room for a trailing CRLF
    case ReadStatus::Ok: break;
    case ReadStatus::OpenFailed: *why = "cannot read " + ref + ": " + std::strerror(err); return std::nullopt;
    case ReadStatus::ReadFailed: *why = "error reading " + ref + ": " + std::strerror(err); return std::nullopt;
    case ReadStatus::Directory: *why = "cannot read " + ref + ": is a directory"; return std::nullopt;
    case ReadStatus::NotRegular: *why = "cannot read " + ref + ": not a regular file"; return std::nullopt;
    case ReadStatus::TooLarge: *why = too_large; return std::nullopt;
  }
  if (!s.empty() && s.back() == '\n') {  // exactly one line end: LF or CRLF
    s.pop_back();
    if (!s.empty() && s.back() == '\r') s.pop_back();
  }
  if (s.size() > kMaxSecretFileSize) {
    *why = too_large;
    return std::nullopt;
  }
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

ReadStatus read_regular_file(const std::filesystem::path& p, std::size_t max, std::string* out, int* err) {
  out->clear();
  // O_NONBLOCK: opening a FIFO must not hang; it is refused below.
  int fd = ::open(p.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
  if (fd < 0) {
    *err = errno;
    return ReadStatus::OpenFailed;
  }
  struct stat st{};
  ReadStatus status = ReadStatus::Ok;
  if (::fstat(fd, &st) != 0) {
    *err = errno;
    status = ReadStatus::ReadFailed;
  } else if (S_ISDIR(st.st_mode)) {
    status = ReadStatus::Directory;
  } else if (!S_ISREG(st.st_mode)) {
    status = ReadStatus::NotRegular;
  } else if (static_cast<std::uintmax_t>(st.st_size) > max) {
    status = ReadStatus::TooLarge;  // judged before reading a byte
  }
  char buf[16384];
  while (status == ReadStatus::Ok) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      *err = errno;
      status = ReadStatus::ReadFailed;
    } else if (n == 0) {
      break;
    } else if (out->size() + static_cast<std::size_t>(n) > max) {
      status = ReadStatus::TooLarge;  // it grew while we read
    } else {
      out->append(buf, static_cast<std::size_t>(n));
    }
  }
  ::close(fd);
  if (status != ReadStatus::Ok) out->clear();
  return status;
}

std::optional<std::string> expand_secrets(std::string_view text, const std::filesystem::path& base_dir,
                                          std::string* why,
                                          std::vector<std::pair<std::string, std::string>>* resolved) {
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
    if (resolved) resolved->emplace_back(*v, std::string(text.substr(i, close - i + 1)));
    out += *v;
    i = close + 1;
  }
  return out;
}

}  // namespace relay::config
