# Helpers every test folder uses, so each primitive's set is registered the same way.

# Soak mode: the same binaries run bounded slices under `make test` and the full counts under
# `make soak`, which configures its own build dirs with -DHANDOFF_SOAK=ON. Then every test gets
# HANDOFF_SOAK=1 in its environment and a day-long TIMEOUT (the binaries' watchdogs still
# catch hangs). handoff_test_timeout(<seconds>) gives the TIMEOUT to use.
option(HANDOFF_SOAK "Register tests with full counts (make soak)" OFF)
function(handoff_soak_properties test)
  if(HANDOFF_SOAK)
    set_tests_properties(${test} PROPERTIES ENVIRONMENT "HANDOFF_SOAK=1" TIMEOUT 86400)
  endif()
endfunction()

# One Catch2 main per build, compiled once.
function(handoff_catch_main)
  if(TARGET handoff_catch_main)
    return()
  endif()
  find_package(Catch2 2 REQUIRED)
  add_library(handoff_catch_main OBJECT ${PROJECT_SOURCE_DIR}/tests/catch_main.cpp)
  # Catch2's runner only (no handoff code, single-threaded): compiled at -O1 and without the
  # sanitizers (it does not link handoff_dev; every test binary does, so the test code and
  # handoff's headers are instrumented as before). Saves ~34 s CPU per ASan build, ~16 s at -O3.
  target_link_libraries(handoff_catch_main PUBLIC Catch2::Catch2)
  target_compile_options(handoff_catch_main PRIVATE -O1)
endfunction()

# handoff_add_unit_test(<name>) : tests/<name>.cpp -> binary <name>, ctest label "unit".
function(handoff_add_unit_test name)
  handoff_catch_main()
  add_executable(${name} ${name}.cpp)
  target_link_libraries(${name} PRIVATE handoff_catch_main Catch2::Catch2 handoff::handoff handoff_dev)
  add_test(NAME unit.${name} COMMAND ${name})
  set_tests_properties(unit.${name} PROPERTIES LABELS "unit" TIMEOUT 300)
endfunction()

# handoff_add_stress_test(<name> [ARGS ...]) : stress/<name>.cpp, label "stress". The binary
# bounds its own run time (~10 s in ctest) and has a watchdog; TIMEOUT is a last resort.
function(handoff_add_stress_test name)
  cmake_parse_arguments(S "" "" "ARGS" ${ARGN})
  add_executable(${name} ${name}.cpp)
  target_link_libraries(${name} PRIVATE handoff::handoff handoff_dev)
  add_test(NAME stress.${name} COMMAND ${name} ${S_ARGS})
  set_tests_properties(stress.${name} PROPERTIES LABELS "stress" TIMEOUT 240)
  handoff_soak_properties(stress.${name})
endfunction()

# handoff_mutant_optimization(<target>) : a mutant binary only has to fail, fast: it is compiled
# at -O1 (in the sanitizer builds everything is, see the root CMakeLists). Measured on the Relacy
# models: -O3 26.4 s, -O1 14.8 s per mutant build; every mutant is still caught (make test).
function(handoff_mutant_optimization target)
  target_compile_options(${target} PRIVATE -O1)
endfunction()

# handoff_add_unit_mutant(<check> <source> <MACRO> EXPECT <regex> ARGS <args...>) : a unit-test
# binary built from tests/<source> with -D<MACRO> (a HANDOFF_MUTANT_* switch), target
# <source-stem>_mutant_<check>, and the mutant check mutant.<check> that runs it with <args>
# and must see <regex>.
function(handoff_add_unit_mutant check source macro)
  cmake_parse_arguments(U "" "EXPECT" "ARGS" ${ARGN})
  handoff_catch_main()
  get_filename_component(stem ${source} NAME_WE)
  set(target ${stem}_mutant_${check})
  string(REPLACE "." "_" target ${target})
  add_executable(${target} ${source})
  target_compile_definitions(${target} PRIVATE ${macro})
  target_link_libraries(${target} PRIVATE handoff_catch_main Catch2::Catch2 handoff::handoff handoff_dev)
  handoff_mutant_optimization(${target})
  handoff_add_mutant_check(${check} EXPECT "${U_EXPECT}" COMMAND $<TARGET_FILE:${target}> ${U_ARGS})
endfunction()

# handoff_add_mutant_check(<test-name> EXPECT <regex> COMMAND <cmd...>) : a check that must
# FAIL with the expected diagnostic: passes only when the command exits non-zero AND its
# output matches EXPECT. A crash or an unrelated failure does not count as catching a mutant.
function(handoff_add_mutant_check name)
  cmake_parse_arguments(M "" "EXPECT" "COMMAND" ${ARGN})
  add_test(NAME mutant.${name}
           COMMAND ${CMAKE_COMMAND} -DEXPECT=${M_EXPECT} -P ${PROJECT_SOURCE_DIR}/cmake/ExpectFailure.cmake
                   -- ${M_COMMAND})
  set_tests_properties(mutant.${name} PROPERTIES LABELS "mutant" TIMEOUT 300)
endfunction()
