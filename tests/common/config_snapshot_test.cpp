// config_snapshot: children of `relayctl run` load the accepted bytes as if
// they were the real file; without the variable it is plain load().
#include <doctest/doctest.h>
#include <stdlib.h>

#include "common/config_snapshot.hpp"
#include "tests/common/config_test_support.hpp"

using namespace relay::config;
using relay::config::test::kBase;
using relay::config::test::TempDir;

namespace {
struct SnapshotEnv {
  explicit SnapshotEnv(const std::string& path) { setenv(kSnapshotEnv, path.c_str(), 1); }
  ~SnapshotEnv() { unsetenv(kSnapshotEnv); }
};
}  // namespace

TEST_CASE("load_accepted reads the snapshot, named and resolved as the real file") {
  TempDir d;
  auto file = d.write("relay.yaml", kBase + "receiver: {hostname: edited.test}\n");
  auto snap = d.write("accepted.yaml", kBase + "receiver: {hostname: accepted.test}\nspool: {directory: sp}\n"
                                               "database: {conninfo: \"${env:RELAY_SNAP_TEST_DB}\"}\n");
  setenv("RELAY_SNAP_TEST_DB", "host=db.test", 1);
  CHECK(load_accepted(file).receiver.hostname == "edited.test");  // no snapshot: the file
  SnapshotEnv env(snap.string());
  Config c = load_accepted(file);
  CHECK(c.receiver.hostname == "accepted.test");
  CHECK(c.file == file);
  CHECK(c.spool.directory == d.path / "sp");  // relative to the real file's directory
  CHECK(c.database.conninfo == "host=db.test");  // ${env:} resolved in the child
  CHECK(c.supervisor.max_start_failures == 5);
  d.write("accepted.yaml", kBase + "supervisor: {max_start_failures: 0}\n");
  try {
    load_accepted(file);
    FAIL("a bad snapshot loaded");
  } catch (const ConfigError& e) {
    INFO(e.what());
    CHECK(std::string(e.what()).find(file.string() + ":3: supervisor.max_start_failures") == 0);
  }
  unsetenv("RELAY_SNAP_TEST_DB");
}
