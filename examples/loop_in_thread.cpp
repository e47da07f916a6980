// examples/loop_in_thread.cpp — an event loop in a thread of its own (seed pattern 2): first
// by hand, every step in its order, then with handoff::LoopThread, which does those steps.
//
// Python:  loop = asyncio.new_event_loop()
//          t = threading.Thread(target=start_loop, args=(loop,)); t.start()   # run_forever()
//          fut = asyncio.run_coroutine_threadsafe(coro(), loop)
//          ...the main thread carries on...;  fut.result()
//          loop.call_soon_threadsafe(loop.stop); t.join()
//          (and, for the pending tasks' cleanup, what asyncio.run does: cancel them and run
//          the loop until they finish, then close — on the loop's thread)
//
// A loop belongs to the thread that runs it; from other threads use only the thread-safe
// calls: run_coroutine_threadsafe, call_soon_threadsafe, stop (thread-safe in handoff).
// Shutting down: stop the loop; on its thread, cancel the pending tasks and run the loop
// until they have finished (their `catch (const CancelledError&)` cleanup runs), then close
// it; join the thread. Closing without the cancel completes pending tasks with
// LoopClosedError and skips their cleanup.
#include <chrono>
#include <string>
#include <thread>

#include <handoff/loop/loop.hpp>
#include <handoff/loop/loop_thread.hpp>

#include "thread_name.hpp"

using namespace std::chrono_literals;
using example::say;

handoff::Task<int> work(int x) {
  say("coroutine starts (submitted from the main thread)");
  co_await handoff::sleep(100ms);  // suspends the coroutine, not the loop
  say("coroutine returns %d", 2 * x);
  co_return 2 * x;
}

// A task still pending at shutdown: its cleanup must run before the loop closes.
handoff::Task<void> pending() {
  say("pending task starts");
  try {
    co_await handoff::sleep(1h);
  } catch (const handoff::CancelledError& e) {
    say("pending task cleans up (%s)", e.what());
    throw;
  }
}

int main() {
  example::name_this_thread("MainThread");

  // ---- 1. By hand ----
  handoff::EventLoop loop;  // set up here, then run, shut down and closed by its own thread
  std::thread loop_thread([&loop] {
    example::name_this_thread("loop");
    say("run_forever()");
    loop.run_forever();
    say("run_forever() returned; cancelling the pending tasks, then closing the loop");
    handoff::cancel_all_tasks(loop, "the loop's thread is shutting down");  // runs their cleanup
    loop.close();
  });

  say("submitting the coroutines with run_coroutine_threadsafe");
  handoff::ThreadFuture<void> left_pending = handoff::run_coroutine_threadsafe(pending(), loop);
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
  say("loop thread joined; the pending task ended %s", left_pending.cancelled() ? "cancelled" : "otherwise");

  // ---- 2. With LoopThread: the same steps, in its destructor ----
  {
    handoff::LoopThread lt("LoopThread");  // starts the thread, named, running run_forever()
    handoff::ThreadFuture<void> also_pending = handoff::run_coroutine_threadsafe(pending(), lt.loop());
    say("LoopThread result: %d", handoff::run_coroutine_threadsafe(work(4), lt.loop()).get());
    say("destroying the LoopThread");
  }  // ~LoopThread: stop; on its thread cancel_all_tasks + close; join
  say("LoopThread destroyed");
}
