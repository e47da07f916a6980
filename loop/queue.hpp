// handoff/loop/queue.hpp — asyncio.Queue<T>: a FIFO between tasks of one loop, bounded or not,
// with task_done()/join() and Python 3.13's shutdown().
//
// THREADS. Loop thread only (see event.hpp). To feed a loop from other threads use
// call_soon_threadsafe (which posts through the lock-free inbox) or primitives/mpsc_queue.hpp.
//
// API (asyncio's names)
//     Queue<T> q(maxsize);         maxsize 0 = unbounded (asyncio: <= 0)
//     co_await q.put(item)         waits while full                  (QueueShutDown after shutdown)
//     T v = co_await q.get()       waits while empty                 (QueueShutDown once shut down and empty)
//     q.put_nowait(item)           QueueFull if full                 (QueueShutDown after shutdown)
//     T v = q.get_nowait()         QueueEmpty if empty               (QueueShutDown if shut down and empty)
//     q.qsize() q.empty() q.full() q.maxsize()
//     q.task_done()                one put item fully processed; InvalidStateError if called
//                                  more often than items were put (asyncio: ValueError)
//     co_await q.join()            waits until every put item got its task_done()
//     q.shutdown(immediate=false)  puts fail from now on; gets drain what is left, then fail;
//                                  blocked put()s and (with nothing left) get()s wake with
//                                  QueueShutDown. immediate=true also removes every item (each
//                                  counted as task_done, which may release join()) and RETURNS
//                                  them — asyncio drops them; here nothing is lost silently.
//
// WAITERS ARE WAKE-UPS, AS IN ASYNCIO. Items always stay in the queue until a getter runs. A
// put() wakes the first parked getter (FIFO); when that getter's wake-up fires (event.hpp:
// `fire`, one loop iteration later) it takes the front item if there is one — nothing runs
// between that check and its resumption — or, if get_nowait() took the item meanwhile,
// parks again at the FRONT of the line. Putters mirror this with free slots. Consequences:
//  * a getter cancelled while parked, or after its wake-up but before it ran, never takes an
//    item; its wake-up passes to the next getter. No item is lost or duplicated.
//  * a cancelled put() never inserts its item (the item, moved into put(), is destroyed with
//    the awaiter: as in asyncio, a cancelled put did not happen).
//  * `co_await q.get()` / `q.put()` do not barge: they take the fast path only if no waiter of
//    their kind is parked or being woken. get_nowait/put_nowait never wait, so they may take
//    an item / slot a woken waiter was about to use (asyncio allows this too); that waiter
//    simply waits on, first in line.
//
// DEVIATIONS: shutdown(immediate) returns the removed items; a Queue destroyed while tasks
// wait on it wakes them with InvalidStateError (asyncio would leave them hanging).
#pragma once

#include <coroutine>
#include <cstddef>
#include <deque>
#include <limits>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "errors.hpp"
#include "event.hpp"
#include "task.hpp"

namespace handoff {

// get_nowait() on an empty queue (asyncio.QueueEmpty).
struct QueueEmpty : Error {
  QueueEmpty() : Error("handoff: Queue::get_nowait() on an empty queue (co_await get() waits for an item)") {}
};

// put_nowait() on a full queue (asyncio.QueueFull).
struct QueueFull : Error {
  explicit QueueFull(std::size_t maxsize)
      : Error("handoff: Queue::put_nowait() on a full queue (maxsize " + std::to_string(maxsize) +
              "; co_await put() waits for a free slot)") {}
};

// A put or get after shutdown() (asyncio.QueueShutDown, Python 3.13).
struct QueueShutDown : Error {
  explicit QueueShutDown(const char* what)
      : Error(std::string("handoff: ") + what + ": the queue was shut down") {}
};

template <class T>
class Queue {
 public:
  class [[nodiscard]] GetAwaiter final : public detail::WaitNode {
   public:
    explicit GetAwaiter(Queue& q) : q_(&q) {}
    GetAwaiter(GetAwaiter&&) noexcept = default;
    bool await_ready() {
      if (q_->shutdown_ && q_->items_.empty()) return true;  // await_resume throws
      if (!q_->getter_may_take_now()) return false;
      value_.emplace(q_->pop_front());
      q_->rebalance();
      return true;
    }
    bool await_suspend(std::coroutine_handle<> h) { return park(h, q_->getters_, "Queue::get()"); }
    T await_resume() {
      check_resume("Queue::get()");
      if (!value_) throw QueueShutDown("Queue::get()");
      return std::move(*value_);
    }

   private:
    void on_wake() override {
      if (task_->cancel_requested()) {
        detach();
        q_->rebalance();  // our wake-up passes to the next getter
      } else if (!q_->items_.empty()) {
        value_.emplace(q_->pop_front());
        granted_ = true;
        detach();
        q_->rebalance();
      } else if (q_->shutdown_) {
        granted_ = true;  // resumes to throw QueueShutDown
        detach();
      } else {
        requeue_front(q_->getters_);  // get_nowait took it: wait on, first in line
        return;
      }
      resume();
    }
    Queue* q_;
    std::optional<T> value_;
  };

  class [[nodiscard]] PutAwaiter final : public detail::WaitNode {
   public:
    PutAwaiter(Queue& q, T item) : q_(&q), item_(std::move(item)) {}
    PutAwaiter(PutAwaiter&&) = default;
    bool await_ready() {
      if (q_->shutdown_) return true;  // await_resume throws
      if (!q_->putter_may_put_now()) return false;
      q_->push_back(std::move(item_));
      done_ = true;
      return true;
    }
    bool await_suspend(std::coroutine_handle<> h) { return park(h, q_->putters_, "Queue::put()"); }
    void await_resume() {
      check_resume("Queue::put()");
      if (!done_) throw QueueShutDown("Queue::put()");
    }

