// relay::config — the file's bytes before they are walked: UTF-8 text
// without NUL bytes, parsed by yaml-cpp into exactly one document. Every
// refusal names FILE:LINE (Loader::fail). Split from config.cpp.
#include <algorithm>
#include <sstream>
#include <string>
#include <string_view>

#include <yaml-cpp/depthguard.h>
#include <yaml-cpp/eventhandler.h>
#include <yaml-cpp/parser.h>

#include "common/config_loader.hpp"

namespace relay::config::detail {
namespace {

// Length of the well-formed UTF-8 sequence at s[i] (RFC 3629: no overlongs,
// surrogates or code points above U+10FFFF), 0 if none starts there.
std::size_t utf8_length(std::string_view s, std::size_t i) {
  auto c = static_cast<unsigned char>(s[i]);
  std::size_t n = c < 0x80 ? 1 : c >= 0xC2 && c <= 0xDF ? 2 : c >= 0xE0 && c <= 0xEF ? 3 : c >= 0xF0 && c <= 0xF4 ? 4 : 0;
  if (n <= 1 || i + n > s.size()) return n == 1 ? 1 : 0;
  auto second = static_cast<unsigned char>(s[i + 1]);
  unsigned lo = 0x80, hi = 0xBF;
  if (c == 0xE0) lo = 0xA0;
  if (c == 0xED) hi = 0x9F;
  if (c == 0xF0) lo = 0x90;
  if (c == 0xF4) hi = 0x8F;
  if (second < lo || second > hi) return 0;
  for (std::size_t k = 2; k < n; ++k)
    if ((static_cast<unsigned char>(s[i + k]) & 0xC0) != 0x80) return 0;
  return n;
}

std::string hex(unsigned char c) {
  static constexpr char kDigits[] = "0123456789abcdef";
  return std::string("0x") + kDigits[c >> 4] + kDigits[c & 15];
}

// The line's leading whitespace holds a tab (YAML indents with spaces only).
bool tab_indented(std::string_view text, int line) {
  std::size_t at = 0;
  for (int l = 1; l < line && at != text.npos; ++l) {
    at = text.find('\n', at);
    if (at != text.npos) ++at;
  }
  for (; at != text.npos && at < text.size() && (text[at] == ' ' || text[at] == '\t'); ++at)
    if (text[at] == '\t') return true;
  return false;
}

// The line of the "---" that opens the document whose content starts at
// `line` (or the last "---" when unknown).
int document_marker_line(std::string_view text, int line) {
  int found = line, l = 1;
  for (std::size_t at = 0; at < text.size(); ++l) {
    if (line > 0 && l > line) break;
    if (text.compare(at, 3, "---") == 0 && (at + 3 == text.size() || text[at + 3] <= ' ')) found = l;
    auto nl = text.find('\n', at);
    at = nl == text.npos ? text.size() : nl + 1;
  }
  return found > 0 ? found : 1;
}

}  // namespace

void check_text(const Loader& loader, std::string_view text) {
  int line = 1;
  std::size_t line_start = 0;
  for (std::size_t i = 0; i < text.size();) {
    const auto c = static_cast<unsigned char>(text[i]);
    const std::string column = std::to_string(i - line_start + 1);
    if (c == '\n') {
      ++line;
      line_start = ++i;
      continue;
    }
    if (c == 0) loader.fail(line, "", "the file contains a NUL byte (column " + column + "): not a text file?");
    std::size_t n = utf8_length(text, i);
    if (n == 0)
      loader.fail(line, "", "invalid UTF-8 (byte " + hex(c) + " at column " + column + "): write the file in UTF-8");
    i += n;
  }
}

namespace {

// Counts what one YAML document holds, for the second-document check: its
// first node's line, if any node other than a null.
class DocumentProbe : public YAML::EventHandler {
 public:
  bool has_content() const noexcept { return line_ >= 0; }
  int line() const noexcept { return line_; }  // 0-based
  void OnDocumentStart(const YAML::Mark&) override {}
  void OnDocumentEnd() override {}
  void OnNull(const YAML::Mark&, YAML::anchor_t) override {}
  void OnAlias(const YAML::Mark& m, YAML::anchor_t) override { seen(m); }
  void OnScalar(const YAML::Mark& m, const std::string&, YAML::anchor_t, const std::string&) override { seen(m); }
  void OnSequenceStart(const YAML::Mark& m, const std::string&, YAML::anchor_t, YAML::EmitterStyle::value) override {
    seen(m);
  }
  void OnSequenceEnd() override {}
  void OnMapStart(const YAML::Mark& m, const std::string&, YAML::anchor_t, YAML::EmitterStyle::value) override {
    seen(m);
  }
  void OnMapEnd() override {}

 private:
  void seen(const YAML::Mark& m) {
    if (line_ < 0) line_ = std::max(m.line, 0);
  }
  int line_ = -1;
};

// yaml-cpp 0.7 never consumes a ',' at the top of a document: it reports
// an empty document there again and again (YAML::LoadAll loops forever and
// grows without bound; the fuzzer found ",/ll:/"). No real file has this
// many documents.
constexpr int kMaxDocuments = 100;

int first_line_starting_with_comma(std::string_view text) {
  int l = 1;
  for (std::size_t at = 0; at < text.size(); ++l) {
    std::size_t c = text.find_first_not_of(" \t", at);
    if (c != text.npos && text[c] == ',') return l;
    auto nl = text.find('\n', at);
    at = nl == text.npos ? text.size() : nl + 1;
  }
  return 1;
}

}  // namespace

YAML::Node parse_one_document(const Loader& loader, const std::string& text) {
  YAML::Node first;
  try {
    // One pass over the events of every document: refuses a second
    // document with content, and a parser that stops advancing.
    std::istringstream in(text);
    YAML::Parser parser(in);
    for (int n = 0;; ++n) {
      if (n == kMaxDocuments) {
        loader.fail(first_line_starting_with_comma(text), "",
                    "YAML syntax error: a ',' outside [ ] or { } (the parser cannot go past it)");
      }
      DocumentProbe probe;
      if (!parser.HandleNextDocument(probe)) break;
      if (n > 0 && probe.has_content()) {
        loader.fail(document_marker_line(text, probe.line() + 1), "",
                    "a second YAML document starts here: relay reads one document per file");
      }
    }
    first = YAML::Load(text);  // the first document only
  } catch (const YAML::DeepRecursion& e) {
    loader.fail(e.mark.line >= 0 ? e.mark.line + 1 : 1, "",
                "YAML nesting deeper than " + std::to_string(e.depth() - 1) + " levels (yaml-cpp's limit)");
  } catch (const YAML::Exception& e) {
    const int line = e.mark.line >= 0 ? e.mark.line + 1 : 1;
    std::string hint = tab_indented(text, line) ? " (a tab in the indentation: YAML indents with spaces only)" : "";
    loader.fail(line, "", "YAML syntax error: " + e.msg + hint);
  }
  return first;
}

}  // namespace relay::config::detail
