// handoff/tests/model/work_stealing_deque_model.cpp — Relacy model tests of the REAL
// WorkStealingDeque<T> (primitives/work_stealing_deque.hpp).
//
// The header is compiled here unchanged, with the facade's Relacy backend: every top_,
// bottom_, buffer_ and slot operation is an rl::atomic operation at the header's own source
// line, under the C++11 memory model (seq_cst total order, release/acquire, relaxed values).
// No copy of the algorithm lives in this file.
//
// What the tests can see:
//   * exactly once: the deque holds Item* pointers into the suite's items[]; every taker (the
//     owner's pop, a thief's steal) records the take, and a second take of the same element is
//     "[scenario] element taken twice" at the moment it happens; in after(), an element pushed
//     but never taken is "[scenario] element lost";
//   * payload: each Item has an rl::var<int> the owner writes just before push and the taker
//     reads after its take: without a release/acquire chain from push to steal (bottom_, and
//     buffer_ after a grow) Relacy reports a DATA RACE;
//   * order: a thief's successive takes have increasing ids (FIFO end); the owner's successive
//     pops without a push in between have decreasing ids (LIFO end);
//   * memory: the deque's buffers live in Relacy's heap (its replacement operator new), so a
//     retired buffer that is leaked or freed twice is reported;
//   * lifetime: the deque is a model::Owned (relacy_main.hpp). The owner, once its last pop
//     answered empty, joins the thieves (each leaves after its last steal) and destroys the
//     deque at once, poisoned: a steal still touching it, or its buffers, after that is ACCESS
//     TO FREED MEMORY (a retired or current buffer freed by the destructor is Relacy's free).
//
// Scenarios (docs/work_stealing_deque.md has counts and times):
//   push_push_pop   owner: push 0, push 1, pop, drain   | thief: 2 steal attempts
//   last_element    owner: push 0, pop, pop             | thief: 2 steal attempts
//   two_thieves     owner: push 0, 1, 2, pop, drain     | 2 thieves: 2 steal attempts each
//   resize          capacity 2; owner: push 0, 1, 2 (grows to 4 unless the thief took 0
//                   first; the thief may hold the old buffer), drain | thief: 2 steal attempts
//   resize_more     capacity 2; owner: push 0..4 (always grows), drain | thief: 2 steal attempts
// A steal attempt that answers Empty yields to the scheduler first (free under the context
// bound), so the thief also runs after the owner's pushes.
//
// Mutants (HANDOFF_MUTANT_* is read by work_stealing_deque.hpp itself; CMakeLists.txt builds
// this file once per mutant and expects the diagnostic named here):
//   HANDOFF_MUTANT_DEQUE_NO_LAST_CAS -> "[...] element taken twice" (last_element, ...)
//   HANDOFF_MUTANT_DEQUE_RELAXED     -> "[...] element taken twice" (push_push_pop, two_thieves)
#include "relacy_main.hpp"  // first: selects the Relacy backend, includes relacy.hpp

#include <handoff/primitives/work_stealing_deque.hpp>

