// handoff/primitives/event_count.hpp — an event count: park idle threads on a futex, wake them
// without lost wakeups, and without waking every sleeper for one job.
//
// WHAT IT IS. A condition variable without a mutex, for "sleep until there is work" where the
// work lives in some other lock-free structure (the executor's deques and injector queue).
// Many waiters, many notifiers. Lineage: Dmitry Vyukov's eventcount (comp.programming.threads,
// 2008), folly/synchronization/EventCount.h, Taskflow's Notifier (Eigen's EventCount). Same
// prepare -> re-check -> commit/cancel protocol as loop/wake_gate.hpp, for many sleepers.
//
// WHEN TO USE IT. Idle workers of a pool, consumers of a multi-producer queue: the notifier
// pays one load when nobody sleeps. WHEN NOT: a single consumer that is already woken by an
// eventfd/epoll (use loop/wake_gate.hpp); a predicate that needs a lock to evaluate anyway
// (use a mutex + std::condition_variable, or primitives/mutex_event_count.hpp).
//
// THE PROTOCOL (the caller's half is part of the contract — without the re-check the event
// count cannot prevent a lost wakeup):
//
//   waiter (any thread)                           notifier (any thread)
//   -------------------                           ---------------------
//   if (try_take_work()) run it;                  make work visible: a seq_cst store or RMW
//   Key k = ec.prepare_wait();   // announce        (or a push under the same mutex the
//   if (work_visible()) {        // re-check, a     waiter's re-check takes)
//     ec.cancel_wait();          // seq_cst load   ec.notify_one();  // one load if nobody waits
//     take it and run it;
//   } else {
//     ec.wait(k);                // commit: sleep
//   }                            // then loop back to try_take_work()
//
// WHY NO WAKEUP IS LOST. prepare_wait() increments waiters_ (seq_cst RMW) and the re-check is a
// seq_cst load of the work; the notifier's publish is a seq_cst store/RMW and notify_one()'s
// read of waiters_ is a seq_cst load. That is Dekker's pattern, seq_cst on BOTH sides: in the
// single total order S of seq_cst operations either the waiter's announcement precedes the
// notifier's read (the notifier sees waiters_ > 0, bumps the epoch and wakes), or the
// notifier's read precedes the announcement, and then its publish (earlier still) precedes the
// re-check, which sees the work. A notify that bumps the epoch after prepare_wait() makes
// wait(k) return: either wait's futex compare sees the new epoch (returns at once), or the
// waiter is already enqueued on the futex when the wake comes. A wake_one that finds a sleeper
// whose key is already the new epoch (it prepared after the bump, so its re-check saw the
// notifier's work, so that work was taken) is harmless: someone looked at the queue.
//
// THE DESIGN (two 32-bit words on one cache line, not folly's single 64-bit word):
//   epoch_    the futex word; notify bumps it (only when someone waits); a Key is its value
//             read at prepare_wait(); wait(k) sleeps while epoch_ == k.
//   waiters_  announced waiters: +1 in prepare_wait(), -1 in cancel_wait() or when wait
//             returns. Notifiers skip the bump and the syscall when it reads 0.
// Why two words: the facade's futex (sync::wait/wake) works on a sync::atomic<uint32_t>, and the
// Relacy backend models a futex per atomic object. A futex on the high half of a 64-bit word
// would be type punning outside the memory model, which neither Relacy nor TSan could check.
// The cost: prepare_wait() is one RMW plus one load of the same line (folly: one RMW). The
// epoch is read AFTER the announcement, so a notify meant for earlier waiters (one that did not
// count us) does not make our wait return at once; reading it before would also be correct
// (the re-check covers it), only with more needless returns.
//
// STATES of one waiter (W = counted in waiters_):
//
//   IDLE --prepare_wait--> ANNOUNCED(W) --cancel_wait--------------------------------> IDLE
//                            |
//                            +--wait(k)--> epoch_ != k ? --yes--> RETURNED(woken, -W) --> IDLE
//                                              | no                   ^
//                                              v                      | a notify bumped epoch_
//                                          SLEEPING (futex on epoch_ == k) --(spurious: re-sleep)
//                            +--wait_for(k,t): as wait, or timeout --> RETURNED(false, -W) -> IDLE
//
// ORDERS (docs/event_count.md has the table):
//   waiters_.fetch_add  prepare_wait  seq_cst  Dekker store half (pairs with notify's load)
//   epoch_.load         prepare_wait  acquire  pairs with notify's release bump: a waiter that
//                                              reads the new epoch sees the notifier's work
//   waiters_.load       notify_*      seq_cst  Dekker load half (pairs with prepare's RMW)
//   epoch_.fetch_add    notify_*      release  pairs with the waiters' acquire epoch loads
//   epoch_.load         wait loop     acquire  as prepare's: a woken waiter sees the work
//   waiters_.fetch_sub  cancel/return seq_cst  only lowers the count (a stale high count costs a
//                                              needless syscall, never a lost wakeup); an RMW
//                                              on the Dekker word, seq_cst for the same price
// No standalone fences (TSan does not model them; VERIFY.md).
//
// THREAD ROLES. Every method: any thread. A Key belongs to the thread that prepared it and is
// used once: exactly one of cancel_wait() / wait(k) / wait_for(k, t) follows each
// prepare_wait(), on the same thread, before its next prepare_wait().
//
// wait_for AND IDLE EXIT. wait_for(k, t) returns false on timeout. A notify can race the
// timeout: the notifier counted this waiter, its wake_one found nobody in the kernel. wait_for
// re-reads the epoch after withdrawing and reports such a notify as true, but a notify whose
// waiter count read came just before the withdrawal can still go to nobody. So: after a false
// return a caller must re-check its work source before it stops waiting for good (a worker that
// exits on keep-alive expiry: withdraw from the pool, then re-check, then exit) — the same
// Dekker argument then shows it sees the work.
//
// SPURIOUS RETURNS. wait()/wait_for() never return to the caller without a notify after
// prepare_wait() (or a timeout): a futex return with the epoch unchanged (a signal, a wake that
// went to a waiter of a newer epoch) goes back to sleep and is counted in stats().spurious.
// A return does not mean the caller's work is there: notify_one bumps one epoch for all
// announced waiters, so waiters that announced and have not slept yet return at once too
// (stats().immediate), and the woken sleeper may find the work already taken.
//
// EPOCH WRAP. The epoch is 32 bits: a waiter would miss a notify only if exactly 2^32 notifies
// that saw waiters happened between its prepare_wait() and its futex compare (hours of being
// descheduled between two instructions, at ~1 µs per notify syscall). folly accepts the same.
//
// LIFETIME. A waiter may destroy the event count as soon as its wait()/wait_for() returned
// true (as POSIX lets a thread woken from a condvar destroy it): a notifier whose bump woke it
// may still be inside notify_*(), but the bump (release RMW) is its last access to the
// object's memory — the statistic is counted before it, and the futex wake gets the word's
// address only, which the kernel does not dereference (sync.hpp, FutexAddress). A waiter that
// returned without sleeping on this notify (cancel_wait, a false wait_for, or one that saw the
// event before it prepared) has no such guarantee about notifiers: it must join them first.
// Checked by Relacy (event_count_model's waiter_destroys: the woken waiter destroys it,
// poisoned) and under ASan (event_count_test, through the t_ec_released_hook seam).
//
// COST. notify_*() with nobody waiting: one load (on x86 a plain mov; the publish before it
// already paid the locked instruction). With waiters: one RMW and one futex wake syscall.
// prepare_wait(): one RMW + one load; cancel_wait(): one RMW.
//
// STATISTICS. stats() sums per-thread-stripe counters (relaxed std::atomic on lines owned by a
// stripe of threads): no shared RMW is added to any path, and none at all to the notifier's
// fast path (notify_syscalls is counted after the syscall decision, before the bump). They are plain
// std::atomic, not the facade: they order nothing, and under the model checker they must not
// add scheduling points. Exact once the counting threads are joined or otherwise synchronized.
//
// MUTANTS (tests only): HANDOFF_MUTANT_EC_NOTIFY_RELAXED makes the notifier's waiters_ read
// relaxed (breaks Dekker: Relacy must report the lost wakeup as DEADLOCK). The NO_RECHECK
// mutant (HANDOFF_MUTANT_EC_NO_RECHECK) is the caller's bug — it is read by the tests' waiter
// loops, not by this header (docs/event_count.md). HANDOFF_MUTANT_EC_TOUCH_AFTER_RELEASE
// restores the pre-fix notify (wake through the object and count after the bump): Relacy's
// waiter_destroys must report ACCESS TO FREED MEMORY.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>

