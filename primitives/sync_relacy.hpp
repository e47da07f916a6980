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
//  * Each operation reports its caller's file and line (std::source_location), so a Relacy
//    history points at the primitive's source line, not at this adapter.
//  * wait() is a model-visible spin (rl::yield until the word changes): a lost wakeup then
//    shows up as a livelock that Relacy reports, instead of a sleep it cannot see.
#pragma once

#include <atomic>
#include <cstdint>
#include <source_location>

#include <relacy/relacy.hpp>

#undef memory_order_relaxed
#undef memory_order_consume
#undef memory_order_acquire
#undef memory_order_release
#undef memory_order_acq_rel
#undef memory_order_seq_cst

namespace handoff::sync {

inline constexpr bool kPerturbed = false;
inline constexpr bool kModelChecked = true;

namespace relacy_detail {
inline rl::memory_order to_rl(std::memory_order mo) noexcept {
  switch (mo) {
    case std::memory_order_relaxed: return rl::mo_relaxed;
    case std::memory_order_consume: return rl::mo_consume;
    case std::memory_order_acquire: return rl::mo_acquire;
    case std::memory_order_release: return rl::mo_release;
    case std::memory_order_acq_rel: return rl::mo_acq_rel;
    default: return rl::mo_seq_cst;
  }
}
inline rl::debug_info info(const std::source_location& l) noexcept {
  return rl::debug_info(l.function_name(), l.file_name(), l.line());
}
}  // namespace relacy_detail

template <class T>
class atomic {
  using loc = std::source_location;

 public:
  atomic() : a_() {}
  explicit atomic(T v) : a_() { a_.store(v, rl::mo_relaxed, RL_INFO); }
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
    return a_.compare_exchange_strong(expected, desired, relacy_detail::to_rl(success),
                                      relacy_detail::info(l), relacy_detail::to_rl(failure),
                                      relacy_detail::info(l));
  }
  bool compare_exchange_weak(T& expected, T desired, std::memory_order success,
                             std::memory_order failure, loc l = loc::current()) {
    return a_.compare_exchange_weak(expected, desired, relacy_detail::to_rl(success),
                                    relacy_detail::info(l), relacy_detail::to_rl(failure),
                                    relacy_detail::info(l));
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
  mutable rl::atomic<T> a_;
};

inline void spin_pause(std::source_location l = std::source_location::current()) {
  rl::yield(1, relacy_detail::info(l));
}
inline void yield(std::source_location l = std::source_location::current()) {
  rl::yield(1, relacy_detail::info(l));
}

inline void wait(atomic<std::uint32_t>& word, std::uint32_t expected, std::int64_t = -1,
                 std::source_location l = std::source_location::current()) {
  if (word.load(std::memory_order_relaxed, l) == expected) rl::yield(1, relacy_detail::info(l));
}
inline void wake(atomic<std::uint32_t>&, int) {}
inline void wake_one(atomic<std::uint32_t>&) {}
inline void wake_all(atomic<std::uint32_t>&) {}

}  // namespace handoff::sync
