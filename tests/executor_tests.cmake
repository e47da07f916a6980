# Unit tests of the executor (executor/*.hpp): included from tests/CMakeLists.txt.
handoff_add_unit_test(executor_test)          # ThreadPoolExecutor + MutexThreadPool, one template suite
handoff_add_unit_test(run_in_executor_test)   # loop -> pool -> loop (executor/run_in_executor.hpp)

# Mutant: TaskBase::resume_now without its suspension-number guard (the exactly-once guard of
# every cross-thread resumption). The detached-cancel test must report the stale completion
# waking the task a second time. Plain and sanitizer builds alike (no leak is involved).
add_executable(run_in_executor_test_mutant_resume_no_guard run_in_executor_test.cpp)
target_compile_definitions(run_in_executor_test_mutant_resume_no_guard PRIVATE HANDOFF_MUTANT_RESUME_NO_GUARD)
target_link_libraries(run_in_executor_test_mutant_resume_no_guard PRIVATE handoff_catch_main Catch2::Catch2
                      handoff::handoff handoff_dev)
handoff_add_mutant_check(resume_no_guard
  EXPECT "RESUMED TWICE: a stale completion woke the task from a later await"
  COMMAND $<TARGET_FILE:run_in_executor_test_mutant_resume_no_guard> "run_in_executor_detached*")

# Thread creation failure (issue 10), through ThreadPoolExecutor::Options::start_thread.
handoff_add_unit_test(executor_spawn_failure_test)
# Mutant: the thread counted before its creation and never undone (the pre-issue-10 order):
# after a failed creation the pool believes a thread is alive, so the next submit starts
# none. The first spawn-failure test must say so. One build suffices (no race is involved);
# the sanitizer builds would add their own leak report (the stranded jobs) on top.
if(HANDOFF_SANITIZE STREQUAL "")
  add_executable(executor_spawn_failure_test_mutant_no_rollback executor_spawn_failure_test.cpp)
  target_compile_definitions(executor_spawn_failure_test_mutant_no_rollback PRIVATE HANDOFF_MUTANT_POOL_SPAWN_NO_ROLLBACK)
  target_link_libraries(executor_spawn_failure_test_mutant_no_rollback PRIVATE handoff_catch_main Catch2::Catch2
                        handoff::handoff handoff_dev)
  handoff_add_mutant_check(pool_spawn_no_rollback
    EXPECT "PHANTOM THREAD: after a failed creation the counters say 1 alive"
    COMMAND $<TARGET_FILE:executor_spawn_failure_test_mutant_no_rollback> "spawn failure: on the first submit*")
  # The same defect in MutexThreadPool (it had it until issue 10's helper gave it the seam).
  handoff_add_unit_mutant(mpool_spawn_no_rollback executor_spawn_failure_test.cpp HANDOFF_MUTANT_MPOOL_SPAWN_NO_ROLLBACK
    EXPECT "PHANTOM THREAD: after a failed creation the counters say 1 alive" ARGS "spawn failure: on the first submit*")
endif()

# Mutants of the submit-lifetime fix (issue 10): ThreadPoolExecutor's destructor not waiting
# for a submit in flight (ASan sees the freed access in after_push); MutexThreadPool's the same
# (its freed access is the notify inside libc's pthread_cond_signal: TSan intercepts it, ASan
# does not). The lifetime test must report the use after free.
if(HANDOFF_SANITIZE MATCHES "address")
  handoff_add_unit_mutant(pool_no_submit_wait executor_test.cpp HANDOFF_MUTANT_POOL_NO_SUBMIT_WAIT
    EXPECT "heap-use-after-free" ARGS "*still inside submit() - ThreadPoolExecutor")
endif()
if(HANDOFF_SANITIZE MATCHES "thread")
  handoff_add_unit_mutant(mpool_no_submit_wait executor_test.cpp HANDOFF_MUTANT_MPOOL_NO_SUBMIT_WAIT
    EXPECT "heap-use-after-free" ARGS "*still inside submit() - MutexThreadPool")
endif()
