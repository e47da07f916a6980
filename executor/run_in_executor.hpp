// handoff/executor/run_in_executor.hpp — loop → pool → loop: a coroutine hands blocking work
// to an executor and awaits the result (loop.run_in_executor, asyncio.to_thread).
//
//   co_await loop.run_in_executor(pool, fn)    fn() on `pool`; its value, or its exception
//   co_await loop.run_in_executor(fn)          on the loop's default executor
//   co_await to_thread(fn, args...)            the running loop's default executor
//   co_await run_in_executor_detached(pool, fn)  cancellation resumes the task at once
//
// THE HANDOFF. submit() queues the job and returns its ThreadFuture; `co_await` suspends the
// task and adds a done callback to the future. The worker that runs the job publishes the
// outcome once (the future's PENDING→COMPLETING claim) and runs the callback, which posts the
// task's resumption through the loop's inbox (call_soon_threadsafe): the task resumes on the
// loop thread, exactly once — the resumption carries the task's suspension number, and a
// resumption for a suspension the task has already left is ignored (TaskBase::resume_now).
// docs/executor.md has the job's states and transitions.
//
// CANCELLATION (of the awaiting task):
//  * job not started: the job is cancelled (QUEUED→CANCELLED); the task resumes with
//    CancelledError.
//  * job running: it is not interrupted. The task resumes with CancelledError only after the
//    job returns — the job may still reference the coroutine's frame (arguments captured by
//    reference) — and the job's result is discarded.
//  * run_in_executor_detached(): for a job that owns all its data (captures by value only):
//    the task resumes with CancelledError at once; the job finishes on its own and its
//    result is discarded.
//
// LOOP CLOSED while a job runs: its completion's post is refused (counted in the loop's
// `refused`), the task was already completed with LoopClosedError by close(); nothing touches
// the closed or destroyed loop (the post goes through the ref-counted core).
//
// DEFAULT EXECUTOR (asyncio's): a ThreadPoolExecutor with the default size, created on first
// use; close() (and so run()) shuts it down and waits for its jobs; after close(),
// run_in_executor throws LoopClosedError.
#pragma once

#include <memory>
#include <type_traits>
#include <utility>

#include "../loop/event_loop.hpp"
#include "../loop/task.hpp"
#include "../loop/thread_future.hpp"
#include "thread_pool_executor.hpp"

namespace handoff {

template <class Executor, class F>
auto EventLoop::run_in_executor(Executor& executor, F fn) {
  check_thread("EventLoop::run_in_executor");
  if (closed_) throw LoopClosedError("run_in_executor() after close()");
  return executor.submit(std::move(fn));
}

template <class F>
auto EventLoop::run_in_executor(F fn) {
  return run_in_executor(default_executor(), std::move(fn));
}

inline ThreadPoolExecutor& EventLoop::default_executor() {
  check_thread("EventLoop::default_executor");
  if (closed_) throw LoopClosedError("default_executor() after close()");
  if (!default_executor_) set_default_executor(std::make_shared<ThreadPoolExecutor>());
  return *default_executor_;
}

inline void EventLoop::set_default_executor(std::shared_ptr<ThreadPoolExecutor> executor) {
  check_thread("EventLoop::set_default_executor");
  if (closed_) throw LoopClosedError("set_default_executor() after close()");
  if (!executor) throw std::invalid_argument("handoff: set_default_executor(nullptr)");
  std::shared_ptr<ThreadPoolExecutor> previous = std::exchange(default_executor_, std::move(executor));
  if (!previous) {
    // Once: at close(), shut down whichever executor is the default then (and wait for it).
    add_close_hook([this] {
      if (default_executor_) default_executor_->shutdown(true);
    });
  }
}

// asyncio.to_thread(fn, *args): fn(args...) on the running loop's default executor.
template <class F, class... A>
auto to_thread(F&& fn, A&&... args) {
  EventLoop& loop = get_running_loop();
  if (loop.is_closed()) throw LoopClosedError("to_thread() after close()");
  return loop.default_executor().submit(std::forward<F>(fn), std::forward<A>(args)...);
}

// The awaitable of run_in_executor_detached(): like awaiting the job's ThreadFuture, except
// that cancelling the task resumes it at once (CancelledError) instead of after the job.
template <class R>
class DetachedJobAwaiter final : public Waiter {
 public:
  explicit DetachedJobAwaiter(ThreadFuture<R> f) : f_(std::move(f)) {}
  bool await_ready() const noexcept { return f_.done(); }
  bool await_suspend(std::coroutine_handle<> h) {
    task_ = &detail::current_task("run_in_executor_detached()");
    if (task_->cancel_requested()) {
      f_.cancel();
      return false;
    }
    suspension_ = task_->suspend(this, h);
    resume_when_done(*f_.state(), *task_, suspension_);
    return true;
  }
  void on_cancel() noexcept override {
    try {
      f_.cancel();  // not started: it never runs; running: it finishes, unobserved
    } catch (...) {
    }
    task_->resume_soon(suspension_);  // at once: the job owns its data (the contract)
  }
  R await_resume() {
    if (task_) task_->throw_if_cancelled();
    return std::move(f_).get();  // read once: moved out, not copied
  }

 private:
  ThreadFuture<R> f_;
  TaskBase* task_ = nullptr;
  std::uint64_t suspension_ = 0;
};

// Loop thread. fn must own everything it uses (capture by value): if the awaiting task is
// cancelled, the task moves on while fn may still run.
template <class Executor, class F>
auto run_in_executor_detached(Executor& executor, F fn) {
  auto f = get_running_loop().run_in_executor(executor, std::move(fn));
  using R = std::decay_t<decltype(f.get())>;
  return DetachedJobAwaiter<R>(std::move(f));
}

}  // namespace handoff
