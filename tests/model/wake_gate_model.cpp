// handoff/tests/model/wake_gate_model.cpp — Relacy model tests of the REAL WakeGate driving the
// REAL MpscInbox: the event loop's sleep/wake handshake (shared/VERIFY.md bug class 5).
//
// loop/wake_gate.hpp and primitives/mpsc_inbox.hpp are compiled here unchanged, with the
// facade's Relacy backend. The loop thread runs WakeGate::sleep(has_work, block), the exact
// sequence EventLoop::sleep_until_work runs, with
//   has_work = !inbox.consumer_sees_empty()          (as the loop, plus the stop flag in
//                                                     the stop_request scenario), and
//   block    = a model-visible wait on a model eventfd: a counter that a producer increments
//              when claim_wake() returned true (LoopCore::wake_if_sleeping); the block waits
//              (rl::yield) until it is non-zero, then reads and resets it (the loop's
//              read(wake_fd)) and returns true.
// Producers push 1-2 items each and after every push run `if (gate.claim_wake()) signal()`,
// as LoopCore::post does.
//
// What the tests check:
//   * no lost wakeup. The block knows when nothing can ever wake it: every other thread has
//     finished (an acquire load of a "finished" counter each thread bumps last, with release)
//     and the eventfd is still 0. A real loop would then sleep forever; the test reports
//       "[scenario] lost wakeup: consumer asleep with N items queued and no signal pending"
//     (or "... with a stop request ...") if work is waiting, and otherwise ends the loop
//     (the idle state every run reaches last). No poll bound is involved, so a correct run,
//     however long its producers take, can never trip it: producers that are still running
//     keep the wait honest, and the check fires only in the state a real loop never leaves.
//   * coalescing: at every successful claim, signals so far <= sleeps announced so far.
//   * spurious returns: a block that consumed a signal and after which the loop found no new
//     item (nor a stop). Bound checked: spurious <= (cancelled sleeps whose cancel_sleep()
//     reported a claim) + (late claims: a producer claimed a sleep when the loop had already
//     taken every item it had pushed). The header promises "at most one spurious return per
//     cancelled sleep"; the opt-in scenario spurious_per_cancel checks exactly that promise
//     and refutes it (a late claim needs no cancelled sleep; README has the history).
//   * the payload handed through the inbox (rl::var: a missing release/acquire is a DATA
//     RACE), per-producer FIFO, nothing lost.
//   * lifetime: the inbox and the gate live in one Core, a model::Owned (relacy_main.hpp),
//     shared as the real LoopCore is (a reference count: the loop and every poster hold one).
//     Each thread drops its reference right after its last use — the loop as soon as it is
//     idle or stopped, a producer right after its last claim_wake() — and the last one out
//     drops the leftover items (stop_request) and destroys the Core at once, poisoned. A
//     claim_wake() or push still touching the core after that is ACCESS TO FREED MEMORY.
//
// Scenarios (README.md has the counts and times):
//   one_producer         1 producer x 2 items (its second push races the loop's sleep)
//   two_producers        2 producers x 1 item (two claimers racing for one sleep)
//   two_producers_2x2    2 producers x 2 items (ctest searches 2 + 1 items)
//   stop_request         1 producer x 1 item + a thread calling LoopCore::request_stop's
//                        sequence (stop flag seq_cst, then claim): the loop must stop
//   spurious_per_cancel  (opt-in) 1 producer x 1 item, checking the header's bound
//                        spurious <= cancelled sleeps: fails (bound-2 execution 137)
//
// Mutants (HANDOFF_MUTANT_* is read by wake_gate.hpp itself; tests/model/CMakeLists.txt
// builds this file once per mutant and expects the diagnostic named here):
//   HANDOFF_MUTANT_WAKE_NO_RECHECK    -> "[...] lost wakeup: consumer asleep with ..."
//   HANDOFF_MUTANT_WAKE_UNCONDITIONAL -> "[...] coalescing broken: ..."
#include "relacy_main.hpp"  // first: selects the Relacy backend, includes relacy.hpp

#include <handoff/loop/wake_gate.hpp>
#include <handoff/primitives/mpsc_inbox.hpp>

