// handoff/loop/gather.hpp — asyncio.gather: run awaitables concurrently, collect the results.
//
//     auto [a, b] = co_await gather(fetch(1), fetch(2));        // Task<A>, Task<B> -> tuple<A, B>
//     std::vector<int> v = co_await gather(std::move(tasks));   // vector<Task<int>> -> vector<int>
//     auto [ra, rb] = co_await gather(return_exceptions, f(), g());   // tuple<Outcome<A>, Outcome<B>>
//
// THREADS. Loop thread only. gather() itself needs the running loop (or, given only Futures,
// takes their loop).
//
// SEMANTICS (asyncio.gather). gather() schedules every Task argument as a task AT ONCE, in
// argument order (Future arguments, e.g. from create_task, are used as they are), and returns
// a Future of the results in argument order: it can be awaited, cancelled, passed to
// wait_for or shield, like asyncio's _GatheringFuture. A void child gives std::monostate in
// the tuple; gather over std::vector<Task<void>> gives Future<void>.
//  * return_exceptions = false (asyncio's default): the first child that fails (or is
//    cancelled on its own) completes the gather with that exception; the other children keep
//    running, as in asyncio.
//  * gather(return_exceptions, ...): never fails because of a child; every child's outcome
//    (value, exception or cancellation) comes back as an Outcome<T>.
//  * Cancelling the gather future (or the task awaiting it) cancels every child still
//    running; the gather then completes as cancelled.
//
// DEVIATIONS, for structured lifetimes and lost-nothing:
//  * A cancelled gather completes only once ALL its children have finished (asyncio
//    completes it when the first cancelled child finishes, with the others possibly still
//    running their cleanup). So after `co_await gather(...)` throws CancelledError, none of
//    its children runs any more.
//  * Exceptions asyncio drops silently — a second child failing after the first one already
//    failed the gather (asyncio marks it retrieved), or a child failing while the gather is
//    being cancelled — are left unretrieved here, so the loop's exception handler reports
//    them ("Task exception was never retrieved") unless their owner retrieves them.
//  * A gather future that completes with an exception nobody retrieves reports it to the
//    exception handler when it is destroyed (asyncio's Future.__del__ does; future.hpp's
//    plain futures do not).
// With return_exceptions = false, children that keep running after the gather failed may
// outlive the awaiting frame: they must not refer to its locals. For a scope that always
// waits for its children and cancels them on failure, use task_group() (task_group.hpp).
#pragma once

#include <cstddef>
#include <exception>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <tuple>
#include <type_traits>
#include <utility>
#include <variant>
#include <vector>

#include "errors.hpp"
#include "event_loop.hpp"
#include "future.hpp"
#include "task.hpp"

namespace handoff {

// The outcome of one child in gather(return_exceptions, ...): a value, an exception, or a
// cancellation (then exception() holds the CancelledError).
template <class T>
class Outcome {
 public:
  bool has_value() const noexcept { return value_.has_value(); }
  bool cancelled() const noexcept { return cancelled_; }
  std::exception_ptr exception() const noexcept { return error_; }
  // The value; rethrows the exception (or CancelledError) if there is none.
  T& value() & {
    if (error_) std::rethrow_exception(error_);
    return *value_;
  }
  T&& value() && {
    if (error_) std::rethrow_exception(error_);
    return std::move(*value_);
  }

 private:
  template <class U>
  friend Outcome<U> outcome_of(Future<U>& f);
  std::optional<T> value_;
  std::exception_ptr error_;
  bool cancelled_ = false;
};

template <>
class Outcome<void> {
 public:
  bool has_value() const noexcept { return !error_; }
  bool cancelled() const noexcept { return cancelled_; }
  std::exception_ptr exception() const noexcept { return error_; }
  void value() const {
    if (error_) std::rethrow_exception(error_);
  }

