# Unit tests of the channel (loop/channel.hpp): included from tests/CMakeLists.txt.
handoff_add_unit_test(channel_test)

# A throw between a claim and its act (T's copy/move, bad_alloc): a binary of its own, for its
# replacement operator new. A waiter left claimed is reported as "HANG: <what>" by the test's
# own deadline (HangWatch), not by ctest's timeout.
handoff_add_unit_test(channel_throw_test)

# Mutants: each undo path removed in turn; the test of that path must report the hang.
#   NO_UNDO_OFFER      the move into a pop waiter threw: the waiter stays CLAIMED
#   NO_FAIL_ADMIT      the move of an admitted push waiter's value threw: it stays CLAIMED
#   NO_UNDO_GIVE_BACK  a given-back value's move into a pop waiter threw: it stays CLAIMED
# Plain builds only (make test's release stage): the hang needs no sanitizer to show, and three
# more binaries in every sanitizer build would cost build time for nothing.
if(NOT HANDOFF_SANITIZE STREQUAL "")
  return()
endif()
foreach(m OFFER:NO_UNDO_OFFER:offer ADMIT:NO_FAIL_ADMIT:admit GIVE_BACK:NO_UNDO_GIVE_BACK:give_back)
  string(REPLACE ":" ";" parts ${m})
  list(GET parts 1 flag)
  list(GET parts 2 tag)
  add_executable(channel_throw_test_mutant_${tag} channel_throw_test.cpp)
  target_link_libraries(channel_throw_test_mutant_${tag} PRIVATE handoff_catch_main Catch2::Catch2 handoff::handoff handoff_dev)
  target_compile_definitions(channel_throw_test_mutant_${tag} PRIVATE HANDOFF_MUTANT_CHANNEL_${flag}=1)
  handoff_add_mutant_check(channel.${tag}_undo
    EXPECT "HANG: ${tag}: [a-z_ ()0-9A-Z-]+: not finished after 5 s"
    COMMAND ${CMAKE_COMMAND} -E env HANDOFF_HANG_LIMIT=5 $<TARGET_FILE:channel_throw_test_mutant_${tag}> "[${tag}]")
endforeach()
