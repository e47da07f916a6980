// Unit tests of MpscInbox (primitives/mpsc_inbox.hpp): the intrusive Vyukov MPSC queue with a
// linearizable close. The value-typed wrapper is tested in mpsc_queue_test.cpp; the races in
// stress/mpsc_inbox_stress.cpp.
//
// What a unit test can pin down exactly: the answer to every pop (Item / Empty / Retry /
// Closed) in a known state, FIFO, drain's bound and stop reason, close's effect on pushes
// before and after it, and node ownership (a refused node is the caller's again).
//
// The producer window (between a producer's exchange on tail_ and its link store
// prev->next = node) cannot be paused in a real producer without a hook in the header. It is
// reproduced here in white-box fashion instead: after two pushes A, B the test stores
// A->next = nullptr, which is exactly the state B's producer leaves between its exchange
// (tail_ = B, already done) and its link (A->next = B, not yet done); it then performs that
// link itself, as B's producer would. The "WINDOW" tests below use this.
#include <catch2/catch.hpp>

#include <atomic>
#include <cstdint>
#include <thread>
#include <vector>

#include <handoff/primitives/mpsc_inbox.hpp>

namespace {

using handoff::MpscInbox;
using handoff::PopStatus;
using handoff::PushResult;

struct Msg : handoff::InboxHook {
  int producer = 0;
  int seq = 0;
  Msg() = default;
  Msg(int p, int s) : producer(p), seq(s) {}
};

Msg* as_msg(MpscInbox::Node* n) { return static_cast<Msg*>(n); }

// rows x cols default-constructed nodes (a node is neither copyable nor movable).
std::vector<std::vector<Msg>> grid(int rows, int cols) {
  std::vector<std::vector<Msg>> g(rows);
  for (auto& row : g) row = std::vector<Msg>(cols);
  return g;
}

// Pops once and checks the answer; returns the node (nullptr unless Item).
Msg* pop_expect(MpscInbox& q, PopStatus want) {
  const MpscInbox::Popped p = q.pop();
  INFO("pop answered " << handoff::to_string(p.status) << ", expected " << handoff::to_string(want));
  REQUIRE(p.status == want);
  REQUIRE((p.node != nullptr) == (want == PopStatus::Item));
  return as_msg(p.node);
}

// What B's producer does at the end of its window: link its predecessor to it.
void unlink(Msg& prev) { prev.next.store(nullptr, std::memory_order_release); }  // test bookkeeping; the primitive under test provides the ordering
void link(Msg& prev, Msg& node) { prev.next.store(&node, std::memory_order_release); }  // test bookkeeping; the primitive under test provides the ordering

}  // namespace

TEST_CASE("inbox: a new inbox is Empty, and Empty is stable", "[mpsc_inbox]") {
  MpscInbox q;
  pop_expect(q, PopStatus::Empty);
  pop_expect(q, PopStatus::Empty);
  CHECK_FALSE(q.is_closed());
}

TEST_CASE("inbox: one producer is FIFO", "[mpsc_inbox]") {
  MpscInbox q;
  std::vector<Msg> msgs(100);
  for (int i = 0; i < 100; ++i) {
    msgs[i].seq = i;
    REQUIRE(q.push(&msgs[i]) == PushResult::Pushed);
  }
  for (int i = 0; i < 100; ++i) {
    Msg* m = pop_expect(q, PopStatus::Item);
    REQUIRE(m == &msgs[i]);
    REQUIRE(m->seq == i);
  }
  pop_expect(q, PopStatus::Empty);
}

TEST_CASE("inbox: alternating push/pop goes through the stub every time", "[mpsc_inbox]") {
  // One item in, one out: each pop hands out the last linked node, which re-pushes the stub.
  MpscInbox q;
  Msg a(0, 0), b(0, 1);
  for (int round = 0; round < 1000; ++round) {
    Msg& m = (round % 2) ? b : a;  // nodes are reused as soon as pop returned them
    REQUIRE(q.push(&m) == PushResult::Pushed);
    REQUIRE(pop_expect(q, PopStatus::Item) == &m);
    pop_expect(q, PopStatus::Empty);
  }
}

