// handoff/primitives/work_stealing_deque.hpp — the Chase–Lev work-stealing deque.
//
// WHAT: a growable single-owner, multi-thief deque of small trivially copyable values (the
// executor stores Job* pointers): D. Chase and Y. Lev, "Dynamic Circular Work-Stealing Deque"
// (SPAA 2005), with the memory orders of N. M. Lê, A. Pop, A. Cohen and F. Zappa Nardelli,
// "Correct and Efficient Work-Stealing for Weak Memory Models" (PPoPP 2013), Fig. 1 (C11).
//
// THREAD ROLES
//   push(v)        owner only    wait-free except when the buffer is full (then it grows:
//                                one allocation and a copy of the live elements)
//   pop()          owner only    LIFO end; wait-free (one CAS, only for the last element)
//   steal(out)     any thread    FIFO end; lock-free: one CAS; answers Success, Empty, or
//                                Retry (it lost a CAS race: the deque may still hold items)
//   size_hint(),   any thread    approximate: may be stale by the time the caller reads it
//   empty_hint()
//   capacity()     owner only
// The owner is one thread at a time (the worker that owns the deque). Destroy the deque only
// when no thread can call steal() any more.
//
// THE ALGORITHM. Two indices: `top_` (the thieves' end, only ever incremented, by a CAS) and
// `bottom_` (the owner's end, written only by the owner). Live elements are [top_, bottom_),
// element i in slot i & (capacity - 1) of a circular buffer. push writes the slot, then
// publishes it by bumping bottom_. A thief reads top_, then bottom_; if top < bottom it reads
// slot top and claims it with CAS(top_: top -> top + 1); losing the CAS means another thief or
// the owner took that element first: Retry. pop first *reserves* the bottom element by
// storing bottom_ - 1, then reads top_: if top < new bottom the element is the owner's with no
// CAS (a thief that comes later sees the lowered bottom_); if top == new bottom it is the last
// element and owner and thieves may race for it, so the owner claims it with the same CAS on
// top_ as a thief, then restores bottom_ (the deque is empty either way); if top > new bottom
// the deque was empty: restore bottom_.
//
// THE ORDERS (docs/work_stealing_deque.md has the table). Lê et al. write two seq_cst fences:
// in pop between the bottom_ store and the top_ load, in steal between the top_ load and the
// bottom_ load. That is a Dekker pattern: pop must not miss a thief's claim of the element it
// is about to take without a CAS, and a thief must not miss the owner's reservation. GCC's
// and Clang's TSan do not model standalone fences (shared/VERIFY.md), so here the four
// accesses themselves are seq_cst: pop's bottom_ store and top_ load, steal's top_ load and
// bottom_ load. All four are then in the single total order S; if pop's top_ load reads a top
// from before some thief's CAS, that CAS and every later thief access come after pop's
// bottom_ store in S, so such a thief reads the lowered bottom_ and cannot claim pop's element.
// (Making just one of the four weaker breaks this — see HANDOFF_MUTANT_DEQUE_RELAXED.) Cost on
// x86: pop's seq_cst store is the one locked instruction Lê's fence costs; steal's seq_cst
// loads are plain loads (cheaper than Lê's fence in steal). Weaker orders, after Lê et al.:
//   * push's top_ load is acquire (Lê: acquire): it synchronizes with the CAS of the thief
//     that took the element whose slot push may now overwrite, so that thief's read of the
//     slot happens before the overwrite and cannot see the new value;
//   * push's bottom_ store is seq_cst (Lê: release fence + relaxed store; release suffices
//     for the deque itself): its release half publishes the slot, and whatever the caller
//     wrote before push (the Job), to the thief whose seq_cst (hence acquire) bottom_ load
//     reads it. DEVIATION, for the caller: it is seq_cst so that a pusher's next seq_cst load
//     (the executor's event-count notify: "any sleeper?") cannot be ordered before it — the
//     Dekker pair against a parking worker's announce-then-re-check (steal's seq_cst loads).
//     With release only, x86 may let the notify's load pass the store in the store buffer:
//     the worker sees an empty deque, the pusher sees no sleeper, the job is stranded. Cost:
//     one locked instruction (xchg) per push on x86, measured in bench/work_stealing_deque_bench;
//   * the buffer_ store after a grow is release and steal's buffer_ load acquire (Lê:
//     consume, which no compiler implements as anything but acquire): the copied slots are
//     visible to a thief that sees the new buffer;
//   * slots are sync::atomic<T> accessed relaxed (Lê: relaxed): a thief reads slot top
//     *before* its CAS, possibly while the owner overwrites it after another thief's claim;
//     such a read is discarded because the CAS fails. Atomic slots make that race benign
//     instead of undefined (this is why T must be trivially copyable and lock-free);
//   * the owner's own loads of bottom_ and buffer_ are relaxed: only the owner writes them;
//   * DEVIATION: the stores in pop that restore bottom_ (empty deque, or after the last-element
//     CAS) are release, not relaxed. C11's release sequence, on which Lê et al.'s proof relies,
//     included later stores by the same thread; C++20's (P0982) includes only RMWs. A thief
//     that reads the restored value then still synchronizes with every earlier push. Free on
//     x86 (a plain store);
//   * the CASes on top_ are seq_cst on success (Lê: seq_cst) and relaxed on failure (a failed
//     CAS's value is discarded).
//
// RESIZE AND RETIREMENT. When push finds bottom - top == capacity, the owner allocates a buffer
// of twice the capacity, copies the live elements [top, bottom) into it (same indices, new
// mask), and publishes it with a release store of buffer_. A thief may have loaded the old
// buffer pointer just before and still read a slot of it; the old buffer is never written
// again, and the element it reads there is the right one whenever its CAS succeeds (an index
// the old buffer holds for a live top is unchanged). So old buffers are not freed on growth:
// they are kept on a list owned by the deque (owner-only, linked through the buffer) and freed
// by the destructor. No hazard pointers or epochs: the retired buffers sum to less than the
// current capacity, so the deque never holds more than twice what its largest size needs.
// The deque never shrinks.
//
// WHEN NOT TO USE IT. Several producers (this is single-producer: use the MPSC inbox or a
// channel); values that are not trivially copyable or not lock-free atomics (store pointers);
// a consumer that must sleep until work arrives (the deque never blocks: pair it with an event
// count — push's seq_cst bottom_ store and steal's seq_cst loads make "push, then notify" vs
// "announce, then steal" a correct Dekker pair); FIFO order for the owner (pop is LIFO).
//
// MUTANTS (build flags that seed known bugs; tests/model and stress/ must catch them):
//   HANDOFF_MUTANT_DEQUE_NO_LAST_CAS  pop takes the last element like any other, without the
//                                     CAS on top_: a thief can take it too (duplicate take)
//   HANDOFF_MUTANT_DEQUE_RELAXED      pop's bottom_ store relaxed instead of seq_cst: it leaves
//                                     the total order S, and with two elements a thief's second
//                                     steal and the owner's pop can take the same element
#pragma once

