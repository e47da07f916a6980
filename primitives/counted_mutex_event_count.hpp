// handoff/primitives/counted_mutex_event_count.hpp — the best mutex baseline for EventCount:
// a mutex + condition variable parking lot whose notify() first reads an atomic waiter count
// and takes the lock only when someone waits (the design an expert writes; MutexEventCount,
// which locks in every notify, stays as the labelled "naive" baseline: mutex_event_count.hpp).
// Both are this one template, detail::BasicMutexEventCount, differing in notify()'s first
// step only (MecNotify), so the comparison isolates that one choice.
//
// WHY: the benchmark's "what the futex design buys" must be taken against the best mutex
// design, not the easiest (issue 12). With nobody waiting — the common case of a busy
// consumer — notify() here costs one seq_cst load, as EventCount's does; the remaining
// difference is the sleep path (a condvar under a mutex vs one futex word).
//
// DESIGN. The epoch and the statistics live under the mutex; the waiter count is an atomic,
// changed only under the mutex but read by notify() WITHOUT it. That read is the lost-wakeup
// trap, and it is EventCount's: prepare_wait() increments waiters_ (seq_cst RMW) and the
// caller's re-check of its condition is a seq_cst load; the caller's publish is a seq_cst
// store/RMW and notify()'s read of waiters_ is a seq_cst load. Dekker, seq_cst on BOTH sides:
// in the single total order either the waiter's increment comes first (the notifier sees a
// waiter, locks, bumps the epoch and wakes) or the publish comes first (the re-check sees the
// work and cancels). So, unlike MutexEventCount, the caller's publish MUST be seq_cst, as for
// EventCount (event_count.hpp has the usage, keys, ledger and each statistic's meaning).
// Mutants (tests only): HANDOFF_MUTANT_CMEC_NOTIFY_RELAXED reads the count relaxed (the Dekker
// pair loses its load half); HANDOFF_MUTANT_CMEC_LATE_COUNT counts the waiter only when it
// commits to sleep, after its re-check (the announcement comes too late). Both lose wakeups:
// tests/model/event_count_model.cpp (built with HANDOFF_MODEL_EC_COUNTED_MUTEX) must report
// DEADLOCK, and stress/event_count_stress --impl counted the HANG.
//
// ERRORS: as MutexEventCount — nothrow; a std::system_error from the mutex is not caught and
// terminates inside noexcept (docs/misuse.md).
// THREAD ROLES: as EventCount — every method any thread; a Key is used once by its preparer.
// LIFETIME: as EventCount — a woken waiter may destroy it as soon as its wait returns (see
// notify()).
#pragma once

#include <chrono>
#include <cstdint>
#include <mutex>

#include "deadline.hpp"
#include "event_count.hpp"  // EventCountStats, detail::t_ec_released_hook
#include "sync.hpp"

namespace handoff {
namespace detail {

// notify()'s first step: CountFirst reads the waiter count without the lock (the baseline);
// LockAlways takes the lock on every notify (the naive MutexEventCount).
enum class MecNotify { CountFirst, LockAlways };

template <MecNotify kNotify>
class BasicMutexEventCount {
 public:
  class Key {
   public:
    Key(const Key&) noexcept = default;
    Key& operator=(const Key&) noexcept = default;

   private:
    friend class BasicMutexEventCount;
    explicit Key(std::uint64_t e) noexcept : epoch_(e) {}
    std::uint64_t epoch_;
  };

  BasicMutexEventCount() = default;
  BasicMutexEventCount(const BasicMutexEventCount&) = delete;
  BasicMutexEventCount& operator=(const BasicMutexEventCount&) = delete;

  Key prepare_wait() noexcept {
    std::lock_guard<sync::mutex> lock(mu_);
    ++s_.prepared;
#if !defined(HANDOFF_MUTANT_CMEC_LATE_COUNT)
    waiters_.fetch_add(1, std::memory_order_seq_cst);  // Dekker, waiter half: pairs with notify()'s seq_cst waiters_ load (the caller's re-check load follows)
#endif
    return Key(epoch_);
  }

  void cancel_wait() noexcept {
    std::lock_guard<sync::mutex> lock(mu_);
    ++s_.cancelled;
#if !defined(HANDOFF_MUTANT_CMEC_LATE_COUNT)
    waiters_.fetch_sub(1, std::memory_order_seq_cst);  // withdraw: pairs with notify()'s waiters_ load (a stale count costs one extra lock only)
#endif
  }