TEST_CASE("inbox: Empty vs Closed vs Item, precisely", "[mpsc_inbox]") {
  MpscInbox q;
  Msg a(0, 0), b(0, 1), late(0, 2);

  pop_expect(q, PopStatus::Empty);
  REQUIRE(q.push(&a) == PushResult::Pushed);
  REQUIRE(q.push(&b) == PushResult::Pushed);
  q.close();
  CHECK(q.is_closed());

  SECTION("items pushed before close are still popped, in order, then Closed") {
    REQUIRE(pop_expect(q, PopStatus::Item) == &a);
    REQUIRE(pop_expect(q, PopStatus::Item) == &b);
    pop_expect(q, PopStatus::Closed);
    pop_expect(q, PopStatus::Closed);  // final
  }
  SECTION("a push after close is refused, and the node is the caller's again") {
    REQUIRE(q.push(&late) == PushResult::Closed);
    CHECK(late.producer == 0);
    CHECK(late.seq == 2);
    // Refused, never visible: the queue still ends after a, b.
    REQUIRE(pop_expect(q, PopStatus::Item) == &a);
    REQUIRE(pop_expect(q, PopStatus::Item) == &b);
    pop_expect(q, PopStatus::Closed);
    // The caller owns `late`: it can be pushed into another inbox and comes out intact.
    MpscInbox other;
    REQUIRE(other.push(&late) == PushResult::Pushed);
    Msg* m = pop_expect(other, PopStatus::Item);
    REQUIRE(m == &late);
    CHECK(m->seq == 2);
    pop_expect(other, PopStatus::Empty);
  }
  SECTION("close is idempotent") {
    q.close();
    q.close();
    CHECK(q.is_closed());
    REQUIRE(q.push(&late) == PushResult::Closed);
    REQUIRE(pop_expect(q, PopStatus::Item) == &a);
    REQUIRE(pop_expect(q, PopStatus::Item) == &b);
    pop_expect(q, PopStatus::Closed);
    q.close();
    pop_expect(q, PopStatus::Closed);
  }
}

TEST_CASE("inbox: close on an empty inbox answers Closed at once", "[mpsc_inbox]") {
  MpscInbox q;
  q.close();
  pop_expect(q, PopStatus::Closed);
  Msg m;
  REQUIRE(q.push(&m) == PushResult::Closed);
  pop_expect(q, PopStatus::Closed);
}

TEST_CASE("inbox: close after everything was popped answers Closed, not Empty", "[mpsc_inbox]") {
  MpscInbox q;
  Msg a;
  REQUIRE(q.push(&a) == PushResult::Pushed);
  REQUIRE(pop_expect(q, PopStatus::Item) == &a);
  pop_expect(q, PopStatus::Empty);
  q.close();
  pop_expect(q, PopStatus::Closed);
}

TEST_CASE("inbox: drain(max) takes exactly max, in order, and says why it stopped", "[mpsc_inbox]") {
  MpscInbox q;
  std::vector<Msg> msgs(10);
  for (int i = 0; i < 10; ++i) {
    msgs[i].seq = i;
    REQUIRE(q.push(&msgs[i]) == PushResult::Pushed);
  }
  std::vector<int> got;
  auto take = [&](MpscInbox::Node* n) { got.push_back(as_msg(n)->seq); };

  MpscInbox::Drained d = q.drain(4, take);
  CHECK(d.count == 4);
  CHECK(d.stop == PopStatus::Item);  // stopped at max, more are waiting
  CHECK(got == std::vector<int>{0, 1, 2, 3});

  d = q.drain(0, take);
  CHECK(d.count == 0);
  CHECK(d.stop == PopStatus::Item);  // max 0: nothing taken, nothing looked at

  d = q.drain(100, take);
  CHECK(d.count == 6);
  CHECK(d.stop == PopStatus::Empty);
  CHECK(got == std::vector<int>{0, 1, 2, 3, 4, 5, 6, 7, 8, 9});

  REQUIRE(q.push(&msgs[0]) == PushResult::Pushed);
  q.close();
  d = q.drain(100, take);
  CHECK(d.count == 1);
  CHECK(d.stop == PopStatus::Closed);
  d = q.drain(100, take);
  CHECK(d.count == 0);
  CHECK(d.stop == PopStatus::Closed);
}