   private:
    void on_wake() override {
      if (task_->cancel_requested()) {
        detach();
        q_->rebalance();  // our wake-up passes to the next putter
      } else if (q_->shutdown_) {
        granted_ = true;  // resumes to throw QueueShutDown
        detach();
      } else if (!q_->full()) {
        detach();
        q_->push_back(std::move(item_));
        done_ = true;
        granted_ = true;
      } else {
        requeue_front(q_->putters_);  // put_nowait took the slot: wait on, first in line
        return;
      }
      resume();
    }
    Queue* q_;
    T item_;
    bool done_ = false;
  };

  class [[nodiscard]] JoinAwaiter final : public detail::WaitNode {
   public:
    explicit JoinAwaiter(Queue& q) : q_(&q) {}
    JoinAwaiter(JoinAwaiter&&) noexcept = default;
    bool await_ready() const noexcept { return q_->unfinished_ == 0; }
    bool await_suspend(std::coroutine_handle<> h) { return park(h, q_->joiners_, "Queue::join()"); }
    void await_resume() { check_resume("Queue::join()"); }

   private:
    void on_wake() override {
      granted_ = !task_->cancel_requested();  // released (as asyncio: no re-check)
      resume();
    }
    Queue* q_;
  };

  explicit Queue(std::size_t maxsize = 0) : maxsize_(maxsize) {}
  Queue(const Queue&) = delete;
  Queue& operator=(const Queue&) = delete;
  ~Queue() {
    for (detail::WaitList* l : {&getters_, &waking_getters_, &putters_, &waking_putters_, &joiners_,
                                &waking_joiners_}) {
      detail::WaitNode::orphan_all(*l);
    }
  }

  std::size_t maxsize() const noexcept { return maxsize_; }
  std::size_t qsize() const noexcept { return items_.size(); }
  bool empty() const noexcept { return items_.empty(); }
  bool full() const noexcept { return maxsize_ != 0 && items_.size() >= maxsize_; }
  bool is_shutdown() const noexcept { return shutdown_; }
  // Items put and not yet marked task_done().
  std::size_t unfinished_tasks() const noexcept { return unfinished_; }

  PutAwaiter put(T item) { return PutAwaiter(*this, std::move(item)); }
  GetAwaiter get() { return GetAwaiter(*this); }
  JoinAwaiter join() { return JoinAwaiter(*this); }

  void put_nowait(T item) {
    if (shutdown_) throw QueueShutDown("Queue::put_nowait()");
    if (full()) throw QueueFull(maxsize_);
    push_back(std::move(item));
  }

  T get_nowait() {
    if (items_.empty()) {
      if (shutdown_) throw QueueShutDown("Queue::get_nowait()");
      throw QueueEmpty();
    }
    T v = pop_front();
    rebalance();
    return v;
  }

  void task_done() {
    if (unfinished_ == 0) {
      throw InvalidStateError("Queue::task_done() called more times than items were put");
    }
    if (--unfinished_ == 0) release_joiners();
  }

  // See the header comment. Returns the removed items (immediate only). Idempotent.
  std::vector<T> shutdown(bool immediate = false) {
    shutdown_ = true;
    std::vector<T> removed;
    if (immediate) {
      removed.reserve(items_.size());
      while (!items_.empty()) {
        removed.push_back(pop_front());
        if (unfinished_ > 0) --unfinished_;
      }
      if (unfinished_ == 0) release_joiners();
    }
    rebalance();  // shut down: every parked getter and putter wakes
    return removed;
  }

 private:
  bool getter_may_take_now() const noexcept {
    // Items beyond those a woken getter is about to take, and nobody parked ahead of us.
    return getters_.empty() && items_.size() > waking_getters_.size();
  }
  bool putter_may_put_now() const noexcept {
    return putters_.empty() && free_slots() > waking_putters_.size();
  }
  std::size_t free_slots() const noexcept {
    if (maxsize_ == 0) return std::numeric_limits<std::size_t>::max();
    return items_.size() >= maxsize_ ? 0 : maxsize_ - items_.size();
  }

  void push_back(T&& item) {
    items_.push_back(std::move(item));
    ++unfinished_;
    rebalance();
  }
  T pop_front() {
    T v = std::move(items_.front());
    items_.pop_front();
    return v;
  }

  // After every change: wake one parked getter per item no woken getter is already coming
  // for, one parked putter per such free slot; after shutdown, all of them.
  void rebalance() noexcept {
    while (!getters_.empty() && (shutdown_ || items_.size() > waking_getters_.size())) {
      detail::WaitNode::wake_first(getters_, waking_getters_);
    }
    while (!putters_.empty() && (shutdown_ || free_slots() > waking_putters_.size())) {
      detail::WaitNode::wake_first(putters_, waking_putters_);
    }
  }

  void release_joiners() noexcept {
    while (!joiners_.empty()) detail::WaitNode::wake_first(joiners_, waking_joiners_);
  }

  std::size_t maxsize_;
  std::deque<T> items_;
  std::size_t unfinished_ = 0;
  bool shutdown_ = false;
  detail::WaitList getters_, waking_getters_;
  detail::WaitList putters_, waking_putters_;
  detail::WaitList joiners_, waking_joiners_;
};

}  // namespace handoff
