// handoff/primitives/mpsc_queue.hpp — value-typed MPSC queue over the intrusive inbox.
//
// WHAT: MpscQueue<T> stores T (move-only works) in nodes of an MpscInbox and recycles the
// nodes, so a steady stream of push/pop calls no allocator after warm-up.
//
// THREAD ROLES
//   push, close, is_closed           any thread
//   try_pop, drain, drop_all, stats  consumer only (one thread at a time)
//   destructor                       no other thread may still use the queue
//
// NODE RECYCLING, AND WHY THIS SCHEME. Nodes are allocated by producers and freed by the
// consumer, so a per-thread cache alone drains on one side and grows on the other. Instead:
//  * the consumer collects popped nodes in a private batch and, every kReturnBatch nodes,
//    pushes the whole batch onto the queue's return stack with one CAS (Treiber push; a
//    single pushing thread, so no ABA on push);
//  * a producer whose thread-local cache is empty takes the *whole* return stack with one
//    exchange (nothing to compare, so no ABA on pop either — the hazard of a Treiber pop,
//    where a node is popped, reused and pushed back between a read and a CAS, never arises);
//  * only when both are empty does a producer call operator new.
// Steady state: one CAS per kReturnBatch pops, one exchange per refill, no malloc. Memory
// held is bounded by the high-water mark of items in flight plus one batch per thread.
// Thread-local caches are per element type (a node is just memory, any queue of the same T
// may reuse it) and are freed when their thread exits. Alternatives rejected: a shared
// Treiber free list popped by producers (ABA; needs tagged pointers or hazard pointers);
// per-producer block allocators (need producer registration, which the loop's anonymous
// posting threads do not have).
//
// CLOSE. As MpscInbox: linearizable. push() returns Closed and leaves the caller's value
// untouched; items accepted before close() are still popped, then try_pop says Closed.
// Items still queued when the queue is destroyed are destroyed and counted in
// stats().dropped.
//
// EXCEPTIONS (issue 10). push: if T's constructor throws, the node goes back to this
// thread's cache and the exception propagates (strong: nothing pushed, nothing leaked); if a
// refused rvalue cannot be moved back, the value is lost but the node is not. try_pop: if
// moving the value out of the node throws, the node is held back and handed out first by
// the next try_pop/drain (strong: the item stays poppable, FIFO kept); drain moves each item
// into a local first (same guarantee), and if fn throws, that item counts as handed over.
// The thread-local cache dies in two steps: a guard's destructor frees the stock and marks
// the (trivially destructible) cache dead, so a push from a later thread_local destructor
// allocates (and a refused one frees) its own node instead of reusing freed memory.
// Mutants: HANDOFF_MUTANT_QUEUE_PUSH_NO_ROLLBACK (the node of a throwing construction
// leaks), HANDOFF_MUTANT_QUEUE_TAKE_NO_HOLD (a throwing move-out loses the item and its
// node); caught by tests/mpsc_queue_test.cpp (tests/mpsc_queue_tests.cmake).
//
// RESERVATIONS (issue 10). reserve() takes a node now (this thread's cache, the return stack,
// or operator new: it may throw std::bad_alloc); push(Reservation&&, v) later pushes into that
// node and never allocates. For a handoff whose claim must be followed by a push that cannot
// fail: the loop posts a waiting task's resumption from the thread that completed what it
// waited on (a channel push, a ThreadFuture), after the claim, where a bad_alloc would leave
// the task suspended forever; the waiter reserves when it parks, where a bad_alloc can still
// fail its co_await (loop/event_loop.hpp, ReservedPost). Only the node's source changes: the
// push itself, close and the inbox's verdict/link protocol are those of push(v).
//   * push(Reservation&&, v) consumes the reservation whatever the outcome: Pushed (the node is
//     the queue's), Closed (refused at once after close(), as push(v): the value is left as it
//     was and the node goes to this thread's cache), or T's constructor threw (the node goes
//     to this thread's cache). It throws only what T's constructor throws, and
//     std::invalid_argument for an empty reservation (before anything changes).
//   * An unused reservation returns its node on destruction, to the destroying thread's cache
//     (any thread; a dead cache: freed).
//   * LIFETIME: a reservation holds a free node and nothing of the queue (nodes are per element
//     type, not per queue), so it may outlive the queue that made it; push it only into a
//     live queue (any MpscQueue<T>).
//   * Memory: a reserved node counts as an item in flight (the high-water mark above).
//
// WHEN NOT TO USE IT: as for MpscInbox; and for payloads you already heap-allocate, use the
// inbox directly with the hook embedded in your object.
#pragma once