TEST_CASE("inbox: WINDOW: a producer between exchange and link makes pop answer Retry", "[mpsc_inbox][window]") {
  MpscInbox q;
  Msg a(0, 0), b(1, 0), c(2, 0);
  REQUIRE(q.push(&a) == PushResult::Pushed);
  REQUIRE(q.push(&b) == PushResult::Pushed);

  SECTION("Retry, not Empty, until the link lands; then FIFO") {
    unlink(a);  // b's producer: exchanged, not yet linked
    pop_expect(q, PopStatus::Retry);
    pop_expect(q, PopStatus::Retry);  // stable while the producer is stalled
    link(a, b);
    REQUIRE(pop_expect(q, PopStatus::Item) == &a);
    REQUIRE(pop_expect(q, PopStatus::Item) == &b);
    pop_expect(q, PopStatus::Empty);
  }
  SECTION("a is handed out first; Retry for the stalled b, never Empty") {
    REQUIRE(q.push(&c) == PushResult::Pushed);
    unlink(b);  // c's producer is in its window; a -> b is linked
    REQUIRE(pop_expect(q, PopStatus::Item) == &a);
    pop_expect(q, PopStatus::Retry);
    link(b, c);
    REQUIRE(pop_expect(q, PopStatus::Item) == &b);
    REQUIRE(pop_expect(q, PopStatus::Item) == &c);
    pop_expect(q, PopStatus::Empty);
  }
  SECTION("a completed push behind a stalled one: Retry, and no reordering") {
    REQUIRE(q.push(&c) == PushResult::Pushed);
    unlink(a);  // b stalled in its window; c completed (b -> c linked)
    pop_expect(q, PopStatus::Retry);  // c is complete, but must not overtake b
    link(a, b);
    REQUIRE(pop_expect(q, PopStatus::Item) == &a);
    REQUIRE(pop_expect(q, PopStatus::Item) == &b);
    REQUIRE(pop_expect(q, PopStatus::Item) == &c);
    pop_expect(q, PopStatus::Empty);
  }
  SECTION("close while a producer is in its window: its item is still delivered, then Closed") {
    unlink(a);
    q.close();  // b's exchange preceded close's: b is accepted
    pop_expect(q, PopStatus::Retry);
    link(a, b);
    REQUIRE(pop_expect(q, PopStatus::Item) == &a);
    REQUIRE(pop_expect(q, PopStatus::Item) == &b);
    pop_expect(q, PopStatus::Closed);
  }
  SECTION("drain stops on Retry and reports it") {
    unlink(a);
    int n = 0;
    MpscInbox::Drained d = q.drain(10, [&](MpscInbox::Node*) { ++n; });
    CHECK(d.count == 0);
    CHECK(d.stop == PopStatus::Retry);
    link(a, b);
    d = q.drain(10, [&](MpscInbox::Node*) { ++n; });
    CHECK(d.count == 2);
    CHECK(d.stop == PopStatus::Empty);
    CHECK(n == 2);
  }
}

