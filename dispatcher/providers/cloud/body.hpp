// relay::provider::cloud::Body — a request body that is sent without being
// copied: pieces of shared, immutable strings and byte ranges of files (the
// spooled message), optionally base64-encoded as it goes out.
//
// Does: Body describes the bytes (cheap to copy: shared pointers and
// offsets, never the bytes); BodyReader is one transfer's cursor over them,
// used from curl's read callback (CURLOPT_READFUNCTION), reading a file a
// chunk at a time with pread and encoding base64 a chunk at a time. So a
// 35 MB message costs one curl buffer per transfer, not a 35 MB string, and
// no step on the loop is bigger than one chunk.
// Does not: own the files (a spooled .eml is immutable while its delivery
// is in flight; the reader opens it itself and closes it when done).
// Runs on: any thread (the reader on the transfer's loop thread).
// Fails: read() returns -1 when a file cannot be opened or read (the
// transfer is then aborted: a transport error, transient).
#pragma once
#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

namespace relay::provider::cloud {

class Body {
 public:
  Body() = default;
  static Body of(std::string bytes);  // owns a copy made by the caller (moved in)
  Body& add(std::shared_ptr<const std::string> s);
  Body& add(std::shared_ptr<const std::string> s, std::uint64_t offset, std::uint64_t length);
  Body& add_file(std::filesystem::path file, std::uint64_t offset, std::uint64_t length);
  // This string's bytes base64-encoded on their own (a JSON "contentBytes" value).
  Body& add_base64(std::shared_ptr<const std::string> s, std::uint64_t offset, std::uint64_t length);

  // The bytes from `from` on (a resumed upload), and [from, from+length);
  // offsets count raw bytes (for a body without add_base64 pieces).
  Body slice(std::uint64_t from) const;
  Body slice(std::uint64_t from, std::uint64_t length) const;
  // All the bytes, as one, base64 encoded (RFC 4648 section 4, padded, no line breaks).
  Body base64() const;

  std::uint64_t raw_size() const noexcept;  // before encoding
  std::uint64_t size() const noexcept;      // as sent
  bool encoded() const noexcept { return base64_; }  // as a whole
  bool plain() const noexcept;  // no encoding at all: raw offsets are offsets as sent (slice to seek)
  // All of it in one string (tests, small bodies): reads files.
  bool read_all(std::string* out) const;

  struct Piece {
    std::shared_ptr<const std::string> mem;  // set: bytes of this string
    std::filesystem::path file;              // else: bytes of this file
    std::uint64_t offset = 0, length = 0;
    bool base64 = false;                     // encoded on its own (add_base64)
  };
  const std::vector<Piece>& pieces() const noexcept { return pieces_; }

 private:
  std::vector<Piece> pieces_;
  bool base64_ = false;
};

class BodyReader {
 public:
  explicit BodyReader(Body body);
  ~BodyReader();
  BodyReader(const BodyReader&) = delete;
  BodyReader& operator=(const BodyReader&) = delete;
  // Up to n bytes into out; 0 at the end; -1 on a read error (error() says why).
  long read(char* out, std::size_t n);
  const std::string& error() const noexcept { return error_; }

 private:
  long read_raw(char* out, std::size_t n);
  bool stage(std::uint64_t limit);  // encode up to one chunk (at most `limit` raw bytes) into staged_
  Body body_;
  std::size_t piece_ = 0;
  std::uint64_t at_ = 0;   // offset within the current piece
  int fd_ = -1;            // open file of the current piece
  std::string staged_;     // base64: encoded bytes not yet handed out
  std::size_t staged_at_ = 0;
  std::string error_;
};

}  // namespace relay::provider::cloud
