// handoff/primitives/sync_relacy.hpp — the facade's Relacy backend (model tests only).
//
// Included by sync.hpp when HANDOFF_SYNC_RELACY=1. Every sync::atomic operation becomes an
// rl::atomic operation, so Relacy's schedulers (random, context-bound, full search) explore
// the real primitive's interleavings under the C++11 memory model and report data races on
// rl::var payloads, failed assertions, deadlocks and livelocks.
//
// Details that make it work with libstdc++ 12 (shared/VERIFY.md):
//  * relacy_std.hpp does not compile here; relacy.hpp with rl::atomic does.
//  * relacy.hpp defines macros named memory_order_*; we undefine them again so that the
//    production headers keep writing std::memory_order_acquire.
//  * relacy.hpp also defines new, delete, malloc, calloc, realloc and free as macros, which
//    breaks every `= delete` after it (this file's and the primitives'); we undefine them.
//    Relacy's replacement global operator new/delete still track test allocations.
//  * Each operation reports its caller's file and line (relacy_detail::site, built from
//    __builtin_FILE/LINE/FUNCTION: clang 14 has no std::source_location with libstdc++ 12),
//    so a Relacy history points at the primitive's source line, not at this adapter.
//  * wait() is a model-visible spin (rl::yield until the word changes): a lost wakeup then
//    shows up as a livelock that Relacy reports, instead of a sleep it cannot see.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <type_traits>

#include <relacy/relacy.hpp>

#undef memory_order_relaxed  // not an atomic: relacy.hpp's macro, removed so headers keep std::memory_order_relaxed
#undef memory_order_consume  // not an atomic: relacy.hpp's macro, removed so headers keep std::memory_order_consume
#undef memory_order_acquire  // not an atomic: relacy.hpp's macro, removed so headers keep std::memory_order_acquire
#undef memory_order_release  // not an atomic: relacy.hpp's macro, removed so headers keep std::memory_order_release
#undef memory_order_acq_rel  // not an atomic: relacy.hpp's macro, removed so headers keep std::memory_order_acq_rel
#undef memory_order_seq_cst  // not an atomic: relacy.hpp's macro, removed so headers keep std::memory_order_seq_cst
#undef new
#undef delete
#undef malloc
#undef calloc
#undef realloc
#undef free

#define HANDOFF_SYNC_RELACY_EXACT_CAS_FAILURE 1

namespace handoff::sync {

inline constexpr bool kPerturbed = false;
inline constexpr bool kModelChecked = true;

namespace relacy_detail {
// The caller's location, as std::source_location would give it (default arguments are
// evaluated at the call site).
struct site {
  const char* file;
  const char* function;
  unsigned line;
  static constexpr site current(const char* f = __builtin_FILE(),
                                const char* fn = __builtin_FUNCTION(),
                                unsigned l = __builtin_LINE()) noexcept {
    return site{f, fn, l};
  }
};
inline rl::memory_order to_rl(std::memory_order mo) noexcept {
  switch (mo) {
    case std::memory_order_relaxed: return rl::mo_relaxed;  // a translation of the caller's order, not an operation
    case std::memory_order_consume: return rl::mo_consume;  // a translation of the caller's order, not an operation
    case std::memory_order_acquire: return rl::mo_acquire;  // a translation of the caller's order, not an operation
    case std::memory_order_release: return rl::mo_release;  // a translation of the caller's order, not an operation
    case std::memory_order_acq_rel: return rl::mo_acq_rel;  // a translation of the caller's order, not an operation
    default: return rl::mo_seq_cst;
  }
}
// Relacy predates C++17 (P0418): a CAS failure order must not be stronger than the success
// order allows (relaxed/release -> relaxed; acquire/acq_rel -> acquire), else Relacy models it
// as relaxed, silently. Model a stronger failure order exactly: the allowed one, plus an
// acquire (seq_cst) fence when the CAS fails.
struct cas_orders {
  rl::memory_order success, failure, fence;
};
inline cas_orders split(std::memory_order s, std::memory_order f) noexcept {
  const rl::memory_order rs = to_rl(s);
  rl::memory_order rf = to_rl(f);
  if (rf == rl::mo_consume) rf = rl::mo_acquire;
  rl::memory_order cap = rl::mo_seq_cst;
  if (rs == rl::mo_relaxed || rs == rl::mo_release) cap = rl::mo_relaxed;
  if (rs == rl::mo_acquire || rs == rl::mo_acq_rel) cap = rl::mo_acquire;
  if (rf == rl::mo_seq_cst && cap != rl::mo_seq_cst) return {rs, cap, rl::mo_seq_cst};
  if (rf == rl::mo_acquire && cap == rl::mo_relaxed) return {rs, cap, rl::mo_acquire};
  return {rs, rf, rl::mo_relaxed};
}
inline rl::debug_info info(const site& l) noexcept {
  return rl::debug_info(l.function, l.file, l.line);
}
// The futex words alive now (sync::atomic<uint32_t> registers itself while it lives), so that
// a wake by address (FutexAddress) on a destroyed word is modelled as the kernel does it: it
// wakes nobody and touches nothing. A fixed table, not a container: no allocation on
// Relacy's heap (its free() is a modelled choice that would double every search).
inline std::size_t& live_words_used() noexcept {
  static std::size_t used = 0;
  return used;
}
inline const void** live_words_table() noexcept {
  static const void* table[1024];
  return table;
}
inline void word_born(const void* w) {
  const void** t = live_words_table();
  std::size_t& n = live_words_used();
  RL_VERIFY(n < 1024);
  t[n++] = w;
}
inline void word_died(const void* w) noexcept {
  const void** t = live_words_table();
  std::size_t& n = live_words_used();
  for (std::size_t i = 0; i < n; ++i) {
    if (t[i] == w) {
      t[i] = t[--n];
      return;
    }
  }
}
inline bool word_alive(const void* w) noexcept {
  const void** t = live_words_table();
  const std::size_t n = live_words_used();
  for (std::size_t i = 0; i < n; ++i) {
    if (t[i] == w) return true;
  }
  return false;
}
}  // namespace relacy_detail

struct FutexAddress;

template <class T>
class atomic {
  using loc = relacy_detail::site;

