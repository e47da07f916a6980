# Unit tests of issue 11's "newcomer" work: the natural run_in_executor forms (GCC PR 100611),
# asyncio.wait / as_completed (loop/wait.hpp), the umbrella header and the error messages.
# Included from tests/CMakeLists.txt.
handoff_add_unit_test(run_in_executor_natural_test)  # executor/run_in_executor.hpp, every form a user writes
handoff_add_unit_test(wait_test)                     # loop/wait.hpp: asyncio.wait, as_completed
handoff_add_unit_test(umbrella_test)                 # loop/loop.hpp alone; error messages; exception()
# Built as a release build is, with the wrong-thread checks forced on: the switch README.md names.
target_compile_definitions(umbrella_test PRIVATE NDEBUG HANDOFF_LOOP_THREAD_CHECKS=1)

set(handoff_gcc_promoted_captures OFF)
if(CMAKE_CXX_COMPILER_ID STREQUAL "GNU" AND CMAKE_CXX_COMPILER_VERSION VERSION_LESS 14)
  set(handoff_gcc_promoted_captures ON)
endif()

# Each check below runs in one build only (make test's budget): the reject test and the counted
# mutant in the plain build, the ASan mutant in the ASan build; none in the TSan builds.
if(handoff_gcc_promoted_captures AND HANDOFF_SANITIZE STREQUAL "")
  # (1) The natural form is rejected at compile time, with the message that names the safe form.
  #     The target is never built by `all`; the test builds it and expects that diagnostic.
  add_library(run_in_executor_natural_reject OBJECT EXCLUDE_FROM_ALL run_in_executor_natural_reject.cpp)
  target_link_libraries(run_in_executor_natural_reject PRIVATE handoff::handoff)
  add_test(NAME unit.run_in_executor_natural_reject
           COMMAND ${CMAKE_COMMAND} "-DEXPECT=GCC PR c\\+\\+/100611.*run_in_executor\\(pool, fn"
                   -P ${PROJECT_SOURCE_DIR}/cmake/ExpectFailure.cmake
                   -- ${CMAKE_COMMAND} --build ${PROJECT_BINARY_DIR} --target run_in_executor_natural_reject)
  set_tests_properties(unit.run_in_executor_natural_reject PROPERTIES LABELS "unit" TIMEOUT 300)
endif()

if(handoff_gcc_promoted_captures AND NOT HANDOFF_SANITIZE STREQUAL "thread")
  # (2) Mutant: the check off. The natural forms then compile, and GCC destroys a capture twice:
  #     the counted capture reports it (plain build); under ASan the vector capture is a double
  #     free (ASan build, whose make-test stage runs label "unit", so it is labelled unit too).
  add_executable(run_in_executor_natural_test_mutant_no_check run_in_executor_natural_test.cpp)
  target_compile_definitions(run_in_executor_natural_test_mutant_no_check PRIVATE HANDOFF_GCC_PROMOTED_CAPTURES=0)
  target_link_libraries(run_in_executor_natural_test_mutant_no_check PRIVATE handoff_catch_main Catch2::Catch2
                        handoff::handoff handoff_dev)
  if(HANDOFF_SANITIZE STREQUAL "address")
    handoff_add_mutant_check(gcc_promoted_captures_asan
      EXPECT "AddressSanitizer: (attempting double-free|heap-use-after-free)"
      COMMAND $<TARGET_FILE:run_in_executor_natural_test_mutant_no_check> "[vector]")
    set_tests_properties(mutant.gcc_promoted_captures_asan PROPERTIES LABELS "unit;mutant")
  else()
    handoff_add_mutant_check(gcc_promoted_captures
      EXPECT "destroyed twice"
      COMMAND $<TARGET_FILE:run_in_executor_natural_test_mutant_no_check> "[counted]")
  endif()
endif()
