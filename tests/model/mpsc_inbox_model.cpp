// handoff/tests/model/mpsc_inbox_model.cpp — Relacy model tests of the REAL MpscInbox.
//
// primitives/mpsc_inbox.hpp is compiled here unchanged, with the facade's Relacy backend:
// every tail_/closed_/next/verdict operation is an rl::atomic operation at the header's own
// source line. No copy of the algorithm lives in this file.
//
// What the tests can see:
//   * payload: each node carries an rl::var<int> written by its producer before push() and
//     read by the consumer after pop(). Without a release/acquire chain from the producer's
//     write to the consumer's read, Relacy reports a DATA RACE.
//   * ownership: nodes are allocated in before() (Relacy's heap), and poisoned and freed as
//     soon as the test owns them again: by the consumer after pop() returns them, by the
//     producer after push() returns Closed. An access by the inbox to a node it has given
//     back is reported as ACCESS TO FREED MEMORY; a refused node that the consumer still
//     pops races with the producer's write to its payload after the refusal.
//   * the contract: per-producer FIFO, nothing lost or duplicated, close() linearizable —
//     checked by HANDOFF_MODEL_CHECK with messages that say which promise broke.
//
// Scenarios (README.md has the counts and times):
//   two_producers    2 producers x 2 items + consumer
//   three_producers  3 producers x 1 item + consumer (stub re-push, producers preempted
//                    between exchange and link)
//   close_race       2 producers x 2 items, a closer thread (close(), then a push that must be
//                    refused), consumer draining to Closed
//   consumer_close   the consumer pops one item, closes, drains, while producers push
//   double_close     two threads close, one of them pushes after its close() returned: the
//                    push must be refused (this scenario found a bug, fixed in close(): a
//                    losing closer now waits until the winner's sentinel is in)
//   reuse_after_close  issue 10: 2 producers x 2 pushes that REUSE a refused node at once
//                    (as MpscQueue's cache does), a closer that closes and then pushes twice
//                    (reusing its node), the consumer draining to Closed. Checks the contract
//                    with reuse, that a push begun after close() returned is refused at once
//                    (no slow path: before the fix it joined the chain of refused pushes and
//                    waited on other producers), and LIFETIME: the consumer destroys and
//                    poisons the inbox as soon as every push has returned, while the producer
//                    threads are still running; any later access by the inbox is reported.
//
// Mutants (HANDOFF_MUTANT_* is read by mpsc_inbox.hpp itself; tests/model/CMakeLists.txt
// builds this file once per mutant and expects the diagnostic named here):
//   HANDOFF_MUTANT_INBOX_LINK_RELAXED    -> DATA RACE on the payload (any scenario)
//   HANDOFF_MUTANT_INBOX_CLOSE_PRECHECK  -> "[close_race] accepted push lost" or
//                                           "[close_race] push accepted after close"
//   HANDOFF_MUTANT_INBOX_LATE_REFUSAL    -> "[reuse_after_close] a push begun after close()
//                                           returned took the slow path"
#include "relacy_main.hpp"  // first: selects the Relacy backend, includes relacy.hpp

#include <handoff/primitives/mpsc_inbox.hpp>

