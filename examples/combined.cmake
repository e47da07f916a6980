# ctest example.combined: the output against examples/expected/combined.txt (which also checks
# that the three 2-second jobs overlapped, by their order). About 2 s of sleeps.
include(${PROJECT_SOURCE_DIR}/cmake/CheckOutput.cmake)
handoff_check_output(${target} ${test} ${CMAKE_CURRENT_LIST_DIR}/expected/${name}.txt TIMEOUT 20)
