// handoff/executor/run_in_executor.hpp — loop → pool → loop: a coroutine hands blocking work
// to an executor and awaits the result (loop.run_in_executor, asyncio.to_thread).
//
//   co_await loop.run_in_executor(pool, fn, args...)  fn(args...) on `pool`; its value, or its exception
//   co_await loop.run_in_executor(fn)          on the loop's default executor
//   co_await to_thread(fn, args...)            the running loop's default executor
//   co_await run_in_executor_detached(pool, fn, args...)  cancellation resumes the task at once
//
// fn and args are decay-copied into the job (moved from rvalues), as std::thread does.
//
// GCC < 14 (PR c++/100611): a lambda with owning captures written INSIDE the co_await
// expression — co_await loop.run_in_executor(pool, [v = std::move(v)] { ... }) — has its
// captures destroyed twice (the capture initializers are promoted to coroutine-frame
// temporaries and the closure gets a bitwise copy; both are destroyed). No signature of ours
// can prevent it: the copy is made in the caller, before the call. So under those compilers
// such an argument (a closure or an aggregate that is not trivially destructible, passed as
// an rvalue) is rejected at compile time, with a message naming the safe forms; see
// docs/executor.md, "GCC 12 and co_await temporaries". Clang and GCC >= 14 accept it.
// THE HANDOFF. submit() queues the job and returns its ThreadFuture; `co_await` suspends the
// task and adds a done callback to the future. The worker that runs the job publishes the
// outcome once (the future's PENDING→COMPLETING claim) and runs the callback, which posts the
// task's resumption through the loop's inbox (a ReservedPost, reserved when the task
// suspended, so the post cannot fail for want of memory: loop/thread_future.hpp): the task resumes on the
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
//  * job done before the task reaches its co_await: the await does not suspend (it finds the
//    future done) and the task takes the value; a cancel posted from another thread in the
//    meantime runs after the task finished and returns false (asyncio would deliver it).
//  * run_in_executor_detached(): for a job that owns all its data (captures by value only):
//    the task resumes with CancelledError at once; the job finishes on its own and its
//    result is discarded.
//
// LOOP CLOSED while a job runs: its completion's post is refused (counted in the loop's
// `refused`), the task was already completed with LoopClosedError by close(); nothing touches
// the closed or destroyed loop (the post goes through the ref-counted core). (A job that
// finished before close() on a stopped loop had its post accepted; close() drops it.)
//
// DEFAULT EXECUTOR (asyncio's): a ThreadPoolExecutor with the default size, created on first
// use; close() (and so run()) shuts it down and waits for its jobs; after close(),
// run_in_executor throws LoopClosedError.
#pragma once

#include <memory>
#include <string_view>
#include <type_traits>
#include <utility>

#include "../loop/event_loop.hpp"
#include "../loop/task.hpp"
#include "../loop/thread_future.hpp"
#include "thread_pool_executor.hpp"

// Set to 0 to turn the GCC PR 100611 check off (a compiler known to be fixed), to 1 to force it.
// The default covers GCC < 14: measured on 12.2; 13 assumed affected, 14 assumed fixed.
#ifndef HANDOFF_GCC_PROMOTED_CAPTURES
#if defined(__GNUC__) && !defined(__clang__) && __GNUC__ < 14
#define HANDOFF_GCC_PROMOTED_CAPTURES 1
#else
#define HANDOFF_GCC_PROMOTED_CAPTURES 0
#endif
#endif

