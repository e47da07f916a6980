// handoff/loop/thread_future.hpp — a ThreadFuture seen from an event loop: `co_await` it
// from a task on any loop (asyncio.wrap_future), and run_coroutine_threadsafe.
//
// ThreadFuture itself (its state word, waits, callbacks, cancel) is in future/thread_future.hpp,
// below loop/ and executor/ (docs/future.md); this header includes it, so code that included
// loop/thread_future.hpp for ThreadFuture keeps working.
#pragma once

#include <coroutine>
#include <cstdint>
#include <exception>
#include <memory>
#include <utility>

#include "../future/thread_future.hpp"
#include "callback.hpp"
#include "errors.hpp"
#include "event_loop.hpp"
#include "future.hpp"
#include "task.hpp"

namespace handoff {

namespace detail {
// A ThreadFuture's done callback for an awaiting task: posts the task's resumption through
// the node reserved when it suspended (suspend_until_done). The shared_ptr to the task moves
// into the posted callback, so it is released on the loop thread (or, if the loop closed
// meanwhile, the post is refused and the task has already been abandoned: releasing it here
// touches no loop). 48 bytes: stored inline, so registering it allocates only the future's
// callback node.
struct PostResumption {
  ReservedPost post;
  std::shared_ptr<TaskBase> task;
  std::uint64_t suspension;
  void operator()() {
#if defined(HANDOFF_MUTANT_THREAD_FUTURE_NO_RESERVE)
    try {  // MUTANT: the plain post may allocate, and its bad_alloc is lost on the completing thread
      post.loop().call_soon_threadsafe(ResumeTask{std::move(task), suspension});
    } catch (const LoopClosedError&) {
    }
#else
    (void)post.post(ResumeTask{std::move(task), suspension});  // Closed: the task was abandoned by close()
#endif
  }
};
static_assert(Callback::stores_inline<PostResumption>, "registering the wake-up allocates only the callback node");
}  // namespace detail

// In an await_suspend: suspend `task` at `h` on `w` until `f` completes; returns the
// suspension's number. The done callback runs on whichever thread completes the future (a
// pool worker, a plain thread) and posts the task's resumption to the task's loop; the
// resumption runs on the loop thread, and one that has gone stale (the task left that
// suspension another way) is ignored by TaskBase::resume_now — the exactly-once guard.
//
// THE POST CANNOT FAIL (issue 10): it happens after the future was claimed, on a thread with
// nobody to tell, so a std::bad_alloc there (a new inbox node) left the task suspended
// forever. The node is reserved here first (ReservedPost), on the loop thread. Strong: if the
// reservation or the callback's registration throws (std::bad_alloc), the task is not
// suspended (undo_suspend) and nothing is registered; the co_await throws it.
// Mutants (tests/fault_injection_tests.cmake): HANDOFF_MUTANT_THREAD_FUTURE_NO_RESERVE posts
// with call_soon_threadsafe instead (caught by the sweep "ThreadFuture completed on a
// thread"); HANDOFF_MUTANT_THREAD_FUTURE_NO_UNDO_SUSPEND leaves the failed suspension in
// place (the sweep "co_await ThreadFuture (allocation on the loop thread)": a later cancel()
// reaches the destroyed awaiter).
inline std::uint64_t suspend_until_done(ThreadFutureBase& f, TaskBase& task, Waiter* w, std::coroutine_handle<> h) {
  ReservedPost post = task.loop()->threadsafe().reserve_post();  // may throw: nothing changed yet
  const std::uint64_t n = task.suspend(w, h);
  try {
    f.add_done_callback(detail::PostResumption{std::move(post), task.shared(), n});
  } catch (...) {
#if !defined(HANDOFF_MUTANT_THREAD_FUTURE_NO_UNDO_SUSPEND)  // MUTANT: the task stays "suspended" on a dead awaiter
    task.undo_suspend(n);  // not registered: the co_await fails, the task runs on
#endif
    throw;
  }
  return n;
}

// `co_await thread_future` from a task on any loop (asyncio.wrap_future). The completing
// thread posts the task's resumption to the task's loop. Cancelling the awaiting task
// cancels the thread future; the task resumes (with CancelledError) once that completes.
template <class T>
class ThreadFutureAwaiter final : public Waiter {
 public:
  // move_out: awaited as an rvalue (`co_await pool.submit(f)`): the value is moved out, as
  // get() on an rvalue; otherwise read as get() on an lvalue (future/thread_future.hpp, GET).
  ThreadFutureAwaiter(std::shared_ptr<ThreadFutureState<T>> s, bool move_out)
      : s_(std::move(s)), move_out_(move_out) {}
  bool await_ready() const noexcept { return s_->done(); }
  bool await_suspend(std::coroutine_handle<> h) {
    task_ = &detail::current_task("a ThreadFuture");
    if (task_->cancel_requested()) {
      // Cancelled before this await: ask the producer as on_cancel would (a job that has not
      // started is cancelled); a producer that is already running is waited for.
      s_->cancel();
      if (s_->done()) return false;
    }
    suspend_until_done(*s_, *task_, this, h);
    return true;
  }
  void on_cancel() noexcept override {
    try {
      // Ask the producer; the task resumes when the future completes and then throws
      // CancelledError whatever the outcome (a job's result is discarded: issue 4's rule, and
      // what asyncio's wrap_future gives the awaiting task).
      s_->cancel();
    } catch (...) {
    }
  }
  // close() abandons the task: its frame is destroyed next. The producer (an executor job)
  // may still use the frame (the frame rule: a job that captured locals by reference), so
  // cancel it if it has not started, else wait until it has finished. close() may block for
  // the rest of a running job: the price of never freeing a frame a job still uses
  // (tla/JobHandoff.tla found the use-after-free; docs/executor.md).
  void on_abandon() noexcept override {
    if (!s_->runs_on_a_thread()) return;  // e.g. run_coroutine_threadsafe's: no frame borrowed
    try {
      s_->cancel();
      s_->wait();
    } catch (...) {
    }
  }
  T await_resume() {
    if (task_) task_->throw_if_cancelled();
    return move_out_ ? s_->take() : s_->read();
  }