namespace {

using handoff::InboxHook;
using handoff::MpscInbox;
using handoff::PopStatus;
using handoff::PushResult;
using handoff::WakeGate;
using handoff::model::Poller;
namespace model = handoff::model;
namespace sync = handoff::sync;

// A node with a payload the inbox must hand over (as in mpsc_inbox_model.cpp).
struct Item : InboxHook {
  rl::var<int> payload;  // written by its producer before push, read by the loop after pop
  int producer = 0;      // set in before(), read-only afterwards
  int seq = 0;
};

// Relacy's heap (leaks and double frees are reported), poisoned before the free so that an
// access by the inbox to a node it has given back is ACCESS TO FREED MEMORY (see
// mpsc_inbox_model.cpp and the README for why not new/delete and why the memset).
Item* new_item() {
  return std::construct_at(static_cast<Item*>(rl::rl_malloc(sizeof(Item), RL_INFO)));
}
void delete_item(Item* it) {
  std::destroy_at(it);
  std::memset(static_cast<void*>(it), 0xdd, sizeof(Item));
  rl::rl_free(it, RL_INFO);
}

constexpr int encode(int producer, int seq) { return 1000 + producer * 100 + seq; }

// Polls of a Retry (a producer between its exchange and its link) without progress before the
// loop reports a livelock: that wait is bounded by one producer's next step.
constexpr int kPollLimit = 100;

// The loop's shared core as the model sees it (LoopCore: the inbox and the gate, ref-counted).
struct Core {
  MpscInbox inbox;
  WakeGate gate;
};

// Coverage slots (model::cover): paths each run reached, counted once per execution.
enum CoverSlot {
  kCovCancelled,        // a re-check found work and cancelled the sleep
  kCovCancelClaimed,    // ... after a producer had claimed it (signal still on its way)
  kCovWokenBySignal,    // a block returned because of a signal
  kCovSpurious,         // a signal found nothing new
  kCovLateClaim,        // a producer claimed a sleep after its items had been taken
  kCovRetry,            // the loop saw a producer mid-push
  kCovStopped,          // the loop stopped on a stop request (stop_request)
};

// Messages, prefixed with the scenario's name (mutant checks match on them).
struct Messages {
  const char* tag;  // "[scenario]"
  const char* payload;
  const char* fifo;
  const char* lost;
  const char* coalescing;
  const char* spurious;
  const char* terminal_claimed;
  const char* starved;
  const char* closed;
};
#define HANDOFF_WAKE_MESSAGES(tag)                                                             \
  Messages {                                                                                   \
    "[" tag "]", "[" tag "] payload read after pop is not what the producer wrote",            \
        "[" tag "] per-producer FIFO broken: item popped out of order or twice",               \
        "[" tag "] pushed item never popped",                                                  \
        "[" tag "] coalescing broken: more wake signals than announced sleeps",                \
        "[" tag "] more spurious returns than cancelled-and-claimed sleeps plus late claims",  \
        "[" tag "] a sleep nobody woke reports a claim: its signal was lost",                  \
        "[" tag "] loop polled 100 times without progress: a push never became visible",       \
        "[" tag "] pop returned Closed although no thread closed the inbox"                    \
  }

// Shared machinery. Derived provides kMsg, kPlan[p] (items producer p pushes, at most
// kMaxItems), kStopper (the last thread requests a stop instead of pushing) and
// kStrictSpurious (check the header's bound instead: spurious <= cancelled sleeps).
template <class Derived, rl::thread_id_t kThreads, int kProducers, int kMaxItems>
struct WakeModel : rl::test_suite<Derived, kThreads> {
  static constexpr int kOthers = static_cast<int>(kThreads) - 1;  // every thread but the loop
  static constexpr unsigned kLoop = kThreads - 1;

  model::Owned<Core> core;
  model::Join refs{kThreads};  // one reference per thread: the last one out destroys the core
  sync::atomic<std::uint32_t> eventfd{0};    // the model eventfd: producers add, the loop resets
  sync::atomic<std::uint32_t> finished{0};   // threads other than the loop that have finished
  sync::atomic<std::uint32_t> stop_flag{0};  // LoopCore::stop_requested (stop_request only)

