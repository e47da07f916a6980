# ctest example.coroutine_starts_thread_work: the output against examples/expected/coroutine_starts_thread_work.txt.
include(${PROJECT_SOURCE_DIR}/cmake/CheckOutput.cmake)
handoff_check_output(${target} ${test} ${CMAKE_CURRENT_LIST_DIR}/expected/${name}.txt TIMEOUT 15)
