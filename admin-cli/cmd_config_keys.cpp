// relayctl config keys [--markdown] — every configuration key from the one
// key table (common/config_table.cpp): full path, default, type and range,
// whether SIGHUP applies it. --markdown prints the rows docs/configuration.md
// is made of (its meaning column is written by hand; a unit test checks
// that the rows there still match these). Needs no config file.
#include <fmt/format.h>

#include "admin-cli/command.hpp"
#include "admin-cli/format.hpp"
#include "admin-cli/handlers.hpp"
#include "common/config_reference.hpp"

namespace relay::admin {

int cmd_config_keys(Context& ctx) {
  namespace ref = config::reference;
  const bool markdown = ctx.args().has("markdown");
  Table t({"KEY", "DEFAULT", "TYPE", "RELOAD", "SCOPE"});
  if (markdown) fmt::print(ctx.out(), "| key | default | type | reload | meaning |\n|---|---|---|---|---|\n");
  for (const auto& k : config::detail::keys()) {
    if (ref::full_path(k).empty()) continue;  // sections hold no value
    if (markdown) {
      fmt::print(ctx.out(), "{} |\n", ref::row_prefix(k));
    } else {
      std::string def = k.required ? "required" : k.def.empty() ? "\"\"" : std::string(k.def);
      t.add({ref::full_path(k), def, ref::type_text(k), ref::reload_text(k), ref::scope_text(k)});
    }
  }
  if (!markdown) fmt::print(ctx.out(), "{}", t.render());
  return kOk;
}

}  // namespace relay::admin