namespace {

using handoff::InboxHook;
using handoff::MpscInbox;
using handoff::PopStatus;
using handoff::PushResult;
using handoff::model::Poller;
namespace model = handoff::model;

// A test node: the hook the inbox links, plus a payload the inbox must hand over.
struct Item : InboxHook {
  rl::var<int> payload;  // written by its producer before push, read by the consumer after pop
  int producer = 0;      // set in before(), read-only afterwards
  int seq = 0;
};

// Nodes live in Relacy's heap, so leaks and double frees are reported. Not `new`/`delete`:
// relacy.hpp replaces the global operator new/delete with inline functions and does not
// replace the sized operator delete (C++14), so a `delete` expression would hand Relacy's
// memory to libc's free().
Item* new_item() {
  return std::construct_at(static_cast<Item*>(rl::rl_malloc(sizeof(Item), RL_INFO)));
}
// Relacy detects an access to a freed rl::atomic / rl::var only by a magic number that the
// object's destructor clears — a store GCC removes as dead (-flifetime-dse) — and it never
// poisons freed memory. So we poison the node ourselves: any later access by the inbox fails
// the signature check and is reported as ACCESS TO FREED MEMORY. (Checked: with
// settle_refused()'s wait removed, close_race fails this way; without the memset it passed.)
void delete_item(Item* it) {
  std::destroy_at(it);
  std::memset(static_cast<void*>(it), 0xdd, sizeof(Item));
  rl::rl_free(it, RL_INFO);
}

constexpr int encode(int producer, int seq) { return 1000 + producer * 100 + seq; }
constexpr int kReclaimed = -1;  // what a producer writes into a node the inbox refused

// Polls without progress before the consumer reports a livelock / lost hand-off. A producer
// between its exchange and its link needs one or two of its own steps; every poll yields, so
// the other threads run in between (Poller in relacy_main.hpp).
constexpr int kPollLimit = 100;

// Coverage slots (model::cover): paths this run reached, counted once per execution.
enum CoverSlot { kCovRetry, kCovEmpty, kCovRefused, kCovAcceptedSome };

// MpscInbox has alignas(64) members; Relacy allocates a test suite with malloc (16-byte
// alignment), so the inbox lives in storage aligned by hand.
class AlignedInbox {
 public:
  AlignedInbox() {
    void* p = raw_;
    std::size_t space = sizeof raw_;
    p = std::align(alignof(MpscInbox), sizeof(MpscInbox), p, space);
    inbox_ = std::construct_at(static_cast<MpscInbox*>(p));
  }
  ~AlignedInbox() { std::destroy_at(inbox_); }
  AlignedInbox(const AlignedInbox&) = delete;
  AlignedInbox& operator=(const AlignedInbox&) = delete;
  MpscInbox& get() { return *inbox_; }

 private:
  unsigned char raw_[sizeof(MpscInbox) + alignof(MpscInbox)];
  MpscInbox* inbox_;
};

// The checks' messages, prefixed with the scenario's name: the prefix is what a mutant check
// matches, so a mutant counts as caught only by the scenario that targets it.
struct Messages {
  const char* payload;
  const char* fifo;
  const char* lost;
  const char* refused_popped;
  const char* accepted_after_refused;
  const char* accepted_after_close;
  const char* refused_while_open;
  const char* closed_while_open;
  const char* not_empty;
  const char* not_sticky;
  const char* starved;
};
#define HANDOFF_INBOX_MESSAGES(tag)                                                            \
  Messages {                                                                                   \
    "[" tag "] payload read after pop is not what the producer wrote",                        \
        "[" tag "] per-producer FIFO broken: item popped out of order or twice",              \
        "[" tag "] accepted push lost: push returned Pushed but the item was never popped",   \
        "[" tag "] refused item popped: push returned Closed but the consumer got the node",  \
        "[" tag "] push accepted after close: accepted after the same producer was refused",  \
        "[" tag "] push accepted after close: this thread's close() had returned",            \
        "[" tag "] push refused although no thread closed the inbox",                         \
        "[" tag "] pop returned Closed although no thread closed the inbox",                  \
        "[" tag "] pop after the last item did not return Empty",                             \
        "[" tag "] pop after Closed did not return Closed again",                             \
        "[" tag "] consumer polled 100 times without progress: a push never became visible "  \
        "(lost link, or a livelock)"                                                          \
  }

// Shared machinery. Derived provides kMsg (messages tagged with its name), kPlan[p] (the
// number of items producer p pushes, at most kMaxItems), kMayClose (whether any thread
// closes), and thread(t), built from the helpers below.
template <class Derived, rl::thread_id_t kThreads, int kProducers, int kMaxItems>
struct InboxModel : rl::test_suite<Derived, kThreads> {
  enum : int { kNotYet = 0, kPushed = 1, kRefused = 2 };

  AlignedInbox box;
  Item* items[kProducers][kMaxItems] = {};
  int result[kProducers][kMaxItems] = {};  // what push() returned, recorded by the producer
  int pops[kProducers][kMaxItems] = {};    // how often the consumer got the node
  int next_seq[kProducers] = {};           // the consumer's per-producer FIFO expectation
  int popped = 0;
  bool saw_retry = false;
  bool saw_empty = false;

