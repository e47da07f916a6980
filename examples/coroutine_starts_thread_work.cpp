// examples/coroutine_starts_thread_work.cpp — a coroutine starts thread work, then awaits it
// (seed pattern 4).
//
// Python:  fut = loop.run_in_executor(None, blocking_task, 5)   # starts now
//          t = asyncio.to_thread(blocking_task, 7)             # asyncio.to_thread (3.9)
//          ...other work on the loop...
//          a = await fut; b = await t
//
// run_in_executor and to_thread submit the job at once and return a ThreadFuture; the
// coroutine goes on with other work and co_awaits the result when it needs it. While it waits,
// the loop (this thread) is free; the job's result or exception comes back through the await.
#include <chrono>
#include <thread>

#include <handoff/executor/run_in_executor.hpp>
#include <handoff/loop/loop.hpp>

#include "thread_name.hpp"

using namespace std::chrono_literals;
using example::say;

int blocking_task(int n) {
  say("blocking_task(%d) starts", n);
  std::this_thread::sleep_for(100ms);
  say("blocking_task(%d) returns %d", n, 2 * n);
  return 2 * n;
}

handoff::Task<int> amain() {
  handoff::EventLoop& loop = handoff::get_running_loop();
  auto five = [] { return blocking_task(5); };
  handoff::ThreadFuture<int> a = loop.run_in_executor(five);  // started, not yet awaited
  handoff::ThreadFuture<int> b = handoff::to_thread(blocking_task, 7);
  say("started both jobs; the coroutine does other work meanwhile");
  co_await handoff::sleep(10ms);
  say("other work done; now awaiting the results");
  const int ra = co_await a;
  say("awaited blocking_task(5): %d", ra);
  const int rb = co_await b;
  say("awaited blocking_task(7): %d", rb);
  co_return ra + rb == 24 ? 0 : 1;
}

int main() {
  example::name_this_thread("MainThread");
  return handoff::run(amain());
}
