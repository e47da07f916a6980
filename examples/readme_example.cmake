# ctest example.readme_example: the output against examples/expected/readme_example.txt;
# example.readme_in_sync: README.md's code block is this file, byte for byte
# (scripts/check_readme_example.py), so the README's example is what ctest compiles and runs.
include(${PROJECT_SOURCE_DIR}/cmake/CheckOutput.cmake)
handoff_check_output(${target} ${test} ${CMAKE_CURRENT_LIST_DIR}/expected/${name}.txt TIMEOUT 30)
if(HANDOFF_PYTHON3)
  add_test(NAME example.readme_in_sync
           COMMAND ${HANDOFF_PYTHON3} ${PROJECT_SOURCE_DIR}/scripts/check_readme_example.py
                   ${PROJECT_SOURCE_DIR}/README.md ${CMAKE_CURRENT_LIST_DIR}/${name}.cpp)
  set_tests_properties(example.readme_in_sync PROPERTIES LABELS "example" TIMEOUT 30)
endif()
