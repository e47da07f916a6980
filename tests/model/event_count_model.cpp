// handoff/tests/model/event_count_model.cpp — Relacy model tests of the REAL EventCount
// (primitives/event_count.hpp, compiled unchanged with the facade's Relacy backend): many
// waiters parking on the futex model, notifiers waking them, no lost wakeup.
//
// THE HARNESS. A work source (`avail`: jobs published and not yet claimed, a sync::atomic the
// notifier bumps with a seq_cst RMW, the waiters claim with a seq_cst CAS and re-check with a
// seq_cst load), worker threads running exactly the protocol the header documents:
//
//   loop: if (try_take()) continue;  if (stop) return;
//         k = ec.prepare_wait();
//         if (avail != 0 || stop) { ec.cancel_wait(); continue; }   // the re-check
//         ec.wait(k)  (or ec.wait_for(k, 0): the timeout path)
//
// and notifier threads doing publish (avail.fetch_add, seq_cst) then ec.notify_one(). The
// notifier that ends the scenario then blocks until every job has run (a futex wait on a
// `done` word that each job's runner bumps and wakes), and shuts down: stop (seq_cst store),
// ec.notify_all(). Every thread blocks only on futexes (the facade's Relacy futex: no spurious
// wakeups), so a lost wakeup — a job published while every worker sleeps with no wake on the
// way — leaves every unfinished thread parked: Relacy reports DEADLOCK. A lost notify_all at
// shutdown is a DEADLOCK the same way.
//
// LIFETIME. The EventCount is a model::Owned (relacy_main.hpp): the finishing notifier, the
// owner, joins every other thread (model::Join: each leaves after its last EventCount call),
// takes the stats snapshot and destroys the EventCount at once, poisoned; after() checks the
// snapshot. A call still in flight that touches the EventCount after that is ACCESS TO FREED
// MEMORY. Proof that the poison bites: the HANDOFF_MUTANT_MODEL_EC_EARLY_DESTROY build destroys
// right after the shutdown's notify_all, before the join: a worker still returning from
// wait() touches the dead EventCount (tests/model/CMakeLists.txt expects that verdict).
// The scenario waiter_destroys asks the stronger question "may a waiter destroy the
// EventCount as soon as its wait() returned, while the notifier that woke it is still inside
// notify_one()?" — a condvar promises that, and so does EventCount since issue 10 (the bump
// is notify's last access; the futex wake gets the address only). The mutant
// HANDOFF_MUTANT_EC_TOUCH_AFTER_RELEASE (the pre-fix order) must fail it with ACCESS TO FREED
// MEMORY.
//
// CHECKS after every execution (USER ASSERT FAILED "[scenario] ..."): every job was taken
// exactly once; the stats ledger balances (prepared = cancelled + committed, committed = woken
// + timeouts, no waiter still announced, wait_for's false returns = the stats' timeouts);
// notify syscalls <= notify calls.
//
// Scenarios:
//   two_waiters_one_job   2 workers + 1 notifier, 1 job: one notify_one for two sleepers
//   cancel_race           1 worker + 1 notifier, 2 jobs: prepare/cancel racing publishes
//   two_notifiers         1 worker + 2 notifiers, 1 job each: two bumps racing one sleeper
//   timeout_race          2 workers (one's first two commits are wait_for(k, 0): a timeout at
//                         an arbitrary point, racing the notify) + 1 notifier, 1 job
//
// wait_for UNDER RELACY. Relacy has no clock, so a positive timeout is not modelled; wait_for(k,
// 0) takes the real timeout path (epoch check, withdrawal, the re-read that reports a racing
// notify) at whatever point the scheduler puts it, which is the race that matters: a notify
// that counted this waiter while it timed out must still reach the work (here: the worker
// loops back to try_take, as the header requires after a false return).
//
// Mutants (tests/model/CMakeLists.txt builds this file once per mutant):
//   HANDOFF_MUTANT_EC_NO_RECHECK     read HERE, in worker(): the waiter's only look at the work
//                                    is before prepare_wait() -> DEADLOCK
//   HANDOFF_MUTANT_EC_NOTIFY_RELAXED read by event_count.hpp: notify's waiter-count read relaxed
//                                    -> DEADLOCK (store buffering: the notifier reads 0 while
//                                    the waiter's re-check reads no job)
//
// THE MUTEX BASELINE. Built with HANDOFF_MODEL_EC_COUNTED_MUTEX, every scenario runs on
// CountedMutexEventCount (counted_mutex_event_count.hpp) instead, on Relacy's mutex and
// condition-variable models (the facade's sync::mutex / sync::condition_variable): its
// notify() reads an atomic waiter count without the lock, the same Dekker pair. Its mutants,
// read by that header, must end in DEADLOCK too:
//   HANDOFF_MUTANT_CMEC_NOTIFY_RELAXED  notify's waiter-count read relaxed (store buffering)
//   HANDOFF_MUTANT_CMEC_LATE_COUNT      the waiter counted only when it commits, after its
//                                       re-check: a publish in between sees no waiter
#include "relacy_main.hpp"  // first: selects the Relacy backend, includes relacy.hpp