 private:
  template <class U>
  friend Outcome<U> outcome_of(Future<U>& f);
  std::exception_ptr error_;
  bool cancelled_ = false;
};

// The outcome of a done future (marks its exception retrieved; moves its value out).
template <class T>
Outcome<T> outcome_of(Future<T>& f) {
  Outcome<T> o;
  if (f.cancelled()) {
    o.cancelled_ = true;
    try {
      (void)f.exception();  // throws the CancelledError, with its message
    } catch (...) {
      o.error_ = std::current_exception();
    }
  } else if (std::exception_ptr e = f.exception()) {
    o.error_ = std::move(e);
  } else if constexpr (std::is_void_v<T>) {
    f.result();
  } else {
    o.value_.emplace(std::move(f).result());  // moved only if gather holds the last handle
  }
  return o;
}

// Tag: gather(return_exceptions, ...).
struct ReturnExceptions {
  explicit ReturnExceptions() = default;
};
inline constexpr ReturnExceptions return_exceptions{};

namespace detail {

// The gathering future: completes from its children's done callbacks; cancel() cancels them.
template <class R>
class GatherState final : public FutureState<R> {
 public:
  GatherState(EventLoop& loop, bool return_exceptions)
      : FutureState<R>(loop), return_exceptions_(return_exceptions) {}

  ~GatherState() override {
    if (this->state_ != FutureBase::State::Done || !this->exception_ || this->retrieved_) return;
    const ExceptionContext ctx{"gather() exception was never retrieved", this->exception_};
    if (EventLoop* loop = this->loop()) {
      loop->call_exception_handler(ctx);
    } else {
      EventLoop::default_exception_handler(ctx);
    }
  }

  // asyncio's _GatheringFuture.cancel: cancel the children; the gather completes as
  // cancelled once all of them have finished. False if no child could be cancelled.
  bool cancel(std::string msg = {}) override {
    if (this->done()) return false;
    bool any = false;
    for (auto& c : children_) {
      if (c->cancel(msg)) any = true;
    }
    if (any) {
      cancel_requested_ = true;
      cancel_msg_ = std::move(msg);
    }
    return any;
  }

  // Set up: children, then the function that builds the result from them (all succeeded).
  void start(std::vector<std::shared_ptr<FutureBase>> children, std::function<R()> build) {
    children_ = std::move(children);
    build_ = std::move(build);
    if (children_.empty()) {
      complete();
      return;
    }
    auto self = std::static_pointer_cast<GatherState>(this->shared_from_this());
    for (std::size_t i = 0; i < children_.size(); ++i) {
      children_[i]->add_done_callback([self, i] { self->child_done(i); });
    }
  }

 private:
  void child_done(std::size_t i) {
    ++finished_;
    const bool all = finished_ == children_.size();
    if (!this->done()) {
      FutureBase& c = *children_[i];
      if (cancel_requested_) {
        if (all) this->FutureBase::cancel(cancel_msg_);
      } else if (!return_exceptions_ && c.cancelled()) {
        std::exception_ptr e;
        try {
          (void)c.exception();  // the child's CancelledError, with its message
        } catch (...) {
          e = std::current_exception();
        }
        this->set_exception(e);
      } else if (std::exception_ptr e = return_exceptions_ ? nullptr : c.exception()) {
        this->set_exception(std::move(e));
      } else if (all) {
        complete();
      }
    }
    if (all) {  // the children are over: let them go (a later failure is reported by the loop)
      build_ = nullptr;
      children_.clear();
    }
  }

  void complete() {
    // The children are all done: drop our references first, so build_ (which holds the
    // children's handles) holds the last one of every future the caller did not keep, and
    // moves those values instead of copying them (Future::result() &&).
    children_.clear();
    try {
      if constexpr (std::is_void_v<R>) {
        build_();
        this->set_result();
      } else {
        this->set_result(build_());
      }
    } catch (...) {
      this->set_exception(std::current_exception());
    }
  }

