// handoff/tests/model/channel_model.cpp — Relacy model tests of the REAL Channel<T>
// (loop/channel.hpp), thread side: the waiter state word (WAITING -> CLAIMED -> DONE /
// CANCELLED / CLOSED) decided by CASes, the per-channel sync::mutex (rl::mutex here), and
// the futex sleep of a waiting thread (sync::wait/wake: the facade's model futex, on which a
// missed wake is Relacy's DEADLOCK).
//
// loop/channel.hpp is compiled here unchanged with the facade's Relacy backend; it includes
// event_loop.hpp and task.hpp, which compile as they do for thread_future_model. No copy of
// the protocol lives in this file. Built with -fno-sized-deallocation: the channel's
// std::deque allocates through Relacy's replacement operator new, and a sized delete would
// hand that memory to libc's free().
//
// THREAD SIDE ONLY. The loop side (async_push / async_pop, their timers, task.cancel(), the
// loop-closed give-back) needs a running EventLoop (epoll, eventfd, its own thread): it is
// exercised by stress/channel_stress.cpp and tests/channel_test.cpp, not here. The loop
// side's awaiters use the same claim_first_locked / cancel_wait / close CASes as the thread
// side, so the decision protocol checked here is the one they rely on.
//
// Timeouts: pop_for(0ns) / push_for(v, 0ns) find their deadline already passed the first time
// they look, so right after enqueueing the waiter they try to cancel: the cancel CAS races a
// claimer's CAS at every interleaving the scheduler picks (no real time enters the model).
//
// Scenarios (docs/channel.md has the counts and times):
//   claim_vs_cancel   pop_for(0ns) | push(1) (unbounded). The value is popped exactly once
//                     overall (by pop_for, or by the final try_pop in after()); pop_for either
//                     returned it or threw TimeoutError.
//   claim_vs_close    pop() | push(1) | close(). pop gets 1 or end-of-stream; then 1 is still
//                     drainable or the push was refused (ChannelClosedError): exactly once.
//   push_vs_cancel    capacity 1, pre-filled with 1: push_for(2, 0ns) | pop(). pop gets 1; 2 is
//                     in the channel iff push_for did not throw TimeoutError.
//   skip_cancelled    pop_for(0ns) | pop() | push(1), push(2) (unbounded). A claimer that meets
//                     a cancelled waiter still linked skips it; 1 and 2 are each popped exactly
//                     once (by the pops or drained in after()), and never 2 by a pop while 1
//                     is still in the channel (FIFO).
//   fifo_2p1c         capacity 1: push(a1), push(a2) | push(b1), push(b2) | 4 x pop(): every
//                     value once, each producer's values in its order.
//   pop_last_destroys capacity 1, pre-filled with 1: push(2) (waits: full) | pop(), pop(), then
//                     the popper destroys the channel at once: the pusher, admitted by the
//                     first pop, may still be returning from push() when its value is popped.
// Every scenario also checks the ledger (stats(): pushed = popped + dropped + size; refused =
// the pushes that threw ChannelClosedError).
//
// LIFETIME (every scenario): the channel lives in Relacy's heap and is destroyed, poisoned and
// freed by its owner the moment the owner sees all work done — in fifo_2p1c and
// pop_last_destroys the consumer, as soon as it has popped every value (the producers may be
// still inside push()); elsewhere the last thread to finish its operations, which then drains
// the channel and reads the ledger first. A late access by an operation still returning is
// ACCESS TO FREED MEMORY. (Found this way: a push waiter used to take the channel's lock after
// its value was taken, to wait for the claimer's wake; see loop/channel.hpp, WAKING.)
//
// MUTANT: HANDOFF_MUTANT_CHANNEL_NO_CLAIM (check-then-set in place of the claim CAS) must be
// reported as "value lost" or "handed to a cancelled waiter" (tests/model/CMakeLists.txt).
#include "relacy_main.hpp"  // first: selects the Relacy backend, includes relacy.hpp

