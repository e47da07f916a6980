// examples/loop_in_thread.cpp — an event loop in a thread of its own (seed pattern 2).
//
// Python:  loop = asyncio.new_event_loop()
//          t = threading.Thread(target=start_loop, args=(loop,)); t.start()   # run_forever()
//          fut = asyncio.run_coroutine_threadsafe(coro(), loop)
//          ...the main thread carries on...;  fut.result()
//          loop.call_soon_threadsafe(loop.stop); t.join()
//
// A loop belongs to the thread that runs it; from other threads use only the thread-safe
// calls: run_coroutine_threadsafe, call_soon_threadsafe, stop (thread-safe in handoff).
#include <chrono>
#include <thread>

#include <handoff/loop/loop.hpp>

#include "thread_name.hpp"

using namespace std::chrono_literals;
using example::say;

handoff::Task<int> work(int x) {
  say("coroutine starts (submitted from the main thread)");
  co_await handoff::sleep(100ms);  // suspends the coroutine, not the loop
  say("coroutine returns %d", 2 * x);
  co_return 2 * x;
}

int main() {
  example::name_this_thread("MainThread");
  handoff::EventLoop loop;  // set up here, then run and closed by its own thread
  std::thread loop_thread([&loop] {
    example::name_this_thread("loop");
    say("run_forever()");
    loop.run_forever();
    say("run_forever() returned; closing the loop");
    loop.close();
  });

  say("submitting the coroutine with run_coroutine_threadsafe");
  handoff::ThreadFuture<int> result = handoff::run_coroutine_threadsafe(work(21), loop);
  for (int step = 1; step <= 3; ++step) {
    say("main thread carries on: step %d", step);
    std::this_thread::sleep_for(20ms);
  }
  say("result: %d", result.get());  // blocks this thread (not the loop) until the task is done

  // asyncio's loop.call_soon_threadsafe(loop.stop); in handoff loop.stop() alone is thread-safe.
  loop.call_soon_threadsafe([&loop] {
    say("stop() from a call_soon_threadsafe callback");
    loop.stop();
  });
  loop_thread.join();
  say("loop thread joined");
}
