// examples/run_in_executor.cpp — offload a blocking call from a coroutine (seed pattern 1).
//
// Python:  result = await loop.run_in_executor(None, blocking_io)          # the default pool
//          with ThreadPoolExecutor(max_workers=5) as pool:
//              result = await loop.run_in_executor(pool, blocking_io)    # a pool of your own
//
// The coroutine runs on the loop (handoff::run, as asyncio.run: this thread, "MainThread");
// blocking_io runs on a pool thread while the loop keeps serving its other task (the ticker).
#include <chrono>
#include <string>
#include <thread>

#include <handoff/executor/run_in_executor.hpp>
#include <handoff/loop/loop.hpp>

#include "thread_name.hpp"

using namespace std::chrono_literals;
using example::say;

std::string blocking_io(const char* pool) {
  say("blocking_io on the %s: sleeps 200 ms, blocking this thread only", pool);
  std::this_thread::sleep_for(200ms);
  return "done on " + example::this_thread_name();
}

handoff::Task<void> ticker() {  // other work the loop serves while a pool thread blocks
  co_await handoff::sleep(50ms);
  say("ticker: the loop is free while blocking_io sleeps");
}

handoff::Task<int> amain() {
  handoff::EventLoop& loop = handoff::get_running_loop();
  say("main coroutine starts");
  handoff::Future<void> tick = loop.create_task(ticker());
  auto on_default = [] { return blocking_io("default executor"); };
  std::string r1 = co_await loop.run_in_executor(on_default);  // loop.run_in_executor(None, ...)
  say("default executor: %s", r1.c_str());
  co_await tick;

  handoff::ThreadPoolExecutor pool({.max_workers = 5, .thread_name_prefix = "custom-pool"});
  auto on_custom = [] { return blocking_io("custom pool"); };
  std::string r2 = co_await loop.run_in_executor(pool, on_custom);
  say("custom pool: %s", r2.c_str());
  pool.shutdown();  // the `with` block's exit: waits for the pool's threads
  say("main coroutine ends");
  co_return 0;
}

int main() {
  example::name_this_thread("MainThread");
  return handoff::run(amain());  // closes the loop: shuts the default executor down
}