namespace {

using handoff::StealStatus;
using handoff::WorkStealingDeque;
namespace model = handoff::model;

struct Item {
  rl::var<int> payload;  // written by the owner before push, read by whoever takes the item
};

using Deque = WorkStealingDeque<Item*>;

constexpr int encode(int id) { return 100 + id; }

struct Messages {
  const char* twice;
  const char* lost;
  const char* payload;
  const char* garbage;
  const char* fifo;
  const char* lifo;
  const char* grew;
};
#define HANDOFF_DEQUE_MESSAGES(tag)                                                          \
  Messages {                                                                                 \
    "[" tag "] element taken twice: by pop and steal, or by two steals",                     \
        "[" tag "] element lost: pushed but never taken by pop or steal",                     \
        "[" tag "] payload read after the take is not what the owner wrote",                  \
        "[" tag "] pop or steal returned a value that was never pushed",                      \
        "[" tag "] FIFO end broken: a thief's takes are not in push order",                   \
        "[" tag "] LIFO end broken: the owner's pops are not in reverse push order",          \
        "[" tag "] capacity after the pushes into a capacity-2 deque is wrong"                \
  }

enum CoverSlot { kCovRetry, kCovThiefTook, kCovOwnerTookAll, kCovThiefEmptyFirst, kCovGrew };

// Shared machinery. Derived provides kMsg, kCapacity, kItems and thread(t) built from these.
template <class Derived, rl::thread_id_t kThreads, int kItems>
struct DequeModel : rl::test_suite<Derived, kThreads> {
  model::Owned<Deque> box{Derived::kCapacity};
  model::Join thieves{kThreads - 1};  // the owner's join before it destroys the deque
  Item items[kItems];
  int taken[kItems] = {};      // plain: every modelled thread is a fiber on one OS thread
  int pushed = 0;              // owner's count
  int last_pop = kItems;       // owner: id of the last pop since the last push (LIFO check)
  int thief_last[kThreads] = {};  // per thief: 1 + id of its last take (FIFO check)
  bool saw_retry = false;
  bool thief_took = false;
  bool thief_empty_first = false;

  Deque& deque() { return *box; }
  static const Messages& msg() { return Derived::kMsg; }

  // Owner only.
  void push_next() {
    Item& it = items[pushed];
    it.payload(RL_INFO) = encode(pushed);
    deque().push(&it);
    ++pushed;
    last_pop = kItems;  // a push starts a new run of pops
  }

  int take(Item* it) {
    HANDOFF_MODEL_CHECK(it >= items && it < items + kItems, msg().garbage);
    const int id = static_cast<int>(it - items);
    HANDOFF_MODEL_CHECK(taken[id] == 0, msg().twice);
    ++taken[id];
    HANDOFF_MODEL_CHECK(it->payload(RL_INFO) == encode(id), msg().payload);
    return id;
  }

  // Owner only: one pop; false if it answered nullopt.
  bool pop_one() {
    const std::optional<Item*> v = deque().pop();
    if (!v) return false;
    const int id = take(*v);
    HANDOFF_MODEL_CHECK(id < last_pop, msg().lifo);
    last_pop = id;
    return true;
  }

  void drain() {
    while (pop_one()) {
    }
  }

  // The owner, after its last pop: join the thieves, then destroy the deque at once.
  void retire() {
    thieves.await();
    box.destroy();
  }

  // Thief `t`: `attempts` calls of steal; an Empty answer yields first.
  void steal_attempts(unsigned t, int attempts) {
    for (int i = 0; i < attempts; ++i) {
      Item* out = nullptr;
      const StealStatus s = deque().steal(out);
      if (s == StealStatus::Success) {
        const int id = take(out);
        HANDOFF_MODEL_CHECK(id + 1 > thief_last[t], msg().fifo);
        thief_last[t] = id + 1;
        thief_took = true;
      } else if (s == StealStatus::Retry) {
        saw_retry = true;
      } else {
        if (i == 0) thief_empty_first = true;
        rl::yield(1, RL_INFO);
      }
    }
  }