 public:
  atomic() : atomic(T{}) {}  // value-initialized, as std::atomic<T>() in C++20
  explicit atomic(T v) : a_() {
    a_.store(v, rl::mo_relaxed, RL_INFO);
    if constexpr (std::is_same_v<T, std::uint32_t>) relacy_detail::word_born(this);
  }
  ~atomic() {
    if constexpr (std::is_same_v<T, std::uint32_t>) relacy_detail::word_died(this);
  }
  atomic(const atomic&) = delete;
  atomic& operator=(const atomic&) = delete;

  T load(std::memory_order mo, loc l = loc::current()) const {
    return a_.load(relacy_detail::to_rl(mo), relacy_detail::info(l));
  }
  void store(T v, std::memory_order mo, loc l = loc::current()) {
    a_.store(v, relacy_detail::to_rl(mo), relacy_detail::info(l));
  }
  T exchange(T v, std::memory_order mo, loc l = loc::current()) {
    return a_.exchange(v, relacy_detail::to_rl(mo), relacy_detail::info(l));
  }
  bool compare_exchange_strong(T& expected, T desired, std::memory_order success,
                               std::memory_order failure, loc l = loc::current()) {
    const relacy_detail::cas_orders o = relacy_detail::split(success, failure);
    const bool ok = a_.compare_exchange_strong(expected, desired, o.success, relacy_detail::info(l),
                                               o.failure, relacy_detail::info(l));
    if (!ok && o.fence != rl::mo_relaxed) rl::atomic_thread_fence(o.fence, relacy_detail::info(l));
    return ok;
  }
  bool compare_exchange_weak(T& expected, T desired, std::memory_order success,
                             std::memory_order failure, loc l = loc::current()) {
    const relacy_detail::cas_orders o = relacy_detail::split(success, failure);
    const bool ok = a_.compare_exchange_weak(expected, desired, o.success, relacy_detail::info(l),
                                             o.failure, relacy_detail::info(l));
    if (!ok && o.fence != rl::mo_relaxed) rl::atomic_thread_fence(o.fence, relacy_detail::info(l));
    return ok;
  }
  T fetch_add(T d, std::memory_order mo, loc l = loc::current()) {
    return a_.fetch_add(d, relacy_detail::to_rl(mo), relacy_detail::info(l));
  }
  T fetch_sub(T d, std::memory_order mo, loc l = loc::current()) {
    return a_.fetch_sub(d, relacy_detail::to_rl(mo), relacy_detail::info(l));
  }
  T fetch_or(T d, std::memory_order mo, loc l = loc::current()) {
    return a_.fetch_or(d, relacy_detail::to_rl(mo), relacy_detail::info(l));
  }

