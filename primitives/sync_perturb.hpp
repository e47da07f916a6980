// handoff/primitives/sync_perturb.hpp — seeded schedule perturbation for stress builds.
//
// Included by sync.hpp when HANDOFF_SYNC_PERTURB=1. Before every atomic step, with
// probability rate/1000, the calling thread either yields or spins a short random while.
// Why: on a 2-core machine the interleavings that expose lost wakeups and reordering windows
// almost never happen on their own (shared/VERIFY.md: 0/3 unperturbed runs caught a lost
// wakeup, 6/6 perturbed runs did). Perturbing *every* step, not only suspicious ones, is what
// makes the rare windows common.
//
// Off (rate 0) until a test calls configure(); a stress test prints the seed it used, and
// each thread derives its own generator from (seed, thread ordinal), so a failing seed
// reproduces the same per-thread decision streams (the OS schedule still varies).
#pragma once

#include <atomic>
#include <cstdint>
#include <thread>

namespace handoff::sync::perturb {

struct Config {
  std::atomic<std::uint64_t> seed{0};
  std::atomic<std::uint32_t> rate_per_mille{0};  // 0 = off
  std::atomic<std::uint32_t> next_thread{0};
  std::atomic<std::uint64_t> epoch{0};  // bumped by configure(): threads re-seed
};

inline Config& config() noexcept {
  static Config c;
  return c;
}

// Set the seed and the perturbation rate (per mille of atomic steps). Call between runs.
// These are the harness's own std::atomics, relaxed: a thread that reads a stale rate only
// perturbs a little more or less, which changes no verdict.
inline void configure(std::uint64_t seed, std::uint32_t rate_per_mille) noexcept {
  Config& c = config();
  c.seed.store(seed, std::memory_order_relaxed);            // harness knob; no data hangs on it
  c.rate_per_mille.store(rate_per_mille, std::memory_order_relaxed);  // harness knob, as above
  c.epoch.fetch_add(1, std::memory_order_relaxed);          // harness knob: threads re-seed lazily
}

struct ThreadState {
  std::uint64_t s = 0;
  std::uint64_t epoch = ~0ull;
  std::uint64_t steps = 0;
  std::uint64_t perturbed = 0;
};

inline ThreadState& thread_state() noexcept {
  thread_local ThreadState t;
  return t;
}

inline std::uint64_t splitmix(std::uint64_t& x) noexcept {
  std::uint64_t z = (x += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

// The hook: called by the facade before every atomic step.
inline void point() noexcept {
  Config& c = config();
  const std::uint32_t rate = c.rate_per_mille.load(std::memory_order_relaxed);  // harness knob
  if (rate == 0) return;
  ThreadState& t = thread_state();
  const std::uint64_t e = c.epoch.load(std::memory_order_relaxed);  // harness knob
  if (t.epoch != e) {
    const std::uint32_t ordinal = c.next_thread.fetch_add(1, std::memory_order_relaxed);  // unique id only
    t.s = c.seed.load(std::memory_order_relaxed) ^ (0x5851f42d4c957f2dull * (ordinal + 1));  // knob
    t.epoch = e;
  }
  ++t.steps;
  const std::uint64_t r = splitmix(t.s);
  if (r % 1000 >= rate) return;
  ++t.perturbed;
  if ((r >> 20) & 1) {
    std::this_thread::yield();
  } else {
    const unsigned spins = static_cast<unsigned>((r >> 24) % 256);
    for (unsigned i = 0; i < spins; ++i) {
#if defined(__x86_64__) || defined(__i386__)
      __builtin_ia32_pause();
#endif
    }
  }
}

}  // namespace handoff::sync::perturb
