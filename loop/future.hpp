// handoff/loop/future.hpp — asyncio.Future: a loop-local result slot with done callbacks.
//
// A Future<T> is created by the loop thread, completed once (set_result / set_exception /
// cancel) and read by coroutines that `co_await` it (operator co_await lives in task.hpp)
// or by done callbacks, which are scheduled with call_soon when it completes, as in asyncio.
// Loop thread only; for a result that crosses threads use ThreadFuture (thread_future.hpp).
//
// Tasks (task.hpp) are futures too: create_task returns the task's Future<T>, whose cancel()
// cancels the task at its current await point.
#pragma once

#include <exception>
#include <memory>
#include <optional>
#include <string>
#include <type_traits>
#include <utility>
#include <variant>
#include <vector>

#include "../future/stored.hpp"
#include "callback.hpp"
#include "errors.hpp"
#include "event_loop.hpp"

namespace handoff {

class FutureBase : public std::enable_shared_from_this<FutureBase>, private DeferredCallbacks {
 public:
  explicit FutureBase(EventLoop& loop) : cell_(loop.cell()) {}
  FutureBase(const FutureBase&) = delete;
  FutureBase& operator=(const FutureBase&) = delete;
  virtual ~FutureBase() = default;

  bool done() const noexcept { return state_ != State::Pending; }
  bool cancelled() const noexcept { return state_ == State::Cancelled; }

  // Cancel: a pending future completes as cancelled and its callbacks are scheduled; a done
  // one is left alone (returns false). A task overrides this: see TaskBase::cancel.
  virtual bool cancel(std::string msg = {}) {
    if (done()) return false;
    complete([&] {
      cancel_message_ = std::move(msg);
      state_ = State::Cancelled;
    });
    return true;
  }

  // The stored exception (nullptr for a value). Cancelled: throws CancelledError. Pending:
  // throws InvalidStateError. Marks the exception as retrieved.
  std::exception_ptr exception() {
    check_done("exception()");
    retrieved_ = true;
    if (cancelled()) throw cancelled_error();
    return exception_;
  }

  // fn runs (via call_soon) once the future is done; at once-scheduled if already done. If the
  // loop closes first, fn is dropped (its drop hook runs).
  void add_done_callback(Callback fn) {
    if (done()) {
      schedule(std::move(fn));
    } else {
      callbacks_.push_back(std::move(fn));
    }
  }

  // The loop, or nullptr once it has been closed.
  EventLoop* loop() const noexcept { return cell_->loop(); }

 protected:
  enum class State { Pending, Done, Cancelled };

  CancelledError cancelled_error() const {
    return cancel_message_.empty() ? CancelledError() : CancelledError(cancel_message_);
  }

  void check_done(const char* what) const {
    if (!done()) throw InvalidStateError(std::string(what) + " of a future that is not done yet");
  }

  void set_exception_impl(std::exception_ptr e) {
    if (done()) throw InvalidStateError("set_exception() on a future that is already done");
    complete([&] {
      exception_ = std::move(e);
      state_ = State::Done;
    });
  }

  // Completes: `set_outcome()` stores the outcome and marks the future done, and every done
  // callback is scheduled — all or nothing. The loop makes room for the callbacks before
  // set_outcome runs, so a bad_alloc (or a throwing T in set_outcome) leaves the future pending
  // with its callbacks (strong); once it is done, no callback can be lost.
  template <class SetOutcome>
  void complete(SetOutcome&& set_outcome) {
    EventLoop* loop = cell_->loop();
    if (loop == nullptr) {  // the loop was closed and destroyed: nothing can run the callbacks
      set_outcome();
      for (Callback& fn : callbacks_) fn.drop();
      callbacks_.clear();
      return;
    }
#if defined(HANDOFF_MUTANT_FUTURE_SCHEDULE_AFTER_DONE)
    set_outcome();  // MUTANT: the old order, marked done first, then each callback scheduled alone
    auto cbs = std::move(callbacks_);
    callbacks_.clear();
    for (auto& cb : cbs) schedule(std::move(cb));
#else
    loop->complete_and_call_soon(callbacks_, set_outcome);
#endif
  }

  // For a completion that must not throw (a task's final suspend), the outcome already set:
  // queues the done callbacks, or, if the loop cannot make room (bad_alloc), leaves them with
  // the loop, which queues them on a later iteration — a waiter is never lost.
  void schedule_callbacks_noexcept() noexcept {
    EventLoop* loop = cell_->loop();
    if (loop == nullptr) {
      for (Callback& fn : callbacks_) fn.drop();
      callbacks_.clear();
      return;
    }
    try {
      loop->complete_and_call_soon(callbacks_, [] {});
    } catch (...) {
      deferred_keep_ = shared_from_this();  // no allocation: the loop's hold until it queues them
      loop->defer_callbacks(*this);
    }
  }

