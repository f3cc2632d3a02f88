#include "receiver/smtp/body.hpp"

#include <algorithm>
#include <cstring>

#include "common/header_reader.hpp"
#include "receiver/smtp/text.hpp"

namespace relay::smtp {

void BodyScanner::reset(std::uint64_t max_header_size) { *this = BodyScanner(max_header_size); }

void BodyScanner::stop() {
  if (stopped_) return;
  stopped_ = true;
  in_headers_ = false;
  keep_ = Keep::None;
  line_ = std::string();
  from_ = {};
  sender_ = {};
}

void BodyScanner::step(char c) {
  if (++header_size_ > max_header_) {
    header_too_big_ = true;
    stop();
    return;
  }
  if (prev_cr_ && c != '\n') bare_cr_ = true;
  if (c == '\n') {
    if (!prev_cr_) bare_lf_ = true;
    prev_cr_ = false;
    end_line();
    return;
  }
  prev_cr_ = c == '\r';
  if (c == '\0') nul_ = true;
  if (!prev_cr_ && ++line_len_ > kMaxLine) long_line_ = true;
  if (!prev_cr_ && line_.size() <= kMaxLine) line_ += c;  // longer lines are refused anyway
}

void BodyScanner::feed(std::string_view content) {
  size_ += content.size();
  const char* d = content.data();
  const std::size_t n = content.size();
  std::size_t i = 0;
  if (stopped_) return;
  for (; i < n && in_headers_; ++i) step(d[i]);
  if (stopped_) return;
  // The body, a line at a time, with the same verdicts as step(): a CR is
  // bare unless it is the last octet before an LF, an LF is bare unless a
  // CR precedes it, CRs do not count towards the line length.
  while (i < n) {
    const char* lf = static_cast<const char*>(std::memchr(d + i, '\n', n - i));
    const std::size_t end = lf ? static_cast<std::size_t>(lf - d) : n;  // line piece [i, end)
    const std::size_t len = end - i;
    if (len > 0) {
      const char* seg = d + i;
      if (prev_cr_) bare_cr_ = true;  // a CR from before, followed by something else
      if (!nul_ && std::memchr(seg, '\0', len) != nullptr) nul_ = true;
      std::size_t crs = 0;
      if (const void* cr = std::memchr(seg, '\r', len)) {
        crs = static_cast<std::size_t>(std::count(static_cast<const char*>(cr), seg + len, '\r'));
        prev_cr_ = seg[len - 1] == '\r';
        if (crs > (prev_cr_ ? 1u : 0u)) bare_cr_ = true;
      } else {
        prev_cr_ = false;
      }
      line_len_ += len - crs;
      if (line_len_ > kMaxLine) long_line_ = true;
    }
    if (lf == nullptr) break;
    if (!prev_cr_) bare_lf_ = true;
    prev_cr_ = false;
    line_len_ = 0;
    i = end + 1;
  }
}

void BodyScanner::end_line() {
  line_len_ = 0;
  if (!in_headers_) return;
  if (line_.empty()) {  // the empty line ends the header section
    in_headers_ = false;
    keep_ = Keep::None;
  } else if (line_.front() == ' ' || line_.front() == '\t') {
    if (!any_field_) {
      malformed_ = true;  // folded onto nothing: refused (the spool has Received: above it)
      in_headers_ = false;
      keep_ = Keep::None;
    } else if (keep_ != Keep::None) {
      append_kept("\r\n");
      append_kept(line_);
    }
  } else {
    start_field();
  }
  line_.clear();
}

void BodyScanner::start_field() {
  std::size_t off = 0;
  auto name = mail::field_name(line_, &off);
  keep_ = Keep::None;
  if (!name) {  // not a field: the body starts here (common/header_reader.hpp)
    in_headers_ = false;
    return;
  }
  any_field_ = true;
  const bool from = iequals(*name, "From");
  if (!from && !iequals(*name, "Sender")) return;
  auto& list = from ? from_ : sender_;
  if (list.size() >= kMaxKeptFields) return;  // already refused as duplicate
  list.emplace_back();
  keep_ = from ? Keep::From : Keep::Sender;
  append_kept(std::string_view(line_).substr(off));
}

void BodyScanner::append_kept(std::string_view piece) {
  std::string& v = (keep_ == Keep::From ? from_ : sender_).back();
  const std::size_t room = mail::kMaxOriginatorField + 1 - v.size();
  v.append(piece.substr(0, room));
}

void BodyScanner::finish() {
  if (prev_cr_) bare_cr_ = true;  // content ending in a lone CR
  prev_cr_ = false;
  if (in_headers_ && !line_.empty()) end_line();  // a header-only message without a final CRLF
  keep_ = Keep::None;
}

}  // namespace relay::smtp
