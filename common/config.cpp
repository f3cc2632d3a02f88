// relay::config — load(): read the file, parse YAML, walk it against the key
// table, validate. See config.hpp for the contract.
#include "common/config.hpp"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <unordered_map>

#include "common/config_loader.hpp"
#include "common/config_values.hpp"

namespace relay::config {
namespace detail {
namespace {

size_t edit_distance(std::string_view a, std::string_view b) {
  std::vector<size_t> row(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    size_t diag = row[0];
    row[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      size_t up = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diag + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diag = up;
    }
  }
  return row[b.size()];
}

// "receiver.limits.max_recipients" with parent "receiver.limits" -> "max_recipients".
std::string_view child_name(std::string_view path, std::string_view parent) {
  if (parent.empty()) return path.find('.') == path.npos ? path : std::string_view{};
  if (path.size() <= parent.size() + 1 || path.substr(0, parent.size()) != parent || path[parent.size()] != '.')
    return {};
  auto rest = path.substr(parent.size() + 1);
  return rest.find('.') == rest.npos ? rest : std::string_view{};
}

std::string join(std::string_view a, std::string_view b) {
  if (a.empty()) return std::string(b);
  return std::string(a) + "." + std::string(b);
}

}  // namespace

int node_line(const YAML::Node& node, int fallback) {
  int l = node.Mark().line;
  return l >= 0 ? l + 1 : fallback;
}

std::string describe(const YAML::Node& node) {
  if (!node.IsDefined() || node.IsNull()) return "nothing";
  if (node.IsSequence()) return "a list";
  if (node.IsMap()) return "a mapping";
  return "'" + node.Scalar() + "'";
}

void Loader::fail(int line, std::string_view path, std::string_view message) const {
  std::string m = file_ + ":" + std::to_string(line) + ": ";
  if (!path.empty()) m += std::string(path) + ": ";
  m += redact(std::string(message));
  throw ConfigError(m);
}

std::string Loader::redact(std::string message) const {
  auto by_length = expanded_;  // longest first: a whole value before its pieces
  std::sort(by_length.begin(), by_length.end(),
            [](const auto& a, const auto& b) { return a.first.size() > b.first.size(); });
  for (const auto& [value, ref] : by_length) {
    if (value.empty()) continue;
    for (size_t at = message.find(value); at != std::string::npos; at = message.find(value, at + ref.size())) {
      message.replace(at, value.size(), ref);
    }
  }
  return message;
}

void Loader::count_value(int line) {
  if (++values_ > kMaxConfigValues)
    fail(line, "", "the document expands to more than " + std::to_string(kMaxConfigValues) +
                       " keys and values (a YAML alias repeating a large part?)");
}

int Loader::line_of(std::string_view path) const {
  std::string p(path);
  for (;;) {
    auto it = lines_.find(p);
    if (it != lines_.end()) return it->second;
    auto cut = p.find_last_of(".[");
    if (cut == std::string::npos) return 1;
    p.resize(cut);
  }
}

void Loader::load_root(const YAML::Node& root, Config& cfg) {
  if (!root.IsDefined() || root.IsNull()) fail(1, "", "expected a mapping of settings (got an empty file)");
  if (!root.IsMap()) fail(node_line(root, 1), "", "expected a mapping of settings at the top level (got " + describe(root) + ")");
  walk(root, Scope::Top, "", "", &cfg, 1);
}

void Loader::walk(const YAML::Node& map, Scope scope, std::string_view rel, const std::string& disp, void* obj,
                  int line) {
  std::unordered_map<std::string, int> seen;
  bool empty_section = map.IsNull() && scope == Scope::Top;  // "spool:" alone = all defaults
  if (!map.IsMap() && !empty_section) fail(node_line(map, line), disp, "expected a mapping (got " + describe(map) + ")");
  for (auto it = map.begin(); map.IsMap() && it != map.end(); ++it) {
    int kline = node_line(it->first, line);
    if (!it->first.IsScalar()) fail(kline, disp, "expected a key name (got " + describe(it->first) + ")");
    const std::string name = it->first.Scalar();
    std::string kdisp = disp.empty() ? name : disp + "." + name;
    count_value(kline);
    if (name == "<<") fail(kline, kdisp, "YAML merge keys (<<) are not supported: write the keys out");
    if (!seen.emplace(name, kline).second)
      fail(kline, kdisp, "duplicate key (first at line " + std::to_string(seen[name]) + ")");
    lines_[kdisp] = kline;
    std::string krel = join(rel, name);
    const Key* key = find_key(scope, krel);
    if (key == nullptr) unknown_key(scope, rel, name, kdisp, kline);
    if (key->kind == Kind::Section)
      walk(it->second, scope, krel, kdisp, obj, kline);
    else
      set(*key, it->second, kdisp, kline, obj);
  }
  check_required(scope, rel, disp, line, seen);
}

void Loader::check_required(Scope scope, std::string_view rel, const std::string& disp, int line,
                            const std::unordered_map<std::string, int>& seen) const {
  for (const auto& k : keys()) {
    if (k.scope != scope || !k.required) continue;
    auto name = child_name(k.path, rel);
    if (name.empty() || seen.count(std::string(name))) continue;
    std::string what = scope_name(scope).empty() ? "" : std::string(" for a ") + std::string(scope_name(scope));
    fail(line, join(disp, name), "required key is missing" + what);
  }
}

void Loader::unknown_key(Scope scope, std::string_view rel, std::string_view name, const std::string& disp,
                         int line) const {
  std::string best;
  size_t best_d = name.size() / 3 + 2;
  for (const auto& k : keys()) {
    if (k.scope != scope) continue;
    auto cand = child_name(k.path, rel);
    if (cand.empty()) continue;
    size_t d = edit_distance(name, cand);
    if (d < best_d) {
      best_d = d;
      best = std::string(cand);
    }
  }
  std::string msg = "unknown key";
  if (!scope_name(scope).empty()) msg += std::string(" for a ") + std::string(scope_name(scope));
  if (!best.empty()) msg += " (did you mean '" + best + "'?)";
  fail(line, disp, msg);
}

}  // namespace detail

const ProviderConfig* Config::provider(std::string_view name) const {
  for (const auto& p : providers)
    if (p.name == name) return &p;
  return nullptr;
}

Config load_string(const std::string& yaml, const std::filesystem::path& file_name, const LoadOptions& opt) {
  std::error_code ec;
  auto abs = std::filesystem::absolute(file_name, ec);
  if (ec) abs = file_name;
  detail::Loader loader(file_name.string(), abs.parent_path(), opt.expand_secrets);
  detail::check_text(loader, yaml);
  YAML::Node root = detail::parse_one_document(loader, yaml);
  Config cfg;
  cfg.file = abs;
  try {
    loader.load_root(root, cfg);
  } catch (const YAML::Exception& e) {  // yaml-cpp surprises (e.g. bad alias): still name the line
    loader.fail(e.mark.line >= 0 ? e.mark.line + 1 : 1, "", std::string("YAML error: ") + e.msg);
  }
  loader.validate(cfg);
  cfg.warnings.insert(cfg.warnings.begin(), loader.warnings().begin(), loader.warnings().end());
  cfg.secrets_expanded = opt.expand_secrets;
  return cfg;
}

Config load(const std::filesystem::path& file, const LoadOptions& opt) {
  std::string text;
  int err = 0;
  const std::string name = file.string();
  switch (read_regular_file(file, kMaxConfigFileSize, &text, &err)) {
    case ReadStatus::Ok: break;
    case ReadStatus::OpenFailed: throw ConfigError(name + ": cannot open: " + std::strerror(err));
    case ReadStatus::ReadFailed: throw ConfigError(name + ": read error: " + std::strerror(err));
    case ReadStatus::Directory: throw ConfigError(name + ": is a directory, not a configuration file");
    case ReadStatus::NotRegular: throw ConfigError(name + ": not a regular file");
    case ReadStatus::TooLarge:
      throw ConfigError(name + ": is larger than " + std::to_string(kMaxConfigFileSize >> 20) +
                        " MB (is it the right file?)");
  }
  return load_string(text, file, opt);
}

}  // namespace relay::config
