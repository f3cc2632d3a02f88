// relay::test::skip — honest reporting of test cases that cannot run here.
//
// Does: a doctest case that needs something this machine lacks (PostgreSQL:
// RELAY_TEST_PG unset) calls skip(why) and returns; tests/doctest_main.cpp
// then exits 77 instead of 0 when nothing failed, and relay_add_test
// (cmake/RelayTest.cmake) registers 77 as ctest's SKIP_RETURN_CODE, so ctest
// lists the binary as skipped, not passed. Integration scripts do the same
// through tests/integration/relaytest.py (exit 77).
// Does not: hide failures (a failure anywhere still exits 1).
// Runs on: any test thread (an atomic counter).
#pragma once
#include <doctest/doctest.h>

#include <atomic>
#include <string>

namespace relay::test {

inline constexpr int kSkipExit = 77;

inline std::atomic<int>& skipped() {
  static std::atomic<int> n{0};
  return n;
}

inline void skip(const std::string& why) {
  ++skipped();
  MESSAGE("SKIPPED: " << why);
}

}  // namespace relay::test