#include <atomic>
#include <bit>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <optional>
#include <stdexcept>
#include <type_traits>

#include "results.hpp"
#include "sync.hpp"

namespace handoff {

// What the tests and benchmarks template over: WorkStealingDeque<T> and MutexDeque<T>.
template <class D>
concept WorkDeque = std::constructible_from<D, std::size_t> &&
    requires(D& d, const D& cd, typename D::value_type v, typename D::value_type& out) {
      { d.push(v) } -> std::same_as<void>;
      { d.pop() } -> std::same_as<std::optional<typename D::value_type>>;
      { d.steal(out) } -> std::same_as<StealStatus>;
      { cd.size_hint() } noexcept -> std::same_as<std::size_t>;
      { cd.empty_hint() } noexcept -> std::same_as<bool>;
      { cd.capacity() } noexcept -> std::same_as<std::size_t>;
    };

template <class T>
class WorkStealingDeque {
  static_assert(std::is_trivially_copyable_v<T>,
                "WorkStealingDeque<T>: T must be trivially copyable (a thief copies a slot "
                "before it knows whether it won the element); store pointers");
  static_assert(std::atomic<T>::is_always_lock_free,
                "WorkStealingDeque<T>: T must fit a lock-free atomic (e.g. a pointer)");

 public:
  using value_type = T;

  // initial_capacity is rounded up to a power of two, at least 2. Throws std::length_error if
  // that is not representable, std::bad_alloc if the buffer cannot be allocated.
  explicit WorkStealingDeque(std::size_t initial_capacity = 64)
      : buffer_(new Buffer(round_capacity(initial_capacity))) {}

  WorkStealingDeque(const WorkStealingDeque&) = delete;
  WorkStealingDeque& operator=(const WorkStealingDeque&) = delete;