  void after() {
    HANDOFF_MODEL_CHECK(!box.alive(), "[lifetime] the owner never destroyed the deque");
    for (int id = 0; id < pushed; ++id) HANDOFF_MODEL_CHECK(taken[id] == 1, msg().lost);
    if (saw_retry) model::cover(kCovRetry, "a Retry");
    if (thief_took) model::cover(kCovThiefTook, "a thief's take");
    if (!thief_took) model::cover(kCovOwnerTookAll, "owner took all");
    if (thief_empty_first) model::cover(kCovThiefEmptyFirst, "Empty before a push");
  }
};

// (1) Two elements: the owner's pop takes element 1 without a CAS while the thief may take
// element 0 — and, with a second attempt, element 1: the Dekker pair in pop and steal.
struct PushPushPop : DequeModel<PushPushPop, 2, 2> {
  static constexpr Messages kMsg = HANDOFF_DEQUE_MESSAGES("push_push_pop");
  static constexpr std::size_t kCapacity = 4;
  void thread(unsigned t) {
    if (t == 0) {
      push_next();
      push_next();
      pop_one();
      drain();
      retire();
    } else {
      steal_attempts(t, 2);
      thieves.leave();
    }
  }
};

// (2) The last-element race: one element, the owner's pop (its CAS on top_) against the
// thief's steal (its CAS on top_): exactly one of them gets it.
struct LastElement : DequeModel<LastElement, 2, 1> {
  static constexpr Messages kMsg = HANDOFF_DEQUE_MESSAGES("last_element");
  static constexpr std::size_t kCapacity = 2;
  void thread(unsigned t) {
    if (t == 0) {
      push_next();
      pop_one();
      pop_one();  // nothing left: must answer nullopt
      retire();
    } else {
      steal_attempts(t, 2);
      thieves.leave();
    }
  }
};

// (3) Two thieves against the owner: thieves race each other (Retry) and the owner.
struct TwoThieves : DequeModel<TwoThieves, 3, 3> {
  static constexpr Messages kMsg = HANDOFF_DEQUE_MESSAGES("two_thieves");
  static constexpr std::size_t kCapacity = 4;
  void thread(unsigned t) {
    if (t == 0) {
      push_next();
      push_next();
      push_next();
      pop_one();
      drain();
      retire();
    } else {
      steal_attempts(t, 2);
      thieves.leave();
    }
  }
};

// (4) Resize under steal: capacity 2, the third push grows the buffer to 4 (copy, release
// store of buffer_, old buffer retired) while the thief may have loaded the old buffer.
struct Resize : DequeModel<Resize, 2, 3> {
  static constexpr Messages kMsg = HANDOFF_DEQUE_MESSAGES("resize");
  static constexpr std::size_t kCapacity = 2;
  void thread(unsigned t) {
    if (t == 0) {
      push_next();
      push_next();
      push_next();
      // Grew iff the thief had not taken anything before the third push (2 live = full).
      const std::size_t cap = deque().capacity();
      HANDOFF_MODEL_CHECK(cap == 4 || cap == 2, kMsg.grew);
      if (cap == 4) model::cover(kCovGrew, "a grow");
      drain();
      retire();
    } else {
      steal_attempts(t, 2);
      thieves.leave();
    }
  }
};

// (4b) A resize that happens whatever the thief does: it takes at most 2 elements, so at
// the fifth push b - t >= 4 - 2 = 2 = the capacity, and the buffer grows (at least once).
// (Forcing the grow in Resize would need extra synchronization between the threads, which
// would hide the races under test.)
struct ResizeMore : DequeModel<ResizeMore, 2, 5> {
  static constexpr Messages kMsg = HANDOFF_DEQUE_MESSAGES("resize_more");
  static constexpr std::size_t kCapacity = 2;
  void thread(unsigned t) {
    if (t == 0) {
      for (int i = 0; i < 5; ++i) push_next();
      HANDOFF_MODEL_CHECK(deque().capacity() >= 4, kMsg.grew);
      model::cover(kCovGrew, "a grow");
      drain();
      retire();
    } else {
      steal_attempts(t, 2);
      thieves.leave();
    }
  }
};

}  // namespace

int main(int argc, char** argv) {
  model::Runner run("work_stealing_deque_model", argc, argv);
  run.scenario<PushPushPop>("push_push_pop",
                            "owner push, push, pop, drain vs 1 thief (2 steals): pop's no-CAS path");
  run.scenario<LastElement>("last_element", "owner push, pop, pop vs 1 thief: the last-element CAS race");
  run.scenario<TwoThieves>("two_thieves", "owner push x3, pop, drain vs 2 thieves (2 steals each)");
  run.scenario<Resize>("resize", "capacity 2, owner pushes 3 (grows unless the thief took one) vs 1 thief");
  run.scenario<ResizeMore>("resize_more", "capacity 2, owner pushes 5 (always grows) vs 1 thief");
  return run.finish();
}
