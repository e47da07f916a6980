// handoff/primitives/sync.hpp — the one facade every atomic operation goes through.
//
// Why: the same primitive source must run in three worlds without a drifting copy
// (shared/VERIFY.md, STYLE.md habit 4):
//
//   backend      selected by                 what an atomic operation does
//   ----------   -------------------------   ---------------------------------------------
//   production   (default)                   a std::atomic operation, nothing else
//   perturbed    HANDOFF_SYNC_PERTURB=1      a seeded random yield / short spin first, then
//                                            the std::atomic operation (stress builds, TSan)
//   relacy       HANDOFF_SYNC_RELACY=1       an rl::atomic operation that the Relacy model
//                                            checker schedules and checks (model tests)
//
// One backend per binary: the macro is set per build (CMake option HANDOFF_PERTURB) or per
// model-test translation unit, never mixed inside one program.
//
// Rules for code that uses the facade:
//  * every operation names its memory order explicitly (there are no defaults here), and
//    carries a one-line comment naming the operation it synchronizes with;
//  * no standalone atomic_thread_fence: GCC's and Clang's TSan do not model it, so a
//    Dekker-style pair is written as seq_cst operations on both sides (on x86 a seq_cst
//    store or RMW costs the same locked instruction as fence + store), and TSan checks the
//    orderings that ship;
//  * blocking goes through sync::wait / sync::wake (a futex in production), so the model
//    checker can replace the sleep with a model-visible wait;
//  * a thread that runs facade operations is started as a sync::thread (std::thread itself in
//    production and under Relacy), so the perturbed backend can give it its place in the
//    seeded decision streams before it runs: that is what lets a failing seed replay
//    (sync_perturb.hpp, "REPLAY").
#pragma once

#include <atomic>
#include <cstdint>
#include <thread>

#if defined(HANDOFF_SYNC_RELACY) && HANDOFF_SYNC_RELACY
#include "sync_relacy.hpp"
#else

#include <chrono>
#include <climits>
#include <condition_variable>
#include <functional>
#include <type_traits>
#include <linux/futex.h>
#include <mutex>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#if defined(HANDOFF_SYNC_PERTURB) && HANDOFF_SYNC_PERTURB
#include "sync_perturb.hpp"
#endif

namespace handoff::sync {

#if defined(HANDOFF_SYNC_PERTURB) && HANDOFF_SYNC_PERTURB
inline constexpr bool kPerturbed = true;
inline void step() noexcept { perturb::point(); }

// A std::thread whose perturbation key is fixed by its creator before it runs (its parent's
// key and how many sync::threads the parent started before it): the same in every run of a
// seed, whatever the OS does with first touches.
class thread : public std::thread {
 public:
  thread() noexcept = default;
  template <class F, class... Args>
    requires(!std::is_same_v<std::remove_cvref_t<F>, thread>)
  explicit thread(F&& f, Args&&... args)
      : std::thread(
            [key = perturb::child_key()](auto&& fn, auto&&... a) {
              perturb::adopt(key);
              std::invoke(std::forward<decltype(fn)>(fn), std::forward<decltype(a)>(a)...);
            },
            std::forward<F>(f), std::forward<Args>(args)...) {}
};
#else
inline constexpr bool kPerturbed = false;
inline void step() noexcept {}
using thread = std::thread;  // nothing to register: zero cost
#endif

inline constexpr bool kModelChecked = false;

// A std::atomic with the perturbation hook in front of every operation. With the hook
// compiled out this inlines to exactly the std::atomic operation.
template <class T>
class atomic {
 public:
  constexpr atomic() noexcept : a_() {}
  constexpr explicit atomic(T v) noexcept : a_(v) {}
  atomic(const atomic&) = delete;
  atomic& operator=(const atomic&) = delete;

  T load(std::memory_order mo) const noexcept { step(); return a_.load(mo); }
  void store(T v, std::memory_order mo) noexcept { step(); a_.store(v, mo); }
  T exchange(T v, std::memory_order mo) noexcept { step(); return a_.exchange(v, mo); }
  bool compare_exchange_strong(T& expected, T desired, std::memory_order success,
                               std::memory_order failure) noexcept {
    step();
    return a_.compare_exchange_strong(expected, desired, success, failure);
  }
  bool compare_exchange_weak(T& expected, T desired, std::memory_order success,
                             std::memory_order failure) noexcept {
    step();
    return a_.compare_exchange_weak(expected, desired, success, failure);
  }
  T fetch_add(T d, std::memory_order mo) noexcept { step(); return a_.fetch_add(d, mo); }
  T fetch_sub(T d, std::memory_order mo) noexcept { step(); return a_.fetch_sub(d, mo); }
  T fetch_or(T d, std::memory_order mo) noexcept { step(); return a_.fetch_or(d, mo); }

  // For futex calls only: the kernel compares the word itself.
  std::atomic<T>& underlying() noexcept { return a_; }

