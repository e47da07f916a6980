# Unit tests of the event loop core (loop/*.hpp): included from tests/CMakeLists.txt.
handoff_add_unit_test(event_loop_test)
handoff_add_unit_test(task_test)
handoff_add_unit_test(thread_future_test)
handoff_add_unit_test(loop_failure_test)        # injected failures: allocation, poll syscall, close
handoff_add_unit_test(loop_thread_check_test)   # HANDOFF_LOOP_THREAD_CHECKS; also in build/tsan-clang
if(NOT HANDOFF_SANITIZE STREQUAL "")
  target_compile_definitions(loop_thread_check_test PRIVATE HANDOFF_TEST_SANITIZER_BUILD=1)
endif()

# Mutants of issue 10's rollback paths, each caught by its case in loop_failure_test on the
# diagnostic that case prints: LOOP_POST_NO_ROLLBACK (a post whose push throws bad_alloc is
# not counted as refused: the ledger check fails), WAKE_NO_UNWIND (a throwing block leaves
# the WakeGate SLEEPING), LOOP_CLOSE_KEEPS_RUNNING_LOOP (close() of a loop from another loop's
# callback frees a frame under its running job). The three paths are disjoint and each check
# runs only its own case, so one binary carries all three (one compile instead of three;
# each was also checked alone, docs/loop.md). Release only: the cases are deterministic, a
# sanitizer adds nothing, and under ASan the close mutant's use-after-free would be the
# report instead of the diagnostic.
if(HANDOFF_SANITIZE STREQUAL "")
  add_executable(loop_failure_test_mutants loop_failure_test.cpp)
  target_compile_definitions(loop_failure_test_mutants PRIVATE HANDOFF_MUTANT_LOOP_POST_NO_ROLLBACK
                             HANDOFF_MUTANT_WAKE_NO_UNWIND HANDOFF_MUTANT_LOOP_CLOSE_KEEPS_RUNNING_LOOP)
  target_link_libraries(loop_failure_test_mutants PRIVATE handoff_catch_main Catch2::Catch2 handoff::handoff handoff_dev)
  handoff_add_mutant_check(loop_post_no_rollback
    EXPECT "failed posts: [0-9]+ of 30.*posted=[0-9]+ run=[0-9]+ cancelled=0 refused=0"
    COMMAND $<TARGET_FILE:loop_failure_test_mutants> "an allocation failure inside call_soon_threadsafe keeps the ledger balanced")
  handoff_add_mutant_check(loop_call_soon_no_rollback
    EXPECT "failed call_soon: [0-9]+, failed call_later: [0-9]+.*posted=[0-9]+ run=[0-9]+ cancelled=0 refused=0"
    COMMAND $<TARGET_FILE:loop_failure_test_mutants> "an allocation failure inside call_soon or call_later keeps the ledger balanced")
  handoff_add_mutant_check(wake_no_unwind
    EXPECT "the wake gate still said sleeping after block\\(\\) threw"
    COMMAND $<TARGET_FILE:loop_failure_test_mutants> "WakeGate::sleep: a block() that throws leaves the gate awake")
  handoff_add_mutant_check(loop_close_keeps_running_loop
    EXPECT "B's task frame was freed while its executor job still ran"
    COMMAND $<TARGET_FILE:loop_failure_test_mutants>
            "close() of loop B from a callback of loop A waits for B's running job before freeing the frame")
endif()
