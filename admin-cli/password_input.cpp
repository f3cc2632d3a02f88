// relay::admin password input (see password_input.hpp).
#include "admin-cli/password_input.hpp"

#include <fcntl.h>
#include <fmt/format.h>
#include <sys/stat.h>
#include <termios.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <iostream>

namespace relay::admin {
namespace {

constexpr std::size_t kMaxPasswordFile = 4096;

// Turns terminal echo off for its lifetime.
class NoEcho {
 public:
  explicit NoEcho(int fd) : fd_(fd) {
    if (tcgetattr(fd_, &saved_) != 0) return;
    termios t = saved_;
    t.c_lflag &= ~static_cast<tcflag_t>(ECHO);
    active_ = tcsetattr(fd_, TCSAFLUSH, &t) == 0;
  }
  ~NoEcho() {
    if (active_) tcsetattr(fd_, TCSAFLUSH, &saved_);
  }
  NoEcho(const NoEcho&) = delete;
  NoEcho& operator=(const NoEcho&) = delete;

 private:
  int fd_;
  termios saved_{};
  bool active_ = false;
};

}  // namespace

std::string read_line_stdin() {
  std::string line;
  std::getline(std::cin, line);
  if (!line.empty() && line.back() == '\r') line.pop_back();
  return line;
}

std::string prompt_no_echo(std::FILE* err, const char* text) {
  fmt::print(err, "{}", text);
  std::fflush(err);
  NoEcho guard(STDIN_FILENO);
  std::string line = read_line_stdin();
  fmt::print(err, "\n");
  return line;
}

std::optional<std::string> read_password_file(const std::filesystem::path& p, std::string* error) {
  int fd = ::open(p.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
  if (fd < 0) {
    *error = fmt::format("password file {}: {}", p.string(), std::strerror(errno));
    return std::nullopt;
  }
  struct stat st{};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || static_cast<std::size_t>(st.st_size) > kMaxPasswordFile) {
    ::close(fd);
    *error = fmt::format("password file {}: not a regular file of at most 4 KB", p.string());
    return std::nullopt;
  }
  std::string text(kMaxPasswordFile, '\0');
  ssize_t n;
  do n = ::read(fd, text.data(), text.size());
  while (n < 0 && errno == EINTR);
  int read_errno = errno;
  ::close(fd);
  if (n < 0) {
    *error = fmt::format("password file {}: {}", p.string(), std::strerror(read_errno));
    return std::nullopt;
  }
  text.resize(static_cast<std::size_t>(n));
  if (auto eol = text.find('\n'); eol != std::string::npos) text.resize(eol);
  if (!text.empty() && text.back() == '\r') text.pop_back();
  if (text.empty()) {
    *error = fmt::format("password file {}: the first line is empty", p.string());
    return std::nullopt;
  }
  return text;
}

}  // namespace relay::admin