#include <handoff/primitives/event_count.hpp>
#if defined(HANDOFF_MODEL_EC_COUNTED_MUTEX)
#include <handoff/primitives/counted_mutex_event_count.hpp>
#endif

namespace {

#if defined(HANDOFF_MODEL_EC_COUNTED_MUTEX)
using EC = handoff::CountedMutexEventCount;  // the mutex baseline: Relacy's mutex + condvar models
#else
using EC = handoff::EventCount;
#endif
using handoff::EventCountStats;
namespace model = handoff::model;
namespace sync = handoff::sync;

enum CoverSlot {
  kCovCancelled,   // a re-check found work (or the stop) and cancelled
  kCovSlept,       // a commit slept and was woken by a notify
  kCovImmediate,   // a commit returned at once: the notify came between prepare and commit
  kCovTimeout,     // wait_for(k, 0) returned false
  kCovRacedNotify, // wait_for(k, 0) returned true: the notify came before its epoch check
  kCovNoSyscall,   // a notify found nobody waiting (the fast path)
};

struct Messages {
  const char* exactly_once;
  const char* ledger;
  const char* syscalls;
};
#define HANDOFF_EC_MESSAGES(tag)                                                              \
  Messages {                                                                                  \
    "[" tag "] a job was not taken exactly once",                                             \
        "[" tag "] stats ledger broken: prepared != cancelled + committed, or committed != "  \
                "woken + timeouts, or a waiter is still announced",                           \
        "[" tag "] more notify syscalls than notify calls"                                    \
  }

// Derived provides kMsg and thread(t); kJobs is the number of jobs all notifiers publish.
template <class Derived, rl::thread_id_t kThreads, int kJobs>
struct EcModel : rl::test_suite<Derived, kThreads> {
  model::Owned<EC> ec_box;
  model::Join others{kThreads - 1};      // every thread but the finishing notifier (the owner)
  EventCountStats final_stats;           // the owner's snapshot, taken just before destroy()
  sync::atomic<std::uint32_t> avail{0};  // jobs published, not yet claimed: the work source
  sync::atomic<std::uint32_t> done{0};   // jobs run; the finishing notifier futex-waits on it
  sync::atomic<std::uint32_t> stop{0};   // shutdown flag, published before notify_all

  // Bookkeeping: plain ints (Relacy runs threads as fibers on one OS thread and switches only
  // inside an rl operation, so code between two operations runs as one step).
  int published = 0;
  int taken = 0;
  int notify_calls = 0;
  int timeouts = 0;
  int raced_notify = 0;

  EcModel() { ec_box.create(); }

  EC& ec() { return *ec_box; }
  static const Messages& msg() { return Derived::kMsg; }

  // Notifier: make the job visible (seq_cst RMW: the publish half of the Dekker pair), notify.
  void publish() {
    ++published;
    avail.fetch_add(1, std::memory_order_seq_cst);  // pairs with the worker's seq_cst re-check load
    ++notify_calls;
    ec().notify_one();
  }

