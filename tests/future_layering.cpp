// handoff/tests/future_layering.cpp — the layering of docs/future.md, checked by the compiler:
// built against an include root that holds primitives/, future/ and executor/ but NO loop/,
// so any include of a loop header from future/ or executor/ (run_in_executor.hpp, the one
// bridge, aside) fails to compile. Then the pool runs a job and the future reports it.
#include <handoff/executor/mutex_thread_pool.hpp>
#include <handoff/executor/thread_pool_executor.hpp>
#include <handoff/future/errors.hpp>
#include <handoff/future/thread_future.hpp>

#include <cstdio>

int main() {
  handoff::ThreadPoolExecutor pool(1);
  handoff::ThreadFuture<int> f = pool.submit([] { return 42; });
  handoff::MutexThreadPool baseline(1);
  handoff::ThreadFuture<int> g = baseline.submit([]() -> int { throw handoff::TimeoutError("layering"); });
  bool threw = false;
  try {
    (void)g.get();
  } catch (const handoff::TimeoutError&) {
    threw = true;
  }
  const bool ok = f.get() == 42 && threw;
  std::printf("future/ and executor/ without loop/: %s\n", ok ? "OK" : "FAILED");
  return ok ? 0 : 1;
}