  MpscInbox& inbox() { return box.get(); }
  static const Messages& msg() { return Derived::kMsg; }

  void before() {
    for (int p = 0; p < kProducers; ++p) {
      for (int s = 0; s < Derived::kPlan[p]; ++s) {
        Item* it = new_item();
        it->producer = p;
        it->seq = s;
        items[p][s] = it;
      }
    }
  }

  // Producer p pushes its items in order. after_close: this thread's close() has returned,
  // so every push must be refused (close() is linearizable).
  void produce(int p, bool after_close = false) {
    bool refused = false;
    for (int s = 0; s < Derived::kPlan[p]; ++s) {
      Item* it = items[p][s];
      it->payload(RL_INFO) = encode(p, s);
      if (inbox().push(it) == PushResult::Pushed) {
        // The node belongs to the inbox now: this thread never touches it again.
        HANDOFF_MODEL_CHECK(!refused, msg().accepted_after_refused);
        HANDOFF_MODEL_CHECK(!after_close, msg().accepted_after_close);
        result[p][s] = kPushed;
      } else {
        HANDOFF_MODEL_CHECK(Derived::kMayClose, msg().refused_while_open);
        refused = true;
        result[p][s] = kRefused;
        // The node is the caller's again: reuse it (a consumer still reading it would race
        // with this write), then free it (an inbox access after this is a use after free).
        it->payload(RL_INFO) = kReclaimed;
        delete_item(it);
      }
    }
  }

  // Polls until an item or Closed. Empty (nothing accepted yet) and Retry (a producer is
  // between its exchange and its link) both mean "not now": the loop thread would sleep or
  // re-poll; here the consumer yields so the producers run, with a bounded patience.
  MpscInbox::Popped poll(Poller& poller) {
    for (;;) {
      const MpscInbox::Popped r = inbox().pop();
      if (r.status == PopStatus::Item || r.status == PopStatus::Closed) {
        poller.progress();
        return r;
      }
      (r.status == PopStatus::Retry ? saw_retry : saw_empty) = true;
      poller.again(RL_INFO);
    }
  }

  // Checks a popped node against what its producer wrote and its producer's order, then
  // frees it (the inbox must not touch it after pop returned it).
  void take(Item* it) {
    const int p = it->producer;
    const int s = it->seq;
    HANDOFF_MODEL_CHECK(it->payload(RL_INFO) == encode(p, s), msg().payload);
    HANDOFF_MODEL_CHECK(p >= 0 && p < kProducers && s >= 0 && s < kMaxItems, msg().payload);
    HANDOFF_MODEL_CHECK(s == next_seq[p], msg().fifo);
    ++next_seq[p];
    ++pops[p][s];
    ++popped;
    delete_item(it);
  }

  // Consumer without close: takes `n` items, then the inbox must be Empty.
  void consume(int n) {
    Poller poller(kPollLimit, msg().starved);
    for (int i = 0; i < n; ++i) {
      const MpscInbox::Popped r = poll(poller);
      HANDOFF_MODEL_CHECK(r.status == PopStatus::Item, msg().closed_while_open);
      take(static_cast<Item*>(r.node));
    }
    HANDOFF_MODEL_CHECK(inbox().pop().status == PopStatus::Empty, msg().not_empty);
  }

  // Consumer with close: takes items until Closed, which must then stay.
  void drain_to_closed(Poller& poller) {
    for (;;) {
      const MpscInbox::Popped r = poll(poller);
      if (r.status == PopStatus::Closed) break;
      take(static_cast<Item*>(r.node));
    }
    HANDOFF_MODEL_CHECK(inbox().pop().status == PopStatus::Closed, msg().not_sticky);
  }