#include <chrono>
#include <optional>

#include <handoff/loop/channel.hpp>

namespace {

using handoff::Channel;
using handoff::ChannelClosedError;
using handoff::ChannelStats;
using handoff::TimeoutError;
namespace model = handoff::model;
using namespace std::chrono_literals;

// The channel under test, in Relacy's heap (as mpsc_inbox_model.cpp's nodes): destroy() runs
// ~Channel, poisons the memory (Relacy recognizes a freed rl::atomic / rl::mutex only by a magic
// number its destructor clears, a store GCC may drop) and frees it, so any later access by an
// operation still returning is reported.
struct OwnedChannel {
  Channel<int>* ch = nullptr;
  void create(std::size_t capacity) {
    ch = std::construct_at(static_cast<Channel<int>*>(rl::rl_malloc(sizeof(Channel<int>), RL_INFO)), capacity);
  }
  void destroy() {
    std::destroy_at(ch);
    std::memset(static_cast<void*>(ch), 0xdd, sizeof(Channel<int>));
    rl::rl_free(ch, RL_INFO);
    ch = nullptr;
  }
};

// What the owner saw just before destroying the channel: the ledger before and after the
// drain, and the drained values (in order).
struct Final {
  ChannelStats before_drain, after_drain;
  int drained[4] = {};
  int n_drained = 0;
  bool closed = false;
};

// Shared: the message buffer, the ledger check, the owned channel and the "last one out
// destroys it" counter.
template <class Derived, unsigned kThreads>
struct ChannelModel : rl::test_suite<Derived, kThreads> {
  OwnedChannel own;
  Final fin;
  handoff::sync::atomic<unsigned> running{kThreads};  // test bookkeeping: threads still working
  Channel<int>& ch() { return *own.ch; }
  // The last thread to finish its operations is the owner: drain, read the ledger, destroy.
  void leave() {
    if (running.fetch_sub(1, std::memory_order_seq_cst) == 1) drain_and_destroy();  // test bookkeeping
  }
  void drain_and_destroy() {
    fin.before_drain = ch().stats();
    while (std::optional<int> v = ch().try_pop()) {
      if (fin.n_drained < 4) fin.drained[fin.n_drained] = *v;
      ++fin.n_drained;
    }
    fin.closed = ch().is_closed();
    fin.after_drain = ch().stats();
    own.destroy();
  }
  void check_destroyed() { HANDOFF_MODEL_CHECK(own.ch == nullptr, msg("the owner did not destroy the channel")); }
  char failure[200] = "";
  const char* msg(const char* what) {
    std::snprintf(failure, sizeof failure, "%s %s", Derived::kTag, what);
    return failure;
  }
  void check_ledger(const ChannelStats& s, std::uint64_t pushed, std::uint64_t popped,
                    std::uint64_t refused) {
    HANDOFF_MODEL_CHECK(s.balanced(), msg("ledger unbalanced: pushed != popped + dropped + size"));
    HANDOFF_MODEL_CHECK(s.pushed == pushed, msg("ledger: pushed differs from the pushes that were accepted"));
    HANDOFF_MODEL_CHECK(s.popped == popped, msg("ledger: popped differs from the values the pops returned"));
    HANDOFF_MODEL_CHECK(s.refused == refused, msg("ledger: refused differs from the pushes that threw ChannelClosedError"));
  }
};

enum CoverSlot {
  kCovDirect = 0,     // the value was there before the pop/push looked: no waiter
  kCovClaimed = 1,    // the claimer's CAS won: the waiter got the value / was admitted
  kCovCancelled = 2,  // the waiter's cancel CAS won: TimeoutError
  kCovClosed = 3,     // close() woke the waiter (CLOSED)
  kCovRefused = 4,    // the push came after close(): ChannelClosedError
  kCovWaited = 5,     // some operation enqueued a waiter (push_waits + pop_waits > 0)
};

// (a) A waiting pop that gives up at once, racing a push's claim.
struct ClaimVsCancel : ChannelModel<ClaimVsCancel, 2> {
  static constexpr const char* kTag = "[claim_vs_cancel]";
  int pop_for_got = 0;  // 1: pop_for returned the value
  bool timed_out = false;
  bool pop_for_empty = false;  // returned nullopt (must not happen: the channel is never closed)

