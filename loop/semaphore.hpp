// handoff/loop/semaphore.hpp — asyncio.Semaphore and asyncio.BoundedSemaphore: a counter of
// permits for tasks of one loop, FIFO-fair.
//
// THREADS. Loop thread only (see event.hpp).
//
// USE
//     Semaphore sem(4);                        // at most 4 tasks inside at once
//     auto permit = co_await sem.scoped();     // Semaphore::Guard: released at scope exit
// or asyncio's manual form: `co_await sem.acquire(); ...; sem.release();`.
//
// SEMANTICS. As asyncio (3.11+): acquire() takes a permit without suspending if one is free,
// else parks in FIFO order; release() returns one. Semaphore(value) — the default is 1, as in
// asyncio; a negative value is impossible (std::size_t). BoundedSemaphore also throws
// InvalidStateError (asyncio: ValueError) from a release() that would raise the count above
// its initial value, which catches a release without an acquire.
//
// DEVIATION (stricter FIFO, as Lock): release() hands the permit DIRECTLY to the first waiter
// instead of incrementing the count and letting the woken waiter take it, so an acquire()
// arriving meanwhile cannot barge ahead. (asyncio needed several fixes, bpo-45997 and
// gh-90155, to get close to this.) If the chosen waiter is cancelled before it runs, its
// permit goes on to the next waiter or back to the count, and its acquire throws
// CancelledError: an acquire either returns holding a permit or throws without one. Wake
// protocol and state diagram: event.hpp.
#pragma once

#include <coroutine>
#include <cstddef>
#include <string>
#include <utility>

#include "errors.hpp"
#include "event.hpp"
#include "task.hpp"

namespace handoff {

class Semaphore {
 public:
  // Holds one permit; releases it on destruction. Move-only.
  class [[nodiscard]] Guard {
   public:
    Guard() = default;
    Guard(Guard&& o) noexcept : sem_(std::exchange(o.sem_, nullptr)) {}
    Guard& operator=(Guard&& o) noexcept {
      if (this != &o) {
        reset();
        sem_ = std::exchange(o.sem_, nullptr);
      }
      return *this;
    }
    ~Guard() { reset(); }
    // Release the permit now (idempotent).
    void release() { reset(); }
    bool holds_permit() const noexcept { return sem_ != nullptr; }

   private:
    friend class Semaphore;
    explicit Guard(Semaphore* s) : sem_(s) {}
    void reset() noexcept {
      if (Semaphore* s = std::exchange(sem_, nullptr)) s->release_held();
    }
    Semaphore* sem_ = nullptr;
  };

  template <bool kScoped>
  class [[nodiscard]] AcquireAwaiter final : public detail::WaitNode {
   public:
    explicit AcquireAwaiter(Semaphore& s) : sem_(&s) {}
    AcquireAwaiter(AcquireAwaiter&&) noexcept = default;
    bool await_ready() noexcept {
      if (sem_->value_ == 0) return false;  // (free permits imply no waiters: release hands on)
      --sem_->value_;
      return true;
    }
    bool await_suspend(std::coroutine_handle<> h) {
      return park(h, sem_->waiting_, "Semaphore::acquire()");
    }
    auto await_resume() {
      check_resume("Semaphore::acquire()");
      if constexpr (kScoped) return Guard(sem_);
    }

   private:
    void on_wake() override {  // a permit was handed to us
      if (task_->cancel_requested()) {
        detach();
        sem_->release_held();  // undo: to the next waiter, or back to the count
      } else {
        granted_ = true;
      }
      resume();
    }
    Semaphore* sem_;
  };

  explicit Semaphore(std::size_t value = 1) : value_(value) {}
  Semaphore(const Semaphore&) = delete;
  Semaphore& operator=(const Semaphore&) = delete;
  ~Semaphore() {
    detail::WaitNode::orphan_all(waiting_);
    detail::WaitNode::orphan_all(waking_);
  }

  // True if acquire() would suspend (no free permit).
  bool locked() const noexcept { return value_ == 0; }
  // Free permits now.
  std::size_t value() const noexcept { return value_; }
  // Tasks parked in acquire() (not counting one whose hand-off is in flight).
  std::size_t waiters() const noexcept { return waiting_.size(); }

  AcquireAwaiter<false> acquire() { return AcquireAwaiter<false>(*this); }
  AcquireAwaiter<true> scoped() { return AcquireAwaiter<true>(*this); }

  // Return a permit: to the first waiter, or to the count. BoundedSemaphore: throws
  // InvalidStateError if no permit is out.
  void release() {
    if (bounded_ && value_ >= bound_) {
      throw InvalidStateError("BoundedSemaphore::release() called more times than acquire() (bound " +
                              std::to_string(bound_) + ")");
    }
    release_held();
  }

 protected:
  Semaphore(std::size_t value, bool bounded) : value_(value), bound_(value), bounded_(bounded) {}

 private:
  void release_held() noexcept {
    if (waiting_.empty()) {
      ++value_;
    } else {
      detail::WaitNode::wake_first(waiting_, waking_);  // handed over; the count stays 0
    }
  }

  std::size_t value_;
  std::size_t bound_ = 0;
  bool bounded_ = false;
  detail::WaitList waiting_;
  detail::WaitList waking_;
};

// asyncio.BoundedSemaphore: release() beyond the initial value throws InvalidStateError.
// (A permit in flight to a woken waiter counts as held, so the check is exact.)
class BoundedSemaphore : public Semaphore {
 public:
  explicit BoundedSemaphore(std::size_t value = 1) : Semaphore(value, true) {}
};

}  // namespace handoff