#include <cstddef>
#include <cstdint>
#include <new>
#include <optional>
#include <type_traits>
#include <utility>

#include "mpsc_inbox.hpp"
#include "node_reservation.hpp"

namespace handoff {

template <class T>
class MpscQueue {
  struct Node;  // below; a Reservation holds one
  struct GiveBack {
    static void release(Node* n) noexcept { release_to_cache(n); }
  };

 public:
  using value_type = T;

  struct Stats {
    std::uint64_t popped = 0;           // items handed out by try_pop / drain
    std::uint64_t dropped = 0;          // items destroyed unpopped by drop_all()
  };

  MpscQueue() = default;
  MpscQueue(const MpscQueue&) = delete;
  MpscQueue& operator=(const MpscQueue&) = delete;

  ~MpscQueue() {
    drop_all();  // also the node held back by a throwing take, if any
    free_chain(batch_);
    // acquire: pairs with the consumer-side release CAS that published these nodes.
    free_chain(static_cast<Node*>(returned_.exchange(nullptr, std::memory_order_acquire)));  // pairs with recycle()'s release CAS
  }

  // Consumer only. Destroys every item still queued (a push still in its window is waited
  // for: nothing accepted is ever skipped); returns how many, also counted in stats().dropped.
  // The destructor calls it; call it yourself after close() to read the count.
  std::size_t drop_all() {
    std::size_t n = 0;
    for (;;) {
      MpscInbox::Popped p = next_node();
      if (p.status == PopStatus::Item) {
        Node* node = static_cast<Node*>(p.node);
        node->value().~T();
        recycle(node);
        ++n;
      } else if (p.status == PopStatus::Retry) {
        sync::yield();  // a push accepted before us is still linking: it will be there
      } else {
        break;
      }
    }
    stats_.dropped += n;
    return n;
  }

  // Any thread. Pushed: the value was moved in. Closed: `v` is left as it was.
  PushResult push(T&& v) { return push_node(allocate(), std::move(v)); }
  PushResult push(const T& v) { return push_node(allocate(), v); }

  // A reserved node (see RESERVATIONS): move-only; gives the node back when destroyed unused.
  using Reservation = NodeReservation<Node, GiveBack>;
  // Any thread. A node for one later push that will not allocate (RESERVATIONS above). May
  // throw std::bad_alloc (then nothing is reserved).
  Reservation reserve() { return Reservation(allocate()); }
  // Any thread. As push(v), into the reserved node: never allocates. Consumes `r` whatever
  // the outcome; std::invalid_argument if `r` is empty.
  PushResult push(Reservation&& r, T&& v) { return push_node(r.take("MpscQueue"), std::move(v)); }
  PushResult push(Reservation&& r, const T& v) { return push_node(r.take("MpscQueue"), v); }

  // Consumer only. Strong guarantee: if moving the value out throws, the item stays first.
  std::optional<T> try_pop() {
    std::optional<T> out;
    MpscInbox::Popped p = next_node();
    if (p.status == PopStatus::Item) take(static_cast<Node*>(p.node), [&](T&& v) { out.emplace(std::move(v)); });
    return out;
  }