  void before() { own.create(0); }  // unbounded

  void thread(unsigned t) {
    if (t == 0) {
      try {
        std::optional<int> v = ch().pop_for(0ns);
        if (v) {
          HANDOFF_MODEL_CHECK(*v == 1, msg("pop_for returned a value nobody pushed"));
          ++pop_for_got;
        } else {
          pop_for_empty = true;
        }
      } catch (const TimeoutError&) {
        timed_out = true;
      }
    } else {
      ch().push(1);
    }
    leave();
  }

  void after() {
    check_destroyed();
    HANDOFF_MODEL_CHECK(!pop_for_empty, msg("pop_for returned end-of-stream on an open channel"));
    HANDOFF_MODEL_CHECK(timed_out != (pop_for_got == 1),
                        msg("pop_for neither returned the value nor threw TimeoutError (or both)"));
    const ChannelStats before_drain = fin.before_drain;
    const int drained = fin.n_drained;
    for (int k = 0; k < drained && k < 4; ++k) {
      HANDOFF_MODEL_CHECK(fin.drained[k] == 1, msg("try_pop returned a value nobody pushed"));
    }
    if (timed_out && drained == 0 && before_drain.popped == 1) {
      HANDOFF_MODEL_CHECK(false, msg("value lost: handed to a cancelled waiter (pop_for threw TimeoutError, "
                                     "the channel counts it popped, nobody has it)"));
    }
    HANDOFF_MODEL_CHECK(pop_for_got + drained <= 1, msg("value duplicated: popped twice"));
    HANDOFF_MODEL_CHECK(pop_for_got + drained == 1, msg("value lost: pushed but never popped"));
    check_ledger(fin.after_drain, 1, 1, 0);
    const ChannelStats s = fin.after_drain;
    if (s.pop_waits > 0) model::cover(kCovWaited, "pop waited");
    if (pop_for_got == 1) {
      model::cover(s.pop_waits > 0 ? kCovClaimed : kCovDirect,
                   s.pop_waits > 0 ? "claim won (handed to the waiter)" : "value there first");
    } else {
      model::cover(kCovCancelled, "cancel won (TimeoutError)");
    }
  }
};

// (b) A blocking pop, a push and close(): the claim CAS against close()'s CAS and the
// closed_ flag.
struct ClaimVsClose : ChannelModel<ClaimVsClose, 3> {
  static constexpr const char* kTag = "[claim_vs_close]";
  int pop_got = 0;
  bool pop_ended = false;  // end-of-stream
  bool push_refused = false;

  void before() { own.create(0); }

  void thread(unsigned t) {
    if (t == 0) {
      std::optional<int> v = ch().pop();
      if (v) {
        HANDOFF_MODEL_CHECK(*v == 1, msg("pop returned a value nobody pushed"));
        ++pop_got;
      } else {
        pop_ended = true;
        HANDOFF_MODEL_CHECK(ch().is_closed(), msg("pop returned end-of-stream on an open channel"));
      }
    } else if (t == 1) {
      try {
        ch().push(1);
      } catch (const ChannelClosedError&) {
        push_refused = true;
      }
    } else {
      ch().close();
    }
    leave();
  }

