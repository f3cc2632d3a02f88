// doctest's main for every unit-test binary: runs the cases, and exits 77
// (ctest SKIP_RETURN_CODE, see tests/skip.hpp) when none failed but some
// were skipped for want of something (PostgreSQL), so ctest does not count
// them as passed.
#define DOCTEST_CONFIG_IMPLEMENT
#include <doctest/doctest.h>

#include <cstdio>

#include "tests/skip.hpp"

int main(int argc, char** argv) {
  doctest::Context ctx(argc, argv);
  const int rc = ctx.run();
  if (ctx.shouldExit()) return rc;
  const int skipped = relay::test::skipped().load();
  if (rc == 0 && skipped > 0) {
    std::fprintf(stderr, "%d test case(s) skipped (see SKIPPED above): exit %d\n", skipped, relay::test::kSkipExit);
    return relay::test::kSkipExit;
  }
  return rc;
}
