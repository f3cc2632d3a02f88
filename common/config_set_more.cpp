// relay::config — enum/pattern scalars, lists, and the list/map-of-objects
// keys (listeners, users, routes, providers). Split from config_set.cpp.
#include <charconv>

#include "common/cidr.hpp"
#include "common/config_loader.hpp"
#include "common/config_values.hpp"
#include "common/password.hpp"

namespace relay::config::detail {
namespace {

template <typename E>
void set_enum(void* field, int index) {
  *static_cast<E*>(field) = static_cast<E>(index);
}

Scope provider_scope(ProviderType t) {
  switch (t) {
    case ProviderType::Outbox: return Scope::Outbox;
    case ProviderType::Smtp: return Scope::Smtp;
    case ProviderType::M365: return Scope::M365;
    case ProviderType::Gmail: return Scope::Gmail;
  }
  return Scope::Outbox;
}

bool valid_provider_name(std::string_view n) {
  if (n.empty() || n.size() > 64) return false;
  for (char c : n)
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-' ||
          c == '.'))
      return false;
  return true;
}

}  // namespace

int choice_index(std::string_view choices, std::string_view text) {
  int i = 0;
  size_t start = 0;
  for (;;) {
    auto bar = choices.find('|', start);
    if (choices.substr(start, bar == choices.npos ? choices.npos : bar - start) == text) return i;
    if (bar == choices.npos) return -1;
    start = bar + 1;
    ++i;
  }
}

void Loader::set_special(const Key& k, const std::string& text, const std::string& disp, int line, void* field) {
  auto bad = [&]() { fail(line, disp, "expected " + expectation(k) + " (got '" + text + "')"); };
  int choice = k.choices.empty() ? -1 : choice_index(k.choices, text);
  switch (k.kind) {
    case Kind::Choice: if (choice < 0) bad(); *static_cast<std::string*>(field) = text; return;
    case Kind::TlsMode: if (choice < 0) bad(); return set_enum<TlsMode>(field, choice);
    case Kind::AuthMode: if (choice < 0) bad(); return set_enum<AuthMode>(field, choice);
    case Kind::SenderPolicy: if (choice < 0) bad(); return set_enum<SenderPolicy>(field, choice);
    case Kind::ProviderType: if (choice < 0) bad(); return set_enum<ProviderType>(field, choice);
    case Kind::Date:
      if (!text.empty() && !parse_date(text)) bad();
      *static_cast<std::string*>(field) = text;
      return;
    case Kind::Email:
      if (!text.empty() && !valid_address(text)) bad();
      *static_cast<std::string*>(field) = text;
      return;
    case Kind::SenderPattern:
      if (!text.empty() && !valid_sender_pattern(text)) bad();
      *static_cast<std::string*>(field) = text;
      return;
    case Kind::Address: {
      auto hp = parse_listen_address(text);
      if (!hp) bad();
      auto* l = static_cast<Listener*>(field);  // the Address row's accessor yields the Listener
      l->host = hp->host;
      l->port = hp->port;
      return;
    }
    case Kind::PasswordHash: {
      std::string why;
      if (!auth::password_hash_valid(text, &why)) fail(line, disp, why);
      *static_cast<std::string*>(field) = text;
      return;
    }
    default: fail(line, disp, "internal error: unhandled key kind");
  }
}

}  // namespace relay::config::detail

