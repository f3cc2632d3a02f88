// See journal.hpp.
#include "dispatcher/dlog/journal.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "common/log.hpp"

namespace relay::dlog {
namespace {

// Owner of the journal fd with its exclusive flock.
class LockedFile {
 public:
  LockedFile(const std::filesystem::path& path, int flags, std::string* error) {
    fd_ = ::open(path.c_str(), flags | O_CLOEXEC, 0600);
    if (fd_ < 0) {
      *error = "open " + path.string() + ": " + std::strerror(errno);
      return;
    }
    while (::flock(fd_, LOCK_EX) != 0) {
      if (errno == EINTR) continue;
      *error = "lock " + path.string() + ": " + std::strerror(errno);
      ::close(fd_);
      fd_ = -1;
      return;
    }
  }
  LockedFile(const LockedFile&) = delete;
  LockedFile& operator=(const LockedFile&) = delete;
  ~LockedFile() {
    if (fd_ >= 0) ::close(fd_);  // drops the lock
  }
  int fd() const noexcept { return fd_; }

 private:
  int fd_ = -1;
};

bool read_fd(int fd, std::string* out, std::string* error) {
  out->clear();
  if (::lseek(fd, 0, SEEK_SET) < 0) {
    *error = std::string("seek: ") + std::strerror(errno);
    return false;
  }
  char buf[65536];
  for (;;) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      *error = std::string("read: ") + std::strerror(errno);
      return false;
    }
    if (n == 0) return true;
    out->append(buf, static_cast<std::size_t>(n));
  }
}

// Complete lines only: a final line without '\n' is a torn write.
std::vector<JournalEntry> parse_lines(const std::string& text, std::size_t* bad) {
  std::vector<JournalEntry> out;
  std::size_t pos = 0;
  while (pos < text.size()) {
    std::size_t nl = text.find('\n', pos);
    std::string_view line(text.data() + pos, (nl == std::string::npos ? text.size() : nl) - pos);
    std::string err;
    auto e = nl == std::string::npos ? std::nullopt : from_journal_line(line, &err);
    if (e) {
      out.push_back(std::move(*e));
    } else if (!line.empty()) {
      ++*bad;
      log::warn("- event=journal_bad_line offset={} reason={}", pos,
                log::quote(nl == std::string::npos ? "torn last line" : err));
    }
    if (nl == std::string::npos) break;
    pos = nl + 1;
  }
  return out;
}

std::uint64_t last_seq(const std::string& text) {
  std::size_t bad = 0;
  auto entries = parse_lines(text, &bad);
  return entries.empty() ? 0 : entries.back().seq;
}

bool write_all(int fd, const std::string& data, std::string* error) {
  std::size_t off = 0;
  while (off < data.size()) {
    ssize_t n = ::write(fd, data.data() + off, data.size() - off);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      *error = std::string("write: ") + std::strerror(errno);
      return false;
    }
    off += static_cast<std::size_t>(n);
  }
  return true;
}

// Sequence number of the last complete line. The journal can grow during a
// long outage, so only its tail is read unless that holds no whole line.
bool tail_seq(int fd, std::uint64_t* seq, bool* ends_torn, std::string* error) {
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    *error = std::string("stat journal: ") + std::strerror(errno);
    return false;
  }
  *seq = 0;
  *ends_torn = false;
  if (st.st_size == 0) return true;
  off_t from = st.st_size > 65536 ? st.st_size - 65536 : 0;
  std::string text(static_cast<std::size_t>(st.st_size - from), '\0');
  ssize_t n = ::pread(fd, text.data(), text.size(), from);
  if (n < 0) {
    *error = std::string("read journal: ") + std::strerror(errno);
    return false;
  }
  text.resize(static_cast<std::size_t>(n));
  *ends_torn = !text.empty() && text.back() != '\n';
  std::size_t end = text.rfind('\n');
  while (end != std::string::npos && end > 0) {
    std::size_t begin = text.rfind('\n', end - 1);
    if (begin == std::string::npos && from > 0) break;  // line starts before the tail
    begin = begin == std::string::npos ? 0 : begin + 1;
    std::string err;
    if (auto e = from_journal_line(std::string_view(text).substr(begin, end - begin), &err)) {
      *seq = e->seq;
      return true;
    }
    end = begin == 0 ? std::string::npos : begin - 1;
  }
  if (from == 0) return true;
  std::string all;
  if (!read_fd(fd, &all, error)) return false;
  *seq = last_seq(all);
  return true;
}

}  // namespace

bool Journal::append(std::span<const Record> records, std::string* error) {
  bool any = false;
  for (const auto& r : records) any = any || journaled(r);
  if (!any) return true;
  bool existed = std::filesystem::exists(path_);
  LockedFile f(path_, O_RDWR | O_CREAT | O_APPEND, error);
  if (f.fd() < 0) return false;
  std::uint64_t seq = 0;
  bool torn = false;
  if (!tail_seq(f.fd(), &seq, &torn, error)) return false;
  std::string out;
  if (torn) out += '\n';  // end a torn line so the next one stays readable
  for (const auto& r : records) {
    if (!journaled(r)) continue;
    out += to_journal_line(r, ++seq);
    out += '\n';
  }
  if (!write_all(f.fd(), out, error)) return false;
  if (::fsync(f.fd()) != 0) {
    *error = std::string("fsync journal: ") + std::strerror(errno);
    return false;
  }
  if (!existed) {  // make the new directory entry durable too
    int dfd = ::open(path_.parent_path().empty() ? "." : path_.parent_path().c_str(), O_RDONLY | O_DIRECTORY);
    if (dfd >= 0) {
      ::fsync(dfd);
      ::close(dfd);
    }
  }
  return true;
}

bool Journal::empty() const {
  struct stat st {};
  return ::stat(path_.c_str(), &st) != 0 || st.st_size == 0;
}

Journal::ReplayResult Journal::replay(const Sink& sink, std::size_t chunk) {
  ReplayResult res;
  if (empty()) {
    res.ok = true;
    return res;
  }
  LockedFile f(path_, O_RDWR, &res.error);
  if (f.fd() < 0) return res;
  std::string text;
  if (!read_fd(f.fd(), &text, &res.error)) return res;
  auto entries = parse_lines(text, &res.bad_lines);
  std::vector<Record> batch;
  for (std::size_t i = 0; i < entries.size(); i += chunk) {
    batch.clear();
    for (std::size_t k = i; k < entries.size() && k < i + chunk; ++k) batch.push_back(entries[k].record);
    if (!sink(batch)) {
      res.error = "sink refused";
      return res;
    }
    res.replayed += batch.size();
  }
  if (::ftruncate(f.fd(), 0) != 0 || ::fsync(f.fd()) != 0) {
    res.error = std::string("truncate journal: ") + std::strerror(errno);
    return res;
  }
  res.ok = true;
  return res;
}

std::vector<JournalEntry> Journal::read_all(std::size_t* bad_lines) const {
  std::string error, text;
  std::size_t bad = 0;
  int fd = ::open(path_.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return {};
  bool ok = read_fd(fd, &text, &error);
  ::close(fd);
  auto out = ok ? parse_lines(text, &bad) : std::vector<JournalEntry>{};
  if (bad_lines) *bad_lines = bad;
  return out;
}

}  // namespace relay::dlog
