# Tests of the future/ layer (future/*.hpp; docs/future.md): included from tests/CMakeLists.txt.
# Its behaviour is tested by thread_future_test (registered in loop_core_tests.cmake: it also
# covers the loop's side of ThreadFuture).

# unit.future_layering: future/ and executor/ compile and run with no loop/ on the include
# path. The include root is a fresh COPY of primitives/, future/, executor/ made at every build
# (links would not do: "../loop/x.hpp" inside a linked folder resolves through the link back to
# the source tree). Not linked to handoff::handoff, whose include root has loop/ in it.
set(handoff_layer_root ${CMAKE_CURRENT_BINARY_DIR}/layer_include)
add_custom_target(future_layer_headers
  COMMAND ${CMAKE_COMMAND} -E rm -rf ${handoff_layer_root}
  COMMAND ${CMAKE_COMMAND} -E copy_directory ${PROJECT_SOURCE_DIR}/primitives ${handoff_layer_root}/handoff/primitives
  COMMAND ${CMAKE_COMMAND} -E copy_directory ${PROJECT_SOURCE_DIR}/future ${handoff_layer_root}/handoff/future
  COMMAND ${CMAKE_COMMAND} -E copy_directory ${PROJECT_SOURCE_DIR}/executor ${handoff_layer_root}/handoff/executor
  COMMENT "future_layering: primitives/ future/ executor/ without loop/")
add_executable(future_layering future_layering.cpp)
target_include_directories(future_layering PRIVATE ${handoff_layer_root})
target_compile_features(future_layering PRIVATE cxx_std_20)
target_link_libraries(future_layering PRIVATE Threads::Threads handoff_dev)
add_dependencies(future_layering future_layer_headers)
if(HANDOFF_PERTURB)
  target_compile_definitions(future_layering PRIVATE HANDOFF_SYNC_PERTURB=1)
endif()
add_test(NAME unit.future_layering COMMAND future_layering)
set_tests_properties(unit.future_layering PROPERTIES LABELS "unit" TIMEOUT 120)

# Mutant: ThreadFutureState::set_value without its undo path (a throw between the claim and the
# publish completes the future with the exception). Without it the future stays COMPLETING: the
# regression test's watchdog must report it by name. Every build that runs mutants.
add_executable(thread_future_test_mutant_no_undo thread_future_test.cpp)
target_compile_definitions(thread_future_test_mutant_no_undo PRIVATE HANDOFF_MUTANT_FUTURE_NO_UNDO)
target_link_libraries(thread_future_test_mutant_no_undo PRIVATE handoff_catch_main Catch2::Catch2
                      handoff::handoff handoff_dev)
handoff_add_mutant_check(future_no_undo
  EXPECT "ThreadFuture STUCK COMPLETING: the value's move threw"  # Catch2 wraps the rest of the line
  COMMAND $<TARGET_FILE:thread_future_test_mutant_no_undo>
          "ThreadFuture: set_value whose value's move throws completes the future with that exception")
