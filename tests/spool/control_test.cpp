// spool/control.hpp: the dispatch pause marker every dispatcher honours.
#include <doctest/doctest.h>

#include <fstream>

#include "spool/control.hpp"
#include "test_util.hpp"

using namespace relay::spool;
using relay::spool::test::TempSpool;

TEST_CASE("pause marker: created under control/, read back, removed; resume is idempotent") {
  TempSpool t;
  const auto root = t->root();
  CHECK_FALSE(dispatch_paused(root));
  CHECK_FALSE(dispatch_pause_info(root));
  CHECK(dispatch_pause_marker(root) == root / "control" / "dispatch-paused");
  REQUIRE(pause_dispatch(root, "ops reason=disk\x1b[2J swap").ok());
  CHECK(dispatch_paused(root));
  auto info = dispatch_pause_info(root);
  REQUIRE(info);
  CHECK(info->since > 1700000000);
  CHECK(info->by == "ops reason=disk [2J swap");  // one line, no control characters
  struct stat st{};
  REQUIRE(::stat((root / "control").c_str(), &st) == 0);
  CHECK((st.st_mode & 0777) == 0750);
  int leftovers = 0;  // the tmp file was renamed, nothing else left
  for (auto& e : std::filesystem::directory_iterator(root / "control")) leftovers += e.path().filename() != "dispatch-paused";
  CHECK(leftovers == 0);
  REQUIRE(resume_dispatch(root).ok());
  CHECK_FALSE(dispatch_paused(root));
  CHECK(resume_dispatch(root).ok());
}

TEST_CASE("a marker made by hand (touch) counts; its mtime is the time") {
  TempSpool t;
  REQUIRE(ensure_control_dir(t->root()).ok());
  REQUIRE(ensure_control_dir(t->root()).ok());  // exists: fine
  { std::ofstream(dispatch_pause_marker(t->root())); }
  CHECK(dispatch_paused(t->root()));
  auto info = dispatch_pause_info(t->root());
  REQUIRE(info);
  CHECK(info->by.empty());
  CHECK(info->since > 1700000000);
}

TEST_CASE("control that is not a directory is an error, not followed") {
  TempSpool t;
  { std::ofstream(t->root() / "control") << "x"; }
  Status st = pause_dispatch(t->root(), "x");
  CHECK_FALSE(st.ok());
  CHECK(st.message.find("not a directory") != std::string::npos);
}
