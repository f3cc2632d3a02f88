// Every configuration key is documented: each key of the table
// (common/config_table.cpp) needs a markdown table row beginning
// | `full.key.path` |   in some file under docs/ (any file, any depth: other
// engineers document their keys in their own docs files), and the rows of
// docs/configuration.md must still say what the table says (default, type,
// reload), so the reference cannot drift. Scoped keys are written
// receiver.listeners[].address, receiver.users[].name, routes[].provider,
// providers.<name>.client_id (common/config_reference.hpp).
// The last cases run the same check against an edited copy of docs/ to show
// that it fails when a row goes missing or a default changes.
#include <doctest/doctest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "common/config_reference.hpp"
#include "common/config_table.hpp"
#include "tests/common/config_test_support.hpp"

namespace fs = std::filesystem;
namespace ref = relay::config::reference;
using relay::config::test::TempDir;

namespace {

const fs::path kDocs = fs::path(RELAY_SOURCE_DIR) / "docs";

std::vector<std::string> lines_of(const fs::path& p) {
  std::ifstream in(p);
  std::vector<std::string> out;
  for (std::string line; std::getline(in, line);) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    out.push_back(line);
  }
  return out;
}

// "| `a.b` | ..." -> "a.b"; "" for any other line.
std::string row_key(const std::string& line) {
  if (line.rfind("| `", 0) != 0) return "";
  auto end = line.find('`', 3);
  if (end == std::string::npos || line.compare(end, 3, "` |") != 0) return "";
  return line.substr(3, end - 3);
}

// Keys with a row in any regular file below `docs`.
std::set<std::string> documented(const fs::path& docs) {
  std::set<std::string> out;
  for (const auto& e : fs::recursive_directory_iterator(docs)) {
    if (!e.is_regular_file()) continue;
    for (const auto& line : lines_of(e.path()))
      if (auto k = row_key(line); !k.empty()) out.insert(k);
  }
  return out;
}

// The table's full paths (sections excluded), each once.
std::set<std::string> table_keys() {
  std::set<std::string> out;
  for (const auto& k : relay::config::detail::keys())
    if (auto p = ref::full_path(k); !p.empty()) out.insert(p);
  return out;
}

std::vector<std::string> undocumented(const fs::path& docs) {
  std::set<std::string> have = documented(docs);
  std::vector<std::string> out;
  for (const auto& k : table_keys())
    if (!have.count(k)) out.push_back(k);
  return out;
}

// Rows of `reference` for table keys whose first four columns are not what
// `relayctl config keys --markdown` prints for that path (any scope of it:
// providers.<name>.timeout exists for smtp, m365 and gmail).
std::vector<std::string> drifted(const fs::path& reference) {
  std::multimap<std::string, std::string> want;
  for (const auto& k : relay::config::detail::keys())
    if (auto p = ref::full_path(k); !p.empty()) want.emplace(p, ref::row_prefix(k));
  std::vector<std::string> out;
  for (const auto& line : lines_of(reference)) {
    std::string key = row_key(line);
    auto [lo, hi] = want.equal_range(key);
    if (lo == hi) continue;  // not a key of the table (another engineer's, or prose)
    bool ok = std::any_of(lo, hi, [&](const auto& w) { return line.rfind(w.second + " ", 0) == 0; });
    if (!ok) out.push_back(line);
  }
  return out;
}

std::string joined(const std::vector<std::string>& v) {
  std::string s;
  for (const auto& x : v) s += "\n  " + x;
  return s;
}

void copy_docs(const fs::path& to) { fs::copy(kDocs, to, fs::copy_options::recursive); }

void rewrite(const fs::path& p, const std::string& from, const std::string& to) {
  std::ifstream in(p);
  std::stringstream ss;
  ss << in.rdbuf();
  std::string text = ss.str();
  auto pos = text.find(from);
  REQUIRE(pos != std::string::npos);
  text.replace(pos, from.size(), to);
  std::ofstream(p, std::ios::trunc) << text;
}

}  // namespace

