// relay::admin program lookup — where `relayctl run` finds relay-receiver
// and relay-dispatcher.
//
// Order: $RELAY_RECEIVER_BIN / $RELAY_DISPATCHER_BIN when set (nothing else
// is tried then); the build layout next to relayctl's own binary
// (<dir>/../receiver/relay-receiver, <dir>/../dispatcher/relay-dispatcher);
// installed side by side (<dir>/relay-receiver); <dir>/../lib/relay/<name>;
// then each directory of $PATH. <dir> is the directory of /proc/self/exe.
// Pure except find_program (stat + readlink).
#pragma once
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace relay::admin {

std::vector<std::filesystem::path> program_candidates(std::string_view name, std::string_view build_subdir,
                                                      const std::filesystem::path& self_dir, const char* override_env,
                                                      const char* path_env);
// First executable candidate; nullopt with *tried listing every path looked at.
std::optional<std::filesystem::path> find_program(std::string_view name, std::string_view build_subdir,
                                                  const char* override_var, std::string* tried);

}  // namespace relay::admin
