// handoff/primitives/mpsc_inbox.hpp — intrusive multi-producer single-consumer inbox.
//
// WHAT: an unbounded, node-based, intrusive MPSC FIFO: Dmitry Vyukov's "intrusive MPSC
// node-based queue" (1024cores.net, 2010; the same algorithm as in Relacy's examples), with a
// linearizable close() added. It is the event loop's only cross-thread entry point.
//
// THREAD ROLES
//   push(node)      any thread       wait-free while the inbox is open: one acquire load, one
//                                    exchange, one seq_cst load, two stores; wait-free (one
//                                    load) once close() has returned
//   close()         any thread       wait-free; idempotent
//   pop / drain     consumer only    one thread at a time (the loop thread)
//   is_closed()     any thread
//
// THE ALGORITHM (Vyukov). Producers swing `tail_` to their node with one exchange, then link
// the previous tail to it (`prev->next = node`). The consumer follows `next` links from
// `head_`. A permanent `stub_` node stands in when the queue would otherwise become empty, so
// that the consumer can hand out the last real node: it re-pushes the stub behind it.
//
// THE WINDOW. Between a producer's exchange and its link store the chain is broken: the
// consumer sees `head_->next == nullptr` although `tail_ != head_`. It then answers
// PopStatus::Retry — not Empty, and it does not wait: the producer is running and will link
// within a few instructions (unless it is preempted; then every later item waits behind it,
// which is the price of a wait-free push and why the loop re-polls rather than sleeps on
// Retry). Nodes are never lost or reordered by the window: the exchange already fixed their
// order.
//
// DEVIATION: LINEARIZABLE CLOSE. Vyukov's queue has no close. We need one whose effect is a
// single point: every push whose exchange precedes close()'s exchange is accepted (it will
// be popped before PopStatus::Closed); every later push returns PushResult::Closed and the
// caller keeps its node. close() sets `closed_`, then exchanges a `sentinel_` node into
// `tail_` and links the previous tail to it; the consumer reports Closed when it reaches the
// sentinel. A producer learns on which side of the sentinel its exchange landed:
//
//   fast path  After its exchange the producer loads `closed_`. If it reads 0, its exchange
//              precedes close()'s exchange: accepted. Why: every write to `tail_` is an
//              exchange or a CAS, so a producer whose exchange comes after close()'s in
//              tail_'s modification order reads from a chain of read-modify-writes that
//              starts at close()'s exchange (a release sequence). Its acquire half then
//              synchronizes with close(), whose earlier write of `closed_` it must see.
//              (The Relacy model confirms that acq_rel would do; we keep seq_cst, which costs
//              the same locked instruction on x86 and leaves no weaker order to argue about.)
//   slow path  Read 1: the answer is its predecessor's. If `prev` is the sentinel: refused.
//              Otherwise wait until the predecessor's producer has published its verdict
//              (every producer stores its verdict in its own node before linking) and copy
//              it. Waits only happen after close() began, and each is bounded by one other
//              producer's progress, like the consumer's window above.
//   refusal    A refused producer links `prev->next = node` too (telling prev's owner that it
//              has finished reading prev), then tries CAS(tail_: node -> sentinel_). If that
//              succeeds nobody will ever read its node; if it fails, a successor exists and
//              the producer waits until that successor's link, its last access to the node.
//              Then the node is the caller's again.
//
// A node is never popped before its successor has linked to it, so a successor that reads
// its predecessor's verdict always reads a live node.
//
// REFUSED AT ONCE AFTER CLOSE (the fix of issue 10's soak "hang"). push() first loads
// `closed_`; once close() has put the sentinel in (kSentinelIn), it returns Closed without
// touching `tail_` or the node. Correct because kSentinelIn is set after close()'s exchange
// (acquire/release), so any exchange of ours would land after the sentinel anyway. Why it
// matters: before, every push after close() still exchanged `tail_` and joined the chain of
// refused pushes, waiting for its predecessor's verdict and then for its successor's link.
// Posters that keep posting to a closed loop (the event-loop stress test's close phase did,
// ~10^6 times each in soak mode) then form a convoy: each refused post costs a wait on two
// other threads (measured, 8 posters on 2 vCPUs with perturbation: 17-55 us per refused post
// against 3 us alone), and one poster preempted in its slow path stalls every later post to
// that loop. Now only a push racing close() itself (its load before kSentinelIn, its exchange
// after close()'s) takes the slow path: at most one per producer per close. Node reuse (a
// refused node goes straight back to its producer's cache and is pushed again) was suspected
// and is safe: a refused node is the caller's again only once nobody can read it (CAS back
// to the sentinel, or its successor's link, which comes after that successor's last read);
// tla/MpscInbox.tla checks it with reuse (MpscInboxReuse*.cfg), and the variant that skips
// settle_refused deadlocks there (MpscInboxBuggyReuseNoSettle.cfg).
//
// MEMORY. Intrusive: the inbox allocates nothing. A node must stay alive and untouched from
// push until pop returns it (accepted) or push returns Closed (refused). MpscQueue<T>
// (mpsc_queue.hpp) is the value-typed wrapper that owns and recycles nodes.
//
// THE CONSUMER AND CLOSE. pop() never waits while the inbox is open. Once close() has begun,
// its re-push of the stub goes through the same publish() as a push and may wait for one
// producer's verdict (the slow path above), bounded by that producer's progress (found by
// the TLA+ model, tla/MpscInboxPopWaits.cfg).
//
// WHEN NOT TO USE IT. Several consumers (use a deque or an MPMC queue); bounded capacity or
// backpressure (use the channel); a consumer that must sleep until an item arrives (pair it
// with the loop's wake protocol — the inbox itself never blocks); strict wait-freedom for
// the consumer (a preempted producer delays everything behind it).
//
// DEBUG INTROSPECTION. InboxProbe (below): a thread that installs one gets its slow-path
// waits and the consumer's non-Item answers recorded in it, for a watchdog to print; the
// fast paths never look at it. InboxProbe::on_slow_path is a test hook that runs when its
// thread enters publish()'s slow path, so a test can hold a producer there.
//
// MUTANTS (build flags that seed known bugs; the checks in stress/, tests/model/ and tla/
// must catch them): HANDOFF_MUTANT_INBOX_LINK_RELAXED (link store relaxed: payload race),
// HANDOFF_MUTANT_INBOX_CLOSE_PRECHECK (closed_ checked before the exchange, not after: a
// push returns Pushed but lands behind the sentinel and is lost),
// HANDOFF_MUTANT_INBOX_LATE_REFUSAL (no refusal at once after close: the code before the
// fix above; tests/mpsc_inbox_test.cpp's held-producer test must report the wait).
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>

