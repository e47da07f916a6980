# The fault sweep (tests/fault_injection_test.cpp): included from tests/CMakeLists.txt. A binary
# of its own: it replaces the global operator new (tests/fault_injection.hpp).
handoff_add_unit_test(fault_injection_test)

# Mutant: a loop future marked done before its done callbacks are scheduled one by one (the
# code before issue 10's fix) -> the waiter or a callback is lost at some N of the sweep.
# create_task's rollback removed: a task linked but never scheduled stays in the loop.
# run_coroutine_threadsafe's start rollback removed: its future stays pending (5 s wait, -a).
if(HANDOFF_SANITIZE STREQUAL "")
  handoff_add_unit_mutant(task.create_task_no_rollback fault_injection_test.cpp HANDOFF_MUTANT_CREATE_TASK_NO_ROLLBACK
    EXPECT "EventLoop::create_task at N=[0-9]+" ARGS "fault sweep: EventLoop::create_task under allocation failure" -a)
  handoff_add_unit_mutant(thread_future.rct_start_no_rollback fault_injection_test.cpp HANDOFF_MUTANT_RCT_START_NO_ROLLBACK
    EXPECT "run_coroutine_threadsafe start [(]allocation on the loop thread[)] at N=[0-9]+"
    ARGS "fault sweep: run_coroutine_threadsafe's delivery*" -a)
  handoff_add_unit_mutant(future.schedule_after_done fault_injection_test.cpp HANDOFF_MUTANT_FUTURE_SCHEDULE_AFTER_DONE
    EXPECT "Future::set_result with waiters at N=[0-9]+" ARGS "fault sweep: a loop Future completed while tasks and callbacks wait on it (allocation failure)")
endif()

# Mutant: async_pop's value destroyed (not given back) when its move to the task throws.
if(HANDOFF_SANITIZE STREQUAL "")
  handoff_add_unit_mutant(channel.no_give_back_on_resume fault_injection_test.cpp HANDOFF_MUTANT_CHANNEL_NO_GIVE_BACK_ON_RESUME
    EXPECT "Channel async_pop -> the task [(]Fragile move[)] at N=[0-9]+"
    ARGS "fault sweep: async_pop's move of the value to the task throws: the value goes back" -a)
endif()