 private:
  friend void wait(atomic<std::uint32_t>&, std::uint32_t, std::int64_t, relacy_detail::site);
  friend void wake(atomic<std::uint32_t>&, int, relacy_detail::site);
  friend void wake(FutexAddress, int, relacy_detail::site);
  mutable rl::atomic<T> a_;
};

inline void spin_pause(relacy_detail::site l = relacy_detail::site::current()) {
  rl::yield(1, relacy_detail::info(l));
}
inline void yield(relacy_detail::site l = relacy_detail::site::current()) {
  rl::yield(1, relacy_detail::info(l));
}

// A futex model (as Relacy's own rl_futex, on our word): wait() parks this thread if the
// word still holds `expected` (checked atomically with the park); only a wake() after that
// unparks it. No spurious wakeups, so a missing wake is reported as DEADLOCK.
inline void wait(atomic<std::uint32_t>& word, std::uint32_t expected, std::int64_t timeout_ns = -1,
                 relacy_detail::site l = relacy_detail::site::current()) {
  rl::context& c = rl::ctx();
  c.sched();
  c.atomic_thread_fence_seq_cst();
  std::uint32_t v = 0;
  {
    rl::preemption_disabler pd(c);
    v = word.a_.load(rl::mo_relaxed, relacy_detail::info(l));
  }
  if (v != expected) return;
  (void)word.a_.wait(c, timeout_ns >= 0, /*allow_spurious_wakeup=*/false, relacy_detail::info(l));
}
inline void wake(atomic<std::uint32_t>& word, int count,
                 relacy_detail::site l = relacy_detail::site::current()) {
  rl::context& c = rl::ctx();
  c.sched();
  c.atomic_thread_fence_seq_cst();
  (void)word.a_.wake(c, static_cast<rl::thread_id_t>(count), relacy_detail::info(l));
}
inline void wake_one(atomic<std::uint32_t>& word,
                     relacy_detail::site l = relacy_detail::site::current()) {
  wake(word, 1, l);
}
inline void wake_all(atomic<std::uint32_t>& word,
                     relacy_detail::site l = relacy_detail::site::current()) {
  wake(word, 1 << 20, l);
}
// Wake by address (sync.hpp explains why a notifier may wake a word whose object a woken
// waiter has already destroyed). The scheduling point comes first, so the search does let a
// waiter destroy the object in between; then a dead word is woken as the kernel would: no
// access, nobody woken (its waiters have all returned).
struct FutexAddress {
  atomic<std::uint32_t>* word;
};
inline FutexAddress futex_address(atomic<std::uint32_t>& word) noexcept { return FutexAddress{&word}; }
inline void wake(FutexAddress a, int count, relacy_detail::site l = relacy_detail::site::current()) {
  rl::context& c = rl::ctx();
  c.sched();
  c.atomic_thread_fence_seq_cst();
  if (!relacy_detail::word_alive(a.word)) return;
  (void)a.word->a_.wake(c, static_cast<rl::thread_id_t>(count), relacy_detail::info(l));
}
inline void wake_one(FutexAddress a, relacy_detail::site l = relacy_detail::site::current()) { wake(a, 1, l); }
inline void wake_all(FutexAddress a, relacy_detail::site l = relacy_detail::site::current()) {
  wake(a, 1 << 20, l);
}
// The perturbation hook of the other backends: every rl operation is a scheduling point.
inline void step() noexcept {}
// Model tests run rl::test_suite threads; a primitive that starts threads is not modelled.
using thread = std::thread;

// The facade's mutex: Relacy's std::mutex model (lock/unlock are synchronization points and
// scheduling points; a lock held at the end of a test, or a deadlock, is reported).
class mutex {
 public:
  void lock(relacy_detail::site l = relacy_detail::site::current()) { m_.lock(relacy_detail::info(l)); }
  void unlock(relacy_detail::site l = relacy_detail::site::current()) { m_.unlock(relacy_detail::info(l)); }

 private:
  friend class condition_variable;
  rl::mutex m_;
};

// The facade's condition variable: Relacy's std::condition_variable model (spurious wakeups
// allowed, as the real one). No clock: a timed wait may time out at any scheduling point,
// which is the race that matters (a notify racing the timeout).
class condition_variable {
 public:
  void wait(mutex& m, relacy_detail::site l = relacy_detail::site::current()) {
    cv_.wait(m.m_, relacy_detail::info(l));
  }
  // wait_for, not Relacy's wait_until: the latter returns its wakeup-reason enum as a bool.
  // A spurious return reads as a timeout, which a timed wait may do at any point here anyway.
  template <class TimePoint>
  bool wait_until(mutex& m, const TimePoint&, relacy_detail::site l = relacy_detail::site::current()) {
    return cv_.wait_for(m.m_, 0, relacy_detail::info(l));
  }
  void notify_one(relacy_detail::site l = relacy_detail::site::current()) { cv_.notify_one(relacy_detail::info(l)); }
  void notify_all(relacy_detail::site l = relacy_detail::site::current()) { cv_.notify_all(relacy_detail::info(l)); }

 private:
  rl::condition_variable cv_;
};

}  // namespace handoff::sync