#include "results.hpp"
#include "sync.hpp"

namespace handoff {

// Where a thread is inside an inbox, for watchdogs and tests (see DEBUG INTROSPECTION).
// Written only on cold paths (slow-path waits after close(), Retry/Empty answers, the sleep
// re-check) by the thread that installed it; read by any thread. Its atomics are plain
// std::atomic on purpose, not the sync facade: they are bookkeeping outside the protocol, so
// they add no perturbation step and no state for the model checker, and every access is
// relaxed (a watchdog wants values, not ordering).
struct InboxProbe {
  enum Where : int { kNowhere = 0, kVerdict = 1, kLink = 2 };
  // Producer side: the wait this thread is in, and on which node.
  std::atomic<int> where{kNowhere};
  std::atomic<const void*> node{nullptr};   // kVerdict: the predecessor; kLink: our own node
  std::atomic<std::uint64_t> slow_paths{0};  // pushes that found close() begun after their exchange
  std::atomic<std::uint64_t> waits{0};       // turns spent in slow-path waits, in total
  // Consumer side.
  std::atomic<const void*> retry_head{nullptr};  // head_ at the last Retry answer
  std::atomic<const void*> retry_tail{nullptr};  // tail_ as that answer read it
  std::atomic<std::uint64_t> retry_streak{0};    // Retry answers in a row at retry_head
  std::atomic<std::uint64_t> empties{0};         // Empty answers
  std::atomic<std::uint64_t> saw_empty{0};       // consumer_sees_empty() calls that said true
  std::atomic<std::uint64_t> saw_work{0};        // ... that said false
  // Test hook: runs in this thread when it enters publish()'s slow path (after its exchange,
  // before its verdict), with the predecessor its exchange returned.
  void (*on_slow_path)(void* arg, const void* prev) = nullptr;
  void* arg = nullptr;

  // This thread's probe, or nullptr. Under Relacy all model threads share one OS thread, so
  // the slot is per model thread.
  static InboxProbe*& current() noexcept {
#if defined(HANDOFF_SYNC_RELACY) && HANDOFF_SYNC_RELACY
    static InboxProbe* slots[64] = {};
    return slots[rl::thread_index() % 64];
#else
    thread_local InboxProbe* p = nullptr;
    return p;
#endif
  }
  // RAII: install `probe` for this thread for the scope.
  class Install {
   public:
    explicit Install(InboxProbe& probe) noexcept : saved_(current()) { current() = &probe; }
    ~Install() { current() = saved_; }
    Install(const Install&) = delete;
    Install& operator=(const Install&) = delete;

