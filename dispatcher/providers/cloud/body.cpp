// See body.hpp.
#include "dispatcher/providers/cloud/body.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "dispatcher/providers/cloud/codec.hpp"

namespace relay::provider::cloud {

namespace {
constexpr std::size_t kRawChunk = 48 * 1024;  // a multiple of 3: chunks encode independently
}

Body Body::of(std::string bytes) {
  Body b;
  b.add(std::make_shared<const std::string>(std::move(bytes)));
  return b;
}

Body& Body::add(std::shared_ptr<const std::string> s) {
  const std::uint64_t n = s ? s->size() : 0;
  return add(std::move(s), 0, n);
}

Body& Body::add(std::shared_ptr<const std::string> s, std::uint64_t offset, std::uint64_t length) {
  if (s && length > 0) pieces_.push_back(Piece{std::move(s), {}, offset, length});
  return *this;
}

Body& Body::add_base64(std::shared_ptr<const std::string> s, std::uint64_t offset, std::uint64_t length) {
  if (s && length > 0) pieces_.push_back(Piece{std::move(s), {}, offset, length, true});
  return *this;
}

Body& Body::add_file(std::filesystem::path file, std::uint64_t offset, std::uint64_t length) {
  if (length > 0) pieces_.push_back(Piece{nullptr, std::move(file), offset, length});
  return *this;
}

std::uint64_t Body::raw_size() const noexcept {
  std::uint64_t n = 0;
  for (const auto& p : pieces_) n += p.length;
  return n;
}

namespace {
std::uint64_t encoded_size(std::uint64_t n) { return (n + 2) / 3 * 4; }
}  // namespace

std::uint64_t Body::size() const noexcept {
  if (base64_) return encoded_size(raw_size());
  std::uint64_t n = 0;
  for (const auto& p : pieces_) n += p.base64 ? encoded_size(p.length) : p.length;
  return n;
}

bool Body::plain() const noexcept {
  if (base64_) return false;
  for (const auto& p : pieces_)
    if (p.base64) return false;
  return true;
}

Body Body::slice(std::uint64_t from) const {
  const std::uint64_t n = raw_size();
  return slice(from, from >= n ? 0 : n - from);
}

Body Body::slice(std::uint64_t from, std::uint64_t length) const {
  Body out;
  out.base64_ = base64_;
  for (const auto& p : pieces_) {
    if (length == 0) break;
    if (from >= p.length) {
      from -= p.length;
      continue;
    }
    Piece q = p;
    q.offset += from;
    q.length = std::min(p.length - from, length);
    length -= q.length;
    from = 0;
    out.pieces_.push_back(std::move(q));
  }
  return out;
}

Body Body::base64() const {
  Body out = *this;
  out.base64_ = true;
  return out;
}

bool Body::read_all(std::string* out) const {
  out->clear();
  out->reserve(size());
  BodyReader r(*this);
  char buf[64 * 1024];
  for (;;) {
    long n = r.read(buf, sizeof buf);
    if (n < 0) return false;
    if (n == 0) return true;
    out->append(buf, static_cast<std::size_t>(n));
  }
}

BodyReader::BodyReader(Body body) : body_(std::move(body)) {}

BodyReader::~BodyReader() {
  if (fd_ >= 0) ::close(fd_);
}

long BodyReader::read_raw(char* out, std::size_t n) {
  std::size_t done = 0;
  const auto& pieces = body_.pieces();
  while (done < n && piece_ < pieces.size()) {
    const Body::Piece& p = pieces[piece_];
    const std::size_t want = static_cast<std::size_t>(std::min<std::uint64_t>(n - done, p.length - at_));
    if (p.mem) {
      std::memcpy(out + done, p.mem->data() + p.offset + at_, want);
      done += want;
      at_ += want;
    } else {
      if (fd_ < 0 && (fd_ = ::open(p.file.c_str(), O_RDONLY | O_CLOEXEC)) < 0) {
        error_ = "cannot open " + p.file.string() + ": " + std::strerror(errno);
        return -1;
      }
      ssize_t got = ::pread(fd_, out + done, want, static_cast<off_t>(p.offset + at_));
      if (got < 0 && errno == EINTR) continue;
      if (got <= 0) {
        error_ = "cannot read " + p.file.string() + ": " + (got < 0 ? std::strerror(errno) : "file shorter than expected");
        return -1;
      }
      done += static_cast<std::size_t>(got);
      at_ += static_cast<std::uint64_t>(got);
    }
    if (at_ == p.length) {
      if (fd_ >= 0) ::close(fd_);
      fd_ = -1;
      ++piece_;
      at_ = 0;
    }
  }
  return static_cast<long>(done);
}

bool BodyReader::stage(std::uint64_t limit) {
  std::string raw(static_cast<std::size_t>(std::min<std::uint64_t>(kRawChunk, limit)), '\0');
  std::size_t got = 0;
  while (got < raw.size()) {  // fill the chunk: only the last one may end short of a multiple of 3
    long r = read_raw(raw.data() + got, raw.size() - got);
    if (r < 0) return false;
    if (r == 0) break;
    got += static_cast<std::size_t>(r);
  }
  staged_ = cloud::base64(std::string_view(raw.data(), got));
  staged_at_ = 0;
  return true;
}

long BodyReader::read(char* out, std::size_t n) {
  const auto& pieces = body_.pieces();
  if (staged_at_ == staged_.size()) {
    if (body_.encoded()) {
      if (!stage(kRawChunk)) return -1;
    } else if (piece_ < pieces.size() && pieces[piece_].base64) {
      if (!stage(pieces[piece_].length - at_)) return -1;  // this piece only: it is encoded on its own
    } else if (piece_ < pieces.size()) {
      return read_raw(out, static_cast<std::size_t>(std::min<std::uint64_t>(n, pieces[piece_].length - at_)));
    }
  }
  const std::size_t k = std::min(n, staged_.size() - staged_at_);
  std::memcpy(out, staged_.data() + staged_at_, k);
  staged_at_ += k;
  return static_cast<long>(k);
}

}  // namespace relay::provider::cloud
