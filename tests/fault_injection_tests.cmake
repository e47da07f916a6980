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

# Mutants: the resumption posts after a claim go back to the plain (allocating) post instead
# of the node the waiter reserved (issue 10): a channel's async_pop task, a ThreadFuture's
# awaiting task is never resumed at some N of its sweep (lock-free inbox).
if(HANDOFF_SANITIZE STREQUAL "")
  handoff_add_unit_mutant(channel.no_reserve fault_injection_test.cpp HANDOFF_MUTANT_CHANNEL_NO_RESERVE
    EXPECT "Channel push from a thread -> async_pop tasks [(]allocation[)] at N=[0-9]+"
    ARGS "fault sweep: a plain thread's push resumes the parked async_pop tasks*" -a)
  handoff_add_unit_mutant(thread_future.no_reserve fault_injection_test.cpp HANDOFF_MUTANT_THREAD_FUTURE_NO_RESERVE
    EXPECT "ThreadFuture completed on a thread -> the awaiting task [(]allocation[)] at N=[0-9]+"
    ARGS "fault sweep: a ThreadFuture completed on a plain thread resumes the awaiting task*" -a)
  # The reservations' two other new paths: a ThreadFuture await whose registration failed
  # keeps the task "suspended" on its dead awaiter (a later cancel() reaches it); a MutexQueue
  # reserved push lets the deque's bad_alloc escape instead of using its spare node.
  handoff_add_unit_mutant(thread_future.no_undo_suspend fault_injection_test.cpp HANDOFF_MUTANT_THREAD_FUTURE_NO_UNDO_SUSPEND
    EXPECT "co_await ThreadFuture [(]allocation on the loop thread[)] at N=[0-9]+"
    ARGS "fault sweep: a ThreadFuture completed on a plain thread resumes the awaiting task*" -a)
  handoff_add_unit_mutant(future.await_no_undo_suspend fault_injection_test.cpp HANDOFF_MUTANT_FUTURE_AWAIT_NO_UNDO_SUSPEND
    EXPECT "co_await Future [(]allocation on the loop thread[)] at N=[0-9]+"
    ARGS "fault sweep: co_await of a loop Future whose wake-up registration fails*" -a)
  handoff_add_unit_mutant(mutex_queue.no_spill fault_injection_test.cpp HANDOFF_MUTANT_MUTEX_QUEUE_NO_SPILL
    EXPECT "MutexQueue reserved pushes [(]allocation[)] at N=[0-9]+"
    ARGS "fault sweep: MpscQueue push / take*" -a)
endif()
