// handoff/loop/shield.hpp — asyncio.shield: await an operation without letting a cancellation
// of the awaiter cancel the operation.
//
//     T v = co_await shield(std::move(fut));     // fut: a Future<T>, e.g. from create_task
//     T v = co_await shield(save(record));       // a Task<T>: scheduled as a task first
//
// THREADS. Loop thread only.
//
// SEMANTICS (asyncio.shield). shield(inner) returns a new Future<T> (the "outer") that
// completes with inner's outcome. Cancelling the outer — which is what cancelling a task that
// awaits it does — completes only the outer, as cancelled: the awaiting task gets
// CancelledError at once and the inner operation keeps running, owned by the loop. If inner
// is already done, shield returns it as it is (asyncio does the same). If inner is cancelled
// by someone else, the outer is cancelled too.
//
// The outer takes inner's value (Future::result() moves it out, future.hpp): do not also
// await the inner future elsewhere.
//
// DEVIATION (lost-nothing): once the outer has been cancelled, shield no longer touches the
// inner (asyncio marks a later exception of it retrieved, i.e. drops it). So an inner task
// that fails after its awaiter gave up is reported by the loop's exception handler ("Task
// exception was never retrieved") unless its owner retrieves it. An outer that completes
// with an exception nobody retrieves reports it when destroyed.
//
// LIFETIME. The shielded operation outlives the awaiting frame when the awaiter is
// cancelled: it must not refer to that frame's locals (own its data, or share it).
#pragma once

#include <exception>
#include <memory>
#include <string>
#include <type_traits>
#include <utility>

#include "errors.hpp"
#include "event_loop.hpp"
#include "future.hpp"
#include "task.hpp"

namespace handoff {

namespace detail {

// shield's outer future: reports an exception nobody retrieved when it is destroyed.
template <class T>
class ShieldState final : public FutureState<T> {
 public:
  using FutureState<T>::FutureState;
  ~ShieldState() override {
    if (this->state_ != FutureBase::State::Done || !this->exception_ || this->retrieved_) return;
    const ExceptionContext ctx{"shield() exception was never retrieved", this->exception_};
    if (EventLoop* loop = this->loop()) {
      loop->call_exception_handler(ctx);
    } else {
      EventLoop::default_exception_handler(ctx);
    }
  }
};

}  // namespace detail

template <class T>
Future<T> shield(Future<T> inner) {
  if (!inner) throw InvalidStateError("shield() of an empty Future");
  if (inner.done()) return inner;
  EventLoop* loop = inner.state()->loop();
  if (loop == nullptr) throw LoopClosedError("shield() of a future whose loop was closed");
  // From another loop's thread the outer would complete there (or never, if that loop is not
  // running): rejected at once, as awaiting it would be (task.hpp, check_awaitable).
  if (EventLoop* running = detail::t_running_loop) detail::check_same_loop(*inner.state(), running, "shield()");
  auto outer = std::make_shared<detail::ShieldState<T>>(*loop);
  inner.add_done_callback([in = inner.state(), out = outer] {
    if (out->done()) return;  // the awaiter gave up: the inner's outcome is its owner's business
    if (in->cancelled()) {
      out->cancel();
    } else if (std::exception_ptr e = in->exception()) {
      out->set_exception(std::move(e));
    } else if constexpr (std::is_void_v<T>) {
      in->take_result(true);
      out->set_result();
    } else {
      out->set_result(in->take_result(in.use_count() == 1));  // copied while others hold the inner
    }
  });
  return Future<T>(std::static_pointer_cast<FutureState<T>>(outer));
}

// Schedule the coroutine as a task (on the running loop) and shield it.
template <class T>
Future<T> shield(Task<T> coro) {
  return shield(get_running_loop("shield()").create_task(std::move(coro)));
}

}  // namespace handoff
