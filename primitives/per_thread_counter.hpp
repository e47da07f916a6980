// handoff/primitives/per_thread_counter.hpp — a statistics counter that any thread may bump
// without a shared read-modify-write.
//
// WHY: the loop's ledger counts every cross-thread post, and a shared fetch_add on every post
// would put a second contended cache line on the push path (the inbox's tail is the first).
// Here each thread owns a slot: add() is a relaxed load + store on a line no other thread
// writes (single writer, so no RMW is needed), and read() sums the slots.
//
// THREAD ROLES: add() any thread; read() any thread. read() is exact once the adding threads
// have finished (joined, or synchronized with the reader by other means); while they run it
// is a lower bound of some recent value.
//
// COST: a thread-local lookup of (counter id -> slot) in a small cache, then two plain moves;
// a thread's first add() to a counter takes a mutex to register its slot. Ids are unique for
// the process lifetime, so a cached entry of a destroyed counter can never match a new one.
//
// REGISTRATION MAY ALLOCATE (a slot in a deque), so add() may throw std::bad_alloc on a
// thread's first use. add_nothrow() is for a count that must not fail (the loop's reserved
// posts, issue 10): if the slot cannot be registered, it counts in one shared spill word
// instead (a relaxed RMW, only on that rare path); read() sums the spill too.
#pragma once

#include <cstdint>
#include <deque>
#include <mutex>
#include <thread>

#include "sync.hpp"

namespace handoff {

class PerThreadCounter {
 public:
  PerThreadCounter() : id_(next_id()) {}
  PerThreadCounter(const PerThreadCounter&) = delete;
  PerThreadCounter& operator=(const PerThreadCounter&) = delete;

  void add(std::uint64_t n = 1) {
    Slot* s = slot();
    // relaxed: this thread is the slot's only writer; readers want a value, not an ordering.
    s->value.store(s->value.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);  // single writer; a statistic
  }

  // As add(), but never throws: a thread whose slot cannot be registered (std::bad_alloc)
  // counts in the shared spill word.
  void add_nothrow(std::uint64_t n = 1) noexcept {
    try {
      add(n);
    } catch (...) {
      spill_.fetch_add(n, std::memory_order_relaxed);  // a statistic, as the slots: read() sums it
    }
  }

  // As add(), with a release store: a read_acquire() that sees it sees everything this thread
  // did before it (ThreadPoolExecutor counts its finished submits so, and its destructor waits
  // for them). Call add(0) first on a thread that must not allocate here (slot registration).
  void add_release(std::uint64_t n = 1) {
    Slot* s = slot();
    s->value.store(s->value.load(std::memory_order_relaxed) + n, std::memory_order_release);  // single writer; pairs with read_acquire()
  }

  // As read(), with acquire loads (pairs with add_release()).
  std::uint64_t read_acquire() const {
    std::lock_guard<std::mutex> lock(mu_);
    std::uint64_t sum = spill_.load(std::memory_order_relaxed);  // add_nothrow()'s spill: never released
    for (const Slot& s : slots_) sum += s.value.load(std::memory_order_acquire);  // pairs with add_release()
    return sum;
  }

  std::uint64_t read() const {
    std::lock_guard<std::mutex> lock(mu_);
    std::uint64_t sum = spill_.load(std::memory_order_relaxed);  // a statistic, as the slots
    for (const Slot& s : slots_) sum += s.value.load(std::memory_order_relaxed);  // a statistic; exact after joins
    return sum;
  }

 private:
  struct alignas(64) Slot {
    sync::atomic<std::uint64_t> value{0};
    std::thread::id owner;
  };

  static std::uint64_t next_id() {
    static std::atomic<std::uint64_t> ids{1};
    return ids.fetch_add(1, std::memory_order_relaxed);  // uniqueness only, no data hangs on it
  }

  struct Cache {
    static constexpr unsigned kWays = 8;
    std::uint64_t id[kWays] = {};
    Slot* slot[kWays] = {};
    unsigned next = 0;
  };

  Slot* slot() {
    thread_local Cache cache;
    for (unsigned i = 0; i < Cache::kWays; ++i) {
      if (cache.id[i] == id_) return cache.slot[i];
    }
    Slot* s = register_thread();
    const unsigned w = cache.next++ % Cache::kWays;
    cache.id[w] = id_;
    cache.slot[w] = s;
    return s;
  }

  Slot* register_thread() {
    const std::thread::id me = std::this_thread::get_id();
    std::lock_guard<std::mutex> lock(mu_);
    for (Slot& s : slots_) {
      if (s.owner == me) return &s;
    }
    Slot& s = slots_.emplace_back();  // deque: addresses stay stable as it grows
    s.owner = me;
    return &s;
  }

  const std::uint64_t id_;
  mutable std::mutex mu_;
  std::deque<Slot> slots_;
  sync::atomic<std::uint64_t> spill_{0};  // add_nothrow() counts of threads without a slot
};

}  // namespace handoff
