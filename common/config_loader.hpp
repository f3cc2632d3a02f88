// relay::config::detail::Loader — internal to the config loader: walks the
// YAML tree against the key table (config.cpp, config_set.cpp) and checks
// cross-key rules (config_validate.cpp).
//
// Does: remembers the line of every key it saw so later checks can name
// FILE:LINE: key.path. Does not: outlive one load() call.
// Fails: fail() throws ConfigError; nothing else throws on bad input.
#pragma once
#include <yaml-cpp/yaml.h>

#include <filesystem>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "common/config.hpp"
#include "common/config_table.hpp"

namespace relay::config::detail {

class Loader {
 public:
  Loader(std::string display_name, std::filesystem::path base_dir, bool expand_secret_keys = true)
      : file_(std::move(display_name)), base_(std::move(base_dir)), expand_secret_keys_(expand_secret_keys) {}

  void load_root(const YAML::Node& root, Config& cfg);
  void validate(Config& cfg);

  [[noreturn]] void fail(int line, std::string_view path, std::string_view message) const;
  // Line of `path` or of its nearest ancestor that was seen (1 if none).
  int line_of(std::string_view path) const;
  // One more key or list item walked; fails past kMaxConfigValues (an
  // alias bomb: yaml-cpp shares aliased nodes, the loader would copy them).
  void count_value(int line);
  // Warnings found while walking (a world-readable ${file:} secret).
  const std::vector<std::string>& warnings() const noexcept { return warnings_; }

 private:
  void walk(const YAML::Node& map, Scope scope, std::string_view rel, const std::string& disp, void* obj, int line);
  void check_required(Scope scope, std::string_view rel, const std::string& disp, int line,
                      const std::unordered_map<std::string, int>& seen) const;
  [[noreturn]] void unknown_key(Scope scope, std::string_view rel, std::string_view key, const std::string& disp,
                                int line) const;
  // config_set.cpp
  void set(const Key& key, const YAML::Node& value, const std::string& disp, int line, void* obj);
  void set_scalar(const Key& key, const std::string& text, const std::string& disp, int line, void* field);
  void set_number(const Key& key, const std::string& text, const std::string& disp, int line, void* field);
  void set_special(const Key& key, const std::string& text, const std::string& disp, int line, void* field);
  void set_list(const Key& key, const YAML::Node& value, const std::string& disp, int line, void* field);
  void set_objects(const Key& key, const YAML::Node& value, const std::string& disp, int line, void* field);
  void set_providers(const YAML::Node& value, const std::string& disp, int line, Config& cfg);
  std::string scalar(const Key& key, const YAML::Node& value, const std::string& disp, int line) const;
  // config_validate.cpp
  void validate_receiver(Config& cfg);
  void validate_providers(Config& cfg);
  void validate_routes(Config& cfg);

  // Error text with every value that came from ${env:}/${file:} replaced by
  // the reference as written: a config error never shows a secret.
  std::string redact(std::string message) const;

  std::string file_;
  std::filesystem::path base_;
  bool expand_secret_keys_ = true;  // false: Kind::Secret keys keep their ${...} text unread
  mutable std::vector<std::pair<std::string, std::string>> expanded_;  // {value, "${...}"} seen so far
  std::unordered_map<std::string, int> lines_;
  std::size_t values_ = 0;
  mutable std::vector<std::string> warnings_;  // filled by the const scalar()
  void warn_if_world_readable(const std::string& ref, const std::string& disp, int line) const;
};

int node_line(const YAML::Node& node, int fallback);
bool has_range(const Key& key);
std::string expectation(const Key& key);  // "a duration between 1s and 1d", "one of a, b or c"
int choice_index(std::string_view choices, std::string_view text);  // -1 if absent
std::string describe(const YAML::Node& node);  // "'text'", "a list", "a mapping", "nothing"
// config_text.cpp: UTF-8 without NUL bytes; exactly one YAML document.
void check_text(const Loader& loader, std::string_view text);
YAML::Node parse_one_document(const Loader& loader, const std::string& text);

}  // namespace relay::config::detail
