// handoff/loop/lock.hpp — asyncio.Lock: a non-reentrant mutex for tasks of one loop, FIFO-fair.
//
// THREADS. Loop thread only (see event.hpp). It serializes tasks, not threads: to guard data
// shared with other threads use a std::mutex or a handoff primitive.
//
// USE
//     auto guard = co_await lock.scoped();   // Lock::Guard: released when it goes out of scope
//     ...
// (bind the guard: `co_await lock.scoped();` alone releases it at once — Clang warns about
// the discarded [[nodiscard]] Guard, GCC 12 does not), or asyncio's manual form
//     co_await lock.acquire();
//     try { ... } catch (...) { lock.release(); throw; }
//     lock.release();
//
// SEMANTICS. As asyncio.Lock (3.11+): acquire() takes a free lock without suspending;
// otherwise the task parks in FIFO order. release() of an unlocked lock throws
// InvalidStateError (asyncio: RuntimeError). No owner is recorded: any task may release.
//
// DEVIATION (stricter FIFO): release() hands the lock DIRECTLY to the first waiter (the lock
// stays locked while that waiter's wake-up is in flight), instead of unlocking and letting the
// woken waiter re-acquire. So a task calling acquire() meanwhile cannot barge ahead of it, and
// locked() stays true. If the chosen waiter is cancelled before it runs, the hand-off is
// undone — the lock goes to the next waiter or becomes free — and its acquire throws
// CancelledError: an acquire either returns holding the lock or throws without it. Wake
// protocol and state diagram: event.hpp.
//
// When not to use: for a counter of permits use Semaphore; to wait for a condition use Event
// or a Queue; do not hold a Lock across long awaits other tasks need to make progress.
#pragma once

#include <coroutine>
#include <utility>

#include "errors.hpp"
#include "event.hpp"
#include "task.hpp"

namespace handoff {

class Lock {
 public:
  // Holds the lock; releases it on destruction. Move-only.
  class [[nodiscard]] Guard {
   public:
    Guard() = default;
    Guard(Guard&& o) noexcept : lock_(std::exchange(o.lock_, nullptr)) {}
    Guard& operator=(Guard&& o) noexcept {
      if (this != &o) {
        reset();
        lock_ = std::exchange(o.lock_, nullptr);
      }
      return *this;
    }
    ~Guard() { reset(); }
    // Release now (idempotent).
    void unlock() { reset(); }
    bool owns_lock() const noexcept { return lock_ != nullptr; }

   private:
    friend class Lock;
    explicit Guard(Lock* l) : lock_(l) {}
    void reset() noexcept {
      if (Lock* l = std::exchange(lock_, nullptr)) l->release_held();
    }
    Lock* lock_ = nullptr;
  };

  // `co_await lock.acquire()` (void) or `co_await lock.scoped()` (a Guard).
  template <bool kScoped>
  class [[nodiscard]] AcquireAwaiter final : public detail::WaitNode {
   public:
    explicit AcquireAwaiter(Lock& l) : lock_(&l) {}
    AcquireAwaiter(AcquireAwaiter&&) noexcept = default;
    bool await_ready() noexcept {
      if (lock_->locked_) return false;  // (a free lock has no waiters: release hands it on)
      lock_->locked_ = true;
      return true;
    }
    bool await_suspend(std::coroutine_handle<> h) { return park(h, lock_->waiting_, "Lock::acquire()"); }
    auto await_resume() {
      check_resume("Lock::acquire()");
      if constexpr (kScoped) return Guard(lock_);
    }

   private:
    void on_wake() override {  // the lock was handed to us
      if (task_->cancel_requested()) {
        detach();
        lock_->release_held();  // undo: to the next waiter, or free
      } else {
        granted_ = true;
      }
      resume();
    }
    Lock* lock_;
  };

  Lock() = default;
  Lock(const Lock&) = delete;
  Lock& operator=(const Lock&) = delete;
  ~Lock() {
    detail::WaitNode::orphan_all(waiting_);
    detail::WaitNode::orphan_all(waking_);
  }

  // True while some task holds the lock (or it is being handed to a woken waiter).
  bool locked() const noexcept { return locked_; }

  AcquireAwaiter<false> acquire() { return AcquireAwaiter<false>(*this); }
  AcquireAwaiter<true> scoped() { return AcquireAwaiter<true>(*this); }

  // Release: hand the lock to the first waiter, or free it. InvalidStateError if not locked.
  void release() {
    if (!locked_) throw InvalidStateError("Lock::release() of a lock that is not locked");
    release_held();
  }

 private:
  void release_held() noexcept {
    if (waiting_.empty()) {
      locked_ = false;
    } else {
      detail::WaitNode::wake_first(waiting_, waking_);  // stays locked: handed over
    }
  }

  bool locked_ = false;
  detail::WaitList waiting_;
  detail::WaitList waking_;
};

}  // namespace handoff