TEST_CASE("inbox: multi-producer smoke: nothing lost, per-producer FIFO", "[mpsc_inbox][threads]") {
  constexpr int kProducers = 4;
  constexpr int kPerProducer = 20000;
  MpscInbox q;
  std::vector<std::vector<Msg>> msgs = grid(kProducers, kPerProducer);
  std::atomic<int> running{kProducers};
  std::vector<std::thread> producers;
  for (int p = 0; p < kProducers; ++p) {
    producers.emplace_back([&, p] {
      for (int s = 0; s < kPerProducer; ++s) {
        msgs[p][s].producer = p;
        msgs[p][s].seq = s;
        if (q.push(&msgs[p][s]) != PushResult::Pushed) std::abort();
      }
      running.fetch_sub(1, std::memory_order_relaxed);  // a hint; the join orders the rest
    });
  }
  std::vector<int> next(kProducers, 0);
  int total = 0, retries = 0, bad = 0;
  while (total < kProducers * kPerProducer) {
    const MpscInbox::Popped p = q.pop();
    if (p.status == PopStatus::Item) {
      Msg* m = as_msg(p.node);
      if (m->producer < 0 || m->producer >= kProducers || m->seq != next[m->producer]) {
        ++bad;
      } else {
        ++next[m->producer];
      }
      ++total;
    } else if (p.status == PopStatus::Retry) {
      ++retries;
      std::this_thread::yield();
    } else if (p.status == PopStatus::Closed) {
      FAIL("Closed although nobody closed the inbox");
    } else {
      if (running.load(std::memory_order_relaxed) == 0 && total < kProducers * kPerProducer) {  // test bookkeeping; the primitive under test provides the ordering
        // All producers done and the inbox Empty: the rest must be there after the join.
        break;
      }
      std::this_thread::yield();
    }
  }
  for (auto& t : producers) t.join();
  // After the join no producer is mid-push: never Retry now.
  for (;;) {
    const MpscInbox::Popped p = q.pop();
    REQUIRE(p.status != PopStatus::Retry);
    if (p.status != PopStatus::Item) break;
    Msg* m = as_msg(p.node);
    if (m->seq != next[m->producer]) ++bad;
    ++next[m->producer];
    ++total;
  }
  INFO("Retry answers seen while producers ran: " << retries);
  CHECK(bad == 0);
  CHECK(total == kProducers * kPerProducer);
  for (int p = 0; p < kProducers; ++p) CHECK(next[p] == kPerProducer);
}

TEST_CASE("inbox: close racing producers: every accepted node popped once, refused ones returned", "[mpsc_inbox][threads]") {
  constexpr int kProducers = 3;
  constexpr int kMax = 5000;
  for (int round = 0; round < 20; ++round) {
    MpscInbox q;
    std::vector<std::vector<Msg>> msgs = grid(kProducers, kMax);
    std::vector<std::vector<PushResult>> results(kProducers);
    std::vector<std::thread> producers;
    for (int p = 0; p < kProducers; ++p) {
      producers.emplace_back([&, p] {
        for (int s = 0; s < kMax; ++s) {
          msgs[p][s].producer = p;
          msgs[p][s].seq = s;
          results[p].push_back(q.push(&msgs[p][s]));
          if (results[p].back() == PushResult::Closed && results[p].size() > 2 &&
              results[p][results[p].size() - 2] == PushResult::Closed) {
            break;  // two refusals in a row: enough
          }
        }
      });
    }
    std::vector<std::vector<int>> popped(kProducers, std::vector<int>(kMax, 0));
    int n = 0;
    for (;;) {
      if (n == 200 * (round % 5)) q.close();  // the consumer closes at a varying moment
      const MpscInbox::Popped p = q.pop();
      if (p.status == PopStatus::Closed) break;
      if (p.status == PopStatus::Item) {
        ++popped[as_msg(p.node)->producer][as_msg(p.node)->seq];
        ++n;
      } else {
        std::this_thread::yield();
      }
    }
    for (auto& t : producers) t.join();
    pop_expect(q, PopStatus::Closed);
    for (int p = 0; p < kProducers; ++p) {
      bool seen_closed = false;
      for (std::size_t s = 0; s < results[p].size(); ++s) {
        INFO("round " << round << " producer " << p << " seq " << s);
        if (results[p][s] == PushResult::Pushed) {
          CHECK(popped[p][s] == 1);
          CHECK_FALSE(seen_closed);  // close is linearizable: no Pushed after a Closed
        } else {
          CHECK(popped[p][s] == 0);
          seen_closed = true;
        }
      }
      for (std::size_t s = results[p].size(); s < kMax; ++s) CHECK(popped[p][s] == 0);
    }
  }
}