#include "deadline.hpp"
#include "sync.hpp"

namespace handoff {

// A snapshot of an event count's counters (EventCount and MutexEventCount report the same).
struct EventCountStats {
  std::uint64_t prepared = 0;        // prepare_wait() calls
  std::uint64_t cancelled = 0;       // cancel_wait() calls
  std::uint64_t committed = 0;       // wait() + wait_for() calls
  std::uint64_t woken = 0;           // commits that returned because a notify came after prepare
  std::uint64_t immediate = 0;       // ... of which found it had already come (never slept)
  std::uint64_t timeouts = 0;        // wait_for() calls that returned false
  std::uint64_t spurious = 0;        // sleeps that returned with no notify (re-slept, not returned)
  std::uint64_t notify_syscalls = 0; // wakes issued (futex wake / condvar notify)
  std::uint64_t waiting = 0;         // announced waiters at the time of the snapshot

  // Every prepare ends in exactly one cancel or commit; every commit returns woken or timed out.
  // Holds when no thread is inside the protocol (waiting == 0 and the counting threads synced).
  bool balanced() const noexcept {
    return prepared == cancelled + committed + waiting && committed >= woken &&
           woken >= immediate && (waiting != 0 || committed == woken + timeouts);
  }
};

namespace detail {

// Statistics stripes: a thread adds to the stripe it was assigned on first use, so counters
// live on lines few threads write (relaxed RMWs, no ordering role; see STATISTICS above).
struct alignas(64) EcStatStripe {
  enum Field { kPrepared, kCancelled, kCommitted, kWoken, kImmediate, kTimeouts, kSpurious, kNotifySyscalls, kFields };
  std::atomic<std::uint64_t> n[kFields] = {};
};
inline constexpr unsigned kEcStatStripes = 16;
inline unsigned ec_stat_stripe() noexcept {
  static std::atomic<unsigned> next{0};
  // relaxed: a distinct-ish index per thread; nothing is published through it.
  thread_local const unsigned mine = next.fetch_add(1, std::memory_order_relaxed) % kEcStatStripes;  // statistic: stripe choice only
  return mine;
}

// TEST SEAM (null in production; thread-local, so only the thread that sets it is affected):
// notify_*() calls it right after the epoch bump that may release a waiter, so a test can let
// that waiter return and destroy the event count there (tests/event_count_test.cpp,
// "a waiter may destroy ..."). MutexEventCount calls it at the same point (after its unlock).
inline thread_local void (*t_ec_released_hook)() = nullptr;

}  // namespace detail

class EventCount {
 public:
  // The epoch read at prepare_wait(): wait(k) sleeps until a notify moves the epoch past it.
  class Key {
   public:
    Key(const Key&) noexcept = default;
    Key& operator=(const Key&) noexcept = default;