  // Consumer only. Says why nothing was taken (Empty, Retry, Closed) when it returns no Item.
  // Strong guarantee for the queue, as above (`out` is as the throwing assignment left it).
  PopStatus try_pop(T& out) {
    MpscInbox::Popped p = next_node();
    if (p.status == PopStatus::Item) take(static_cast<Node*>(p.node), [&](T&& v) { out = std::move(v); });
    return p.status;
  }

  // Consumer only. fn(T&&) for up to `max` items, oldest first. Each item is moved out of
  // its node first (a throw there leaves it queued, as try_pop); if fn throws, its item
  // counts as handed over and the rest stay queued.
  template <class F>
  MpscInbox::Drained drain(std::size_t max, F&& fn) {
    std::size_t n = 0;
    while (n < max) {
      MpscInbox::Popped p = next_node();
      if (p.status != PopStatus::Item) return {n, p.status};
      std::optional<T> v;
      take(static_cast<Node*>(p.node), [&](T&& x) { v.emplace(std::move(x)); });
      ++n;
      fn(std::move(*v));
    }
    return {n, PopStatus::Item};
  }

  void close() noexcept { inbox_.close(); }
  // Consumer only: see MpscInbox::consumer_sees_empty (the sleep re-check); a held-back
  // item (a throwing take) is work too.
  bool consumer_sees_empty() const noexcept { return held_ == nullptr && inbox_.consumer_sees_empty(); }
  bool is_closed() const noexcept { return inbox_.is_closed(); }

  // Consumer only.
  const Stats& stats() const noexcept { return stats_; }

 private:
  struct Node : InboxHook {
    // A free node holds no T: its storage holds the link of a private chain (a cache, the
    // consumer's batch, the return stack) as a plain pointer, not the inbox's atomic `next`.
    // Why (issue 10): chains of hundreds of thousands of nodes are walked when a cache or the
    // queue dies; through the atomic facade every step was a perturbation point, and under
    // load (sched_yield) freeing one thread's cache took longer than the soak's watchdog.
    union {
      Node* free_next;
      alignas(T) unsigned char storage[sizeof(T)];
    };
    Node() noexcept : free_next(nullptr) {}
    T& value() noexcept { return *std::launder(reinterpret_cast<T*>(storage)); }
  };

  static constexpr std::size_t kReturnBatch = 32;

  // A producer thread's private stock of free nodes (per element type). Trivially
  // destructible, so it stays usable until the thread's very end; the guard's destructor
  // frees the stock and marks it dead (see EXCEPTIONS above: pushes from later
  // thread_local destructors). Before issue 10 the cache freed its chain in its own
  // destructor and left `head` dangling.
  struct Cache {
    Node* head = nullptr;
    bool dead = false;
  };
  struct CacheGuard {
    Cache& c;
    ~CacheGuard() {
      free_chain(c.head);
      c.head = nullptr;
      c.dead = true;
    }
  };
  static Cache& cache() noexcept {
    thread_local Cache c;
    thread_local CacheGuard guard{c};
    return c;
  }

  // A private chain (our cache or batch, or the return stack acquired as a whole): plain.
  static Node* next_of(Node* n) noexcept { return n->free_next; }

  static void free_chain(Node* n) noexcept {
    while (n != nullptr) {
      Node* next = next_of(n);
      delete n;
      n = next;
    }
  }

  Node* allocate() {
    Cache& c = cache();
    if (c.dead) return new Node;  // a thread_local destructor's push: no stock to use
    if (c.head == nullptr) {
      // acquire: pairs with return_batch()'s release CAS: the consumer's last use of each node
      // (destroying its value, writing its links) happens-before our reuse.
      c.head = static_cast<Node*>(returned_.exchange(nullptr, std::memory_order_acquire));  // pairs with recycle()'s release CAS
    }
    if (c.head == nullptr) return new Node;
    Node* n = c.head;
    c.head = next_of(n);
    return n;
  }