  void wait(Key k) noexcept { (void)commit(k, -1); }

  bool wait_for(Key k, std::int64_t timeout_ns) noexcept { return commit(k, timeout_ns < 0 ? 0 : timeout_ns); }

  void notify_one() noexcept { notify(false); }
  void notify_all() noexcept { notify(true); }

  EventCountStats stats() const {
    std::lock_guard<sync::mutex> lock(mu_);
    EventCountStats r = s_;
    r.waiting = waiters_.load(std::memory_order_seq_cst);  // under mu_: every change is made under it too
    return r;
  }

 private:
  bool commit(Key k, std::int64_t timeout_ns) noexcept {
    const std::chrono::steady_clock::time_point deadline =
        timeout_ns >= 0 ? deadline_after(std::chrono::nanoseconds(timeout_ns))  // saturated: INT64_MAX ns waits ~forever
                        : std::chrono::steady_clock::time_point::max();
    std::unique_lock<sync::mutex> lock(mu_);
#if defined(HANDOFF_MUTANT_CMEC_LATE_COUNT)
    waiters_.fetch_add(1, std::memory_order_seq_cst);  // MUTANT: announced after the caller's re-check
#endif
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
        cv_.wait(mu_);
      } else if (!cv_.wait_until(mu_, deadline)) {
        slept = true;
        woken = epoch_ != k.epoch_;  // a notify that came with the timeout counts as a wake
        break;
      }
      slept = true;
    }
    waiters_.fetch_sub(1, std::memory_order_seq_cst);  // leave: pairs with notify()'s waiters_ load (a stale count costs one extra lock only)
    if (woken) {
      ++s_.woken;
      if (!slept) ++s_.immediate;
    } else {
      ++s_.timeouts;
    }
    return woken;
  }

  // The wake is issued UNDER the lock (not after it, the usual "hurry up and wait" saving): a
  // waiter that sees the new epoch may destroy this object as soon as its wait returns, and
  // it can only see it after our unlock, so the unlock is our last access (a mutex may be
  // destroyed once the other thread has locked it). Notifying after the unlock touched a
  // condition variable the waiter may already have destroyed (issue 10; the test "a waiter may
  // destroy the event count ..." holds the notifier right after its unlock).
  void notify(bool all) noexcept {
    if constexpr (kNotify == MecNotify::CountFirst) {
#if defined(HANDOFF_MUTANT_CMEC_NOTIFY_RELAXED)
      if (waiters_.load(std::memory_order_relaxed) == 0) return;  // MUTANT: should be seq_cst (Dekker load half lost)
#else
      if (waiters_.load(std::memory_order_seq_cst) == 0) return;  // Dekker, notifier half: pairs with prepare_wait()'s seq_cst fetch_add (the caller's seq_cst publish precedes)
#endif
    }
    {
      std::lock_guard<sync::mutex> lock(mu_);
      // CountFirst re-reads under the lock: the waiters counted above may have left; a wake
      // for nobody would be harmless, but the syscall count would overstate the wakes needed.
      // LockAlways: the mutex's total order does the Dekker pair's job (MutexEventCount).
      if (waiters_.load(std::memory_order_seq_cst) == 0) return;  // under mu_: every change is made under it too
      ++epoch_;
      ++s_.notify_syscalls;
#if !defined(HANDOFF_MUTANT_MEC_NOTIFY_AFTER_UNLOCK)
      wake(all);
#endif
    }  // the unlock: our last access (a waiter that saw the new epoch may now destroy us)
    if (t_ec_released_hook != nullptr) t_ec_released_hook();  // test seam (thread-local)
#if defined(HANDOFF_MUTANT_MEC_NOTIFY_AFTER_UNLOCK)
    wake(all);  // MUTANT: the pre-fix order — notify after the unlock, on a possibly destroyed condvar
#endif
  }

  void wake(bool all) noexcept {
    if (all) {
      cv_.notify_all();
    } else {
      cv_.notify_one();
    }
  }

  mutable sync::mutex mu_;
  sync::condition_variable cv_;
  std::uint64_t epoch_ = 0;                  // under mu_
  sync::atomic<std::uint32_t> waiters_{0};   // announced waiters: changed under mu_, read by notify() without it
  EventCountStats s_;                        // under mu_
};

}  // namespace detail

using CountedMutexEventCount = detail::BasicMutexEventCount<detail::MecNotify::CountFirst>;

}  // namespace handoff