namespace handoff {

namespace detail {

// GCC spells a closure type "scope::<lambda(params)>": the type's last template-like bracket
// pair is "<lambda(...)>" (W<scope::<lambda()> > is not a closure). Only used under GCC.
constexpr bool gcc_names_a_closure(std::string_view type) {
  if (type.empty() || type.back() != '>') return false;
  int depth = 0;
  for (std::size_t i = type.size(); i-- > 0;) {
    if (type[i] == '>') {
      ++depth;
    } else if (type[i] == '<' && --depth == 0) {
      return type.substr(i).starts_with("<lambda(");
    }
  }
  return false;
}

template <class T>
constexpr bool is_closure_type() {
  // GCC: "constexpr bool handoff::detail::is_closure_type() [with T = <the type>]"
  const std::string_view f = __PRETTY_FUNCTION__;
  const std::size_t at = f.find("[with T = ");
  if (at == std::string_view::npos || f.back() != ']') return false;
  return gcc_names_a_closure(f.substr(at + 10, f.size() - at - 11));
}

// An argument GCC < 14 destroys twice when it is a temporary inside a co_await expression: a
// closure (its captures) or an aggregate (its members, PR 107288) with a non-trivial
// destructor, passed as an rvalue. An lvalue (a named lambda) is copied, not promoted: safe.
template <class A>
constexpr bool gcc_may_destroy_twice() {
  using T = std::remove_cvref_t<A>;
  if constexpr (std::is_lvalue_reference_v<A> || std::is_trivially_destructible_v<T>) {
    return false;
  } else {
    return std::is_aggregate_v<T> || is_closure_type<T>();
  }
}

template <class F, class... A>
constexpr void check_job_arguments() {
  static_assert(!HANDOFF_GCC_PROMOTED_CAPTURES || !gcc_may_destroy_twice<F>(),
                "handoff: with GCC < 14, a lambda with owning captures (or an aggregate) written "
                "inside `co_await loop.run_in_executor(pool, [x = std::move(x)] {...})` has its "
                "captures destroyed twice (GCC PR c++/100611): a double free. Pass the data as "
                "arguments instead, Python's form: `co_await loop.run_in_executor(pool, fn, "
                "std::move(x))` (or to_thread(fn, std::move(x))), fn being a function or a lambda "
                "that captures nothing it owns; or name the lambda and pass it as an lvalue (it is "
                "copied). docs/executor.md, 'GCC 12 and co_await temporaries'.");
  static_assert(!HANDOFF_GCC_PROMOTED_CAPTURES || !(gcc_may_destroy_twice<A>() || ...),
                "handoff: with GCC < 14, a lambda or aggregate temporary with a non-trivial "
                "destructor passed as an argument inside a co_await expression is destroyed twice "
                "(GCC PR c++/100611, 107288): a double free. Make it a named variable and pass it "
                "as an lvalue (it is copied into the job), or pass its parts as separate "
                "arguments. docs/executor.md, 'GCC 12 and co_await temporaries'.");
}

// executor.submit(fn, args...), a refusal reported as the user's call `what` (the executor
// names its own submit(), which the user did not call). The job was already released.
template <class Executor, class F, class... A>
auto submit_as(const char* what, Executor& executor, F&& fn, A&&... args) {
  try {
    return executor.submit(std::forward<F>(fn), std::forward<A>(args)...);
  } catch (const ExecutorShutdownError&) {
    throw ExecutorShutdownError(std::string(what) + " on an executor after its shutdown()");
  }
}

}  // namespace detail

template <class Executor, class F, class... A>
auto EventLoop::run_in_executor(Executor& executor, F&& fn, A&&... args) {
  static_assert(requires { executor.submit(std::forward<F>(fn), std::forward<A>(args)...); },
                "run_in_executor(executor, fn, args...): the first argument must be an executor "
                "(a type with submit(fn, args...), e.g. ThreadPoolExecutor) and fn(args...) must "
                "be callable; on the default executor with arguments, use to_thread(fn, args...)");
  detail::check_job_arguments<F, A...>();
  check_thread("EventLoop::run_in_executor");
  if (closed_) throw LoopClosedError("run_in_executor() after close()");
  return detail::submit_as("run_in_executor()", executor, std::forward<F>(fn), std::forward<A>(args)...);
}

template <class F>
auto EventLoop::run_in_executor(F&& fn) {
  detail::check_job_arguments<F>();
  return run_in_executor(default_executor(), std::forward<F>(fn));
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
  detail::check_job_arguments<F, A...>();
  EventLoop& loop = get_running_loop("to_thread()");
  if (loop.is_closed()) throw LoopClosedError("to_thread() after close()");
  return detail::submit_as("to_thread()", loop.default_executor(), std::forward<F>(fn), std::forward<A>(args)...);
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
    suspension_ = suspend_until_done(*f_.state(), *task_, this, h);
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
template <class Executor, class F, class... A>
auto run_in_executor_detached(Executor& executor, F&& fn, A&&... args) {
  auto f = get_running_loop("run_in_executor_detached()")
               .run_in_executor(executor, std::forward<F>(fn), std::forward<A>(args)...);
  using R = std::decay_t<decltype(f.get())>;
  return DetachedJobAwaiter<R>(std::move(f));
}

}  // namespace handoff
