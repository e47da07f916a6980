# Mutants of primitives/mpsc_queue.hpp's rollback paths (issue 10), caught by its unit tests.
#   PUSH_NO_ROLLBACK: a throwing construction in push leaks its node.
#   TAKE_NO_HOLD:     a throwing move out of the node loses the item (and leaks its node).
# Plain and TSan builds only: under ASan the mutants' leaks would fail the run for another reason.
if(HANDOFF_SANITIZE STREQUAL "" OR HANDOFF_SANITIZE STREQUAL "thread")
  handoff_catch_main()
  foreach(m PUSH_NO_ROLLBACK TAKE_NO_HOLD)
    string(TOLOWER ${m} lower)
    add_executable(mpsc_queue_test_mutant_${lower} mpsc_queue_test.cpp)
    target_compile_definitions(mpsc_queue_test_mutant_${lower} PRIVATE HANDOFF_MUTANT_QUEUE_${m})
    target_link_libraries(mpsc_queue_test_mutant_${lower} PRIVATE handoff_catch_main Catch2::Catch2 handoff::handoff handoff_dev)
  endforeach()
  handoff_add_mutant_check(queue_push_no_rollback
    EXPECT "NODE LEAKED: push's node was not returned after T's constructor threw"
    COMMAND $<TARGET_FILE:mpsc_queue_test_mutant_push_no_rollback> "[exceptions]")
  handoff_add_mutant_check(queue_take_no_hold
    EXPECT "ITEM LOST: after a throwing move in try_pop[(]T&[)] the next pop gave item 2"
    COMMAND $<TARGET_FILE:mpsc_queue_test_mutant_take_no_hold> "[exceptions]")
endif()