   private:
    InboxProbe* saved_;
  };

  void set_wait(Where w, const void* n) noexcept {
    node.store(n, std::memory_order_relaxed);  // debug bookkeeping, read relaxed by a watchdog
    where.store(w, std::memory_order_relaxed);  // debug bookkeeping, read relaxed by a watchdog
  }
  void bump(std::atomic<std::uint64_t>& c) noexcept {
    c.store(c.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);  // single writer; debug
  }
};

// The hook an inbox node embeds (as a base or member). 16 bytes.
struct InboxHook {
  sync::atomic<InboxHook*> next{nullptr};
  sync::atomic<std::uint32_t> verdict{0};
};

class MpscInbox {
 public:
  using Node = InboxHook;

  struct Popped {
    PopStatus status;
    Node* node;  // non-null iff status == Item
  };

  struct Drained {
    std::size_t count;  // items handed to the callback, in FIFO order
    PopStatus stop;     // why it stopped: Item (hit max), Empty, Retry or Closed
  };

  MpscInbox() noexcept : tail_(&stub_), head_(&stub_) {
    stub_.verdict.store(kAccepted, std::memory_order_relaxed);  // before any thread can see the inbox
  }
  MpscInbox(const MpscInbox&) = delete;
  MpscInbox& operator=(const MpscInbox&) = delete;

  // Any thread. Pushed: the node now belongs to the inbox until pop returns it. Closed: the
  // node was never visible to the consumer and is the caller's again.
  PushResult push(Node* n) noexcept {
#if !defined(HANDOFF_MUTANT_INBOX_LATE_REFUSAL)
    // Closed for good: refuse without touching tail_ or n (REFUSED AT ONCE in the header).
    // acquire: pairs with close()'s release fetch_or(kSentinelIn), after its exchange.
    if (closed_.load(std::memory_order_acquire) & kSentinelIn) return PushResult::Closed;  // pairs with close()'s kSentinelIn
#endif
    return publish(n) ? PushResult::Pushed : PushResult::Closed;
  }

  // Consumer only. Takes the oldest linked node, or says why there is none.
  Popped pop() noexcept {
    Node* head = head_;
    if (head == &sentinel_) return {PopStatus::Closed, nullptr};
    // acquire: pairs with the link store (release) of head's successor, so the successor's
    // payload, written before its producer's exchange, is visible.
    Node* next = head->next.load(std::memory_order_acquire);  // pairs with the successor link
    if (head == &stub_) {
      if (next == nullptr) {
        // seq_cst: a plain read of who pushed last; an exchange we do not see yet is a push
        // that has not happened for us, so Empty is a correct answer at this point.
        Node* t = tail_.load(std::memory_order_seq_cst);  // see above
        return {note_answer(t == &stub_ ? PopStatus::Empty : PopStatus::Retry, head, t), nullptr};
      }
      head_ = next;  // skip the stub
      head = next;
      if (head == &sentinel_) return {PopStatus::Closed, nullptr};
      next = head->next.load(std::memory_order_acquire);  // pairs with the successor's link (release)
    }
    if (next != nullptr) {
      head_ = next;
      return {PopStatus::Item, head};
    }
    // head is the last linked node. If a producer has already swung tail_ past it, it is in
    // the window: Retry. Otherwise re-push the stub behind head so head can be handed out.
    Node* t = tail_.load(std::memory_order_seq_cst);  // sees any exchange after head's
    if (t != head) return {note_answer(PopStatus::Retry, head, t), nullptr};
    publish(&stub_);  // refused only if close() won the race; then close links head->next
    next = head->next.load(std::memory_order_acquire);  // pairs with the stub's or a producer's or close()'s link (release)
    if (next != nullptr) {
      head_ = next;
      return {PopStatus::Item, head};
    }
    return {note_answer(PopStatus::Retry, head, nullptr), nullptr};
  }

  // Consumer only. Hands up to `max` nodes to fn(Node*), oldest first, in one pass.
  template <class F>
  Drained drain(std::size_t max, F&& fn) {
    std::size_t n = 0;
    while (n < max) {
      Popped p = pop();
      if (p.status != PopStatus::Item) return {n, p.status};
      ++n;
      fn(p.node);
    }
    return {n, PopStatus::Item};
  }

