# Mutants of primitives/mpsc_inbox.hpp caught by its unit tests (issue 10).
# HANDOFF_MUTANT_INBOX_LATE_REFUSAL: push() no longer refuses at once once close() has
# returned (the code before the fix); the held-producer test must report the wait.
if(HANDOFF_SANITIZE STREQUAL "" OR HANDOFF_SANITIZE STREQUAL "thread")
  handoff_catch_main()
  add_executable(mpsc_inbox_test_mutant_late_refusal mpsc_inbox_test.cpp)
  target_compile_definitions(mpsc_inbox_test_mutant_late_refusal PRIVATE HANDOFF_MUTANT_INBOX_LATE_REFUSAL)
  target_link_libraries(mpsc_inbox_test_mutant_late_refusal PRIVATE handoff_catch_main Catch2::Catch2 handoff::handoff handoff_dev)
  handoff_add_mutant_check(inbox_late_refusal
    EXPECT "REFUSAL WAITED: a push begun after close[(][)] returned waited for its"
    COMMAND $<TARGET_FILE:mpsc_inbox_test_mutant_late_refusal> "inbox: a push after close() returned is refused at once*")
endif()