  // No thread may be inside any method. Remaining elements are plain values: dropped.
  ~WorkStealingDeque() {
    delete buffer_.load(std::memory_order_relaxed);  // no concurrent access by contract
    while (retired_ != nullptr) {
      Buffer* next = retired_->retired_next;
      delete retired_;
      retired_ = next;
    }
  }

  // Owner only. Appends v at the bottom. May grow the buffer (std::bad_alloc then propagates
  // and the deque is unchanged).
  void push(T v) {
    const std::int64_t b = bottom_.load(std::memory_order_relaxed);  // only the owner writes bottom_
    // acquire: pairs with the thieves' CAS on top_ (release part), so a thief's slot read
    // happens before the owner overwrites that slot below.
    const std::int64_t t = top_.load(std::memory_order_acquire);  // pairs with steal's/pop's CAS on top_
    Buffer* a = buffer_.load(std::memory_order_relaxed);  // only the owner writes buffer_
    if (b - t >= static_cast<std::int64_t>(a->capacity)) a = grow(a, t, b);
    a->slot(b).store(v, std::memory_order_relaxed);  // published by the bottom_ store below
    // seq_cst: its release half publishes the slot (and what the caller wrote before push) to
    // a thief whose seq_cst bottom_ load reads this value; seq_cst so that the caller's next
    // seq_cst load (an event count's "any sleeper?") stays after it (header: DEVIATION).
    bottom_.store(b + 1, std::memory_order_seq_cst);  // pairs with steal's bottom_ load; Dekker with parking
  }

  // Owner only. Takes the most recently pushed element still in the deque, or nullopt if the
  // deque is empty (or a thief won its last element).
  std::optional<T> pop() noexcept {
    const std::int64_t b = bottom_.load(std::memory_order_relaxed) - 1;  // only the owner writes bottom_
    Buffer* a = buffer_.load(std::memory_order_relaxed);  // only the owner writes buffer_
#if defined(HANDOFF_MUTANT_DEQUE_RELAXED)
    bottom_.store(b, std::memory_order_relaxed);  // MUTANT: the reservation leaves the total order S
#else
    // seq_cst (Lê's fence, first half of the Dekker pair): reserve element b before reading
    // top_; a thief whose bottom_ load comes after this in S cannot claim b.
    bottom_.store(b, std::memory_order_seq_cst);  // Dekker with steal's top_/bottom_ loads
#endif
    // seq_cst (second half): sees every thief CAS that precedes it in S.
    std::int64_t t = top_.load(std::memory_order_seq_cst);  // Dekker with steal's loads and CAS
    if (t > b) {
      // Empty. Restore bottom_ (== top_ now). release: see the header (C++20 release sequences).
      bottom_.store(b + 1, std::memory_order_release);  // pairs with steal's bottom_ load
      return std::nullopt;
    }
    T x = a->slot(b).load(std::memory_order_relaxed);  // the owner wrote it; thieves never write slots
#if defined(HANDOFF_MUTANT_DEQUE_NO_LAST_CAS)
    // MUTANT: the last element is taken like any other, without the CAS on top_.
    return x;
#else
    if (t < b) return x;  // not the last element: no thief can reach index b any more
    // The last element: owner and thieves race for it with a CAS on top_.
    // seq_cst: competes with steal's seq_cst CAS for the same top_ value; failure relaxed:
    // the value read on failure is discarded.
    const bool won = top_.compare_exchange_strong(t, t + 1, std::memory_order_seq_cst,
                                                  std::memory_order_relaxed);  // races steal's CAS
    // Empty either way: bottom_ = top_ = b + 1. release: as above.
    bottom_.store(b + 1, std::memory_order_release);  // pairs with steal's bottom_ load
    if (!won) return std::nullopt;
    return x;
#endif
  }