   private:
    friend class EventCount;
    explicit Key(std::uint32_t e) noexcept : epoch_(e) {}
    std::uint32_t epoch_;
  };

  EventCount() noexcept = default;
  EventCount(const EventCount&) = delete;
  EventCount& operator=(const EventCount&) = delete;

  // Any thread. Announce "I am about to sleep"; then re-check the work source (seq_cst), then
  // cancel_wait() or wait(k).
  Key prepare_wait() noexcept {
    count(Stat::kPrepared);
    // seq_cst: the store half of the waiter's Dekker pair; the caller's re-check (seq_cst) follows.
    waiters_.fetch_add(1, std::memory_order_seq_cst);  // pairs with notify_*'s seq_cst waiters_ load
    // acquire: if this reads a notifier's bump, everything it published is visible to the re-check.
    return Key(epoch_.load(std::memory_order_acquire));  // pairs with notify_*'s release epoch bump
  }

  // The thread that prepared. The re-check found work: withdraw the announcement.
  void cancel_wait() noexcept {
    count(Stat::kCancelled);
    waiters_.fetch_sub(1, std::memory_order_seq_cst);  // lowers the count notify_* reads; seq_cst, same price as acq_rel
  }

  // The thread that prepared, with its key. Sleep until a notify that came after prepare_wait()
  // (returns at once if one already came).
  void wait(Key k) noexcept { (void)commit(k, -1); }

  // As wait(k), but gives up after timeout_ns (>= 0) nanoseconds: false on timeout. After false,
  // re-check the work source before stopping for good (see "wait_for AND IDLE EXIT").
  bool wait_for(Key k, std::int64_t timeout_ns) noexcept { return commit(k, timeout_ns < 0 ? 0 : timeout_ns); }

  // Any thread, after making work visible with a seq_cst store/RMW. Wakes one sleeper if any
  // thread has announced; a load and nothing else when nobody waits.
  void notify_one() noexcept { notify(false); }

  // Any thread, after making the shutdown (or a broadcast condition) visible: wakes every
  // announced waiter.
  void notify_all() noexcept { notify(true); }

  // Any thread. Exact when the counting threads are joined; otherwise a recent approximation.
  EventCountStats stats() const {
    std::uint64_t sum[detail::EcStatStripe::kFields] = {};
    for (const detail::EcStatStripe& s : stripes_) {
      for (int f = 0; f < detail::EcStatStripe::kFields; ++f) {
        sum[f] += s.n[f].load(std::memory_order_relaxed);  // statistic; exact after joins
      }
    }
    EventCountStats r;
    r.prepared = sum[Stat::kPrepared];
    r.cancelled = sum[Stat::kCancelled];
    r.committed = sum[Stat::kCommitted];
    r.woken = sum[Stat::kWoken];
    r.immediate = sum[Stat::kImmediate];
    r.timeouts = sum[Stat::kTimeouts];
    r.spurious = sum[Stat::kSpurious];
    r.notify_syscalls = sum[Stat::kNotifySyscalls];
    r.waiting = waiters_.load(std::memory_order_relaxed);  // a snapshot for tests and diagnostics; orders nothing
    return r;
  }

