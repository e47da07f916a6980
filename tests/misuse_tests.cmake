# The misuse table's own tests (docs/misuse.md) and the fault-injection sweep: included from
# tests/CMakeLists.txt.
handoff_add_unit_test(misuse_test)            # rows of docs/misuse.md no other suite tests

# Mutant: the catch around a task's result move removed (the code before issue 10's fix): the
# move throws inside the noexcept final step and the process terminates.
if(HANDOFF_SANITIZE STREQUAL "")
  handoff_add_unit_mutant(task.result_no_catch misuse_test.cpp HANDOFF_MUTANT_TASK_RESULT_NO_CATCH
    EXPECT "terminate called after throwing"
    ARGS "a task whose result's move throws completes with that exception (it terminated the process)")
endif()