// ---- issue 10: refused at once after close ------------------------------------------------
// Before the fix a push after close() still exchanged tail_ and joined the chain of refused
// pushes: it waited for its predecessor's verdict, so one producer held in that slow path
// stalled every later push to the closed inbox (the event-loop soak's close-phase "hang" was
// this convoy, ~10^6 refused posts per poster). The test holds producer A in the slow path
// through its probe's hook, if A ever gets there, and checks that B is refused without waiting.
// Deterministic: it waits for events (A held or returned; B waiting or returned), never for time.
namespace {
struct Held {
  std::atomic<int> state{0};  // 1: A is held inside its slow path; 2: released
  static void hook(void* arg, const void*) {
    auto* h = static_cast<Held*>(arg);
    h->state.store(1, std::memory_order_release);  // test gate: main waits for it
    while (h->state.load(std::memory_order_acquire) != 2) std::this_thread::yield();  // test gate
  }
};
}  // namespace

TEST_CASE("inbox: a push after close() returned is refused at once, never waits on another producer",
          "[mpsc_inbox][close][threads]") {
  MpscInbox q;
  Msg a(0, 0), b(1, 0);
  q.close();
  Held held;
  handoff::InboxProbe pa, pb;
  pa.on_slow_path = &Held::hook;
  pa.arg = &held;
  std::atomic<int> a_result{-1}, b_result{-1};  // -1 running; else PushResult
  std::thread ta([&] {
    handoff::InboxProbe::Install install(pa);
    a_result.store(static_cast<int>(q.push(&a)), std::memory_order_release);  // test gate
  });
  // Until A returned or is held in its slow path (one of the two always happens).
  while (a_result.load(std::memory_order_acquire) < 0 && held.state.load(std::memory_order_acquire) == 0) {  // pair with A's release stores
    std::this_thread::yield();
  }
  std::thread tb([&] {
    handoff::InboxProbe::Install install(pb);
    b_result.store(static_cast<int>(q.push(&b)), std::memory_order_release);  // test gate
  });
  // Until B returned or waits for a verdict or a link (one of the two always happens).
  while (b_result.load(std::memory_order_acquire) < 0 &&  // pairs with B's release store
         pb.where.load(std::memory_order_relaxed) == handoff::InboxProbe::kNowhere) {  // a progress flag only
    std::this_thread::yield();
  }
  const bool a_was_held = held.state.load(std::memory_order_acquire) == 1;  // pairs with the hook's release store
  const int b_waited = pb.where.load(std::memory_order_relaxed);  // a diagnostic value, no data hangs on it
  held.state.store(2, std::memory_order_release);  // let A go in every case, then judge
  ta.join();
  tb.join();
  INFO("A entered the slow path " << pa.slow_paths.load() << " time(s)" << (a_was_held ? " and was held there" : ""));
  if (b_waited != handoff::InboxProbe::kNowhere) {
    FAIL("REFUSAL WAITED: a push begun after close() returned waited for "
         << (b_waited == handoff::InboxProbe::kVerdict ? "its predecessor's verdict" : "its successor's link")
         << " (a convoy of refused pushes)");
  }
  CHECK(a_result.load() == static_cast<int>(PushResult::Closed));
  CHECK(b_result.load() == static_cast<int>(PushResult::Closed));
  CHECK(pa.slow_paths.load() == 0);
  CHECK(pb.slow_paths.load() == 0);
  CHECK(pb.waits.load() == 0);
  // The inbox never saw them: tail_ still holds the sentinel.
  const MpscInbox::DebugView v = q.debug_view();
  CHECK(v.tail == v.sentinel);
  CHECK(v.closed == 3);
  pop_expect(q, PopStatus::Closed);
}