  // Any thread. Takes the oldest element: Success (written to out), Empty, or Retry (lost a
  // race with another thief or the owner for the element at top: the deque may hold more).
  StealStatus steal(T& out) noexcept {
    // seq_cst (Lê: acquire + the fence in steal): top_ first, then bottom_, both in S.
    std::int64_t t = top_.load(std::memory_order_seq_cst);  // Dekker with pop's bottom_ store
    // seq_cst: after the top_ load in S; its acquire part pairs with push's release store (and
    // pop's stores), so slot t and the buffer it lives in are visible.
    const std::int64_t b = bottom_.load(std::memory_order_seq_cst);  // pairs with push's bottom_ store
    if (t >= b) return StealStatus::Empty;
    // acquire (Lê: consume): pairs with grow's release store of a new buffer.
    Buffer* a = buffer_.load(std::memory_order_acquire);  // pairs with grow's buffer_ store
    // relaxed: read before the claim; if the owner overwrote it, top_ moved and the CAS fails.
    const T x = a->slot(t).load(std::memory_order_relaxed);  // validated by the CAS below
    // seq_cst: claims element t; its release part pairs with push's acquire top_ load. Failure
    // relaxed: another thief or the owner took element t; the value read is discarded.
    if (!top_.compare_exchange_strong(t, t + 1, std::memory_order_seq_cst,
                                      std::memory_order_relaxed)) {  // races pop's and other steals' CAS
      return StealStatus::Retry;
    }
    out = x;
    return StealStatus::Success;
  }

  // Any thread. bottom - top as two separate reads: stale as soon as it returns, and during a
  // pop it may be one less than the truth. Never a basis for a sleep decision on its own.
  std::size_t size_hint() const noexcept {
    // seq_cst loads: plain loads on x86; they order these reads after the caller's earlier
    // seq_cst operations, which is all a hint can offer.
    const std::int64_t b = bottom_.load(std::memory_order_seq_cst);  // a hint: no data read through it
    const std::int64_t t = top_.load(std::memory_order_seq_cst);     // a hint: no data read through it
    return b > t ? static_cast<std::size_t>(b - t) : 0;
  }

  bool empty_hint() const noexcept { return size_hint() == 0; }

  // Owner only: the current buffer's capacity (a power of two, >= 2; it only grows).
  std::size_t capacity() const noexcept {
    return buffer_.load(std::memory_order_relaxed)->capacity;  // only the owner writes buffer_
  }

 private:
  struct Buffer {
    explicit Buffer(std::size_t cap) : capacity(cap), slots(new sync::atomic<T>[cap]) {}
    ~Buffer() { delete[] slots; }
    Buffer(const Buffer&) = delete;
    Buffer& operator=(const Buffer&) = delete;

    sync::atomic<T>& slot(std::int64_t i) const noexcept {
      return slots[static_cast<std::size_t>(i) & (capacity - 1)];
    }

    const std::size_t capacity;  // a power of two
    sync::atomic<T>* const slots;
    Buffer* retired_next = nullptr;  // owner only: the list of retired buffers
  };

  static std::size_t round_capacity(std::size_t n) {
    constexpr std::size_t kMax = std::size_t{1} << 62;
    if (n > kMax) throw std::length_error("WorkStealingDeque: initial capacity too large");
    return n < 2 ? 2 : std::bit_ceil(n);
  }

  // Owner only, from push: a buffer of twice the capacity holding [t, b), published; the old
  // one is retired, not freed (a thief may still read from it).
  Buffer* grow(Buffer* old, std::int64_t t, std::int64_t b) {
    if (old->capacity > (std::numeric_limits<std::size_t>::max() / 2 / sizeof(sync::atomic<T>))) {
      throw std::length_error("WorkStealingDeque: capacity overflow");
    }
    Buffer* a = new Buffer(old->capacity * 2);
    for (std::int64_t i = t; i < b; ++i) {
      // relaxed: owner-written slots, copied; published by the buffer_ store below.
      a->slot(i).store(old->slot(i).load(std::memory_order_relaxed),  // the owner wrote it
                       std::memory_order_relaxed);                    // published by buffer_ store
    }
    old->retired_next = retired_;
    retired_ = old;
    // release: pairs with steal's acquire buffer_ load: the copies above are visible.
    buffer_.store(a, std::memory_order_release);  // pairs with steal's buffer_ load
    return a;
  }

  // The thieves' end: CAS by thieves and by pop on the last element. Own cache line.
  alignas(64) sync::atomic<std::int64_t> top_{0};
  // The owner's end: written by the owner on every push and pop, read by every steal.
  alignas(64) sync::atomic<std::int64_t> bottom_{0};
  // Read by every steal, written only on growth: read-mostly, with the owner-only list.
  alignas(64) sync::atomic<Buffer*> buffer_;
  Buffer* retired_ = nullptr;  // owner only (and the destructor)
};

static_assert(WorkDeque<WorkStealingDeque<void*>>);

}  // namespace handoff