  static void release_to_cache(Node* n) noexcept {
    Cache& c = cache();
    if (c.dead) {  // a thread_local destructor's refused push: nobody would free it later
      delete n;
      return;
    }
    n->free_next = c.head;  // private chain: no other thread sees it
    c.head = n;
  }

  // Push v in node n (fresh from allocate() or a reservation): n is the queue's if Pushed, and
  // back in this thread's cache otherwise (refused, or T's constructor threw).
  template <class U>
  PushResult push_node(Node* n, U&& v) {
#if defined(HANDOFF_MUTANT_QUEUE_PUSH_NO_ROLLBACK)
    ::new (static_cast<void*>(n->storage)) T(std::forward<U>(v));  // MUTANT: a throw leaks n
#else
    try {
      ::new (static_cast<void*>(n->storage)) T(std::forward<U>(v));
    } catch (...) {
      release_to_cache(n);  // rollback: nothing was published, the node is ours again
      throw;
    }
#endif
    if (inbox_.push(n) == PushResult::Pushed) return PushResult::Pushed;
    // Refused: give the value back untouched (for an rvalue, move it back), recycle the node
    // even if moving back throws.
    struct Recycle {
      Node* n;
      ~Recycle() {
        n->value().~T();
        release_to_cache(n);
      }
    } recycle_node{n};
    if constexpr (!std::is_lvalue_reference_v<U>) v = std::move(n->value());
    return PushResult::Closed;
  }

  // Consumer only. The next node: one held back by a throwing take first, else the inbox's.
  MpscInbox::Popped next_node() noexcept {
    if (held_ != nullptr) {
      Node* n = held_;
      held_ = nullptr;
      return {PopStatus::Item, n};
    }
    return inbox_.pop();
  }

  // Consumer only. put(T&&) moves the value out of n; then the value is destroyed and n
  // recycled. If put throws, n is held back and handed out again by the next pop.
  template <class Put>
  void take(Node* n, Put&& put) {
#if defined(HANDOFF_MUTANT_QUEUE_TAKE_NO_HOLD)
    put(std::move(n->value()));  // MUTANT: a throw loses the item and leaks its node
#else
    struct Hold {
      MpscQueue* q;
      Node* n;
      ~Hold() {
        if (n != nullptr) q->held_ = n;  // put threw: the item stays first in line
      }
    } hold{this, n};
    put(std::move(n->value()));
    hold.n = nullptr;
#endif
    n->value().~T();
    ++stats_.popped;
    recycle(n);
  }

  // Consumer only: batch freed nodes, publish a batch with one CAS.
  void recycle(Node* n) noexcept {
    n->free_next = batch_;  // private batch chain
    if (batch_ == nullptr) batch_tail_ = n;
    batch_ = n;
    if (++batch_size_ < kReturnBatch) return;
    Node* top = returned_.load(std::memory_order_relaxed);  // the CAS re-checks it
    do {
      batch_tail_->free_next = top;  // published by the release CAS below
      // release: pairs with allocate()'s acquire exchange, publishing the batch's links and
      // ordering our destruction of each value before a producer's reuse of the node.
    } while (!returned_.compare_exchange_weak(top, batch_, std::memory_order_release,  // publishes the batch to allocate()
                                              std::memory_order_relaxed));  // failure: retry only
    batch_ = nullptr;
    batch_tail_ = nullptr;
    batch_size_ = 0;
  }

  MpscInbox inbox_;
  // Return stack: pushed by the consumer (one CAS per batch), taken whole by producers.
  alignas(64) sync::atomic<Node*> returned_{nullptr};
  // Consumer-only state.
  alignas(64) Node* held_ = nullptr;  // popped, but its take threw: handed out next
  Node* batch_ = nullptr;
  Node* batch_tail_ = nullptr;
  std::size_t batch_size_ = 0;
  Stats stats_;
};

}  // namespace handoff