  void after() {
    bool refused_any = false;
    for (int p = 0; p < kProducers; ++p) {
      for (int s = 0; s < Derived::kPlan[p]; ++s) {
        // Every producer has finished: each push returned Pushed or Closed.
        if (result[p][s] == kPushed) {
          HANDOFF_MODEL_CHECK(pops[p][s] == 1, msg().lost);
        } else if (result[p][s] == kRefused) {
          HANDOFF_MODEL_CHECK(pops[p][s] == 0, msg().refused_popped);
          refused_any = true;
        }
      }
    }
    if (saw_retry) model::cover(kCovRetry, "Retry");
    if (saw_empty) model::cover(kCovEmpty, "Empty");
    if (refused_any) model::cover(kCovRefused, "a refused push");
    if (Derived::kMayClose && popped > 0) model::cover(kCovAcceptedSome, "Closed after >=1 item");
  }
};

// (1) Two producers, two items each, one consumer: nothing lost or duplicated, per-producer
// FIFO, payload handed over. The consumer's pop of the last linked node re-pushes the stub
// while the other producer may be mid-push.
template <int kItems>
struct TwoProducers : InboxModel<TwoProducers<kItems>, 3, 2, kItems> {
  static constexpr Messages kMsg = HANDOFF_INBOX_MESSAGES("two_producers");
  static constexpr int kPlan[2] = {kItems, kItems};
  static constexpr bool kMayClose = false;
  void thread(unsigned t) {
    if (t < 2) {
      this->produce(static_cast<int>(t));
    } else {
      this->consume(2 * kItems);
    }
  }
};

// (2) Three producers, one item each: the stub re-push path with the most concurrent
// exchanges, and producers preempted between exchange and link (the window: Retry).
struct ThreeProducers : InboxModel<ThreeProducers, 4, 3, 1> {
  static constexpr Messages kMsg = HANDOFF_INBOX_MESSAGES("three_producers");
  static constexpr int kPlan[3] = {1, 1, 1};
  static constexpr bool kMayClose = false;
  void thread(unsigned t) {
    if (t < 3) {
      produce(static_cast<int>(t));
    } else {
      consume(3);
    }
  }
};

// (3) close() racing pushes. Producers 0 and 1 push kItems each; thread 2 closes and then
// pushes its own item, which must be refused; thread 3 drains to Closed. Checks: every
// Pushed item popped exactly once before Closed, no Closed item ever popped (or touched by
// the inbox after push returned), a producer once refused stays refused.
template <int kItems0, int kItems1>
struct CloseRace : InboxModel<CloseRace<kItems0, kItems1>, 4, 3, 2> {
  static_assert(kItems0 <= 2 && kItems1 <= 2);
  static constexpr Messages kMsg = HANDOFF_INBOX_MESSAGES("close_race");
  static constexpr int kPlan[3] = {kItems0, kItems1, 1};
  static constexpr bool kMayClose = true;
  void thread(unsigned t) {
    if (t < 2) {
      this->produce(static_cast<int>(t));
    } else if (t == 2) {
      this->inbox().close();
      this->produce(2, /*after_close=*/true);
    } else {
      Poller poller(kPollLimit, kMsg.starved);
      this->drain_to_closed(poller);
    }
  }
};

// (4) The consumer closes the inbox itself, between pops: it takes one item (possibly
// re-pushing the stub behind it while producer 0's second push is in its window), closes,
// and drains to Closed. Producers' pushes land on either side of the close; a producer whose
// predecessor is the stub copies the stub's verdict (the stub's re-push racing close).
struct ConsumerClose : InboxModel<ConsumerClose, 3, 2, 2> {
  static constexpr Messages kMsg = HANDOFF_INBOX_MESSAGES("consumer_close");
  static constexpr int kPlan[2] = {2, 1};
  static constexpr bool kMayClose = true;
  void thread(unsigned t) {
    if (t < 2) {
      produce(static_cast<int>(t));
    } else {
      Poller poller(kPollLimit, kMsg.starved);
      const MpscInbox::Popped first = poll(poller);
      HANDOFF_MODEL_CHECK(first.status == PopStatus::Item, kMsg.closed_while_open);
      take(static_cast<Item*>(first.node));
      inbox().close();
      drain_to_closed(poller);
    }
  }
};

// (5) Two threads close; thread 0 then pushes. The header promises "After close() returns,
// every later push returns Closed" in every closing thread. Before the fix, a close() that
// found closed_ already set returned before the first closer had exchanged the sentinel into
// tail_, so thread 0's push could land before the sentinel and be accepted (random iteration
// 47; bound-1 execution 39).
struct DoubleClose : InboxModel<DoubleClose, 2, 1, 1> {
  static constexpr Messages kMsg = HANDOFF_INBOX_MESSAGES("double_close");
  static constexpr int kPlan[1] = {1};
  static constexpr bool kMayClose = true;
  void thread(unsigned t) {
    if (t == 0) {
      inbox().close();
      produce(0, /*after_close=*/true);
    } else {
      inbox().close();
      Poller poller(kPollLimit, kMsg.starved);
      drain_to_closed(poller);
    }
  }
};

// (6) issue 10: node reuse, refusal at once, and the inbox destroyed while threads still run.
// Producers 0 and 1 push two items; an item whose push was refused is pushed again in the
// SAME node (MpscQueue's thread-local cache hands a refused node straight back). Thread 2
// closes, then pushes twice, reusing its node: both must be refused at once, without the
// slow path (its probe counts slow-path entries). Thread 3 drains to Closed, waits until
// every push has returned (the producers' `done` count), then destroys and poisons the inbox
// while the producer threads are still running their epilogue.
template <int kWorkers>
struct ReuseAfterClose : rl::test_suite<ReuseAfterClose<kWorkers>, kWorkers + 2> {
  static constexpr int kProducers = kWorkers + 1;  // the workers, then the closer
  static constexpr int kPushes = 2;
  static constexpr const char* kTag = "[reuse_after_close] ";
  static constexpr Messages kMsg = HANDOFF_INBOX_MESSAGES("reuse_after_close");

