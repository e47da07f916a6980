# Unit tests of the event loop core (loop/*.hpp): included from tests/CMakeLists.txt.
handoff_add_unit_test(event_loop_test)
handoff_add_unit_test(task_test)
handoff_add_unit_test(thread_future_test)
handoff_add_unit_test(loop_failure_test)        # injected failures: allocation, poll syscall, close
handoff_add_unit_test(loop_thread_check_test)   # HANDOFF_LOOP_THREAD_CHECKS; also in build/tsan-clang
if(NOT HANDOFF_SANITIZE STREQUAL "")
  target_compile_definitions(loop_thread_check_test PRIVATE HANDOFF_TEST_SANITIZER_BUILD=1)
endif()
