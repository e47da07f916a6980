// Must NOT compile with GCC < 14 (tests/newcomer_tests.cmake builds it and expects the message):
// the natural run_in_executor form, whose captures GCC would destroy twice (PR c++/100611).
#include <string>
#include <utility>
#include <vector>

#include <handoff/executor/run_in_executor.hpp>
#include <handoff/loop/loop.hpp>

using namespace handoff;

Task<long> natural(ThreadPoolExecutor& pool) {
  std::vector<int> batch(10, 1);
  co_return co_await get_running_loop().run_in_executor(pool, [b = std::move(batch)] {
    return static_cast<long>(b.size());
  });
}