 private:
  std::atomic<T> a_;
};

// A busy-wait hint: one `pause` on x86, so a spinning hyperthread yields pipeline slots.
inline void spin_pause() noexcept {
  step();
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  asm volatile("yield");
#endif
}

// Give up the CPU: used by waits that are bounded by another thread's progress (e.g. a
// producer between its exchange and its link), where spinning on 2 cores would starve it.
inline void yield() noexcept {
  step();
  std::this_thread::yield();
}

// Futex wait: sleep while `word` still holds `expected`, or until `timeout_ns` passes
// (negative = no timeout). Returns on a wake, a timeout, a signal or a spurious return —
// the caller always re-checks its condition. Private futexes: words never cross processes.
inline void wait(atomic<std::uint32_t>& word, std::uint32_t expected,
                 std::int64_t timeout_ns = -1) noexcept {
  step();
  timespec ts{};
  timespec* tsp = nullptr;
  if (timeout_ns >= 0) {
    ts.tv_sec = static_cast<time_t>(timeout_ns / 1'000'000'000);
    ts.tv_nsec = static_cast<long>(timeout_ns % 1'000'000'000);
    tsp = &ts;
  }
  ::syscall(SYS_futex, reinterpret_cast<std::uint32_t*>(&word.underlying()),
            FUTEX_WAIT_PRIVATE, expected, tsp, nullptr, 0);
}

// Futex wake: wake up to `count` threads sleeping in wait() on `word`.
inline void wake(atomic<std::uint32_t>& word, int count) noexcept {
  step();
  ::syscall(SYS_futex, reinterpret_cast<std::uint32_t*>(&word.underlying()),
            FUTEX_WAKE_PRIVATE, count, nullptr, nullptr, 0);
}
inline void wake_one(atomic<std::uint32_t>& word) noexcept { wake(word, 1); }
inline void wake_all(atomic<std::uint32_t>& word) noexcept { wake(word, INT_MAX); }

// Wake by ADDRESS, for a notifier whose store may let the waiter destroy the word's object
// (EventCount::notify: the epoch bump releases a waiter that may free the event count at
// once). Take the address while the object is alive, do the releasing store, then wake the
// address: FUTEX_WAKE_PRIVATE never reads or writes user memory — the kernel's key for a
// private futex is (mm, address) after an access_ok() range check only (Linux
// kernel/futex/core.c, get_futex_key(): "PROCESS_PRIVATE futexes are fast ... we dont even
// have to find the underlying vma"), and futex_wake() only walks the hash bucket of that key.
// If the object is gone, nobody waits there (its waiters have returned): the wake finds
// nobody, or, if the memory was reused for another futex word, a spurious wake of its
// waiters, which every futex user tolerates (they re-check). Same argument as glibc's
// pthread_mutex_unlock / Rust's futex Mutex::unlock (wake after the releasing swap).
struct FutexAddress {
  std::uint32_t* p;
};
inline FutexAddress futex_address(atomic<std::uint32_t>& word) noexcept {
  return FutexAddress{reinterpret_cast<std::uint32_t*>(&word.underlying())};
}
inline void wake(FutexAddress a, int count) noexcept {
  step();  // thread-local state only: never touches the word's object
  ::syscall(SYS_futex, a.p, FUTEX_WAKE_PRIVATE, count, nullptr, nullptr, 0);
}
inline void wake_one(FutexAddress a) noexcept { wake(a, 1); }
inline void wake_all(FutexAddress a) noexcept { wake(a, INT_MAX); }

// A mutex through the facade (a std::mutex here), so that under Relacy the lock is a modelled
// synchronization point too: for primitives that pair a short critical section with atomics
// (a channel's waiter lists and its claim CAS).
class mutex {
 public:
  void lock() {
    step();
    m_.lock();
  }
  void unlock() noexcept { m_.unlock(); }

 private:
  friend class condition_variable;
  std::mutex m_;
};

// A condition variable on the facade's mutex (a std::condition_variable here; Relacy's model
// under HANDOFF_SYNC_RELACY), for the mutex baselines that a model test must check too
// (CountedMutexEventCount). The caller holds `m` around every wait, as with std::unique_lock.
// Spurious returns happen: callers re-check their condition.
class condition_variable {
 public:
  void wait(mutex& m) {
    step();
    std::unique_lock<std::mutex> l(m.m_, std::adopt_lock);  // borrow the caller's hold
    cv_.wait(l);
    l.release();  // give the hold back: the caller unlocks
  }
  // false: the deadline passed (a notify may still have come just before: re-check).
  bool wait_until(mutex& m, std::chrono::steady_clock::time_point deadline) {
    step();
    std::unique_lock<std::mutex> l(m.m_, std::adopt_lock);  // borrow the caller's hold
    const bool notified = cv_.wait_until(l, deadline) == std::cv_status::no_timeout;
    l.release();  // give the hold back: the caller unlocks
    return notified;
  }
  void notify_one() noexcept {
    step();
    cv_.notify_one();
  }
  void notify_all() noexcept {
    step();
    cv_.notify_all();
  }

 private:
  std::condition_variable cv_;
};

}  // namespace handoff::sync

#endif  // backend