 private:
  std::shared_ptr<ThreadFutureState<T>> s_;
  bool move_out_;
  TaskBase* task_ = nullptr;
};

template <class T>
ThreadFutureAwaiter<T> operator co_await(const ThreadFuture<T>& f) {
  return ThreadFutureAwaiter<T>(f.state(), false);
}
template <class T>
ThreadFutureAwaiter<T> operator co_await(ThreadFuture<T>&& f) {
  return ThreadFutureAwaiter<T>(f.state(), true);
}

// Any thread: schedule `coro` as a task on `loop` (which runs in another thread) and return
// a ThreadFuture for its result (asyncio.run_coroutine_threadsafe). Throws LoopClosedError
// if the loop is closed; if the loop closes before the task finishes, the future completes
// with LoopClosedError. cancel() on the future cancels the task on its loop.
template <class T>
ThreadFuture<T> run_coroutine_threadsafe(Task<T> coro, const LoopRef& loop) {
  if (!loop) throw InvalidStateError("run_coroutine_threadsafe() with an empty LoopRef");
  auto st = std::make_shared<ThreadFutureState<T>>();
  // Touched only on the loop thread: the task's future, once the loop has created it.
  auto task = std::make_shared<Future<T>>();
  st->set_cancel_hook([loop, task] {
    try {
      loop.call_soon_threadsafe([task] {
        if (*task) task->cancel();
      });
    } catch (const LoopClosedError&) {
      // Closed: the future completes (or has completed) with LoopClosedError anyway.
    }
    return true;  // requested: the task decides at its next await point
  });
  auto start = [st, task, coro = std::move(coro)]() mutable {
    if (st->cancel_requested()) {
      st->set_exception(std::make_exception_ptr(CancelledError("cancelled before it started")));
      return;
    }
    // A throw here (bad_alloc creating the task or hooking its delivery) escaped to the loop's
    // exception handler and left the future pending forever (tests/fault_injection_test.cpp):
    // the future gets the exception; a task already created is cancelled (nobody reads it).
    try {
      *task = get_running_loop().create_task(std::move(coro));
      // Both paths release the task's future here, on the loop thread: the state (and its
      // cancel hook) may be destroyed by whichever thread drops the last ThreadFuture, and a
      // task must never be destroyed off its loop's thread.
      // The task's outcome, moved into the thread-side future.
      auto deliver = [](ThreadFutureState<T>& to, Future<T> done) {
        try {
          if constexpr (std::is_void_v<T>) {
            done.result();
            to.set_value();
          } else {
            to.set_value(std::move(done).result());  // moved: the bridge holds the last handle
          }
        } catch (...) {
          to.set_exception(std::current_exception());
        }
      };
      task->add_done_callback(Callback::with_drop(
          [st, task, deliver] {
            Future<T> done = std::move(*task);
            *task = Future<T>();
            deliver(*st, std::move(done));
          },
          [st, task, deliver] {
            // Dropped by close(). The task may have finished in the loop's last iteration, its
            // done callback still queued (done callbacks run a turn later, as in asyncio): then
            // its result is delivered, not lost (found by tla/LoopClose.tla, LoopCloseResultLost).
            Future<T> f = std::move(*task);
            *task = Future<T>();
            if (f && f.done()) {
              deliver(*st, std::move(f));
            } else {
              st->set_exception(std::make_exception_ptr(
                  LoopClosedError("the task was still pending when its loop was closed")));
            }
          }));
    } catch (...) {
#if !defined(HANDOFF_MUTANT_RCT_START_NO_ROLLBACK)  // MUTANT: the throw escapes, the future stays pending
      if (*task) {
        try {
          task->cancel();
        } catch (...) {
        }
        *task = Future<T>();
      }
      st->set_exception(std::current_exception());
#else
      throw;
#endif
    }
  };
  loop.call_soon_threadsafe(Callback::with_drop(std::move(start), [st] {
    st->set_exception(std::make_exception_ptr(
        LoopClosedError("run_coroutine_threadsafe(): the loop closed before starting the task")));
  }), "run_coroutine_threadsafe()");
  return ThreadFuture<T>(std::move(st));
}

template <class T>
ThreadFuture<T> run_coroutine_threadsafe(Task<T> coro, EventLoop& loop) {
  return run_coroutine_threadsafe(std::move(coro), loop.threadsafe());
}

}  // namespace handoff