  MpscInbox* box = nullptr;
  void* box_mem = nullptr;
  Item* nodes[kProducers][kPushes] = {};  // nodes[p][1] is used only if push 0 was accepted
  int result[kProducers][kPushes] = {};   // 1 Pushed, 2 Closed
  Item* used[kProducers][kPushes] = {};   // the node each push used
  int pops[kProducers][kPushes] = {};
  int next_seq[kProducers] = {};
  handoff::sync::atomic<int> done{0};     // pushes finished, per producer thread
  bool freed_box = false;

  void before() {
    // The inbox in Relacy's heap, aligned by hand (alignas(64) members), so that destroying
    // and poisoning it makes any later access an ACCESS TO FREED MEMORY.
    box_mem = rl::rl_malloc(sizeof(MpscInbox) + alignof(MpscInbox), RL_INFO);
    void* p = box_mem;
    std::size_t space = sizeof(MpscInbox) + alignof(MpscInbox);
    p = std::align(alignof(MpscInbox), sizeof(MpscInbox), p, space);
    box = std::construct_at(static_cast<MpscInbox*>(p));
    for (int p2 = 0; p2 < kProducers; ++p2) {
      for (int s2 = 0; s2 < kPushes; ++s2) {
        nodes[p2][s2] = new_item();
        nodes[p2][s2]->producer = p2;
        nodes[p2][s2]->seq = s2;
      }
    }
  }

  void produce(int p, bool after_close) {
    handoff::InboxProbe probe;
    handoff::InboxProbe::Install install(probe);
    Item* it = nodes[p][0];
    bool refused = false;
    for (int s2 = 0; s2 < kPushes; ++s2) {
      it->seq = s2;  // the node is ours: reuse it for this item
      it->payload(RL_INFO) = encode(p, s2);
      used[p][s2] = it;
      const PushResult r = box->push(it);
      result[p][s2] = r == PushResult::Pushed ? 1 : 2;
      if (r == PushResult::Pushed) {
        HANDOFF_MODEL_CHECK(!refused, kMsg.accepted_after_refused);
        HANDOFF_MODEL_CHECK(!after_close, kMsg.accepted_after_close);
        it = nodes[p][1];  // the inbox owns the pushed node: take a fresh one
      } else {
        refused = true;
        it->payload(RL_INFO) = kReclaimed;  // ours again at once: a reader would race with this
      }
    }
    if (after_close) {
      HANDOFF_MODEL_CHECK(probe.slow_paths.load(std::memory_order_relaxed) == 0,  // model bookkeeping
                          "[reuse_after_close] a push begun after close() returned took the slow path "
                          "(joined the chain of refused pushes: a convoy)");
    }
    // release: the consumer's acquire load of `done` may then destroy the inbox.
    done.fetch_add(1, std::memory_order_release);  // pairs with the consumer's acquire load
  }