  // Worker: claim a job if one is published.
  bool try_take() {
    std::uint32_t n = avail.load(std::memory_order_seq_cst);  // test's work source
    while (n != 0) {
      if (avail.compare_exchange_strong(n, n - 1, std::memory_order_seq_cst, std::memory_order_seq_cst)) {  // claim one job
        ++taken;
        done.fetch_add(1, std::memory_order_release);  // test bookkeeping: pairs with await_done's acquire load
        sync::wake_all(done);
        return true;
      }
    }
    return false;
  }

  // The worker loop of the header's protocol. `timed` commits use wait_for(k, 0).
  void worker(int timed) {
    for (;;) {
      if (try_take()) continue;
      if (stop.load(std::memory_order_seq_cst) != 0) return;  // test's shutdown flag
      const EC::Key k = ec().prepare_wait();
#if !defined(HANDOFF_MUTANT_EC_NO_RECHECK)
      // The re-check: seq_cst loads after the seq_cst announcement (Dekker, waiter side).
      if (avail.load(std::memory_order_seq_cst) != 0 || stop.load(std::memory_order_seq_cst) != 0) {  // re-check
        ec().cancel_wait();
        continue;
      }
#endif
      if (timed > 0) {
        --timed;
        if (ec().wait_for(k, 0)) {
          ++raced_notify;
        } else {
          ++timeouts;  // the header: after false, loop back and re-check (we do: try_take)
        }
      } else {
        ec().wait(k);
      }
    }
  }

  // The finishing notifier: block until every job ran, then shut down.
  void finish() {
    for (;;) {
      const std::uint32_t d = done.load(std::memory_order_acquire);  // test bookkeeping: pairs with try_take's release
      if (d >= static_cast<std::uint32_t>(kJobs)) break;
      sync::wait(done, d);
    }
    stop.store(1, std::memory_order_seq_cst);  // pairs with the workers' seq_cst stop loads (Dekker)
    ++notify_calls;
    ec().notify_all();
#if !defined(HANDOFF_MUTANT_MODEL_EC_EARLY_DESTROY)
    others.await();  // the owner's join: every other thread is done with the EventCount
#endif
    final_stats = ec().stats();
    ec_box.destroy();  // all work is finished: destroy (and poison) at once
  }

  // Every thread but the owner, after its last EventCount call.
  void leave() { others.leave(); }

