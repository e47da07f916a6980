// handoff/loop/wait.hpp — asyncio.wait and asyncio.as_completed over futures and tasks.
//
//     auto [done, pending] = co_await wait(futs, ReturnWhen::FIRST_COMPLETED, 1s);
//     AsCompleted<int> in_order = as_completed(futs, 5s);
//     while (in_order.has_next()) int v = co_await in_order.next();   // completion order
//
// THREADS. Loop thread only; co_await from a task of the running loop. The arguments are
// Futures (create_task's, create_future's, gather's): as asyncio 3.11 requires tasks, not
// coroutines — schedule a Task<T> with loop.create_task first, so you keep its handle.
//
// wait(futs, return_when = ALL_COMPLETED, timeout = none) -> WaitResult{done, pending}
//  * returns when the condition holds: FIRST_COMPLETED — any future is done (a value, an
//    exception or cancelled); FIRST_EXCEPTION — any future ends with an exception (a
//    cancellation does not count, as in asyncio), else when all are done; ALL_COMPLETED —
//    all are done. Or when the timeout passes: then it returns what is done so far and
//    raises nothing (asyncio's wait, unlike wait_for).
//  * it never cancels the futures, on timeout or when the waiting task is cancelled (that
//    task gets CancelledError; the futures run on).
//  * done and pending are vectors, in input order (asyncio returns sets). Done callbacks run
//    a loop iteration after completion, as in asyncio, so wait yields at least once even if
//    everything is already done.
//  * an empty list throws std::invalid_argument when awaited (asyncio: ValueError); an empty
//    Future handle in the list throws InvalidStateError.
//  * FIRST_EXCEPTION looks at each completed future's exception, which marks it retrieved,
//    as asyncio's does: read it from `done`.
//
// as_completed(futs, timeout = none) -> AsCompleted: next() gives the results in the order
// the futures complete — the value, or the future's exception rethrown (CancelledError for a
// cancelled one). The timeout runs from the as_completed() call: once it has passed, each
// next() that finds no completed future waiting throws TimeoutError (futures completing after
// the deadline are not delivered, as asyncio removes its callbacks then). It never cancels the
// futures. Cancelling the task awaiting next() throws CancelledError there and takes nothing:
// a later next() still delivers. An empty list yields nothing.
//
// MECHANISM (both): a CompletionWatch adds one done callback to each future, records the
// completion order and, when its wake condition holds, completes a private wake future; the
// awaiting task parks on that with wait_for.hpp's FutureWait (deadline timer, cancellation,
// stale-wake guard). as_completed's timeout is a timer set at the call, as asyncio's. The callbacks cannot be removed (FutureBase has no
// remove_done_callback): each stays on its future (holding a weak reference to the watch)
// until the future completes — so waiting again and again on a future that stays pending grows
// its callback list by one small callback per wait.
#pragma once

#include <chrono>
#include <cstddef>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "errors.hpp"
#include "event_loop.hpp"
#include "future.hpp"
#include "task.hpp"
#include "wait_for.hpp"

namespace handoff {

// asyncio.FIRST_COMPLETED, FIRST_EXCEPTION, ALL_COMPLETED.
enum class ReturnWhen { FIRST_COMPLETED, FIRST_EXCEPTION, ALL_COMPLETED };

// What wait() returns: the futures that are done and those still pending, in input order.
template <class T>
struct WaitResult {
  std::vector<Future<T>> done;
  std::vector<Future<T>> pending;
};

namespace detail {

// Watches futures for wait() and as_completed() (see MECHANISM above). Loop thread only.
template <class T>
class CompletionWatch : public std::enable_shared_from_this<CompletionWatch<T>> {
 public:
  // Decides, when the future at `index` has just completed, whether to wake the parked task.
  using WakeIf = std::function<bool(FutureBase& completed, std::size_t finished, std::size_t total)>;

