# Unit tests of the executor (executor/*.hpp): included from tests/CMakeLists.txt.
handoff_add_unit_test(executor_test)          # ThreadPoolExecutor + MutexThreadPool, one template suite
handoff_add_unit_test(run_in_executor_test)   # loop -> pool -> loop (executor/run_in_executor.hpp)