  void after() {
    HANDOFF_MODEL_CHECK(taken == kJobs && published == kJobs, msg().exactly_once);
    HANDOFF_MODEL_CHECK(!ec_box.alive(), "[lifetime] the owner never destroyed the EventCount");
    const EventCountStats& s = final_stats;
    HANDOFF_MODEL_CHECK(s.waiting == 0 && s.prepared == s.cancelled + s.committed &&
                            s.committed == s.woken + s.timeouts && s.balanced() &&
                            s.timeouts == static_cast<std::uint64_t>(timeouts),
                        msg().ledger);
    HANDOFF_MODEL_CHECK(s.notify_syscalls <= static_cast<std::uint64_t>(notify_calls), msg().syscalls);
    if (s.cancelled > 0) model::cover(kCovCancelled, "cancelled");
    if (s.woken > s.immediate) model::cover(kCovSlept, "slept+woken");
    if (s.immediate > 0) model::cover(kCovImmediate, "returned at once");
    if (timeouts > 0) model::cover(kCovTimeout, "timeout");
    if (raced_notify > 0) model::cover(kCovRacedNotify, "wait_for(k,0) saw a notify");
    if (s.notify_syscalls < static_cast<std::uint64_t>(notify_calls)) model::cover(kCovNoSyscall, "notify fast path");
  }
};

// (1) Two sleepers, one job: one notify_one must get the job run; shutdown wakes both.
struct TwoWaitersOneJob : EcModel<TwoWaitersOneJob, 3, 1> {
  static constexpr Messages kMsg = HANDOFF_EC_MESSAGES("two_waiters_one_job");
  void thread(unsigned t) {
    if (t < 2) {
      worker(0);
      leave();
    } else {
      publish();
      finish();
    }
  }
};

// (2) One waiter whose prepare/re-check/cancel races two publishes.
struct CancelRace : EcModel<CancelRace, 2, 2> {
  static constexpr Messages kMsg = HANDOFF_EC_MESSAGES("cancel_race");
  void thread(unsigned t) {
    if (t == 0) {
      worker(0);
      leave();
    } else {
      publish();
      publish();
      finish();
    }
  }
};

// (3) Two notifiers, one job each, one waiter.
struct TwoNotifiers : EcModel<TwoNotifiers, 3, 2> {
  static constexpr Messages kMsg = HANDOFF_EC_MESSAGES("two_notifiers");
  void thread(unsigned t) {
    if (t == 0) {
      worker(0);
      leave();
    } else if (t == 1) {
      publish();
      finish();
    } else {
      publish();
      leave();
    }
  }
};

// (4) A timing-out waiter (wait_for(k, 0) for its first two commits) and a sleeper, one job.
struct TimeoutRace : EcModel<TimeoutRace, 3, 1> {
  static constexpr Messages kMsg = HANDOFF_EC_MESSAGES("timeout_race");
  void thread(unsigned t) {
    if (t == 0) {
      worker(2);
      leave();
    } else if (t == 1) {
      worker(0);
      leave();
    } else {
      publish();
      finish();
    }
  }
};

// (5) May the woken waiter destroy the EventCount as soon as its wait() returned? A wait()
// returns only after a notify bumped the epoch, so at that point the notifier is inside
// notify_one() — the waiter has seen its effect, as a thread woken on a condvar has. (If the
// waiter saw the event before sleeping, the notifier may not have called notify_one() yet:
// then it joins the notifier first, as any owner must.) Before issue 10's fix notify bumped
// the epoch and only then issued the futex wake and counted the syscall, both through the
// EventCount: ACCESS TO FREED MEMORY in notify (event_count.hpp:292, the wake). Now the count
// comes before the bump and the wake takes the address only (the Relacy backend wakes a dead
// word as the kernel does: nobody, no access), so it passes; the mutant
// HANDOFF_MUTANT_EC_TOUCH_AFTER_RELEASE restores the old order and must fail it.
struct WaiterDestroys : rl::test_suite<WaiterDestroys, 2> {
  model::Owned<EC> ec;
  model::Join notifier{1};
  sync::atomic<std::uint32_t> event{0};
  WaiterDestroys() { ec.create(); }
  void thread(unsigned t) {
    if (t == 0) {
      bool woken = false;
      while (!woken) {
        if (event.load(std::memory_order_seq_cst) != 0) break;  // pairs with the notifier's seq_cst store
        const EC::Key k = ec->prepare_wait();
        if (event.load(std::memory_order_seq_cst) != 0) {  // the re-check (Dekker, waiter side)
          ec->cancel_wait();
          break;
        }
        ec->wait(k);  // returns only after a notify's epoch bump
        woken = true;
      }
      if (!woken) notifier.await();  // saw the event first: notify_one() may not even have begun
      ec.destroy();
    } else {
      event.store(1, std::memory_order_seq_cst);  // pairs with the waiter's seq_cst loads
      ec->notify_one();
      notifier.leave();
    }
  }
};

}  // namespace

int main(int argc, char** argv) {
  model::Runner run("event_count_model", argc, argv);
  run.scenario<TwoWaitersOneJob>("two_waiters_one_job",
                                 "2 workers + 1 notifier x 1 job; shutdown by notify_all");
  run.scenario<CancelRace>("cancel_race", "1 worker + 1 notifier x 2 jobs: prepare/cancel races");
  run.scenario<TwoNotifiers>("two_notifiers", "1 worker + 2 notifiers x 1 job: two bumps, one sleeper");
  run.scenario<TimeoutRace>("timeout_race",
                            "wait_for(k, 0) racing notify_one, + a sleeping worker, 1 job");
  run.scenario<WaiterDestroys>(
      "waiter_destroys",
      "a woken waiter destroys the EventCount while notify_one() is still running");
  return run.finish();
}
