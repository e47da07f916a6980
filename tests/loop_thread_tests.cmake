# LoopThread (loop/loop_thread.hpp): included from tests/CMakeLists.txt.
handoff_add_unit_test(loop_thread_test)

# Destroyed on its own loop's thread: a clear message and std::terminate, not a deadlock.
add_executable(loop_thread_misuse loop_thread_misuse.cpp)
target_link_libraries(loop_thread_misuse PRIVATE handoff::handoff handoff_dev)
add_test(NAME unit.loop_thread_misuse
         COMMAND ${CMAKE_COMMAND} "-DEXPECT=~LoopThread[(][)] called on its own loop's thread"
                 -P ${PROJECT_SOURCE_DIR}/cmake/ExpectFailure.cmake -- $<TARGET_FILE:loop_thread_misuse>)
set_tests_properties(unit.loop_thread_misuse PROPERTIES LABELS "unit" TIMEOUT 60)
