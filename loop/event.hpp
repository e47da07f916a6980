// handoff/loop/event.hpp — asyncio.Event, and the parking protocol (detail::WaitNode) that
// every loop-local synchronization primitive uses: Event, Lock, Semaphore, Queue.
//
// THREADS. Loop thread only, like asyncio's primitives: every method, every co_await, on the
// thread running the loop of the tasks that use the object. All tasks waiting on one object
// at a time must belong to one loop. No atomics: the loop's single thread is the lock.
//
// EVENT (asyncio.Event): a flag, initially false. `co_await ev.wait()` returns at once if the
// flag is set, else parks the task until set(). set() releases every task waiting at that
// moment, even if clear() runs before they are resumed (asyncio does the same: a released
// waiter returns, it does not re-check). clear() only affects later waits.
//
// THE PARKING PROTOCOL. A task that must wait on a primitive parks a WaitNode (the awaiter
// itself, living in the coroutine frame, so parking never allocates) in the primitive's FIFO
// `waiting` list. The primitive wakes a node by moving it to its `waking` list and posting ONE
// loop callback, `fire`, which runs at top level and then decides, with the primitive's state
// as it is at that moment:
//
//   Idle ──park──▶ Queued ──primitive wakes it (a grant or a hint)──▶ Waking ──fire──▶ on_wake:
//                    │                                                           │ complete: resume
//                    │                                                           │ cancelled: undo, resume
//                    │                                                           └ condition gone: Queued (front)
//                    └──task cancelled / primitive destroyed──▶ InTransit ──fire──▶ resume (throws)
//
//  * Exactly one `fire` is pending per parked node, and `fire` is the only thing that resumes
//    the task (TaskBase::resume_now, from a top-level callback). So there is never a second
//    wake for a suspension, and `fire` may use the node: the task — and with it the frame
//    holding the node — cannot move on before `fire` resumes it. (The loop drops pending
//    callbacks at close() before it destroys task frames.)
//  * on_wake runs with nothing in between it and the task's await_resume: what it grants (an
//    item, the lock, a permit) cannot be taken by another task in between. A wake-up that
//    finds its condition gone (a Queue item taken by get_nowait) re-parks at the FRONT, so
//    waiters keep their FIFO order.
//  * Cancellation: while Queued, the node leaves the list and fires (the await throws
//    CancelledError, nothing happened). While Waking, `fire` sees the pending cancellation,
//    undoes what was granted (a Lock is passed to the next waiter, a Queue wake-up to the
//    next getter) and resumes the task, which throws. So an await either completes or throws
//    CancelledError with no effect — as in asyncio, where the woken waiter's cancellation
//    passes the wake-up on.
//  * A primitive destroyed while tasks wait on it resumes them with InvalidStateError
//    (asyncio would leave them hanging; here the object is gone, so they cannot wait on).
//
// Every wake goes through call_soon, so a waiter resumes one loop iteration after the event
// that released it (asyncio: the waiter future's done callback, also one iteration).
#pragma once

#include <coroutine>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <memory>
#include <string>
#include <utility>

#include "errors.hpp"
#include "event_loop.hpp"
#include "task.hpp"

namespace handoff {

namespace detail {

class WaitNode;

// An intrusive FIFO of parked nodes. Loop thread only.
class WaitList {
 public:
  WaitList() = default;
  WaitList(const WaitList&) = delete;
  WaitList& operator=(const WaitList&) = delete;

  bool empty() const noexcept { return head_ == nullptr; }
  std::size_t size() const noexcept { return size_; }
  WaitNode* front() const noexcept { return head_; }

  inline void push_back(WaitNode* n) noexcept;
  inline void push_front(WaitNode* n) noexcept;
  inline void remove(WaitNode* n) noexcept;

 private:
  WaitNode* head_ = nullptr;
  WaitNode* tail_ = nullptr;
  std::size_t size_ = 0;
};

// A suspension point on a loop-local primitive: the base of every such awaiter. See the
// header comment for the protocol. Subclasses implement on_wake() and call the helpers.
class WaitNode : public Waiter {
 public:
  WaitNode(const WaitNode&) = delete;
  WaitNode& operator=(const WaitNode&) = delete;

  // For the primitive: release the first Queued node — it moves to `waking` and its fire is
  // posted. No-op if `waiting` is empty.
  static void wake_first(WaitList& waiting, WaitList& waking) noexcept {
    if (WaitNode* n = waiting.front()) n->wake(waking);
  }

  // For the primitive's destructor: wake everything still parked on it with an error.
  static void orphan_all(WaitList& list) noexcept {
    while (WaitNode* n = list.front()) {
      list.remove(n);
      n->orphaned_ = true;
      if (n->state_ == State::Queued) n->post_fire();  // a Waking node's fire is already posted
      n->state_ = State::InTransit;
    }
  }

 protected:
  WaitNode() = default;
  // Only an awaiter that was never awaited is moved (e.g. into wait_for): nothing to carry.
  WaitNode(WaitNode&&) noexcept {}
  ~WaitNode() {
    if (list_ != nullptr) list_->remove(this);  // the frame is destroyed (loop close)
  }

  // In await_suspend: park at the back of `waiting`. Returns false (do not suspend) if a
  // cancellation is pending; await_resume then throws it.
  bool park(std::coroutine_handle<> h, WaitList& waiting, const char* what) {
    task_ = &detail::current_task(what);
    if (task_->cancel_requested()) return false;
    n_ = task_->suspend(this, h);
    state_ = State::Queued;
    waiting.push_back(this);
    return true;
  }