 private:
  using Stat = detail::EcStatStripe;

  void count(Stat::Field f) noexcept {
    // relaxed: a statistic on this thread's stripe; it orders nothing.
    stripes_[detail::ec_stat_stripe()].n[f].fetch_add(1, std::memory_order_relaxed);  // statistic only
  }

  // wait / wait_for. timeout_ns < 0: no timeout. True: a notify came after prepare_wait().
  bool commit(Key k, std::int64_t timeout_ns) noexcept {
    count(Stat::kCommitted);
    using Clock = std::chrono::steady_clock;
    const Clock::time_point deadline =
        timeout_ns >= 0 ? detail::deadline_after(std::chrono::nanoseconds(timeout_ns))  // saturated: INT64_MAX ns waits ~forever
                        : Clock::time_point::max();
    bool woken = false;
    bool slept = false;
    for (;;) {
      // acquire: a notifier's bump publishes its work to this waiter.
      if (epoch_.load(std::memory_order_acquire) != k.epoch_) {  // pairs with notify_*'s release epoch bump
        woken = true;
        break;
      }
      std::int64_t remaining = -1;
      if (timeout_ns >= 0) {
        remaining = std::chrono::duration_cast<std::chrono::nanoseconds>(deadline - Clock::now()).count();
        if (remaining <= 0) break;  // timed out (the epoch was still k just above)
      }
      if (slept) count(Stat::kSpurious);  // the previous sleep returned with the epoch unchanged
      // The kernel compares epoch_ with k and enqueues atomically with respect to wake: a bump
      // before the compare fails it, a bump after it is followed by our wake.
      sync::wait(epoch_, k.epoch_, remaining);
      slept = true;
    }
    waiters_.fetch_sub(1, std::memory_order_seq_cst);  // withdraw (as cancel_wait); pairs with notify_*'s load
    if (!woken) {
      // A notify that raced the timeout (counted us before the withdrawal): report it.
      woken = epoch_.load(std::memory_order_acquire) != k.epoch_;  // pairs with notify_*'s release epoch bump
    }
    if (woken) {
      count(Stat::kWoken);
      if (!slept) count(Stat::kImmediate);
    } else {
      count(Stat::kTimeouts);
    }
    return woken;
  }

  void notify(bool all) noexcept {
#if defined(HANDOFF_MUTANT_EC_NOTIFY_RELAXED)
    // MUTANT: relaxed read of the waiter count — the Dekker pair loses its load half.
    if (waiters_.load(std::memory_order_relaxed) == 0) return;  // MUTANT: should be seq_cst
#else
    // seq_cst: the load half of the notifier's Dekker pair, after the caller's seq_cst publish.
    if (waiters_.load(std::memory_order_seq_cst) == 0) return;  // pairs with prepare_wait's seq_cst RMW
#endif
#if defined(HANDOFF_MUTANT_EC_TOUCH_AFTER_RELEASE)
    // MUTANT: the pre-fix order — the wake and the count go through the object after the bump.
    epoch_.fetch_add(1, std::memory_order_release);  // MUTANT: pairs with the waiters' acquire epoch loads
    if (detail::t_ec_released_hook != nullptr) detail::t_ec_released_hook();
    if (all) {
      sync::wake_all(epoch_);
    } else {
      sync::wake_one(epoch_);
    }
    count(Stat::kNotifySyscalls);
#else
    // Everything that touches this object comes BEFORE the bump: the bump may release a waiter
    // that destroys the event count as soon as its wait returns (LIFETIME above).
    count(Stat::kNotifySyscalls);
    const sync::FutexAddress word = sync::futex_address(epoch_);
    // release: a waiter that reads the new epoch (prepare_wait, or wait's loop) sees our work.
    // The last access to the object's memory.
    epoch_.fetch_add(1, std::memory_order_release);  // pairs with the waiters' acquire epoch loads
    if (detail::t_ec_released_hook != nullptr) detail::t_ec_released_hook();  // test seam (thread-local)
    // The address only: FUTEX_WAKE never reads the (possibly freed) word (sync.hpp, FutexAddress).
    if (all) {
      sync::wake_all(word);
    } else {
      sync::wake_one(word);
    }
#endif
  }

  // One line for the protocol words: prepare_wait() and the notifier's slow path touch both.
  alignas(64) sync::atomic<std::uint32_t> epoch_{0};  // the futex word
  sync::atomic<std::uint32_t> waiters_{0};            // announced waiters
  detail::EcStatStripe stripes_[detail::kEcStatStripes];  // each on its own line
};

}  // namespace handoff
