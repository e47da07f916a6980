// handoff/loop/wait_for.hpp — asyncio.wait_for(aw, timeout), with Python 3.11's semantics.
//
//     T v = co_await wait_for(fetch(), 250ms);          // a Task<T>: scheduled as a task
//     T v = co_await wait_for(fut, 1s);                 // a Future<T> (e.g. from create_task)
//     T v = co_await wait_for(queue.get(), 100ms);      // any awaitable: run as a task
//
// THREADS. Loop thread only; co_await it from a task of the running loop.
//
// SEMANTICS (asyncio 3.11). The operation runs as a task of its own (a Task<T> or any other
// awaitable is wrapped with create_task; a Future is waited on as it is). wait_for waits until
// it finishes or the timeout passes. On timeout it CANCELS the operation, WAITS until it has
// finished cancelling (so nothing of it runs after wait_for returns), and then throws
// TimeoutError — unless the operation finished anyway: its result or its own exception is
// returned / rethrown instead (3.11 does `return fut.result()` there too). timeout <= 0:
// return at once if already done, else cancel, wait, TimeoutError. The awaiting task being
// cancelled cancels the operation the same way and, once it has finished cancelled, throws
// CancelledError (the awaiting task's cancellation wins over a timeout). The operation's own
// exception always propagates unchanged.
//
// DEVIATIONS, to lose nothing and to leave nothing running:
//  * While it waits for the cancelled operation to finish, wait_for keeps waiting even if the
//    awaiting task is cancelled again: each further cancellation is forwarded to the
//    operation (3.11 stops waiting there and lets the operation run on, unowned). In C++ the
//    operation may refer to the caller's frame, so it must be over before wait_for returns.
//    An operation that ignores cancellation therefore delays wait_for's return — as it would
//    with asyncio.timeout().
//  * An operation that received the awaiting task's cancellation and did NOT end cancelled
//    (it caught it and returned a value, or failed) decides the outcome: wait_for returns
//    that value / rethrows that exception and the cancellation is used up — what `co_await
//    task` gives when the awaited task swallows a forwarded cancel. (3.11 raises
//    CancelledError there and drops the value.)
//  * If the awaiting task is cancelled after the operation has already produced its result
//    (e.g. an item taken from a queue) but before wait_for resumed, wait_for RETURNS that
//    result and leaves the cancellation pending: it is thrown at the task's next await point.
//    (3.11 returns the result and swallows the cancellation, bpo-42130; a plain
//    CancelledError would drop the item.)
//
// Cost: one task (frame + state) for a Task or awaitable argument, one timer.
#pragma once

#include <chrono>
#include <coroutine>
#include <memory>
#include <optional>
#include <string>
#include <type_traits>
#include <utility>

#include "errors.hpp"
#include "event_loop.hpp"
#include "future.hpp"
#include "task.hpp"

namespace handoff {

namespace detail {

template <class T>
struct IsTask : std::false_type {};
template <class T>
struct IsTask<Task<T>> : std::true_type {};
template <class T>
struct IsFuture : std::false_type {};
template <class T>
struct IsFuture<Future<T>> : std::true_type {};

// The awaiter `co_await a` uses (member or free operator co_await, or a itself). Unevaluated.
template <class A>
decltype(auto) get_awaiter(A&& a) {
  if constexpr (requires { static_cast<A&&>(a).operator co_await(); }) {
    return static_cast<A&&>(a).operator co_await();
  } else if constexpr (requires { operator co_await(static_cast<A&&>(a)); }) {
    return operator co_await(static_cast<A&&>(a));
  } else {
    return static_cast<A&&>(a);
  }
}
template <class A>
using await_result_t =
    decltype(std::declval<std::remove_reference_t<decltype(get_awaiter(std::declval<A>()))>&>().await_resume());

template <class A>
concept Awaitable = requires { typename await_result_t<A>; };

// Run an awaitable as a coroutine (so it can be scheduled, and cancelled, as a task).
template <class R, class A>
Task<R> as_task(A aw) {
  co_return co_await std::move(aw);
}

// Parks the current task until `f` is done, or the deadline passes, or the task is
// cancelled (Interrupt mode). In Forward mode a cancellation of the task is passed on to `f`
// (cancel it again) and the wait goes on until `f` is done: wait_for waiting for the
// operation it cancelled to finish — it may then suspend with a cancellation pending. It never
// throws the cancellation: the caller decides what it means. Every wake is a resume_now(n)
// from a top-level callback (done callback, timer, call_soon), so a second wake of the same
// suspension is stale and ignored, and nothing refers to the awaiter after it is resumed.
class FutureWait final : public Waiter {
 public:
  enum class Why { Done, Deadline, Cancelled };
  enum class Mode { Interrupt, Forward };

  FutureWait(std::shared_ptr<FutureBase> f, std::optional<EventLoop::time_point> deadline, Mode mode)
      : f_(std::move(f)), deadline_(deadline), mode_(mode) {}

