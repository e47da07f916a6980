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
