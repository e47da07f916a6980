// tests/fault_injection.hpp — the two failure injectors of the fault sweeps:
//
//   alloc::arm(n)     the n-th allocation (n >= 1) of THIS thread from now fails (operator new
//                     throws std::bad_alloc, the nothrow forms return nullptr); once.
//   alloc::disarm()   true if the armed failure fired.
//   Fragile           a value whose n-th copy or move (any thread) throws FragileError:
//                     Fragile::arm(n) / Fragile::disarm().
//
// This header DEFINES the replaceable global operator new/delete: include it from exactly one
// translation unit of a test binary (the binary is then of its own, as an allocation hook
// must be). Every form is replaced — plain, array, nothrow, aligned, sized — so each new/delete
// pair is ours (under ASan a form left out pairs the sanitizer's new with our free: an
// alloc-dealloc mismatch). Arming is per thread, so other threads (the watchdog, Catch2) never
// see it; disarm before any Catch2 assertion (they allocate).
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdlib>
#include <new>
#include <stdexcept>
#include <string>

namespace handoff::test::alloc {
namespace detail {
inline thread_local long t_countdown = 0;  // 0: disarmed; k: the k-th allocation from now fails
inline thread_local bool t_fired = false;

inline void* allocate(std::size_t n, std::size_t align) {
  if (t_countdown > 0 && --t_countdown == 0) {
    t_fired = true;
    throw std::bad_alloc();
  }
  void* p = align > alignof(std::max_align_t) ? std::aligned_alloc(align, (n + align - 1) / align * align)
                                              : std::malloc(n == 0 ? 1 : n);
  if (p == nullptr) throw std::bad_alloc();
  return p;
}
inline void* allocate_nothrow(std::size_t n, std::size_t align) noexcept {
  try {
    return allocate(n, align);
  } catch (const std::bad_alloc&) {
    return nullptr;
  }
}
constexpr std::size_t kDefaultAlign = alignof(std::max_align_t);
}  // namespace detail

inline void arm(long n) {
  detail::t_fired = false;
  detail::t_countdown = n;
}
inline bool disarm() {
  detail::t_countdown = 0;
  return detail::t_fired;
}
}  // namespace handoff::test::alloc

namespace ha = handoff::test::alloc::detail;
void* operator new(std::size_t n) { return ha::allocate(n, ha::kDefaultAlign); }
void* operator new[](std::size_t n) { return ha::allocate(n, ha::kDefaultAlign); }
void* operator new(std::size_t n, std::align_val_t a) { return ha::allocate(n, static_cast<std::size_t>(a)); }
void* operator new[](std::size_t n, std::align_val_t a) { return ha::allocate(n, static_cast<std::size_t>(a)); }
void* operator new(std::size_t n, const std::nothrow_t&) noexcept { return ha::allocate_nothrow(n, ha::kDefaultAlign); }
void* operator new[](std::size_t n, const std::nothrow_t&) noexcept { return ha::allocate_nothrow(n, ha::kDefaultAlign); }
void* operator new(std::size_t n, std::align_val_t a, const std::nothrow_t&) noexcept {
  return ha::allocate_nothrow(n, static_cast<std::size_t>(a));
}
void* operator new[](std::size_t n, std::align_val_t a, const std::nothrow_t&) noexcept {
  return ha::allocate_nothrow(n, static_cast<std::size_t>(a));
}
void operator delete(void* p) noexcept { std::free(p); }
void operator delete[](void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t) noexcept { std::free(p); }
void operator delete(void* p, std::align_val_t) noexcept { std::free(p); }
void operator delete[](void* p, std::align_val_t) noexcept { std::free(p); }
void operator delete(void* p, std::size_t, std::align_val_t) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t, std::align_val_t) noexcept { std::free(p); }
void operator delete(void* p, const std::nothrow_t&) noexcept { std::free(p); }
void operator delete[](void* p, const std::nothrow_t&) noexcept { std::free(p); }
void operator delete(void* p, std::align_val_t, const std::nothrow_t&) noexcept { std::free(p); }
void operator delete[](void* p, std::align_val_t, const std::nothrow_t&) noexcept { std::free(p); }

namespace handoff::test {

struct FragileError : std::runtime_error {
  FragileError() : std::runtime_error("Fragile: injected copy/move failure") {}
};

// A value whose n-th copy or move from Fragile::arm(n) on — on any thread — throws.
struct Fragile {
  int v = 0;
  explicit Fragile(int x) : v(x) {}
  Fragile(const Fragile& o) : v(o.v) { tick(); }
  Fragile(Fragile&& o) : v(o.v) { tick(); }  // not noexcept: may throw
  Fragile& operator=(const Fragile& o) {
    tick();
    v = o.v;
    return *this;
  }
  Fragile& operator=(Fragile&& o) {
    tick();
    v = o.v;
    return *this;
  }

  static void arm(long n) {
    fired_.store(false);
    countdown_.store(n);
  }
  static bool disarm() {
    countdown_.store(0);
    return fired_.load();
  }

 private:
  static void tick() {
    long c = countdown_.load();
    while (c > 0 && !countdown_.compare_exchange_weak(c, c - 1)) {
    }
    if (c == 1) {
      fired_.store(true);
      throw FragileError();
    }
  }
  static inline std::atomic<long> countdown_{0};
  static inline std::atomic<bool> fired_{false};
};

}  // namespace handoff::test
