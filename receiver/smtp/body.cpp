#include "receiver/smtp/body.hpp"

#include <algorithm>
#include <cstring>

#include "receiver/smtp/text.hpp"

namespace relay::smtp {

void BodyScanner::reset() { *this = BodyScanner{}; }

void BodyScanner::step(char c) {
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
  if (in_headers_ && !prev_cr_ && line_.size() < kMaxHeaderLine) line_ += c;
}

void BodyScanner::feed(std::string_view content) {
  size_ += content.size();
  const char* d = content.data();
  const std::size_t n = content.size();
  std::size_t i = 0;
  for (; i < n && in_headers_; ++i) step(d[i]);
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
    finish_header();
    in_headers_ = false;
  } else if (line_.front() == ' ' || line_.front() == '\t') {
    if (!header_.empty() && header_.size() < kMaxHeaderLine) header_ += line_;  // unfold
  } else {
    finish_header();
    if (istarts_with(line_, "From:") || istarts_with(line_, "Sender:")) header_ = line_;
  }
  line_.clear();
}

void BodyScanner::finish_header() {
  if (header_.empty()) return;
  if (istarts_with(header_, "From:")) {
    from_.emplace_back(trim(std::string_view(header_).substr(5)));
  } else {
    sender_.emplace_back(trim(std::string_view(header_).substr(7)));
  }
  header_.clear();
}

void BodyScanner::finish() {
  if (prev_cr_) bare_cr_ = true;  // content ending in a lone CR
  prev_cr_ = false;
  if (in_headers_) {
    if (!line_.empty()) end_line();
    finish_header();
  }
}

namespace {
// Drops RFC 5322 comments "( ... )" and quoted strings, which may contain
// '@', '<' or ',' that are not address syntax.
std::string strip_comments_and_quotes(std::string_view v) {
  std::string out;
  int depth = 0;
  bool quoted = false;
  for (char c : v) {
    if (quoted) {
      if (c == '"') quoted = false;
      continue;
    }
    if (c == '(') ++depth;
    else if (c == ')' && depth > 0) --depth;
    else if (depth == 0 && c == '"') quoted = true;
    else if (depth == 0) out += c;
  }
  return out;
}
}  // namespace

std::vector<std::string> header_addresses(std::string_view value) {
  std::vector<std::string> out;
  std::string v = strip_comments_and_quotes(value);
  std::string_view rest = v;
  while (!rest.empty()) {
    auto comma = rest.find(',');
    std::string_view item = trim(rest.substr(0, comma));
    rest = comma == std::string_view::npos ? std::string_view{} : rest.substr(comma + 1);
    auto lt = item.find('<');
    if (lt != std::string_view::npos) {
      auto gt = item.find('>', lt);
      out.emplace_back(trim(item.substr(lt + 1, gt == std::string_view::npos ? gt : gt - lt - 1)));
    } else if (item.find('@') != std::string_view::npos) {
      // "group: a@x;" and "a@x" alike: take the word holding '@'
      auto colon = item.find(':');
      if (colon != std::string_view::npos) item = trim(item.substr(colon + 1));
      while (!item.empty() && item.back() == ';') item.remove_suffix(1);
      out.emplace_back(trim(item));
    }
  }
  return out;
}

}  // namespace relay::smtp
