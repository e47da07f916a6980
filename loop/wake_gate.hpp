// handoff/loop/wake_gate.hpp — the loop's sleep/wake handshake: never a lost wakeup, at
// most one wake signal per announced sleep.
//
// THE PROBLEM. The loop thread wants to block in epoll_wait when it has nothing to do;
// producer threads push into the MPSC inbox and must wake it — but a write(eventfd) costs a
// syscall (~1 µs here) and a wake costs 13–27 µs, so a producer must signal only when the
// loop really is asleep, and exactly one producer per sleep.
//
// THE PROTOCOL (an event count in the style of Dekker; folly's EventCount and Taskflow's
// Notifier do the same prepare -> re-check -> commit/cancel):
//
//   loop thread                                 producer thread
//   -----------                                 ---------------
//   announce_sleep():  state := SLEEPING  (sc)  push: tail.exchange(node)           (sc)
//   re-check: inbox.consumer_sees_empty() (sc)  claim_wake(): state.load() = SLEEPING? (sc)
//     work found -> cancel_sleep()                  and state.exchange(AWAKE) = SLEEPING
//     empty      -> epoll_wait(...)                 -> write(eventfd)  (only this producer)
//   woke up  -> finish_sleep()
//
// Both sides write one location and then read the other's, all seq_cst: in the single total
// order of seq_cst operations one of the two writes comes first, so either the loop's
// re-check sees the item or the producer sees SLEEPING. There is no third outcome, so no
// lost wakeup. The producer's exchange SLEEPING -> AWAKE lets exactly one producer per
// announced sleep signal: signals <= announced sleeps.
//
// SPURIOUS RETURNS. A wake signal can find nothing new: (a) the loop's re-check found work
// and cancelled a sleep that a producer had already claimed — that producer's eventfd write
// still lands and makes a later epoll_wait return at once; (b) a producer claimed a sleep the
// loop announced after it had already taken that producer's item. Either way each signal
// belongs to one announced sleep, so spurious returns <= signals <= announced sleeps (the
// Relacy model, tests/model/wake_gate_model.cpp, found case (b) and checks this bound).
// cancel_sleep() / finish_sleep() report a claim whose signal is still to come, so the loop
// can attribute the later return.
//
// STATES:   AWAKE --announce_sleep--> SLEEPING --claim_wake (one producer)--> AWAKE
//                                      SLEEPING --cancel_sleep / finish_sleep--> AWAKE
//
// THREAD ROLES: announce_sleep, cancel_sleep, finish_sleep: the loop thread only.
// claim_wake: any thread, after its push took effect. No standalone fences anywhere (TSan
// checks these exact operations; on x86 each seq_cst store/RMW is the one locked instruction
// a fence would have cost).
//
// MUTANTS: HANDOFF_MUTANT_WAKE_NO_RECHECK (sleep() blocks without the re-check: the
// watchdog and Relacy must report the lost wakeup); HANDOFF_MUTANT_WAKE_UNCONDITIONAL makes every producer signal, which
// the coalescing check (signals <= announced sleeps) must catch; HANDOFF_MUTANT_WAKE_NO_UNWIND
// leaves the gate SLEEPING when the blocking call throws (tests/loop_failure_test.cpp).
#pragma once

#include <cstdint>

#include "../primitives/sync.hpp"

namespace handoff {

class WakeGate {
 public:
  // Loop thread. Say "I am about to sleep"; then re-check every source of work.
  void announce_sleep() noexcept {
    // seq_cst: the store half of the loop's Dekker pair; precedes the re-check's seq_cst load.
    state_.store(kSleeping, std::memory_order_seq_cst);
  }

  // Loop thread. The re-check found work: do not sleep. True if a producer had already
  // claimed this sleep, so its signal is still on the way (one spurious return to come).
  bool cancel_sleep() noexcept {
    // An RMW on the same word as claim_wake's exchange: exactly one of the two takes the
    // SLEEPING value (acq_rel would do, the model shows; seq_cst costs the same on x86).
    return state_.exchange(kAwake, std::memory_order_seq_cst) == kAwake;
  }

  // Loop thread. Back from the blocking wait, whatever woke it. True if a producer claimed
  // this sleep (its signal woke us, or will arrive and make a later wait return at once).
  bool finish_sleep() noexcept {
    return state_.exchange(kAwake, std::memory_order_seq_cst) == kAwake;  // as cancel_sleep
  }

  // Any thread, after its push took effect. True: this thread must signal the loop (write
  // the eventfd); no other thread will for this sleep.
  bool claim_wake() noexcept {
#if defined(HANDOFF_MUTANT_WAKE_UNCONDITIONAL)
    (void)state_.exchange(kAwake, std::memory_order_seq_cst);  // MUTANT: every push signals
    return true;
#else
    // seq_cst: the load half of the producer's Dekker pair, after the push's seq_cst exchange.
    // A plain load first keeps the common case (loop awake) free of a shared RMW.
    if (state_.load(std::memory_order_seq_cst) != kSleeping) return false;
    // seq_cst: one producer per sleep wins SLEEPING -> AWAKE (ordered with cancel/finish).
    return state_.exchange(kAwake, std::memory_order_seq_cst) == kSleeping;
#endif
  }

  // Loop thread: one whole sleep, the exact sequence the loop runs (and the model tests run,
  // with a model-visible `block`): announce, re-check with has_work(), then either cancel or
  // block(). block() returns true if it consumed a wake signal.
  struct SleepResult {
    bool slept;           // false: the re-check found work and the sleep was cancelled
    bool signal_pending;  // a producer claimed this sleep but its signal was not consumed:
                          // one later wait will return at once (a spurious wakeup)
  };
  // If block() throws, the sleep is finished on the way out (the gate says AWAKE again, as
  // on every other path): a gate left SLEEPING would make the next post pay a wake signal
  // for a loop that is awake, and announce_sleep's caller would see a stale claim.
  template <class HasWork, class Block>
  SleepResult sleep(HasWork&& has_work, Block&& block) {
    announce_sleep();
#if defined(HANDOFF_MUTANT_WAKE_NO_RECHECK)
    (void)has_work;  // MUTANT: no re-check after announcing; a push just before it is missed
#else
    if (has_work()) return {false, cancel_sleep()};
#endif
    struct FinishOnUnwind {
      WakeGate& gate;
      bool armed = true;
#if defined(HANDOFF_MUTANT_WAKE_NO_UNWIND)
      ~FinishOnUnwind() {}  // MUTANT: a throwing block() leaves the gate SLEEPING
#else
      ~FinishOnUnwind() {
        if (armed) (void)gate.finish_sleep();
      }
#endif
    } unwind{*this};
    const bool consumed_signal = block();
    unwind.armed = false;
    const bool claimed = finish_sleep();
    return {true, claimed && !consumed_signal};
  }

  // Any thread; a hint for statistics and tests.
  bool sleeping() const noexcept {
    return state_.load(std::memory_order_relaxed) == kSleeping;  // a hint, no data depends on it
  }

 private:
  enum : std::uint32_t { kAwake = 0, kSleeping = 1 };
  alignas(64) sync::atomic<std::uint32_t> state_{kAwake};
};

}  // namespace handoff