  // Any thread, idempotent. After close() returns — in every thread that called it — every
  // later push returns Closed, and the consumer sees every earlier-accepted node, then
  // PopStatus::Closed. Wait-free for the first caller; a concurrent second caller waits,
  // bounded by the first caller's progress, until the sentinel is in (found by the Relacy
  // model, tests/model: returning at once would let a push after its return be accepted).
  void close() noexcept {
    // seq_cst: one RMW decides the winner; the winner's later tail_ exchange carries it.
    if (closed_.fetch_or(kClosing, std::memory_order_seq_cst) & kClosing) {
      // acquire: pairs with the winner's release fetch_or(kSentinelIn) after its exchange.
      while ((closed_.load(std::memory_order_acquire) & kSentinelIn) == 0) sync::yield();  // pairs with the winner's kSentinelIn
      return;
    }
    // seq_cst: the linearization point of close. Exchanges before it are accepted pushes.
    Node* last = tail_.exchange(&sentinel_, std::memory_order_seq_cst);
    // release: lets a concurrent close() return (pairs with its acquire load above).
    closed_.fetch_or(kSentinelIn, std::memory_order_release);  // releases a losing close()
    // release: pairs with the consumer's acquire load of last->next; end of stream.
    last->next.store(&sentinel_, std::memory_order_release);  // end of stream for the consumer
  }

  // Any thread. True once a close() has taken effect: every push from now on returns Closed.
  bool is_closed() const noexcept {
    return (closed_.load(std::memory_order_acquire) & kSentinelIn) != 0;  // pairs with close()'s release
  }

  // Consumer only. True if no push has taken effect since the consumer's last pop: the
  // re-check of a sleep protocol (loop/wake_gate.hpp). The seq_cst load of tail_ is the load
  // half of a Dekker pair: the loop stores "sleeping" (seq_cst) and then calls this; a
  // producer exchanges tail_ (seq_cst) and then loads "sleeping". At least one of the two
  // sees the other, so an item is never left unseen while the loop sleeps unsignalled.
  bool consumer_sees_empty() const noexcept {
    const bool empty = head_ == &stub_ && tail_.load(std::memory_order_seq_cst) == &stub_;  // see above
    if (InboxProbe* p = InboxProbe::current()) p->bump(empty ? p->saw_empty : p->saw_work);
    return empty;
  }

  // Any thread; debug introspection only (a watchdog's report, a test's assertion). A
  // snapshot of tail_ and of the close flags, and the addresses that name the stub and the
  // sentinel in it. relaxed: a value to print, no data hangs on it.
  struct DebugView {
    const void* tail;
    std::uint32_t closed;  // bit 0: close() began; bit 1: the sentinel is in tail_
    const void* stub;
    const void* sentinel;
  };
  DebugView debug_view() const noexcept {
    return {tail_.load(std::memory_order_relaxed), closed_.load(std::memory_order_relaxed),  // debug snapshot
            &stub_, &sentinel_};
  }


 private:
  enum : std::uint32_t { kUnknown = 0, kAccepted = 1, kRefused = 2 };  // verdicts
  enum : std::uint32_t { kClosing = 1, kSentinelIn = 2 };                // closed_ bits

  // Push `n`; true if accepted, false if refused (then `n` is free again on return).
  bool publish(Node* n) noexcept {
    // relaxed: both are published to our successor and to the consumer by the exchange below
    // (release half), and no one can reach n before it.
    n->next.store(nullptr, std::memory_order_relaxed);       // published by the exchange
    n->verdict.store(kUnknown, std::memory_order_relaxed);   // published by the exchange
    std::uint32_t verdict = kAccepted;
#if defined(HANDOFF_MUTANT_INBOX_CLOSE_PRECHECK)
    // MUTANT: check-then-act. A close() between this load and the exchange is missed, and
    // the node lands behind the sentinel while the caller is told Pushed.
    const bool closed_before = closed_.load(std::memory_order_seq_cst) != 0;  // mutant: wrong side of the exchange
    Node* prev = tail_.exchange(n, std::memory_order_seq_cst);  // mutant: as below
    if (closed_before) verdict = (prev == &sentinel_) ? kRefused : wait_verdict(prev);
#else
    // seq_cst exchange: release publishes n's fields; acquire makes prev's fields readable and,
    // if close()'s exchange came first, makes its closed_ write visible (release sequence on
    // tail_, see the header); seq_cst on top costs nothing on x86.
    Node* prev = tail_.exchange(n, std::memory_order_seq_cst);
    // seq_cst: reads 0 only if our exchange preceded close()'s (see the header).
    if (closed_.load(std::memory_order_seq_cst) != 0) {
      if (InboxProbe* p = InboxProbe::current()) entered_slow_path(*p, prev);
      verdict = (prev == &sentinel_) ? kRefused : wait_verdict(prev);
    }
#endif
    // release: pairs with wait_verdict()'s acquire load in our successor's slow path.
    n->verdict.store(verdict, std::memory_order_release);  // pairs with wait_verdict()
    if (prev != &sentinel_) {
#if defined(HANDOFF_MUTANT_INBOX_LINK_RELAXED)
      prev->next.store(n, std::memory_order_relaxed);  // MUTANT: payload no longer published
#else
      // release: pairs with the consumer's acquire load of prev->next (publishes n's payload),
      // and, for a refused prev, with its producer's acquire wait in settle_refused().
      prev->next.store(n, std::memory_order_release);  // publishes n's payload (consumer)
#endif
    }
    if (verdict == kRefused) {
      settle_refused(n);
      return false;
    }
    return true;
  }