  std::vector<std::shared_ptr<FutureBase>> children_;
  std::function<R()> build_;
  std::size_t finished_ = 0;
  bool return_exceptions_;
  bool cancel_requested_ = false;
  std::string cancel_msg_;
};

template <class A>
struct GatherChild;
template <class T>
struct GatherChild<Task<T>> {
  using type = T;
};
template <class T>
struct GatherChild<Future<T>> {
  using type = T;
};
template <class A>
using gather_child_t = typename GatherChild<std::remove_cvref_t<A>>::type;

template <class T>
Future<T> to_future(EventLoop& loop, Task<T>&& t) {
  return loop.create_task(std::move(t));
}
template <class T>
Future<T> to_future(EventLoop&, const Future<T>& f) {
  return f;  // checked by check_arg
}
// An rvalue future (`gather(loop.create_task(f()), ...)`) hands its handle over: its temporary
// lives until the end of the co_await expression and would otherwise force a copy of the value.
template <class T>
Future<T> to_future(EventLoop&, Future<T>&& f) {
  return std::move(f);
}

// Every argument is checked before any Task argument is scheduled, so a rejected gather()
// leaves nothing running. A Future of another loop would complete the gather from that
// loop's thread, or never (a loop not running, a closed one): rejected, as asyncio does —
// a done one too (its done callback would still be scheduled on its own loop).
template <class T>
void check_arg(EventLoop&, const Task<T>&) noexcept {}
template <class T>
void check_arg(EventLoop& loop, const Future<T>& f) {
  if (!f) throw InvalidStateError("gather() of an empty Future");
  check_same_loop(*f.state(), &loop, "gather()");
}

template <class T>
EventLoop* loop_of(const Task<T>&) noexcept {
  return nullptr;
}
template <class T>
EventLoop* loop_of(const Future<T>& f) noexcept {
  return f ? f.state()->loop() : nullptr;
}

// The running loop; without one, the loop of the first Future argument.
template <class... As>
EventLoop& gather_loop(const As&... as) {
  if (t_running_loop != nullptr) return *t_running_loop;
  EventLoop* found = nullptr;
  ((found = found != nullptr ? found : loop_of(as)), ...);
  if (found == nullptr) throw NoRunningLoopError("gather()");
  return *found;
}

template <class T>
Stored<T> take_stored(Future<T>& f) {
  if constexpr (std::is_void_v<T>) {
    f.result();
    return std::monostate{};
  } else {
    return std::move(f).result();  // moved only if gather holds the last handle
  }
}

template <class R>
std::shared_ptr<GatherState<R>> make_gather(EventLoop& loop, bool return_exc) {
  return std::make_shared<GatherState<R>>(loop, return_exc);
}

}  // namespace detail

// gather(Task<A> / Future<A>, ...) -> Future<std::tuple<A', ...>> (A' = A, monostate for void).
template <class... As>
auto gather(As&&... as) -> Future<std::tuple<Stored<detail::gather_child_t<As>>...>> {
  using R = std::tuple<Stored<detail::gather_child_t<As>>...>;
  EventLoop& loop = detail::gather_loop(as...);
  (detail::check_arg(loop, as), ...);
  // Braced initialization: the tasks are created (scheduled) in argument order.
  std::tuple<Future<detail::gather_child_t<As>>...> futs{detail::to_future(loop, std::forward<As>(as))...};
  auto st = detail::make_gather<R>(loop, false);
  std::vector<std::shared_ptr<FutureBase>> children;
  std::apply([&](auto&... f) { (children.push_back(f.state()), ...); }, futs);
  st->start(std::move(children), [futs]() mutable -> R {
    return std::apply([](auto&... f) { return R{detail::take_stored(f)...}; }, futs);
  });
  return Future<R>(st);
}

// gather(return_exceptions, ...) -> Future<std::tuple<Outcome<A>, ...>>.
template <class... As>
auto gather(ReturnExceptions, As&&... as) -> Future<std::tuple<Outcome<detail::gather_child_t<As>>...>> {
  using R = std::tuple<Outcome<detail::gather_child_t<As>>...>;
  EventLoop& loop = detail::gather_loop(as...);
  (detail::check_arg(loop, as), ...);
  std::tuple<Future<detail::gather_child_t<As>>...> futs{detail::to_future(loop, std::forward<As>(as))...};
  auto st = detail::make_gather<R>(loop, true);
  std::vector<std::shared_ptr<FutureBase>> children;
  std::apply([&](auto&... f) { (children.push_back(f.state()), ...); }, futs);
  st->start(std::move(children), [futs]() mutable -> R {
    return std::apply([](auto&... f) { return R{outcome_of(f)...}; }, futs);
  });
  return Future<R>(st);
}

namespace detail {

template <class T>
using gather_vector_t = std::conditional_t<std::is_void_v<T>, void, std::vector<T>>;

template <class T>
std::vector<Future<T>> to_futures(EventLoop& loop, std::vector<Task<T>>&& tasks) {
  std::vector<Future<T>> futs;
  futs.reserve(tasks.size());
  for (auto& t : tasks) futs.push_back(loop.create_task(std::move(t)));
  return futs;
}

template <class T>
EventLoop& gather_vector_loop(const std::vector<Future<T>>& futs) {
  if (t_running_loop != nullptr) return *t_running_loop;
  for (const auto& f : futs) {
    if (f && f.state()->loop() != nullptr) return *f.state()->loop();
  }
  throw NoRunningLoopError("gather()");
}

template <class T>
Future<gather_vector_t<T>> gather_vector(EventLoop& loop, std::vector<Future<T>> futs) {
  using R = gather_vector_t<T>;
  std::vector<std::shared_ptr<FutureBase>> children;
  children.reserve(futs.size());
  for (const auto& f : futs) {
    check_arg(loop, f);
    children.push_back(f.state());
  }
  auto st = make_gather<R>(loop, false);
  st->start(std::move(children), [futs = std::move(futs)]() mutable -> R {
    if constexpr (std::is_void_v<T>) {
      for (auto& f : futs) f.result();
    } else {
      std::vector<T> out;
      out.reserve(futs.size());
      for (auto& f : futs) out.push_back(std::move(f).result());  // moved only if gather holds the last handle
      return out;
    }
  });
  return Future<R>(st);
}

template <class T>
Future<std::vector<Outcome<T>>> gather_vector_outcomes(EventLoop& loop, std::vector<Future<T>> futs) {
  using R = std::vector<Outcome<T>>;
  std::vector<std::shared_ptr<FutureBase>> children;
  children.reserve(futs.size());
  for (const auto& f : futs) {
    check_arg(loop, f);
    children.push_back(f.state());
  }
  auto st = make_gather<R>(loop, true);
  st->start(std::move(children), [futs = std::move(futs)]() mutable -> R {
    R out;
    out.reserve(futs.size());
    for (auto& f : futs) out.push_back(outcome_of(f));
    return out;
  });
  return Future<R>(st);
}

}  // namespace detail

// gather(std::vector<Task<T>>) -> Future<std::vector<T>> (Future<void> for T = void).
template <class T>
Future<detail::gather_vector_t<T>> gather(std::vector<Task<T>> tasks) {
  EventLoop& loop = get_running_loop("gather()");
  return detail::gather_vector(loop, detail::to_futures(loop, std::move(tasks)));
}
template <class T>
Future<detail::gather_vector_t<T>> gather(std::vector<Future<T>> futs) {
  EventLoop& loop = detail::gather_vector_loop(futs);
  return detail::gather_vector(loop, std::move(futs));
}

// gather(return_exceptions, std::vector<Task<T>> / std::vector<Future<T>>) -> Future<vector<Outcome<T>>>.
template <class T>
Future<std::vector<Outcome<T>>> gather(ReturnExceptions, std::vector<Task<T>> tasks) {
  EventLoop& loop = get_running_loop("gather()");
  return detail::gather_vector_outcomes(loop, detail::to_futures(loop, std::move(tasks)));
}
template <class T>
Future<std::vector<Outcome<T>>> gather(ReturnExceptions, std::vector<Future<T>> futs) {
  EventLoop& loop = detail::gather_vector_loop(futs);
  return detail::gather_vector_outcomes(loop, std::move(futs));
}

}  // namespace handoff
