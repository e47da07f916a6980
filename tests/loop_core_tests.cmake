# Unit tests of the event loop core (loop/*.hpp): included from tests/CMakeLists.txt.
handoff_add_unit_test(event_loop_test)
handoff_add_unit_test(task_test)
handoff_add_unit_test(thread_future_test)
