# ctest install.consumer: cmake -D... -P run_consumer_test.cmake
#   (1) `cmake --install` the build tree under test into a fresh prefix, then configure, build
#       and run tests/consumer against it with find_package(handoff);
#   (2) configure, build and run the same consumer with add_subdirectory(<source tree>).
# Inputs: HANDOFF_SOURCE_DIR, HANDOFF_BINARY_DIR, CONSUMER_DIR, WORK_DIR, CXX, GENERATOR.
foreach(v HANDOFF_SOURCE_DIR HANDOFF_BINARY_DIR CONSUMER_DIR WORK_DIR CXX GENERATOR)
  if(NOT DEFINED ${v})
    message(FATAL_ERROR "run_consumer_test.cmake: -D${v}=... missing")
  endif()
endforeach()

file(REMOVE_RECURSE "${WORK_DIR}")
file(MAKE_DIRECTORY "${WORK_DIR}")
set(prefix "${WORK_DIR}/prefix")

function(step name)
  message("---- ${name}: ${ARGN}")
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
  message("${out}${err}")
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "install test: step '${name}' failed (exit ${rc})")
  endif()
  set(step_output "${out}" PARENT_SCOPE)
endfunction()

# A consumer is built without the enclosing build's flags (sanitizers, CXXFLAGS): the
# environment of the ctest run must not leak into it.
set(clean_env ${CMAKE_COMMAND} -E env --unset=CXXFLAGS --unset=LDFLAGS --unset=CMAKE_PREFIX_PATH)
set(common -G "${GENERATOR}" -DCMAKE_CXX_COMPILER=${CXX} -DCMAKE_BUILD_TYPE=Release)

# ---- (1) install, then find_package ----
step("install" ${CMAKE_COMMAND} --install "${HANDOFF_BINARY_DIR}" --prefix "${prefix}")
file(GLOB_RECURSE installed_config "${prefix}/*/handoffConfig.cmake")
file(GLOB_RECURSE installed_headers "${prefix}/include/handoff/*.hpp")
if(NOT installed_config OR NOT installed_headers)
  message(FATAL_ERROR "install test: the prefix has no handoffConfig.cmake or no headers")
endif()
list(LENGTH installed_headers n_headers)
message("installed: ${n_headers} headers, ${installed_config}")

step("configure (find_package)" ${clean_env} ${CMAKE_COMMAND} -S "${CONSUMER_DIR}" -B "${WORK_DIR}/package" ${common}
     -DHANDOFF_CONSUMER_MODE=package -DCMAKE_PREFIX_PATH=${prefix} -DHANDOFF_EXPECT_PREFIX=${prefix}
     -DCMAKE_FIND_USE_PACKAGE_REGISTRY=OFF -DCMAKE_FIND_USE_SYSTEM_PACKAGE_REGISTRY=OFF)
step("build (find_package)" ${clean_env} ${CMAKE_COMMAND} --build "${WORK_DIR}/package" -j2)
step("run (find_package)" "${WORK_DIR}/package/handoff_consumer")
if(NOT step_output MATCHES "handoff consumer: OK")
  message(FATAL_ERROR "install test: the find_package consumer did not report OK")
endif()

# ---- (2) add_subdirectory of the source tree ----
step("configure (add_subdirectory)" ${clean_env} ${CMAKE_COMMAND} -S "${CONSUMER_DIR}" -B "${WORK_DIR}/subdirectory"
     ${common} -DHANDOFF_CONSUMER_MODE=subdirectory -DHANDOFF_SOURCE_DIR=${HANDOFF_SOURCE_DIR})
step("build (add_subdirectory)" ${clean_env} ${CMAKE_COMMAND} --build "${WORK_DIR}/subdirectory" -j2)
step("run (add_subdirectory)" "${WORK_DIR}/subdirectory/handoff_consumer")
if(NOT step_output MATCHES "handoff consumer: OK")
  message(FATAL_ERROR "install test: the add_subdirectory consumer did not report OK")
endif()
# ---- (3) add_subdirectory leaves the parent's build type alone ----
# A parent configured with no build type must keep none: handoff may pick a default only as the
# top-level project (a forced Release would also add -DNDEBUG to the parent's own targets).
step("configure (add_subdirectory, no build type)" ${clean_env} ${CMAKE_COMMAND} -S "${CONSUMER_DIR}"
     -B "${WORK_DIR}/subdirectory-untyped" -G "${GENERATOR}" -DCMAKE_CXX_COMPILER=${CXX}
     -DHANDOFF_CONSUMER_MODE=subdirectory -DHANDOFF_SOURCE_DIR=${HANDOFF_SOURCE_DIR})
file(STRINGS "${WORK_DIR}/subdirectory-untyped/CMakeCache.txt" build_type_line REGEX "^CMAKE_BUILD_TYPE:")
if(NOT build_type_line MATCHES "^CMAKE_BUILD_TYPE:[A-Z]*=$")
  message(FATAL_ERROR "install test: add_subdirectory(handoff) changed the parent's build type: ${build_type_line}")
endif()
# ---- (4) the README's one-line install, on a machine without Catch2 ----
# `cmake -S handoff -B handoff/build && cmake --install ...` with no options: a top-level
# configure that cannot find Catch2 (hidden here) must skip the tests, not fail.
step("configure (plain, no Catch2)" ${clean_env} ${CMAKE_COMMAND} -S "${HANDOFF_SOURCE_DIR}" -B "${WORK_DIR}/plain"
     -G "${GENERATOR}" -DCMAKE_CXX_COMPILER=${CXX} -DCMAKE_DISABLE_FIND_PACKAGE_Catch2=TRUE)
if(NOT step_output MATCHES "Catch2 2.x not found: unit tests not built")
  message(FATAL_ERROR "install test: the plain configure did not say that it skipped the tests")
endif()
step("install (plain)" ${CMAKE_COMMAND} --install "${WORK_DIR}/plain" --prefix "${WORK_DIR}/plain-prefix")
if(NOT EXISTS "${WORK_DIR}/plain-prefix/include/handoff/loop/loop.hpp")
  message(FATAL_ERROR "install test: the plain install has no headers")
endif()
message("install test: OK (find_package against ${prefix}, add_subdirectory, parent build type untouched, plain one-line install)")