  void after() {
    check_destroyed();
    HANDOFF_MODEL_CHECK(pop_ended != (pop_got == 1), msg("pop neither returned a value nor end-of-stream"));
    const int drained = fin.n_drained;
    for (int k = 0; k < drained && k < 4; ++k) {
      HANDOFF_MODEL_CHECK(fin.drained[k] == 1, msg("try_pop returned a value nobody pushed"));
    }
    const int accepted = push_refused ? 0 : 1;
    HANDOFF_MODEL_CHECK(pop_got + drained <= 1, msg("value duplicated: popped twice"));
    if (push_refused) {
      HANDOFF_MODEL_CHECK(pop_got + drained == 0, msg("push threw ChannelClosedError but its value was popped"));
    } else {
      HANDOFF_MODEL_CHECK(pop_got + drained == 1, msg("value lost: push accepted, pop got end-of-stream, nothing to drain"));
    }
    // After close(), try_pop empties the channel and the pop side reports end-of-stream.
    HANDOFF_MODEL_CHECK(fin.closed && fin.after_drain.size == 0, msg("closed channel not drained"));
    check_ledger(fin.after_drain, static_cast<std::uint64_t>(accepted), static_cast<std::uint64_t>(pop_got + drained),
                 push_refused ? 1 : 0);
    const ChannelStats s = fin.after_drain;
    if (s.pop_waits > 0) model::cover(kCovWaited, "pop waited");
    if (push_refused) model::cover(kCovRefused, "push refused");
    if (pop_ended && s.pop_waits > 0) model::cover(kCovClosed, "close woke the waiting pop");
    if (pop_got == 1 && s.pop_waits > 0) model::cover(kCovClaimed, "claim handed 1 to the waiting pop");
    if (drained == 1) model::cover(kCovDirect, "1 still drainable after end-of-stream");
  }
};

// (c) A bounded push waiter that gives up at once, racing a pop's admission of it.
struct PushVsCancel : ChannelModel<PushVsCancel, 2> {
  static constexpr const char* kTag = "[push_vs_cancel]";
  bool push_timed_out = false;
  bool pop_ended = false;
  int pop_value = 0;

  void before() {
    own.create(1);
    ch().push(1);  // full
  }

  void thread(unsigned t) {
    if (t == 0) {
      try {
        ch().push_for(2, 0ns);
      } catch (const TimeoutError&) {
        push_timed_out = true;
      }
    } else {
      std::optional<int> v = ch().pop();
      if (v) pop_value = *v;
      else pop_ended = true;
    }
    leave();
  }

  void after() {
    check_destroyed();
    HANDOFF_MODEL_CHECK(!pop_ended && pop_value == 1, msg("pop did not return the pre-filled 1 (FIFO)"));
    int twos = 0, others = 0;
    for (int k = 0; k < fin.n_drained && k < 4; ++k) (fin.drained[k] == 2 ? twos : others) += 1;
    HANDOFF_MODEL_CHECK(others == 0, msg("the channel holds a value nobody pushed, or 1 twice"));
    HANDOFF_MODEL_CHECK(twos <= 1, msg("value 2 duplicated"));
    if (push_timed_out) {
      HANDOFF_MODEL_CHECK(twos == 0, msg("value 2 handed to a cancelled waiter: in the channel although "
                                         "push_for threw TimeoutError (the caller still owns it: duplicated)"));
    } else {
      HANDOFF_MODEL_CHECK(twos == 1, msg("value lost: push_for returned (accepted) but 2 is not in the channel"));
    }
    check_ledger(fin.after_drain, push_timed_out ? 1 : 2, push_timed_out ? 1 : 2, 0);
    const ChannelStats s = fin.after_drain;
    if (s.push_waits > 0) model::cover(kCovWaited, "push waited");
    if (push_timed_out) model::cover(kCovCancelled, "cancel won (TimeoutError)");
    else if (s.push_waits > 0) model::cover(kCovClaimed, "claim won (admitted by the pop)");
    else model::cover(kCovDirect, "room there first");
  }
};

// (e) Two waiting pops, one of which gives up at once, and a producer of two values: the
// claimer must skip a cancelled waiter that is still linked and hand the value to the next.
struct SkipCancelled : ChannelModel<SkipCancelled, 3> {
  static constexpr const char* kTag = "[skip_cancelled]";
  int pop_for_value = 0;  // 0: threw TimeoutError
  int pop_value = 0;