  bool await_ready() const noexcept { return f_->done(); }
  bool await_suspend(std::coroutine_handle<> h) {
    task_ = &current_task("wait_for()");
    if (mode_ == Mode::Interrupt && task_->cancel_requested()) return false;
    n_ = task_->suspend(this, h);
    try {
      auto t = task_->shared();
      f_->add_done_callback([t, n = n_] { t->resume_now(n); });
      if (deadline_) timer_ = task_->loop()->call_at(*deadline_, [t, n = n_] { t->resume_now(n); });
    } catch (...) {
      // bad_alloc: the co_await throws and the task runs on, not suspended on this awaiter (a
      // done callback already registered for suspension n_ finds it stale and does nothing).
      task_->undo_suspend(n_);
      throw;
    }
    return true;
  }
  void on_cancel() noexcept override {
    try {
      if (mode_ == Mode::Forward) {
        f_->cancel("wait_for(): the awaiting task was cancelled");  // and wait on
      } else {
        task_->loop()->call_soon([t = task_->shared(), n = n_] { t->resume_now(n); });
      }
    } catch (...) {
      // only a closing loop refuses; it abandons this task anyway
    }
  }
  Why await_resume() {
    timer_.cancel();
    if (f_->done()) return Why::Done;
    if (task_ != nullptr && task_->cancel_requested()) return Why::Cancelled;
    return Why::Deadline;
  }

 private:
  std::shared_ptr<FutureBase> f_;
  std::optional<EventLoop::time_point> deadline_;
  Mode mode_;
  TaskBase* task_ = nullptr;
  std::uint64_t n_ = 0;
  TimerHandle timer_;
};

// The cancellation of `t` was forwarded to the operation it waited on, which handled it:
// clear it (TaskBase has no public reset in this version; throw_if_cancelled clears it).
inline void consume_cancellation(TaskBase& t) {
  try {
    t.throw_if_cancelled();
  } catch (const CancelledError&) {
  }
}

inline std::string describe_duration(std::chrono::nanoseconds d) {
  using namespace std::chrono;
  if (d % milliseconds(1) == nanoseconds(0)) return std::to_string(duration_cast<milliseconds>(d).count()) + " ms";
  if (d % microseconds(1) == nanoseconds(0)) return std::to_string(duration_cast<microseconds>(d).count()) + " us";
  return std::to_string(d.count()) + " ns";
}

// now + d, or no deadline if that is beyond the clock's range.
inline std::optional<EventLoop::time_point> deadline_after(EventLoop& loop, std::chrono::nanoseconds d) {
  const EventLoop::time_point now = loop.time();
  if (d > EventLoop::time_point::max() - now) return std::nullopt;
  return now + d;
}

}  // namespace detail

// Wait for a future (a task's, or any other) with a timeout. See the header comment.
template <class T>
Task<T> wait_for(Future<T> fut, detail::SaturatingNanos timeout) {  // any duration, saturated
  using detail::FutureWait;
  using Why = FutureWait::Why;
  if (!fut) throw InvalidStateError("wait_for() of an empty Future");
  std::shared_ptr<FutureBase> st = fut.state();
  if (!st->done()) {
    // Its own future, or one of another loop, would hang it (or, timeout <= 0, cancel a
    // future this loop does not own): refused before anything is registered or cancelled.
    detail::check_awaitable(*st, detail::current_task("wait_for()"), "wait_for()");
    Why why = Why::Deadline;
    if (timeout.get() > std::chrono::nanoseconds(0)) {
      why = co_await FutureWait(st, detail::deadline_after(get_running_loop(), timeout),
                                FutureWait::Mode::Interrupt);
    }
    if (why != Why::Done) {
      st->cancel(why == Why::Deadline ? "wait_for(): timed out after " + detail::describe_duration(timeout)
                                      : "wait_for(): the awaiting task was cancelled");
      while (!st->done()) co_await FutureWait(st, std::nullopt, FutureWait::Mode::Forward);
      TaskBase& self = detail::current_task("wait_for()");
      if (st->cancelled()) {
        // The awaiting task's own cancellation wins over the timeout (asyncio does the same).
        self.throw_if_cancelled();
        throw TimeoutError("wait_for(): the operation did not finish within " +
                           detail::describe_duration(timeout) + " and was cancelled");
      }
      // The operation did not end cancelled: it received the awaiting task's cancellation
      // (forwarded, as asyncio forwards a task's cancel to the future it awaits) and decided
      // otherwise, so its outcome is what the task gets; the cancellation is used up.
      detail::consume_cancellation(self);
    }
  }
  co_return fut.result();  // its value, or its own exception
}

// Schedule the coroutine as a task and wait for it with a timeout.
template <class T>
Task<T> wait_for(Task<T> coro, detail::SaturatingNanos timeout) {
  Future<T> fut = get_running_loop().create_task(std::move(coro));
  co_return co_await wait_for(std::move(fut), timeout);
}

// Any other awaitable (queue.get(), lock.scoped(), event.wait(), sleep(), a ThreadFuture, …):
// run it as a task and wait for that with a timeout. The awaitable is moved into the task.
template <class A>
  requires(!detail::IsTask<std::remove_cvref_t<A>>::value &&
           !detail::IsFuture<std::remove_cvref_t<A>>::value && detail::Awaitable<A>)
auto wait_for(A aw, detail::SaturatingNanos timeout) -> Task<detail::await_result_t<A>> {
  using R = detail::await_result_t<A>;
  co_return co_await wait_for(detail::as_task<R>(std::move(aw)), timeout);
}

}  // namespace handoff
