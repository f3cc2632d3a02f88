// relay::smtp message body handling — the DATA end-of-data/dot-stuffing
// decoder and the content scanner shared by DATA and BDAT.
//
// Does: DotDecoder turns DATA wire bytes into message content (dot
// unstuffing) and finds the end of data. Only <CRLF>.<CRLF> ends DATA (the
// transfer starts at a line start, so ".<CRLF>" first ends an empty
// message); LF.LF, LF.CRLF, CR.CR, CRLF.LF and friends are content, which
// BodyScanner then flags as bare CR/LF so the session refuses the message:
// SMTP smuggling is impossible because no other end marker exists here and
// a message carrying one is never stored.
// BodyScanner looks at the content as it streams by: size, NUL bytes, bare
// CR / bare LF, over-long lines, the header section's size, and the
// From:/Sender: field values (for the sender policy), kept as written
// (folded) for common/header_reader's read_originator(), the reader the
// dispatcher uses too. Field names and the end of the header section follow
// that reader (white space before the colon names the field; a non-field
// line starts the body). Memory is bounded: one physical line (a line
// over kMaxLine is refused anyway), at most kMaxKeptFields values per name
// of at most kMaxOriginatorField + 1 octets (one more than the reader
// accepts, so an over-long field is refused, never truncated into a
// different address), and nothing at all after stop() or once the header
// section passes max_header_size.
// Does not: store the content (the caller streams it to the spool) or
// decide what is allowed.
// Thread: plain values, one per session. Fails: never; flags are results.
#pragma once
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

namespace relay::smtp {

class DotDecoder {
 public:
  // Consumes wire bytes up to and including the end-of-data marker; calls
  // out(std::string_view) with content pieces. Returns bytes consumed; when
  // done() the rest of `in` belongs to the next command.
  template <typename Out>
  std::size_t feed(std::string_view in, Out&& out);
  bool done() const noexcept { return state_ == State::Done; }
  void reset() noexcept { state_ = State::LineStart; }

 private:
  enum class State { LineStart, Mid, SawCr, Dot, DotCr, Done };
  State state_ = State::LineStart;
};

class BodyScanner {
 public:
  static constexpr std::size_t kMaxLine = 998;  // octets without CRLF (RFC 5321 4.5.3.1.6: 1000 with CRLF)
  static constexpr std::size_t kMaxKeptFields = 2;    // per name: a second From/Sender already refuses
  static constexpr std::uint64_t kDefaultMaxHeader = 256 * 1024;

  explicit BodyScanner(std::uint64_t max_header_size = kDefaultMaxHeader) : max_header_(max_header_size) {}
  void feed(std::string_view content);
  void finish();  // end of message: completes a header still open
  void reset(std::uint64_t max_header_size);  // a new message
  void reset() { reset(max_header_); }
  // The message is refused already: count octets, look at nothing, keep nothing.
  void stop();

  std::uint64_t size() const noexcept { return size_; }
  bool bare_cr() const noexcept { return bare_cr_; }
  bool bare_lf() const noexcept { return bare_lf_; }
  bool nul() const noexcept { return nul_; }
  bool long_line() const noexcept { return long_line_; }
  bool header_too_big() const noexcept { return header_too_big_; }
  bool malformed_header() const noexcept { return malformed_; }  // a continuation before any field
  // Folded values (after the colon) of the first kMaxKeptFields From:/Sender: fields.
  const std::vector<std::string>& from_headers() const noexcept { return from_; }
  const std::vector<std::string>& sender_headers() const noexcept { return sender_; }

 private:
  enum class Keep { None, From, Sender };
  void step(char c);  // one octet, byte by byte (the header section)
  void end_line();
  void start_field();
  void append_kept(std::string_view piece);

  std::uint64_t max_header_;
  std::uint64_t size_ = 0;
  std::uint64_t header_size_ = 0;  // octets of the header section so far
  std::size_t line_len_ = 0;
  bool prev_cr_ = false;
  bool bare_cr_ = false, bare_lf_ = false, nul_ = false, long_line_ = false;
  bool header_too_big_ = false, malformed_ = false, stopped_ = false;
  bool in_headers_ = true;
  bool any_field_ = false;
  Keep keep_ = Keep::None;  // the field being read is kept (its last element)
  std::string line_;        // current physical header line (capped at kMaxLine + 1)
  std::vector<std::string> from_, sender_;
};

template <typename Out>
std::size_t DotDecoder::feed(std::string_view in, Out&& out) {
  std::size_t run = 0;  // start of the pending output run
  std::size_t i = 0;
  // A CR held back from the previous call (".\r" at a line start, state DotCr)
  // is emitted once we know it is content.
  for (; i < in.size() && state_ != State::Done; ++i) {
    if (state_ == State::Mid) {
      // Inside a line only a CR can change anything: jump to the next one
      // (memchr is vectorised; this loop is the receiver's hottest).
      const void* cr = std::memchr(in.data() + i, '\r', in.size() - i);
      if (cr == nullptr) {
        i = in.size();
        break;
      }
      i = static_cast<std::size_t>(static_cast<const char*>(cr) - in.data());
      state_ = State::SawCr;
      continue;
    }
    char c = in[i];
    switch (state_) {
      case State::LineStart:
        if (c == '.') {
          if (i > run) out(in.substr(run, i - run));
          run = i + 1;  // the dot is dropped either way (unstuffed or end marker)
          state_ = State::Dot;
        } else {
          state_ = c == '\r' ? State::SawCr : State::Mid;
        }
        break;
      case State::Mid:
        if (c == '\r') state_ = State::SawCr;
        break;
      case State::SawCr:
        state_ = c == '\n' ? State::LineStart : (c == '\r' ? State::SawCr : State::Mid);
        break;
      case State::Dot:
        state_ = c == '\r' ? State::DotCr : State::Mid;
        break;
      case State::DotCr:
        if (c == '\n') {
          state_ = State::Done;
          run = i + 1;
        } else {
          // ".\r" + something else: a stuffed line holding a bare CR.
          if (i == 0) out(std::string_view("\r", 1));
          state_ = c == '\r' ? State::SawCr : State::Mid;
        }
        break;
      case State::Done:
        break;
    }
  }
  if (state_ == State::Done) return i;
  std::size_t end = in.size();
  if (state_ == State::DotCr && end > 0) {
    // hold the CR back (it may be the end marker); it is re-emitted above.
    if (end - 1 >= run) --end;
  }
  if (end > run) out(in.substr(run, end - run));
  return i;
}

}  // namespace relay::smtp
