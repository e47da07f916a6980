# ctest example.run_in_executor: the output against examples/expected/run_in_executor.txt.
include(${PROJECT_SOURCE_DIR}/cmake/CheckOutput.cmake)
handoff_check_output(${target} ${test} ${CMAKE_CURRENT_LIST_DIR}/expected/${name}.txt TIMEOUT 15)
