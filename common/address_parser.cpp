// parse_addresses() of header_reader.hpp: a tokenizer that drops comments
// and folding white space, and a parser of RFC 5322 3.4 address lists over
// its tokens. Strict on purpose: whatever another reader could take for a
// different address is an error here.
#include <string>
#include <vector>

#include "common/header_reader.hpp"

namespace relay::mail {
namespace {

enum class Tok { Atom, Quoted, Literal, Special };
struct Token {
  Tok kind = Tok::Special;
  std::string text;  // atom text, quoted-string content (unescaped), literal content
  char special = 0;
};

bool is_ws(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }
bool is_ctl(char c) { return (static_cast<unsigned char>(c) < 0x20 && !is_ws(c)) || c == 0x7f; }
bool is_atext(char c) {
  const auto u = static_cast<unsigned char>(c);
  if (u >= 0x80) return true;  // RFC 6532 UTF-8
  if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) return true;
  return std::string_view("!#$%&'*+-/=?^_`{|}~").find(c) != std::string_view::npos;
}

class Lexer {
 public:
  explicit Lexer(std::string_view v) : v_(v) {}
  // Every token of the value; false (and error()) on the first lexical error.
  bool run(std::vector<Token>* out) {
    while (i_ < v_.size()) {
      const char c = v_[i_];
      if (is_ws(c)) ++i_;
      else if (is_ctl(c)) return fail("control character");
      else if (c == '(') { if (!comment()) return false; }
      else if (c == '"') { if (!quoted(out)) return false; }
      else if (c == '[') { if (!literal(out)) return false; }
      else if (c == ')') return fail("unbalanced ')'");
      else if (c == '\\') return fail("backslash outside a quoted string");
      else if (is_atext(c)) atom(out);
      else out->push_back(Token{Tok::Special, {}, v_[i_++]});
    }
    return true;
  }
  const std::string& error() const { return error_; }

 private:
  bool fail(const char* why) {
    error_ = why;
    return false;
  }
  void atom(std::vector<Token>* out) {
    std::size_t s = i_;
    while (i_ < v_.size() && is_atext(v_[i_])) ++i_;
    out->push_back(Token{Tok::Atom, std::string(v_.substr(s, i_ - s)), 0});
  }
  bool comment() {
    std::size_t depth = 0;
    for (; i_ < v_.size(); ++i_) {
      const char c = v_[i_];
      if (is_ctl(c)) return fail("control character in a comment");
      if (c == '\\') ++i_;
      else if (c == '(') ++depth;
      else if (c == ')' && --depth == 0) {
        ++i_;
        return true;
      }
    }
    return fail("unterminated comment");
  }
  bool quoted(std::vector<Token>* out) {
    Token t{Tok::Quoted, {}, 0};
    for (++i_; i_ < v_.size(); ++i_) {
      char c = v_[i_];
      if (c == '"') {
        ++i_;
        out->push_back(std::move(t));
        return true;
      }
      if (c == '\\') {
        if (++i_ >= v_.size()) break;
        c = v_[i_];
        if (c == '\r' || c == '\n') return fail("quoted line end");
      } else if (c == '\r' || c == '\n') {
        continue;  // unfolding
      }
      if (is_ctl(c)) return fail("control character in a quoted string");
      t.text += c;
    }
    return fail("unterminated quoted string");
  }
  bool literal(std::vector<Token>* out) {
    Token t{Tok::Literal, {}, 0};
    for (++i_; i_ < v_.size(); ++i_) {
      const char c = v_[i_];
      if (c == ']') {
        ++i_;
        out->push_back(std::move(t));
        return true;
      }
      if (c == '[' || c == '\\' || is_ctl(c)) return fail("bad character in a domain literal");
      if (!is_ws(c)) t.text += c;
    }
    return fail("unterminated domain literal");
  }

  std::string_view v_;
  std::size_t i_ = 0;
  std::string error_;
};

bool dot_atom(std::string_view s) {
  if (s.empty() || s.front() == '.' || s.back() == '.' || s.find("..") != std::string_view::npos) return false;
  for (char c : s)
    if (c != '.' && !is_atext(c)) return false;
  return true;
}

class Parser {
 public:
  explicit Parser(std::vector<Token> t) : t_(std::move(t)) {}

