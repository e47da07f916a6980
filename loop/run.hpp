// handoff/loop/run.hpp — asyncio.run(): the one-call entry point for a program's main coroutine.
//
// run(main()) creates a new loop, runs main() to completion in this thread, then cancels
// every task still pending and runs the loop until they have all finished (so their cleanup
// code runs), then closes the loop — which shuts down its default executor through the close
// hooks — and returns main's result or rethrows its exception.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "event_loop.hpp"
#include "task.hpp"

namespace handoff {

// Loop thread, loop not running. Cancel every pending task and run the loop until each has
// finished (asyncio.runners._cancel_all_tasks). `reason` is the tasks' CancelledError message.
inline void cancel_all_tasks(EventLoop& loop, const std::string& reason = "the loop is shutting down (cancel_all_tasks())") {
  std::vector<std::shared_ptr<TaskBase>> pending;
  for (auto& t : all_tasks_of(loop)) {
    if (!t->is_done()) pending.push_back(t);
  }
  if (pending.empty()) return;
  auto left = std::make_shared<std::size_t>(pending.size());
  for (auto& t : pending) {
    t->cancel_task(reason);
    t->add_task_done_callback([left, &loop] {
      if (--*left == 0) loop.stop();
    });
  }
  loop.run_forever();
}

template <class T>
T run(Task<T> main, EventLoop::Options opts = {}) {
  EventLoop loop(opts);
  struct Shutdown {
    EventLoop& loop;
    ~Shutdown() {
      try {
        cancel_all_tasks(loop, "the loop is shutting down (run() finished)");
      } catch (...) {
        EventLoop::default_exception_handler({"run(): cancelling the remaining tasks failed",
                                              std::current_exception()});
      }
      loop.close();
    }
  } shutdown{loop};
  return loop.run_until_complete(std::move(main));
}

}  // namespace handoff