  void before() { own.create(0); }  // unbounded

  void thread(unsigned t) {
    if (t == 0) {
      try {
        std::optional<int> v = ch().pop_for(0ns);
        HANDOFF_MODEL_CHECK(v.has_value(), msg("pop_for returned end-of-stream on an open channel"));
        pop_for_value = *v;
      } catch (const TimeoutError&) {
        pop_for_value = 0;
      }
    } else if (t == 1) {
      std::optional<int> v = ch().pop();
      HANDOFF_MODEL_CHECK(v.has_value(), msg("pop returned end-of-stream on an open channel"));
      pop_value = *v;
    } else {
      ch().push(1);
      ch().push(2);
    }
    leave();
  }

  void after() {
    check_destroyed();
    int seen[3] = {};
    if (pop_for_value != 0) ++seen[pop_for_value];
    ++seen[pop_value];
    const int first_drained = fin.n_drained > 0 ? fin.drained[0] : 0;
    const ChannelStats before_drain = fin.before_drain;
    for (int k = 0; k < fin.n_drained && k < 4; ++k) {
      const int v = fin.drained[k];
      HANDOFF_MODEL_CHECK(v == 1 || v == 2, msg("try_pop returned a value nobody pushed"));
      ++seen[v];
    }
    // Before the drain the channel must count exactly the values the two pops returned.
    const std::uint64_t returned = static_cast<std::uint64_t>((pop_for_value != 0) + (pop_value != 0));
    if (pop_for_value == 0 && before_drain.popped > returned) {
      HANDOFF_MODEL_CHECK(false, msg("value lost: handed to a cancelled waiter (pop_for threw TimeoutError, "
                                     "the channel counts it popped, nobody has it)"));
    }
    HANDOFF_MODEL_CHECK(seen[1] <= 1 && seen[2] <= 1, msg("value duplicated: popped twice"));
    HANDOFF_MODEL_CHECK(seen[1] == 1 && seen[2] == 1, msg("value lost: pushed but never popped"));
    HANDOFF_MODEL_CHECK(!(first_drained == 1 && (pop_value == 2 || pop_for_value == 2)),
                        msg("FIFO broken: 2 popped while 1 was still in the channel"));
    HANDOFF_MODEL_CHECK(before_drain.popped == returned, msg("ledger: popped differs from the values the pops returned"));
    check_ledger(fin.after_drain, 2, 2, 0);
    const ChannelStats s = fin.after_drain;
    if (pop_for_value == 0) model::cover(kCovCancelled, "pop_for cancelled");
    if (s.pop_waits == 2) model::cover(kCovWaited, "both pops waited");
    if (pop_for_value == 0 && s.pop_waits == 2 && pop_value == 1) model::cover(kCovClaimed, "both waited, pop_for cancelled, pop() got 1");
  }
};

// (d) Two producers, one consumer, capacity 1: push waiters and pop waiters, per-producer FIFO.
// Producer p pushes p*10 + 1, p*10 + 2, ... (kA values for producer 0, kB for producer 1).
template <int kA, int kB>
struct Fifo2p1c : ChannelModel<Fifo2p1c<kA, kB>, 3> {
  static constexpr const char* kTag = "[fifo_2p1c]";
  int got[kA + kB] = {};
  int n = 0;

  void before() { this->own.create(1); }