  bool list(ListKind kind, std::vector<Mailbox>* out) {
    while (p_ < t_.size()) {
      if (is(',')) {  // obs-addr-list: empty elements
        ++p_;
        continue;
      }
      const std::size_t start = p_;
      std::vector<const Token*> words = run();
      if (is(':')) {
        if (kind != ListKind::AddressList) return fail("group syntax where a mailbox is required");
        if (words.empty()) return fail("group without a name");
        ++p_;
        if (!group(out)) return false;
      } else {
        p_ = start;
        Mailbox m;
        if (!mailbox(&m)) return false;
        out->push_back(std::move(m));
      }
      if (p_ == t_.size()) break;
      if (!is(',')) return fail("text after an address");
      ++p_;
    }
    if (kind == ListKind::AddressList) return true;
    if (out->empty()) return fail("no address");
    if (kind == ListKind::Mailbox && out->size() != 1) return fail("more than one address");
    return true;
  }
  const std::string& error() const { return error_; }

 private:
  bool fail(const char* why) {
    error_ = why;
    return false;
  }
  bool is(char c) const { return p_ < t_.size() && t_[p_].kind == Tok::Special && t_[p_].special == c; }
  // A run of words (atoms, quoted strings) and dots.
  std::vector<const Token*> run() {
    std::vector<const Token*> w;
    while (p_ < t_.size() && (t_[p_].kind == Tok::Atom || t_[p_].kind == Tok::Quoted || is('.'))) w.push_back(&t_[p_++]);
    return w;
  }
  bool group(std::vector<Mailbox>* out) {
    while (p_ < t_.size() && !is(';')) {
      if (is(',')) {
        ++p_;
        continue;
      }
      Mailbox m;
      if (!mailbox(&m)) return false;
      out->push_back(std::move(m));
      if (!is(',') && !is(';')) return fail("text after an address in a group");
    }
    if (!is(';')) return fail("group without ';'");
    ++p_;
    return true;
  }
  bool mailbox(Mailbox* m) {
    std::vector<const Token*> words = run();
    if (is('<')) {
      ++p_;
      for (const Token* w : words) {
        if (!m->display.empty() && w->kind != Tok::Special) m->display += ' ';
        m->display += w->kind == Tok::Special ? std::string(1, w->special) : w->text;
      }
      if (is('@')) return fail("source route in an address");
      if (!addr_spec(run(), &m->address)) return false;
      if (!is('>')) return fail(p_ == t_.size() ? "unterminated angle address" : "text inside an angle address");
      ++p_;
      return true;
    }
    return addr_spec(std::move(words), &m->address);
  }
  bool addr_spec(std::vector<const Token*> words, std::string* out) {
    if (!is('@')) return fail(words.empty() ? "no address" : "no '@' in an address");
    ++p_;
    std::string local;
    bool quoted = false, want_word = true;
    for (const Token* w : words) {
      const bool dot = w->kind == Tok::Special;
      if (dot == want_word) return fail("local part is not dot-separated words");
      want_word = dot;
      if (w->kind == Tok::Quoted) quoted = true;
      if (w->kind == Tok::Atom && w->text.find("=?") != std::string::npos) return fail("encoded word in an address");
      local += dot ? std::string(".") : w->text;
    }
    if (words.empty() || want_word) return fail("empty local part");
    // A quoted local part keeps its quotes unless it is a plain dot-atom;
    // "=?" inside stays quoted so the canonical form never reads back as an
    // encoded word (found by tests/fuzz header).
    if (quoted && (!dot_atom(local) || local.find("=?") != std::string::npos)) {
      std::string q = "\"";
      for (char c : local) q += (c == '"' || c == '\\') ? std::string("\\") + c : std::string(1, c);
      local = q + "\"";
    }
    std::string domain;
    if (!this->domain(&domain)) return false;
    *out = local + "@" + domain;
    return true;
  }
  bool domain(std::string* out) {
    if (p_ < t_.size() && t_[p_].kind == Tok::Literal) {
      *out = "[" + t_[p_++].text + "]";
      return true;
    }
    for (bool want_atom = true;; want_atom = !want_atom) {
      if (want_atom) {
        if (p_ >= t_.size() || t_[p_].kind != Tok::Atom) return fail("bad domain");
        if (t_[p_].text.find("=?") != std::string::npos) return fail("encoded word in an address");
        *out += t_[p_++].text;
      } else if (is('.')) {
        *out += '.';
        ++p_;
      } else {
        return true;
      }
    }
  }

  std::vector<Token> t_;
  std::size_t p_ = 0;
  std::string error_;
};

}  // namespace

AddressList parse_addresses(std::string_view value, ListKind kind) {
  AddressList out;
  std::vector<Token> tokens;
  Lexer lex(value);
  if (!lex.run(&tokens)) {
    out.error = lex.error();
    return out;
  }
  Parser parser(std::move(tokens));
  if (!parser.list(kind, &out.mailboxes)) out.error = parser.error();
  return out;
}

}  // namespace relay::mail
