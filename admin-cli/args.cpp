// relay::admin::Args — the option parser shared by every relayctl command.
#include <fmt/format.h>

#include "admin-cli/command.hpp"

namespace relay::admin {
namespace {

// Options every command accepts.
constexpr OptionSpec kCommon[] = {{"config", 'c', true}, {"help", 'h', false}};

const OptionSpec* lookup(std::span<const OptionSpec> spec, std::string_view name, char short_name) {
  for (auto set : {spec, std::span<const OptionSpec>(kCommon)}) {
    for (const OptionSpec& o : set) {
      if (short_name ? o.short_name == short_name : o.name == name) return &o;
    }
  }
  return nullptr;
}

}  // namespace

std::optional<Args> Args::parse(std::span<const std::string> argv, std::span<const OptionSpec> spec, int min_pos,
                                int max_pos, std::string* error) {
  Args out;
  bool options_done = false;
  for (std::size_t i = 0; i < argv.size(); ++i) {
    const std::string& a = argv[i];
    if (options_done || a.size() < 2 || a[0] != '-') {
      out.positional_.push_back(a);
      continue;
    }
    if (a == "--") {
      options_done = true;
      continue;
    }
    std::string name;
    std::optional<std::string> inline_value;
    const OptionSpec* o = nullptr;
    if (a[1] == '-') {
      name = a.substr(2);
      if (auto eq = name.find('='); eq != std::string::npos) {
        inline_value = name.substr(eq + 1);
        name.resize(eq);
      }
      o = lookup(spec, name, 0);
    } else {
      if (a.size() > 2) inline_value = a.substr(2);  // -n10
      o = lookup(spec, "", a[1]);
    }
    if (!o) {
      *error = fmt::format("unknown option {}", a);
      return std::nullopt;
    }
    std::string value;
    if (o->value) {
      if (inline_value) {
        value = *inline_value;
      } else if (i + 1 < argv.size()) {
        value = argv[++i];
      } else {
        *error = fmt::format("option --{} needs a value", o->name);
        return std::nullopt;
      }
    } else if (inline_value) {
      *error = fmt::format("option --{} takes no value", o->name);
      return std::nullopt;
    }
    // "--state new --state hold": which one did the operator mean? Say so
    // rather than silently keep the last (a repeated flag is harmless).
    auto [at, fresh] = out.options_.emplace(std::string(o->name), value);
    if (!fresh && o->value && at->second != value) {
      *error = fmt::format("option --{} given twice ('{}' and '{}')", o->name, at->second, value);
      return std::nullopt;
    }
  }
  int n = static_cast<int>(out.positional_.size());
  if (!out.has("help") && (n < min_pos || n > max_pos)) {
    *error = n < min_pos ? "missing argument" : fmt::format("unexpected argument '{}'", out.positional_[max_pos]);
    return std::nullopt;
  }
  return out;
}

bool Args::has(std::string_view name) const { return options_.find(name) != options_.end(); }

std::optional<std::string> Args::get(std::string_view name) const {
  auto it = options_.find(name);
  if (it == options_.end()) return std::nullopt;
  return it->second;
}

std::string Args::get_or(std::string_view name, std::string_view fallback) const {
  auto v = get(name);
  return v ? *v : std::string(fallback);
}

}  // namespace relay::admin
