# ctest example.thread_to_coroutine: the output against examples/expected/thread_to_coroutine.txt.
include(${PROJECT_SOURCE_DIR}/cmake/CheckOutput.cmake)
handoff_check_output(${target} ${test} ${CMAKE_CURRENT_LIST_DIR}/expected/${name}.txt TIMEOUT 15)
