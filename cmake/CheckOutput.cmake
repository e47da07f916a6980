# cmake/CheckOutput.cmake — output checks for the examples: included by examples/<name>.cmake.
#
#   handoff_check_output(<target> <test> <expected-file> TIMEOUT <seconds>)
#
# Makes ctest's <test> (already `add_test(NAME <test> COMMAND <target>)`, examples/CMakeLists.txt)
# run the binary through scripts/check_output.py, which requires exit status 0 and checks the
# output against <expected-file>: the orderings the example's semantics guarantee (the file
# format is in the script's header). The checker is installed as the target's test launcher:
# TEST_LAUNCHER from CMake 3.29, before that CROSSCOMPILING_EMULATOR, which add_test() also
# prepends to a target's command (policy CMP0158, CMake 3.28, limits that to cross builds
# only when set to NEW; this project's cmake_minimum_required leaves it OLD). Nothing else
# runs these targets, so the launcher affects only their tests.
# Without a python3 the test still runs the binary (exit status only), with a warning.
include_guard(GLOBAL)
find_program(HANDOFF_PYTHON3 NAMES python3 HINTS /usr/bin)

function(handoff_check_output target test expected)
  cmake_parse_arguments(C "" "TIMEOUT" "" ${ARGN})
  if(C_TIMEOUT)
    set_tests_properties(${test} PROPERTIES TIMEOUT ${C_TIMEOUT})
  endif()
  if(NOT HANDOFF_PYTHON3)
    message(WARNING "${test}: python3 not found: the output is not checked against ${expected}")
    return()
  endif()
  # The checker's own timeout, a little under ctest's, so a hang still prints the output so far.
  set(launcher ${HANDOFF_PYTHON3} ${PROJECT_SOURCE_DIR}/scripts/check_output.py ${expected})
  if(C_TIMEOUT)
    math(EXPR inner "${C_TIMEOUT} - 2")
    list(APPEND launcher --timeout ${inner})
  endif()
  list(APPEND launcher --)
  if(CMAKE_VERSION VERSION_GREATER_EQUAL 3.29)
    set_target_properties(${target} PROPERTIES TEST_LAUNCHER "${launcher}")
  else()
    set_target_properties(${target} PROPERTIES CROSSCOMPILING_EMULATOR "${launcher}")
  endif()
endfunction()