  Item* items[kProducers][kMaxItems] = {};
  // Bookkeeping. Plain ints: Relacy runs every thread as a fiber on one OS thread and switches
  // only inside an rl operation, so code between two operations runs as one step. None of
  // these influences the primitives (only the test's checks and its idle-state detection).
  int pushed_of[kProducers] = {};  // items producer p has pushed (bumped right after push)
  int popped_of[kProducers] = {};  // items of producer p the loop has popped
  int total_pushed = 0;
  int popped = 0;
  int sleeps = 0;            // announced sleeps (bumped just before WakeGate::sleep)
  int cancelled = 0;         // sleeps the re-check cancelled
  int cancelled_claimed = 0; // ... whose cancel_sleep() reported a claim
  int signals = 0;           // successful claim_wake() calls (eventfd writes)
  int late_claims = 0;       // claims made when the loop had taken all the claimer's items
  int spurious = 0;          // signals consumed after which the loop found no new item
  bool stopped = false;
  bool saw_retry = false;
  bool woken = false;
  char failure[200] = "";  // a formatted verdict (Relacy copies the message)

  MpscInbox& inbox() { return core->inbox; }
  WakeGate& gate() { return core->gate; }
  static const Messages& msg() { return Derived::kMsg; }

  void before() {
    core.create();
    for (int p = 0; p < kProducers; ++p) {
      for (int s = 0; s < Derived::kPlan[p]; ++s) {
        Item* it = new_item();
        it->producer = p;
        it->seq = s;
        items[p][s] = it;
      }
    }
  }

  // LoopCore::wake_if_sleeping: claim; the winner writes the eventfd.
  void wake_if_sleeping(int p) {
    if (!gate().claim_wake()) return;
    ++signals;
    HANDOFF_MODEL_CHECK(signals <= sleeps, msg().coalescing);
    if (p >= 0 && popped_of[p] >= pushed_of[p]) {
      ++late_claims;  // this claim's signal may find nothing: the loop took our items already
    }
    // seq_cst: the eventfd write is a syscall; the kernel orders it with the loop's read.
    eventfd.fetch_add(1, std::memory_order_seq_cst);
  }

  // Producer p: push each item, then the loop's post() tail: wake it if it sleeps.
  void produce(int p) {
    for (int s = 0; s < Derived::kPlan[p]; ++s) {
      Item* it = items[p][s];
      it->payload(RL_INFO) = encode(p, s);
      const PushResult r = inbox().push(it);
      HANDOFF_MODEL_CHECK(r == PushResult::Pushed, msg().closed);
      ++pushed_of[p];
      ++total_pushed;
      wake_if_sleeping(p);
    }
  }

  // LoopCore::request_stop: the stop flag (seq_cst, like a push), then claim.
  void request_stop() {
    stop_flag.store(1, std::memory_order_seq_cst);  // pairs with the loop's seq_cst re-check load
    wake_if_sleeping(-1);
  }

  void finish_thread() {
    // release: the loop's acquire load of `finished` then sees this thread's eventfd write.
    finished.fetch_add(1, std::memory_order_release);  // test bookkeeping; the primitive under test provides the ordering
    unref();
  }

  // Drop this thread's reference right after its last use of the core; the last one out drops
  // what is still queued (a stopped loop may leave items: ~LoopCore drops them; no producer
  // runs any more, so pop sees every link) and destroys the core at once, poisoned.
  void unref() {
    if (!refs.leave()) return;
    for (;;) {
      const MpscInbox::Popped r = inbox().pop();
      if (r.status != PopStatus::Item) break;
      take(static_cast<Item*>(r.node));
    }
    core.destroy();
  }

  void take(Item* it) {
    const int p = it->producer;
    const int s = it->seq;
    HANDOFF_MODEL_CHECK(p >= 0 && p < kProducers && s >= 0 && s < kMaxItems, msg().payload);
    HANDOFF_MODEL_CHECK(it->payload(RL_INFO) == encode(p, s), msg().payload);
    HANDOFF_MODEL_CHECK(s == popped_of[p], msg().fifo);
    ++popped_of[p];
    ++popped;
    delete_item(it);
  }

