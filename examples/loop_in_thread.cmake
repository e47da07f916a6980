# ctest example.loop_in_thread: the output against examples/expected/loop_in_thread.txt.
include(${PROJECT_SOURCE_DIR}/cmake/CheckOutput.cmake)
handoff_check_output(${target} ${test} ${CMAKE_CURRENT_LIST_DIR}/expected/${name}.txt TIMEOUT 15)