  static std::shared_ptr<CompletionWatch> start(EventLoop& loop, std::vector<Future<T>> futs,
                                                WakeIf wake_if, const char* who) {
    for (const auto& f : futs) {
      if (!f) throw InvalidStateError(std::string(who) + " of an empty Future");
    }
    auto w = std::shared_ptr<CompletionWatch>(new CompletionWatch(loop, std::move(futs), std::move(wake_if)));
    // A weak reference: the watch holds the futures, so a strong one would be a cycle that
    // leaks a future nobody completes. The watch lives as long as its user (wait()'s frame,
    // an AsCompleted, a pending next()); completions after that have nobody to tell.
    std::weak_ptr<CompletionWatch> weak = w;
    for (std::size_t i = 0; i < w->futs_.size(); ++i) {
      w->futs_[i].add_done_callback([weak, i] {
        if (auto live = weak.lock()) live->on_done(i);
      });
    }
    return w;
  }

  // as_completed's timeout, asyncio's way: a timer at the deadline marks the watch expired
  // (and wakes a parked next()); completions whose callbacks run after it are not delivered.
  // A done callback queued before the timer became due runs before it (due timers join the
  // ready queue behind what is already there), so a future already done is never lost.
  void expire_at(EventLoop::time_point deadline) {
    std::weak_ptr<CompletionWatch> weak = this->weak_from_this();
    expiry_ = loop_->call_at(deadline, [weak] {
      if (auto live = weak.lock()) live->expire();
    });
  }
  bool expired() const noexcept { return expired_; }

  // co_await it: park the current task until the wake condition held (since the last park),
  // the deadline passed, or the task is cancelled.
  FutureWait park(std::optional<EventLoop::time_point> deadline) {
    if (!wake_ || wake_.done()) {
      wake_ = create_future<void>(*loop_);
      if (triggered_) wake_.set_result();  // it held while nobody was parked
    }
    triggered_ = false;
    return FutureWait(wake_.state(), deadline, FutureWait::Mode::Interrupt);
  }

  // Nobody parks again: complete the wake future, so the parked task's stale wake (its done
  // callback) is released now, not when the last watched future completes.
  void finish() {
    if (wake_ && !wake_.done()) wake_.cancel();
    expiry_.cancel();
  }

  std::vector<Future<T>>& futures() noexcept { return futs_; }
  // Indices of completed futures, in completion order, not yet taken by as_completed.
  std::deque<std::size_t>& completed() noexcept { return completed_; }

 private:
  CompletionWatch(EventLoop& loop, std::vector<Future<T>> futs, WakeIf wake_if)
      : loop_(&loop), futs_(std::move(futs)), wake_if_(std::move(wake_if)) {}

  void on_done(std::size_t i) {
    ++finished_;
    if (expired_) return;  // as_completed after its timeout: not delivered
    completed_.push_back(i);
    if (wake_if_(*futs_[i].state(), finished_, futs_.size())) wake();
  }
  void expire() {
    expired_ = true;
    wake();
  }
  void wake() {
    triggered_ = true;
    if (wake_ && !wake_.done()) wake_.set_result();
  }