  void thread(unsigned t) {
    if (t < static_cast<unsigned>(kWorkers)) {
      produce(static_cast<int>(t), false);
    } else if (t == static_cast<unsigned>(kWorkers)) {
      box->close();
      produce(kWorkers, true);
    } else {
      Poller poller(kPollLimit, kMsg.starved);
      for (;;) {
        const MpscInbox::Popped r = box->pop();
        if (r.status == PopStatus::Closed) break;
        if (r.status != PopStatus::Item) {
          poller.again(RL_INFO);
          continue;
        }
        poller.progress();
        Item* it = static_cast<Item*>(r.node);
        const int p = it->producer;
        const int s2 = it->seq;
        HANDOFF_MODEL_CHECK(it->payload(RL_INFO) == encode(p, s2), kMsg.payload);
        HANDOFF_MODEL_CHECK(s2 == next_seq[p], kMsg.fifo);  // accepted pushes are a prefix
        next_seq[p] = s2 + 1;
        ++pops[p][s2];
      }
      HANDOFF_MODEL_CHECK(box->pop().status == PopStatus::Closed, kMsg.not_sticky);
      // LIFETIME: every push has returned: destroy and poison the inbox now.
      // acquire: pairs with each producer's release fetch_add after its last push.
      while (done.load(std::memory_order_acquire) < kProducers) poller.again(RL_INFO);  // pairs with the producers' release
      std::destroy_at(box);
      std::memset(box_mem, 0xdd, sizeof(MpscInbox) + alignof(MpscInbox));
      rl::rl_free(box_mem, RL_INFO);
      freed_box = true;
    }
  }

  void after() {
    for (int p = 0; p < kProducers; ++p) {
      for (int s2 = 0; s2 < kPushes; ++s2) {
        if (result[p][s2] == 1) HANDOFF_MODEL_CHECK(pops[p][s2] == 1, kMsg.lost);
        if (result[p][s2] == 2) HANDOFF_MODEL_CHECK(pops[p][s2] == 0, kMsg.refused_popped);
      }
      // Free every node (accepted ones were not freed by the consumer: a node is used by
      // the next push of the same item list, so the test frees them all here).
      for (int s2 = 0; s2 < kPushes; ++s2) delete_item(nodes[p][s2]);
    }
    if (!freed_box) {
      std::destroy_at(box);
      rl::rl_free(box_mem, RL_INFO);
    }
    bool refused_reused = false;
    for (int p = 0; p < kWorkers; ++p) refused_reused |= result[p][0] == 2 && result[p][1] == 2;
    if (refused_reused) model::cover(kCovRefused, "a refused node pushed again");
  }
};

}  // namespace

int main(int argc, char** argv) {
  model::Runner run("mpsc_inbox_model", argc, argv);
  run.scenario<TwoProducers<2>>(
      "two_producers", "2 producers x 2 items + consumer: loss, duplication, FIFO, payload race");
  run.scenario<ThreeProducers>(
      "three_producers", "3 producers x 1 item + consumer: stub re-push, exchange-link window");
  // The context-bound-2 search of the 2 x 2 close race is 15.2 M executions (~40 s alone):
  // ctest searches it with producer 1 pushing one item (4.3 M executions, ~10 s); the random
  // scheduler and the soak run (HANDOFF_SOAK=1) use the full 2 x 2 scenario.
  run.scenario<CloseRace<2, 2>, CloseRace<2, 1>>(
      "close_race",
      "2 producers x 2 items (search: 2 + 1) vs close() + push by a closer, consumer to Closed");
  run.scenario<ConsumerClose>(
      "consumer_close", "consumer pops 1, closes, drains; producers (2 + 1 items) mid-push");
  run.scenario<DoubleClose>("double_close",
                            "two closers; a push after the losing close() returned is refused");
  // The context-bound search of 2 workers takes minutes (bound 1: 9.9 M executions, ~4 min
  // on the loaded VM): ctest searches it with one worker; random and soak use two.
  run.scenario<ReuseAfterClose<2>, ReuseAfterClose<1>>("reuse_after_close",
                                "2 producers reuse refused nodes; closer + 2 pushes refused at once; "
                                "inbox destroyed + poisoned once every push returned");
  return run.finish();
}
