// handoff/primitives/mutex_event_count.hpp — the baseline for EventCount: the same interface
// and protocol on a std::mutex + std::condition_variable parking lot.
//
// WHY: STYLE.md habit 6 — one template runs both in tests (event_count_test.cpp, the stress
// test's cross-check run) and benchmarks (event_count_bench.cpp), so a test that fails on this
// trivially correct implementation is a broken test, and the benchmark shows what the futex
// design buys (its notify fast path is one load; this one takes the mutex every time).
//
// DESIGN. The waiter count and the epoch live under the mutex. prepare_wait() announces under
// the mutex; notify_*() reads the count under the same mutex: the mutex's total order does what
// the seq_cst Dekker pair does in EventCount, so the caller's publish needs no particular order
// here: either the notifier's critical section comes first, and its unlock publishes everything
// it stored before (the work) to the waiter's announcement and so to its later re-check; or
// the waiter's announcement comes first, and the notifier sees the count. Usage, keys, the ledger
// and the meaning of each statistic are EventCount's (event_count.hpp).
//
// THREAD ROLES: as EventCount — every method any thread; a Key is used once by its preparer.
// LIFETIME: as EventCount — a woken waiter may destroy it as soon as its wait returns (see
// notify()).
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>

#include "deadline.hpp"
#include "event_count.hpp"  // EventCountStats

namespace handoff {

class MutexEventCount {
 public:
  class Key {
   public:
    Key(const Key&) noexcept = default;
    Key& operator=(const Key&) noexcept = default;

   private:
    friend class MutexEventCount;
    explicit Key(std::uint64_t e) noexcept : epoch_(e) {}
    std::uint64_t epoch_;
  };

  MutexEventCount() = default;
  MutexEventCount(const MutexEventCount&) = delete;
  MutexEventCount& operator=(const MutexEventCount&) = delete;

  Key prepare_wait() noexcept {
    std::lock_guard<std::mutex> lock(mu_);
    ++s_.prepared;
    ++waiters_;
    return Key(epoch_);
  }

  void cancel_wait() noexcept {
    std::lock_guard<std::mutex> lock(mu_);
    ++s_.cancelled;
    --waiters_;
  }

  void wait(Key k) noexcept { (void)commit(k, -1); }

  bool wait_for(Key k, std::int64_t timeout_ns) noexcept { return commit(k, timeout_ns < 0 ? 0 : timeout_ns); }

  void notify_one() noexcept { notify(false); }
  void notify_all() noexcept { notify(true); }

  EventCountStats stats() const {
    std::lock_guard<std::mutex> lock(mu_);
    EventCountStats r = s_;
    r.waiting = waiters_;
    return r;
  }

 private:
  bool commit(Key k, std::int64_t timeout_ns) noexcept {
    using Clock = std::chrono::steady_clock;
    const Clock::time_point deadline =
        timeout_ns >= 0 ? detail::deadline_after(std::chrono::nanoseconds(timeout_ns))  // saturated: INT64_MAX ns waits ~forever
                        : Clock::time_point::max();
    std::unique_lock<std::mutex> lock(mu_);
    ++s_.committed;
    bool slept = false;
    bool woken = false;
    for (;;) {
      if (epoch_ != k.epoch_) {
        woken = true;
        break;
      }
      if (slept) ++s_.spurious;  // the last sleep returned with no notify: sleep again
      if (timeout_ns < 0) {
        cv_.wait(lock);
      } else if (cv_.wait_until(lock, deadline) == std::cv_status::timeout) {
        slept = true;
        woken = epoch_ != k.epoch_;  // a notify that came with the timeout counts as a wake
        break;
      }
      slept = true;
    }
    --waiters_;
    if (woken) {
      ++s_.woken;
      if (!slept) ++s_.immediate;
    } else {
      ++s_.timeouts;
    }
    return woken;
  }

  // The notify is issued UNDER the lock (not after it, the usual "hurry up and wait" saving):
  // a waiter that sees the new epoch may destroy this object as soon as its wait returns,
  // and it can only see it after our unlock, so the unlock is our last access (std::mutex
  // allows its destruction once the other thread has locked it). Notifying after the unlock
  // touched a condition variable the waiter may already have destroyed (issue 10; the test
  // "a waiter may destroy the event count ..." holds the notifier right after its unlock).
  void notify(bool all) noexcept {
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (waiters_ == 0) return;
      ++epoch_;
      ++s_.notify_syscalls;
#if !defined(HANDOFF_MUTANT_MEC_NOTIFY_AFTER_UNLOCK)
      if (all) {
        cv_.notify_all();
      } else {
        cv_.notify_one();
      }
#endif
    }
    if (detail::t_ec_released_hook != nullptr) detail::t_ec_released_hook();  // test seam (thread-local)
#if defined(HANDOFF_MUTANT_MEC_NOTIFY_AFTER_UNLOCK)
    // MUTANT: the pre-fix order — notify after the unlock, on a possibly destroyed condvar.
    if (all) {
      cv_.notify_all();
    } else {
      cv_.notify_one();
    }
#endif
  }

  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::uint64_t epoch_ = 0;
  std::uint64_t waiters_ = 0;
  EventCountStats s_;
};

}  // namespace handoff