  void schedule(Callback fn) {
    EventLoop* loop = cell_->loop();
    if (loop == nullptr || loop->is_closed()) {
      fn.drop();  // the loop is closed or closing: the drop hook reports it
      return;
    }
    loop->call_soon(std::move(fn));
  }

  // Rethrows the stored outcome (loop thread). Marks it retrieved.
  void rethrow_if_failed() {
    retrieved_ = true;
    if (cancelled()) throw cancelled_error();
    if (exception_) std::rethrow_exception(exception_);
  }

  std::shared_ptr<LoopCell> cell_;
  State state_ = State::Pending;
  std::exception_ptr exception_;
  std::string cancel_message_;
  std::vector<Callback> callbacks_;
  bool retrieved_ = false;

 private:
  std::vector<Callback>& deferred_callbacks() noexcept override { return callbacks_; }
  void deferred_done() noexcept override { deferred_keep_.reset(); }  // may destroy *this: last
  std::shared_ptr<FutureBase> deferred_keep_;  // set while the loop holds deferred callbacks
};

template <class T>
class FutureState : public FutureBase {
 public:
  using FutureBase::FutureBase;

  template <class... A>
  void set_result(A&&... a) {
    if (done()) throw InvalidStateError("set_result() on a future that is already done");
    this->complete([&] {
      value_.emplace(std::forward<A>(a)...);  // a throwing T leaves the future pending (strong)
      state_ = State::Done;
    });
  }
  void set_exception(std::exception_ptr e) { set_exception_impl(std::move(e)); }

  // The value, or rethrows the exception / CancelledError; InvalidStateError if pending.
  // asyncio lets result() be called again and every awaiter see the value, so a value is moved
  // out only when nobody can read it again: `sole_handle` (the caller holds the last handle
  // to this state and is giving it up). Otherwise a copyable value is copied; a move-only one is moved out once
  // and a later read raises InvalidStateError (never a silent moved-from value).
  T take_result(bool sole_handle, const char* what = "result()") {
    check_done(what);
    rethrow_if_failed();
    if constexpr (!std::is_void_v<T>) {
      if (value_taken_) {
        throw InvalidStateError(std::string(what) +
                                (is_copyable_result_v<T>
                                     ? " of a future whose value was already moved out through its last "
                                       "handle (std::move(future).result() or co_await of an rvalue future)"
                                     : " of a future whose move-only value was already moved out by an "
                                       "earlier result() or co_await"));
      }
      if constexpr (is_copyable_result_v<T>) {
        if (!sole_handle) return T(*value_);
      }
      value_taken_ = true;  // set before the move: a throwing move leaves no half-read value readable
      return std::move(*value_);
    }
  }

 protected:
  std::optional<Stored<T>> value_;
  bool value_taken_ = false;
};

// The handle user code holds. Copyable (shared state). Loop thread only.
template <class T>
class Future {
 public:
  Future() = default;
  explicit Future(std::shared_ptr<FutureState<T>> s) : s_(std::move(s)) {}

  // An empty Future (default-constructed, or moved from — also by `co_await std::move(f)`)
  // refers to no state: every call below throws InvalidStateError naming itself.
  bool done() const { return st("done()").done(); }
  bool cancelled() const { return st("cancelled()").cancelled(); }
  bool cancel(std::string msg = {}) { return st("cancel()").cancel(std::move(msg)); }
  template <class... A>
  void set_result(A&&... a) { st("set_result()").set_result(std::forward<A>(a)...); }
  void set_exception(std::exception_ptr e) { st("set_exception()").set_exception(std::move(e)); }
  // The value. asyncio lets result() be called again, so a copyable value is copied; on an
  // expiring handle that is the last one (`std::move(f).result()`) it is moved.
  T result() & { return st("result()").take_result(false); }
  T result() && { return st("result()").take_result(s_.use_count() == 1); }
  std::exception_ptr exception() { return st("exception()").exception(); }
  void add_done_callback(Callback fn) { st("add_done_callback()").add_done_callback(std::move(fn)); }
  explicit operator bool() const noexcept { return s_ != nullptr; }

  const std::shared_ptr<FutureState<T>>& state() const noexcept { return s_; }
  std::shared_ptr<FutureState<T>> release_state() && noexcept { return std::move(s_); }

 private:
  FutureState<T>& st(const char* what) const {
    if (s_ == nullptr) {
      throw InvalidStateError(std::string("Future::") + what +
                              " on an empty Future (default-constructed or moved from)");
    }
    return *s_;
  }
  std::shared_ptr<FutureState<T>> s_;
};

// asyncio's loop.create_future().
template <class T>
Future<T> create_future(EventLoop& loop) {
  return Future<T>(std::make_shared<FutureState<T>>(loop));
}

}  // namespace handoff