  EventLoop* loop_;
  std::vector<Future<T>> futs_;
  WakeIf wake_if_;
  std::deque<std::size_t> completed_;
  std::size_t finished_ = 0;
  Future<void> wake_;
  bool triggered_ = false;
  bool expired_ = false;
  TimerHandle expiry_;
};

inline std::optional<EventLoop::time_point> deadline_of(EventLoop& loop,
                                                        std::optional<std::chrono::nanoseconds> timeout) {
  if (!timeout) return std::nullopt;
  return deadline_after(loop, *timeout);
}

}  // namespace detail

// asyncio.wait. See the header comment.
template <class T>
Task<WaitResult<T>> wait(std::vector<Future<T>> futs, ReturnWhen return_when = ReturnWhen::ALL_COMPLETED,
                         std::optional<std::chrono::nanoseconds> timeout = std::nullopt) {
  using Why = detail::FutureWait::Why;
  if (futs.empty()) throw std::invalid_argument("handoff: wait() of an empty list of futures");
  EventLoop& loop = get_running_loop();
  auto watch = detail::CompletionWatch<T>::start(
      loop, futs,
      [return_when](FutureBase& f, std::size_t finished, std::size_t total) {
        return finished == total || return_when == ReturnWhen::FIRST_COMPLETED ||
               (return_when == ReturnWhen::FIRST_EXCEPTION && !f.cancelled() && f.exception() != nullptr);
      },
      "wait()");
  const Why why = co_await watch->park(detail::deadline_of(loop, timeout));
  watch->finish();
  if (why == Why::Cancelled) detail::current_task("wait()").throw_if_cancelled();
  WaitResult<T> r;
  for (auto& f : futs) (f.done() ? r.done : r.pending).push_back(std::move(f));
  co_return r;
}

// The results of as_completed(), in completion order. Movable; loop thread only.
template <class T>
class AsCompleted {
 public:
  // Results not yet taken (each next() that returns or throws takes one).
  std::size_t remaining() const noexcept { return total_ - *taken_; }
  bool has_next() const noexcept { return remaining() > 0; }

  // co_await it: the next future to complete — its value, or its exception rethrown;
  // TimeoutError once the deadline has passed with nothing completed waiting.
  Task<T> next() {
    if (!has_next()) throw InvalidStateError("as_completed(): next() after every result was taken");
    return next_of(watch_, taken_);
  }

 private:
  template <class U>
  friend AsCompleted<U> as_completed(std::vector<Future<U>>, std::optional<std::chrono::nanoseconds>);
  explicit AsCompleted(std::shared_ptr<detail::CompletionWatch<T>> w)
      : watch_(std::move(w)), total_(watch_->futures().size()) {}

  // A coroutine of its own (not a member): the Task keeps the watch alive, whatever happens
  // to the AsCompleted object.
  static Task<T> next_of(std::shared_ptr<detail::CompletionWatch<T>> w, std::shared_ptr<std::size_t> taken) {
    using Why = detail::FutureWait::Why;
    for (;;) {
      if (*taken >= w->futures().size()) {  // another task's next() took the last one meanwhile
        throw InvalidStateError("as_completed(): next() after every result was taken");
      }
      if (!w->completed().empty()) {
        Future<T> f = w->futures()[w->completed().front()];
        w->completed().pop_front();
        ++*taken;
        if (*taken == w->futures().size()) w->finish();
        co_return f.result();
      }
      if (w->expired()) {
        ++*taken;
        if (*taken == w->futures().size()) w->finish();
        throw TimeoutError("as_completed(): the timeout passed before every future was done");
      }
      const Why why = co_await w->park(std::nullopt);  // woken by a completion or the expiry
      if (why == Why::Cancelled) detail::current_task("as_completed()").throw_if_cancelled();
    }
  }

  std::shared_ptr<detail::CompletionWatch<T>> watch_;
  std::size_t total_;
  std::shared_ptr<std::size_t> taken_ = std::make_shared<std::size_t>(0);
};

// asyncio.as_completed. See the header comment. The callbacks are added now (as asyncio's).
template <class T>
AsCompleted<T> as_completed(std::vector<Future<T>> futs,
                            std::optional<std::chrono::nanoseconds> timeout = std::nullopt) {
  EventLoop& loop = get_running_loop("as_completed()");
  auto watch = detail::CompletionWatch<T>::start(
      loop, std::move(futs), [](FutureBase&, std::size_t, std::size_t) { return true; }, "as_completed()");
  if (timeout) {
    if (auto deadline = detail::deadline_after(loop, *timeout)) watch->expire_at(*deadline);
  }
  return AsCompleted<T>(std::move(watch));
}

}  // namespace handoff