  // Slow path: copy the verdict of our predecessor, published by its producer.
  std::uint32_t wait_verdict(Node* prev) noexcept {
    for (;;) {
      // acquire: pairs with the predecessor producer's release store of its verdict.
      const std::uint32_t v = prev->verdict.load(std::memory_order_acquire);  // pairs with the predecessor's verdict store
      if (v != kUnknown) {
        if (InboxProbe* p = InboxProbe::current()) p->set_wait(InboxProbe::kNowhere, nullptr);
        return v;
      }
      if (InboxProbe* p = InboxProbe::current()) waiting(*p, InboxProbe::kVerdict, prev);
      sync::yield();  // bounded by that producer's progress; yield so it can run on 2 cores
    }
  }

  // A refused node may still be read by a successor's slow path: wait until no one will.
  void settle_refused(Node* n) noexcept {
    Node* expected = n;
    // seq_cst: an exchange after this CAS gets the sentinel (refused at once) and never sees n.
    if (tail_.compare_exchange_strong(expected, &sentinel_, std::memory_order_seq_cst,
                                      std::memory_order_seq_cst)) {
      return;
    }
    // A successor exchanged after us; its link store is its last access to n.
    // acquire: pairs with the successor's release link store.
    while (n->next.load(std::memory_order_acquire) == nullptr) {  // pairs with the successor's link
      if (InboxProbe* p = InboxProbe::current()) waiting(*p, InboxProbe::kLink, n);
      sync::yield();  // bounded by the successor's progress (it only needs our verdict, stored)
    }
    if (InboxProbe* p = InboxProbe::current()) p->set_wait(InboxProbe::kNowhere, nullptr);
  }

  // Probe bookkeeping: cold paths only (see DEBUG INTROSPECTION).
  static void entered_slow_path(InboxProbe& p, const Node* prev) {
    p.bump(p.slow_paths);
    if (p.on_slow_path != nullptr) p.on_slow_path(p.arg, prev);
  }
  static void waiting(InboxProbe& p, InboxProbe::Where w, const Node* n) noexcept {
    p.set_wait(w, n);
    p.bump(p.waits);
  }
  PopStatus note_answer(PopStatus s, const Node* head, const Node* tail) const noexcept {
    InboxProbe* p = InboxProbe::current();
    if (p == nullptr) return s;
    if (s == PopStatus::Empty) {
      p->bump(p->empties);
    } else {
      const bool same = p->retry_head.load(std::memory_order_relaxed) == head;  // debug bookkeeping
      p->retry_head.store(head, std::memory_order_relaxed);  // debug bookkeeping
      p->retry_tail.store(tail, std::memory_order_relaxed);  // debug bookkeeping
      p->retry_streak.store(same ? p->retry_streak.load(std::memory_order_relaxed) + 1 : 1,  // debug bookkeeping
                            std::memory_order_relaxed);  // single writer
    }
    return s;
  }

  // Producers' side: swung by every push. Its own cache line: this is the contended word.
  alignas(64) sync::atomic<Node*> tail_;
  // Read by every push, written once by close(): stays shared in every cache until then.
  alignas(64) sync::atomic<std::uint32_t> closed_{0};
  // Consumer's side: plain, consumer-only.
  alignas(64) Node* head_;
  // Linked to by producers; re-pushed by the consumer.
  alignas(64) Node stub_;
  // End-of-stream marker; never popped as an item.
  Node sentinel_;
};

}  // namespace handoff
