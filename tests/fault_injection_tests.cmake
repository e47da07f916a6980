# The fault sweep (tests/fault_injection_test.cpp): included from tests/CMakeLists.txt. A binary
# of its own: it replaces the global operator new (tests/fault_injection.hpp).
handoff_add_unit_test(fault_injection_test)

# Mutant: a loop future marked done before its done callbacks are scheduled one by one (the
# code before issue 10's fix) -> the waiter or a callback is lost at some N of the sweep.
if(HANDOFF_SANITIZE STREQUAL "")
  handoff_add_unit_mutant(future.schedule_after_done fault_injection_test.cpp HANDOFF_MUTANT_FUTURE_SCHEDULE_AFTER_DONE
    EXPECT "Future::set_result with waiters at N=[0-9]+" ARGS "fault sweep: a loop Future completed while tasks and callbacks wait on it (allocation failure)")
endif()