  void thread(unsigned t) {
    if (t < 2) {
      const int count = t == 0 ? kA : kB;
      for (int i = 1; i <= count; ++i) this->ch().push(static_cast<int>(t) * 10 + i);
    } else {
      for (int k = 0; k < kA + kB; ++k) {
        std::optional<int> v = this->ch().pop();
        HANDOFF_MODEL_CHECK(v.has_value(), this->msg("pop returned end-of-stream on an open channel"));
        got[n++] = *v;
      }
      // Every value popped: the consumer (the owner) destroys the channel now, while a
      // producer may still be returning from its last push().
      this->drain_and_destroy();
    }
  }

  void after() {
    this->check_destroyed();
    int seen[2][3] = {};
    int last[2] = {0, 0};
    for (int k = 0; k < n; ++k) {
      const int p = got[k] / 10, i = got[k] % 10;
      HANDOFF_MODEL_CHECK(p >= 0 && p < 2 && i >= 1 && i <= (p == 0 ? kA : kB),
                          this->msg("pop returned a value nobody pushed"));
      ++seen[p][i];
      HANDOFF_MODEL_CHECK(seen[p][i] == 1, this->msg("value duplicated: popped twice"));
      HANDOFF_MODEL_CHECK(i == last[p] + 1, this->msg("per-producer FIFO broken: a producer's values popped out of order"));
      last[p] = i;
    }
    HANDOFF_MODEL_CHECK(n == kA + kB && this->fin.n_drained == 0, this->msg("value lost or extra value left"));
    this->check_ledger(this->fin.after_drain, kA + kB, kA + kB, 0);
    const ChannelStats s = this->fin.after_drain;
    if (s.push_waits > 0) model::cover(0, "a push waited");
    if (s.pop_waits > 0) model::cover(1, "a pop waited");
  }
};

// (f) The consumer destroys the channel as soon as it has popped the last value, which a
// pusher waiting for room put there (admitted by the consumer's first pop).
struct PopLastDestroys : ChannelModel<PopLastDestroys, 2> {
  static constexpr const char* kTag = "[pop_last_destroys]";
  int got[2] = {};

  void before() {
    own.create(1);
    ch().push(1);  // full: the push of 2 waits for room
  }

  void thread(unsigned t) {
    if (t == 0) {
      ch().push(2);
    } else {
      for (int& g : got) {
        std::optional<int> v = ch().pop();
        HANDOFF_MODEL_CHECK(v.has_value(), msg("pop returned end-of-stream on an open channel"));
        g = *v;
      }
      drain_and_destroy();  // both values popped: the owner is done with the channel
    }
  }

  void after() {
    check_destroyed();
    HANDOFF_MODEL_CHECK(got[0] == 1 && got[1] == 2, msg("values lost, duplicated or out of order"));
    check_ledger(fin.after_drain, 2, 2, 0);
    if (fin.after_drain.push_waits > 0) model::cover(kCovWaited, "the push waited and was admitted");
  }
};

}  // namespace

int main(int argc, char** argv) {
  model::Runner run("channel_model", argc, argv);
  run.scenario<ClaimVsCancel>(
      "claim_vs_cancel",
      "pop_for(0ns) | push(1): the cancel CAS vs the claim CAS; 1 popped exactly once");
  run.scenario<ClaimVsClose>(
      "claim_vs_close",
      "pop() | push(1) | close(): claim vs close; 1 popped once, drainable, or refused");
  run.scenario<PushVsCancel>(
      "push_vs_cancel",
      "capacity 1 full: push_for(2, 0ns) | pop(): 2 in the channel iff push_for did not throw");
  run.scenario<SkipCancelled>(
      "skip_cancelled",
      "pop_for(0ns) | pop() | push(1), push(2): a cancelled waiter is skipped; each value once, FIFO");
  run.scenario<Fifo2p1c<2, 2>>(
      "fifo_2p1c",
      "capacity 1: 2 producers x 2 pushes | 4 pops: exactly once, per-producer FIFO");
  run.scenario<PopLastDestroys>(
      "pop_last_destroys",
      "capacity 1 full: push(2) | pop(), pop(), destroy at once: no late access by the returning push");
  return run.finish();
}