  // In on_wake: the condition is gone again; wait on, first in line.
  void requeue_front(WaitList& waiting) noexcept {
    list_->remove(this);
    waiting.push_front(this);
    state_ = State::Queued;
  }

  // In on_wake: leave the primitive's lists (before adjusting the primitive, so its counts
  // of waking nodes are right).
  void detach() noexcept {
    if (list_ != nullptr) list_->remove(this);
  }

  // In on_wake, last: resume the task. `this` may be destroyed when it returns.
  void resume() {
    detach();
    state_ = State::Idle;
    task_->resume_now(n_);
  }

  // In await_resume, first. Returns normally if the operation completed (set `granted_` in
  // on_wake, or finished without suspending); otherwise throws the pending CancelledError, or
  // InvalidStateError if the primitive was destroyed. If it returns with granted_ false,
  // the subclass has its own reason (a Queue shut down).
  void check_resume(const char* what) {
    if (task_ == nullptr || granted_) return;
    task_->throw_if_cancelled();
    if (orphaned_) {
      throw InvalidStateError(std::string(what) +
                              ": the object was destroyed while this task waited on it");
    }
  }

  // The primitive's decision when fire runs for a Waking node: resume (after granting, or
  // after undoing a grant if task_->cancel_requested()), or requeue_front.
  virtual void on_wake() = 0;

  TaskBase* task_ = nullptr;
  bool granted_ = false;

 private:
  friend class WaitList;
  enum class State : unsigned char { Idle, Queued, Waking, InTransit };

  void wake(WaitList& waking) noexcept {
    list_->remove(this);
    waking.push_back(this);
    state_ = State::Waking;
    post_fire();
  }

  void on_cancel() noexcept override {
    if (state_ != State::Queued) return;  // Waking: fire is posted and will see the cancel
    list_->remove(this);
    state_ = State::InTransit;
    post_fire();
  }

  void post_fire() noexcept {
    EventLoop* loop = task_->loop();
    if (loop == nullptr || loop->is_closed()) return;  // closing: the frame goes away unrun
    try {
      loop->call_soon([t = task_->shared(), this] { fire(); });
    } catch (...) {
      loop->call_exception_handler(
          {"handoff: could not schedule the wake-up of a waiting task (it stays parked)",
           std::current_exception()});
    }
  }

  void fire() {
    if (state_ == State::Waking && list_ != nullptr) {
      on_wake();
    } else {
      resume();  // InTransit: cancelled or orphaned; await_resume throws
    }
  }

  std::uint64_t n_ = 0;
  WaitNode* prev_ = nullptr;
  WaitNode* next_ = nullptr;
  WaitList* list_ = nullptr;
  State state_ = State::Idle;
  bool orphaned_ = false;
};

inline void WaitList::push_back(WaitNode* n) noexcept {
  n->list_ = this;
  n->next_ = nullptr;
  n->prev_ = tail_;
  if (tail_) tail_->next_ = n;
  else head_ = n;
  tail_ = n;
  ++size_;
}

inline void WaitList::push_front(WaitNode* n) noexcept {
  n->list_ = this;
  n->prev_ = nullptr;
  n->next_ = head_;
  if (head_) head_->prev_ = n;
  else tail_ = n;
  head_ = n;
  ++size_;
}

inline void WaitList::remove(WaitNode* n) noexcept {
  if (n->prev_) n->prev_->next_ = n->next_;
  else head_ = n->next_;
  if (n->next_) n->next_->prev_ = n->prev_;
  else tail_ = n->prev_;
  n->prev_ = n->next_ = nullptr;
  n->list_ = nullptr;
  --size_;
}

}  // namespace detail

// asyncio.Event. Loop thread only. See the header comment.
class Event {
 public:
  class [[nodiscard]] WaitAwaiter final : public detail::WaitNode {
   public:
    explicit WaitAwaiter(Event& ev) : ev_(&ev) {}
    WaitAwaiter(WaitAwaiter&&) noexcept = default;
    bool await_ready() const noexcept { return ev_->set_; }
    bool await_suspend(std::coroutine_handle<> h) { return park(h, ev_->waiting_, "Event::wait()"); }
    void await_resume() { check_resume("Event::wait()"); }

   private:
    void on_wake() override {
      granted_ = !task_->cancel_requested();  // released; a pending cancel still wins here
      resume();
    }
    Event* ev_;
  };

  Event() = default;
  Event(const Event&) = delete;
  Event& operator=(const Event&) = delete;
  ~Event() {
    detail::WaitNode::orphan_all(waiting_);
    detail::WaitNode::orphan_all(waking_);
  }

  bool is_set() const noexcept { return set_; }

  // Set the flag and release every task waiting now. Idempotent.
  void set() noexcept {
    if (set_) return;
    set_ = true;
    while (!waiting_.empty()) detail::WaitNode::wake_first(waiting_, waking_);
  }

  void clear() noexcept { set_ = false; }

  // `co_await ev.wait()`: return once the flag is set (at once if it is). Cancellable.
  WaitAwaiter wait() { return WaitAwaiter(*this); }

 private:
  friend class WaitAwaiter;
  bool set_ = false;
  detail::WaitList waiting_;
  detail::WaitList waking_;
};

}  // namespace handoff
