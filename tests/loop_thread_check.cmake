# tests/loop_thread_check_test.cpp in a sanitizer build that has no unit tests (build/tsan-clang,
# HANDOFF_BUILD_TESTS=OFF): included from stress/CMakeLists.txt. Where the unit tests are
# built, tests/loop_core_tests.cmake registers it as a unit test instead.
if(NOT HANDOFF_BUILD_TESTS AND NOT HANDOFF_SANITIZE STREQUAL "")
  handoff_catch_main()
  add_executable(loop_thread_check_test ${PROJECT_SOURCE_DIR}/tests/loop_thread_check_test.cpp)
  target_compile_definitions(loop_thread_check_test PRIVATE HANDOFF_TEST_SANITIZER_BUILD=1)
  target_link_libraries(loop_thread_check_test PRIVATE handoff_catch_main Catch2::Catch2 handoff::handoff handoff_dev)
  add_test(NAME threadcheck.loop_thread_check_test COMMAND loop_thread_check_test)
  set_tests_properties(threadcheck.loop_thread_check_test PROPERTIES LABELS "threadcheck" TIMEOUT 120)
endif()