  // run_inbox_batch: pop until Empty. Retry (a producer mid-push) is re-polled, as the loop
  // does (it never sleeps on Retry). Returns the number of items taken.
  int drain(Poller& poller) {
    int got = 0;
    for (;;) {
      const MpscInbox::Popped r = inbox().pop();
      if (r.status == PopStatus::Item) {
        take(static_cast<Item*>(r.node));
        ++got;
        poller.progress();
      } else if (r.status == PopStatus::Retry) {
        saw_retry = true;
        poller.again(RL_INFO);
      } else {
        HANDOFF_MODEL_CHECK(r.status == PopStatus::Empty, msg().closed);
        return got;
      }
    }
  }

  // The re-check (EventLoop::sleep_until_work's has_work lambda).
  bool has_work() {
    return !inbox().consumer_sees_empty() ||
           (Derived::kStopper && stop_flag.load(std::memory_order_seq_cst) != 0);  // Dekker load
  }

  // The blocking wait: until a signal is pending (then consume it: the loop's read(wake_fd)
  // resets the counter), or until nothing can ever wake this sleep. `idle` = the latter.
  bool block(bool& idle) {
    for (;;) {
      if (eventfd.load(std::memory_order_seq_cst) != 0) {
        eventfd.exchange(0, std::memory_order_seq_cst);  // read(wake_fd): one read takes all
        woken = true;
        return true;
      }
      // acquire: pairs with finish_thread(); if every other thread has finished, their
      // eventfd writes are visible to the load below, so 0 means "never".
      if (finished.load(std::memory_order_acquire) == static_cast<std::uint32_t>(kOthers) &&  // test bookkeeping; the primitive under test provides the ordering
          eventfd.load(std::memory_order_seq_cst) == 0) {
        const int queued = total_pushed - popped;
        if (queued != 0) {
          std::snprintf(failure, sizeof failure,
                        "%s lost wakeup: consumer asleep with %d item%s queued and no signal "
                        "pending",
                        msg().tag, queued, queued == 1 ? "" : "s");
          HANDOFF_MODEL_CHECK(false, failure);
        }
        if (Derived::kStopper && stop_flag.load(std::memory_order_seq_cst) != 0) {
          std::snprintf(failure, sizeof failure,
                        "%s lost wakeup: consumer asleep with a stop request and no signal "
                        "pending",
                        msg().tag);
          HANDOFF_MODEL_CHECK(false, failure);
        }
        idle = true;
        return false;
      }
      rl::yield(1, RL_INFO);  // asleep: let the other threads run
    }
  }

  // The loop thread: run_once() until idle for good (or stopped).
  void loop() {
    Poller poller(kPollLimit, msg().starved);
    bool after_signal = false;  // the last sleep's block consumed a signal
    bool idle = false;
    for (;;) {
      const int got = drain(poller);
      // stop_was_requested(): the loop's seq_cst load, then it consumes the request.
      if (Derived::kStopper && stop_flag.load(std::memory_order_seq_cst) != 0) {
        stop_flag.store(0, std::memory_order_relaxed);  // test bookkeeping; the primitive under test provides the ordering
        stopped = true;
        return;
      }
      if (after_signal && got == 0) ++spurious;  // the signal found no new item (and no stop)
      after_signal = false;
      if (idle) return;  // the idle sleep ended the run: every other thread had finished
      ++sleeps;
      const WakeGate::SleepResult r =
          gate().sleep([&] { return has_work(); }, [&] { return after_signal = block(idle); });
      if (!r.slept) {
        ++cancelled;
        if (r.signal_pending) ++cancelled_claimed;
      } else if (idle) {
        // Nothing woke this sleep, so nobody may have claimed it.
        HANDOFF_MODEL_CHECK(!r.signal_pending, msg().terminal_claimed);
      }
    }
  }

