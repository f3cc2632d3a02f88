# relay_add_test(NAME SOURCES... LIBS lib...)
# One doctest binary per library (STYLE.md 14), registered with ctest.
# doctest's main comes from tests/doctest_main.cpp. Every test, unit or
# integration, exits 77 when it could not run what it is for (no
# PostgreSQL: tests/skip.hpp, tests/integration/relaytest.py); ctest then
# reports it as skipped (SKIP_RETURN_CODE), never as passed.
function(relay_add_test name)
  cmake_parse_arguments(T "" "TIMEOUT" "SOURCES;LIBS;LABELS" ${ARGN})
  add_executable(${name} ${PROJECT_SOURCE_DIR}/tests/doctest_main.cpp ${T_SOURCES})
  target_link_libraries(${name} PRIVATE ${T_LIBS})
  target_include_directories(${name} PRIVATE ${PROJECT_SOURCE_DIR})
  add_test(NAME ${name} COMMAND ${name})
  if(NOT T_TIMEOUT)
    set(T_TIMEOUT 300)
  endif()
  set_tests_properties(${name} PROPERTIES TIMEOUT ${T_TIMEOUT} LABELS "unit;${T_LABELS}" SKIP_RETURN_CODE 77)
endfunction()

# relay_add_script_test(NAME SCRIPT [TIMEOUT s] [LABELS ...])
# Integration tests: real binaries driven by real clients/servers. The script
# gets the build dir as $RELAY_BUILD and the source dir as $RELAY_SRC.
function(relay_add_script_test name script)
  cmake_parse_arguments(T "" "TIMEOUT" "LABELS" ${ARGN})
  if(NOT T_TIMEOUT)
    set(T_TIMEOUT 600)
  endif()
  add_test(NAME ${name} COMMAND ${script})
  set_tests_properties(${name} PROPERTIES TIMEOUT ${T_TIMEOUT} SKIP_RETURN_CODE 77
    LABELS "integration;${T_LABELS}"
    ENVIRONMENT "RELAY_BUILD=${PROJECT_BINARY_DIR};RELAY_SRC=${PROJECT_SOURCE_DIR}")
endfunction()