namespace relay::config::detail {

void Loader::set_list(const Key& k, const YAML::Node& v, const std::string& disp, int line, void* field) {
  if (v.IsDefined() && !v.IsNull() && !v.IsSequence())
    fail(node_line(v, line), disp, "expected " + expectation(k) + " (got " + describe(v) + ")");
  std::vector<std::string> texts;
  std::vector<int> ints;
  Key item = k;  // per-item checks reuse the scalar parsers
  item.kind = k.kind == Kind::IntList ? Kind::Int : Kind::String;
  for (size_t i = 0; v.IsSequence() && i < v.size(); ++i) {
    std::string idisp = disp + "[" + std::to_string(i) + "]";
    int iline = node_line(v[i], line);
    count_value(iline);
    lines_[idisp] = iline;
    std::string text = scalar(item, v[i], idisp, iline);
    if (k.kind == Kind::IntList) {
      int n = 0;
      set_number(item, text, idisp, iline, &n);
      ints.push_back(n);
      continue;
    }
    std::string why;
    if (k.kind == Kind::CidrList && !net::Cidr::parse(text, &why))
      fail(iline, idisp, "expected a network like 10.0.0.0/8 or fd00::/8: " + why + " (got '" + text + "')");
    if (k.kind == Kind::SenderList && !valid_sender_pattern(text))
      fail(iline, idisp, "expected " + expectation(k) + " (got '" + text + "')");
    texts.push_back(std::move(text));
  }
  if (k.kind == Kind::IntList)
    *static_cast<std::vector<int>*>(field) = std::move(ints);
  else
    *static_cast<std::vector<std::string>*>(field) = std::move(texts);
}

template <typename T>
static void walk_items(Loader& self, const YAML::Node& v, const std::string& disp, int line, std::vector<T>& out,
                       void (Loader::*walk)(const YAML::Node&, Scope, std::string_view, const std::string&, void*, int),
                       Scope scope, std::unordered_map<std::string, int>& lines) {
  out.clear();
  for (size_t i = 0; i < v.size(); ++i) {
    std::string idisp = disp + "[" + std::to_string(i) + "]";
    int iline = node_line(v[i], line);
    lines[idisp] = iline;
    out.emplace_back();
    (self.*walk)(v[i], scope, "", idisp, &out.back(), iline);
  }
}

void Loader::set_objects(const Key& k, const YAML::Node& v, const std::string& disp, int line, void* field) {
  if (v.IsDefined() && !v.IsNull() && !v.IsSequence())
    fail(node_line(v, line), disp, "expected " + expectation(k) + " (got " + describe(v) + ")");
  YAML::Node seq = v.IsSequence() ? v : YAML::Node(YAML::NodeType::Sequence);
  if (k.kind == Kind::Listeners)
    walk_items(*this, seq, disp, line, *static_cast<std::vector<Listener>*>(field), &Loader::walk, Scope::Listener,
               lines_);
  else if (k.kind == Kind::Users)
    walk_items(*this, seq, disp, line, *static_cast<std::vector<AuthUser>*>(field), &Loader::walk, Scope::User,
               lines_);
  else
    walk_items(*this, seq, disp, line, *static_cast<std::vector<Route>*>(field), &Loader::walk, Scope::Route, lines_);
}

void Loader::set_providers(const YAML::Node& v, const std::string& disp, int line, Config& cfg) {
  if (v.IsDefined() && !v.IsNull() && !v.IsMap())
    fail(node_line(v, line), disp, "expected a mapping of provider names to settings (got " + describe(v) + ")");
  cfg.providers.clear();
  if (!v.IsMap()) return;
  std::unordered_map<std::string, int> seen;
  for (auto it = v.begin(); it != v.end(); ++it) {
    int pline = node_line(it->first, line);
    if (!it->first.IsScalar()) fail(pline, disp, "expected a provider name (got " + describe(it->first) + ")");
    std::string name = it->first.Scalar();
    std::string pdisp = disp + "." + name;
    if (!valid_provider_name(name))
      fail(pline, pdisp, "expected a provider name of letters, digits, '-', '_' or '.' (got '" + name + "')");
    if (auto [at, fresh] = seen.emplace(name, pline); !fresh)
      fail(pline, pdisp, "duplicate provider name (first at line " + std::to_string(at->second) + ")");
    lines_[pdisp] = pline;
    const YAML::Node settings = it->second;  // a copy: it-> yields a temporary proxy
    if (!settings.IsMap()) fail(node_line(settings, pline), pdisp, "expected a mapping of settings (got " + describe(settings) + ")");
    for (auto k = settings.begin(); k != settings.end(); ++k)  // before "type is missing" hides it
      if (k->first.IsScalar() && k->first.Scalar() == "<<")
        fail(node_line(k->first, pline), pdisp + ".<<", "YAML merge keys (<<) are not supported: write the keys out");
    const YAML::Node type = settings["type"];
    if (!type.IsDefined()) fail(pline, pdisp + ".type", "required key is missing (one of outbox, smtp, m365 or gmail)");
    ProviderConfig pc;
    pc.name = name;
    set(*find_key(Scope::Outbox, "type"), type, pdisp + ".type", node_line(type, pline), &pc);
    walk(settings, provider_scope(pc.type), "", pdisp, &pc, pline);
    cfg.providers.push_back(std::move(pc));
  }
}

}  // namespace relay::config::detail