  void after() {
    HANDOFF_MODEL_CHECK(!core.alive(), "[lifetime] the last reference did not destroy the core");
    if (!Derived::kStopper) {
      for (int p = 0; p < kProducers; ++p) {
        HANDOFF_MODEL_CHECK(popped_of[p] == Derived::kPlan[p], msg().lost);
      }
    } else {
      // The loop stopped (or idled) with items possibly still queued: unref() dropped them.
      HANDOFF_MODEL_CHECK(popped == total_pushed, msg().lost);
    }
    HANDOFF_MODEL_CHECK(signals <= sleeps, msg().coalescing);
    if (Derived::kStrictSpurious) {
      HANDOFF_MODEL_CHECK(spurious <= cancelled,
                          "[spurious_per_cancel] more spurious returns than cancelled sleeps "
                          "(wake_gate.hpp: at most one spurious return per cancelled sleep)");
    } else {
      HANDOFF_MODEL_CHECK(spurious <= cancelled_claimed + late_claims, msg().spurious);
    }
    if (cancelled > 0) model::cover(kCovCancelled, "cancelled sleep");
    if (cancelled_claimed > 0) model::cover(kCovCancelClaimed, "cancel after a claim");
    if (woken) model::cover(kCovWokenBySignal, "woken by a signal");
    if (spurious > 0) model::cover(kCovSpurious, "spurious return");
    if (late_claims > 0) model::cover(kCovLateClaim, "late claim");
    if (saw_retry) model::cover(kCovRetry, "Retry");
    if (stopped) model::cover(kCovStopped, "stopped");
  }
};

// (1) One producer, two items: its second push and claim race the loop's drain, announce and
// re-check; the loop may sleep between the two items. With kStrict (the opt-in
// spurious_per_cancel, one item) the header's own spurious bound is checked instead.
template <int kItems, bool kStrict>
struct OneProducer : WakeModel<OneProducer<kItems, kStrict>, 2, 1, 2> {
  static constexpr Messages kMsg =
      kStrict ? HANDOFF_WAKE_MESSAGES("spurious_per_cancel") : HANDOFF_WAKE_MESSAGES("one_producer");
  static constexpr int kPlan[1] = {kItems};
  static constexpr bool kStopper = false;
  static constexpr bool kStrictSpurious = kStrict;
  void thread(unsigned t) {
    if (t == this->kLoop) {
      this->loop();
      this->unref();
    } else {
      this->produce(0);
      this->finish_thread();
    }
  }
};

// (2)/(3) Two producers: both may see SLEEPING; exactly one may claim each sleep.
template <int kItems0, int kItems1>
struct TwoProducers : WakeModel<TwoProducers<kItems0, kItems1>, 3, 2, 2> {
  static constexpr Messages kMsg = kItems0 == 1 && kItems1 == 1
                                       ? HANDOFF_WAKE_MESSAGES("two_producers")
                                       : HANDOFF_WAKE_MESSAGES("two_producers_2x2");
  static constexpr int kPlan[2] = {kItems0, kItems1};
  static constexpr bool kStopper = false;
  static constexpr bool kStrictSpurious = false;
  void thread(unsigned t) {
    if (t == this->kLoop) {
      this->loop();
      this->unref();
    } else {
      this->produce(static_cast<int>(t));
      this->finish_thread();
    }
  }
};

// (4) A producer and a stopper: the re-check covers the stop flag too; the loop must stop.
struct StopRequest : WakeModel<StopRequest, 3, 1, 1> {
  static constexpr Messages kMsg = HANDOFF_WAKE_MESSAGES("stop_request");
  static constexpr int kPlan[1] = {1};
  static constexpr bool kStopper = true;
  static constexpr bool kStrictSpurious = false;
  void thread(unsigned t) {
    if (t == kLoop) {
      loop();
      HANDOFF_MODEL_CHECK(stopped, "[stop_request] the loop went idle without seeing the stop");
      unref();
    } else if (t == 0) {
      produce(0);
      finish_thread();
    } else {
      request_stop();
      finish_thread();
    }
  }
};

}  // namespace

int main(int argc, char** argv) {
  model::Runner run("wake_gate_model", argc, argv);
  run.scenario<OneProducer<2, false>>("one_producer",
                            "1 producer x 2 items + loop sleeping through WakeGate::sleep");
  run.scenario<TwoProducers<1, 1>>(
      "two_producers", "2 producers x 1 item racing one sleep: one claim, no lost wakeup");
  run.scenario<TwoProducers<2, 2>, TwoProducers<2, 1>>(
      "two_producers_2x2", "2 producers x 2 items (search: 2 + 1) + loop sleeping repeatedly");
  run.scenario<StopRequest>("stop_request",
                            "1 producer x 1 item + request_stop(): the loop must see the stop");
  run.scenario<OneProducer<1, true>>(
      "spurious_per_cancel",
      "1 producer x 1 item, checking wake_gate.hpp's 'at most one spurious return per "
      "cancelled sleep' (fails: see README)",
      model::Runner::Kind::OptIn);
  return run.finish();
}