TEST_CASE("scoped keys are named by placeholders") {
  using relay::config::detail::find_key;
  using S = relay::config::detail::Scope;
  CHECK(ref::full_path(*find_key(S::Top, "receiver.limits.max_message_size")) == "receiver.limits.max_message_size");
  CHECK(ref::full_path(*find_key(S::Listener, "address")) == "receiver.listeners[].address");
  CHECK(ref::full_path(*find_key(S::User, "password_hash")) == "receiver.users[].password_hash");
  CHECK(ref::full_path(*find_key(S::Route, "provider")) == "routes[].provider");
  CHECK(ref::full_path(*find_key(S::M365, "client_id")) == "providers.<name>.client_id");
  CHECK(ref::full_path(*find_key(S::Gmail, "client_id")) == "providers.<name>.client_id");
  CHECK(ref::full_path(*find_key(S::Top, "receiver.limits")).empty());  // a section
  CHECK(ref::row_prefix(*find_key(S::Top, "receiver.limits.max_header_size")) ==
        "| `receiver.limits.max_header_size` | `256KB` | size 1KB..64MB | yes |");
  CHECK(ref::row_prefix(*find_key(S::Top, "spool.directory")) ==
        "| `spool.directory` | `/var/spool/relay` | path | restart |");
  CHECK(ref::row_prefix(*find_key(S::M365, "tenant_id")) == "| `providers.<name>.tenant_id` | required | string | yes |");
}

TEST_CASE("every key of the table has a row somewhere under docs/") {
  auto missing = undocumented(kDocs);
  INFO("add a row `| `key` | default | meaning |` to a file under docs/ "
       "(relayctl config keys --markdown prints docs/configuration.md's form):", joined(missing));
  CHECK(missing.empty());
}

TEST_CASE("docs/configuration.md says what the key table says") {
  auto bad = drifted(kDocs / "configuration.md");
  INFO("rows whose default/type/reload differ from `relayctl config keys --markdown`:", joined(bad));
  CHECK(bad.empty());
  // The reference is the full table, not a sample of it.
  std::set<std::string> in_reference;
  for (const auto& line : lines_of(kDocs / "configuration.md"))
    if (auto k = row_key(line); !k.empty()) in_reference.insert(k);
  for (const auto& k : table_keys()) CHECK_MESSAGE(in_reference.count(k) == 1, k);
}

TEST_CASE("the check fails when a key's row is removed, and accepts it from any file below docs/") {
  TempDir tmp;
  const fs::path docs = tmp.path / "docs";
  copy_docs(docs);
  REQUIRE(undocumented(docs).empty());
  const std::string row = ref::row_prefix(*relay::config::detail::find_key(relay::config::detail::Scope::Top,
                                                                            "receiver.hostname"));
  // Remove the row (the whole line) from the reference.
  std::vector<std::string> kept;
  for (const auto& line : lines_of(docs / "configuration.md"))
    if (line.rfind(row, 0) != 0) kept.push_back(line);
  std::ofstream out(docs / "configuration.md", std::ios::trunc);
  for (const auto& line : kept) out << line << "\n";
  out.close();
  CHECK(undocumented(docs) == std::vector<std::string>{"receiver.hostname"});
  // Documented by another engineer's file, two folders down: accepted.
  fs::create_directories(docs / "a" / "b");
  std::ofstream(docs / "a" / "b" / "other.md") << "text\n\n| key | default | meaning |\n|---|---|---|\n"
                                                  "| `receiver.hostname` | `localhost` | EHLO name |\n";
  CHECK(undocumented(docs).empty());
  // A mention in prose or a row with the key not first is not a row for it.
  std::ofstream(docs / "a" / "b" / "other.md", std::ios::trunc)
      << "See `receiver.hostname` |\n| x | `receiver.hostname` |\n|`receiver.hostname`|\n";
  CHECK(undocumented(docs) == std::vector<std::string>{"receiver.hostname"});
}

TEST_CASE("the drift check fails when configuration.md's default or reload column is stale") {
  TempDir tmp;
  const fs::path docs = tmp.path / "docs";
  copy_docs(docs);
  REQUIRE(drifted(docs / "configuration.md").empty());
  rewrite(docs / "configuration.md", "| `receiver.limits.max_recipients` | `100` |",
          "| `receiver.limits.max_recipients` | `50` |");
  auto bad = drifted(docs / "configuration.md");
  REQUIRE(bad.size() == 1);
  CHECK(bad[0].rfind("| `receiver.limits.max_recipients` | `50` |", 0) == 0);
  rewrite(docs / "configuration.md", "| `receiver.limits.max_recipients` | `50` |",
          "| `receiver.limits.max_recipients` | `100` |");
  rewrite(docs / "configuration.md", "| `spool.directory` | `/var/spool/relay` | path | restart |",
          "| `spool.directory` | `/var/spool/relay` | path | yes |");
  CHECK(drifted(docs / "configuration.md").size() == 1);
}
