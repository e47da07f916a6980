// handoff/primitives/sync_perturb.hpp — seeded, replayable schedule perturbation for stress
// builds.
//
// Included by sync.hpp when HANDOFF_SYNC_PERTURB=1. Before every atomic step, with
// probability rate/1000, the calling thread either yields or spins a short random while.
// Why: on a 2-core machine the interleavings that expose lost wakeups and reordering windows
// almost never happen on their own (shared/VERIFY.md: 0/3 unperturbed runs caught a lost
// wakeup, 6/6 perturbed runs did). Perturbing *every* step, not only suspicious ones, is what
// makes the rare windows common.
//
// REPLAY. The decision at a thread's n-th step is a pure function of (run seed, the thread's
// key, n): decide() below, no state shared between threads. So a failing seed replays every
// thread's decision stream exactly — if every thread has the same key in the replay. Keys are
// therefore never handed out by first touch (the order in which threads reach their first
// atomic step changes from run to run), but by creation:
//   * the thread that calls configure() (a stress test's main thread) has key 0;
//   * a thread started through sync::thread gets key = mix(parent's key, k) for the parent's
//     k-th sync::thread since the last configure(), computed in the parent before the child
//     runs. A parent that starts its threads in a fixed order (a test's main thread, a pool
//     growing worker by worker) thus gives them the same keys in every run.
//   * any other thread (a std::thread the test or the library started itself) gets a key
//     from first touch, in a separate range, and is counted in unregistered(): its decision
//     stream is not replayable, and the harness says so next to the replay command;
//   * a watchdog that reads a primitive through the facade declares itself an observer():
//     never perturbed, never counted.
// What stays random is the OS: which thread runs when. A replay gives the same perturbation,
// not the same interleaving; how often a failure reproduces is measured, not assumed
// (docs/verification.md).
//
// Off (rate 0) until a test calls configure(); cost with rate 0: one relaxed load per step.
#pragma once

#include <atomic>
#include <cstdint>
#include <thread>

namespace handoff::sync::perturb {

struct Config {
  std::atomic<std::uint64_t> seed{0};
  std::atomic<std::uint32_t> rate_per_mille{0};  // 0 = off
  std::atomic<std::uint64_t> epoch{0};           // bumped by configure(): threads re-key lazily
  std::atomic<std::uint64_t> first_touch{0};     // keys of unregistered threads (this epoch)
  std::atomic<std::uint64_t> unregistered{0};    // unregistered threads seen, all epochs
};

inline Config& config() noexcept {
  static Config c;
  return c;
}

inline constexpr std::uint64_t kMainKey = 0;
// Keys of unregistered threads: the top bit set, the rest a first-touch counter.
inline constexpr std::uint64_t kFirstTouchKeys = 1ull << 63;

struct ThreadState {
  std::uint64_t key = 0;
  bool registered = false;   // key from creation (sync::thread, or the configuring thread)
  bool observer = false;     // a watchdog: never perturbed, never counted
  std::uint64_t epoch = ~0ull;
  std::uint64_t steps = 0;     // this epoch's steps: the n of decide(seed, key, n)
  std::uint64_t spawned = 0;   // sync::threads started this epoch (children's keys)
  std::uint64_t total_steps = 0;  // all epochs, for the harness's coverage line
  std::uint64_t perturbed = 0;    // all epochs
};

inline ThreadState& thread_state() noexcept {
  thread_local ThreadState t;
  return t;
}

inline std::uint64_t mix(std::uint64_t z) noexcept {  // splitmix64's finalizer
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

// The decision stream: step n of the thread with `key`, under `seed`.
inline std::uint64_t decide(std::uint64_t seed, std::uint64_t key, std::uint64_t n) noexcept {
  return mix(mix(seed ^ mix(key + 0x9e3779b97f4a7c15ull)) + n * 0x9e3779b97f4a7c15ull);
}

// Set the seed and the perturbation rate (per mille of atomic steps). Call between runs, from
// the thread that then starts the run's threads: it becomes key 0. These are the harness's
// own std::atomics, relaxed: a thread that reads a stale rate only perturbs a little more or
// less, which changes no verdict.
inline void configure(std::uint64_t seed, std::uint32_t rate_per_mille) noexcept {
  Config& c = config();
  c.seed.store(seed, std::memory_order_relaxed);            // harness knob; no data hangs on it
  c.rate_per_mille.store(rate_per_mille, std::memory_order_relaxed);  // harness knob, as above
  c.first_touch.store(0, std::memory_order_relaxed);        // harness knob: a fresh key range
  c.epoch.fetch_add(1, std::memory_order_relaxed);          // harness knob: threads re-key lazily
  ThreadState& t = thread_state();
  t.key = kMainKey;
  t.registered = true;
}

// This thread's state for the current epoch: a new epoch restarts its step and child counts
// (and gives an unregistered thread a new first-touch key).
inline ThreadState& current() noexcept {
  Config& c = config();
  ThreadState& t = thread_state();
  const std::uint64_t e = c.epoch.load(std::memory_order_relaxed);  // harness knob
  if (t.epoch != e) {
    t.epoch = e;
    t.steps = 0;
    t.spawned = 0;
    if (!t.registered) {
      t.key = kFirstTouchKeys | c.first_touch.fetch_add(1, std::memory_order_relaxed);  // uniqueness only
      c.unregistered.fetch_add(1, std::memory_order_relaxed);  // a statistic for the harness
    }
  }
  return t;
}

// Parent side of sync::thread: the key of the child about to be started.
inline std::uint64_t child_key() noexcept {
  ThreadState& t = current();
  return mix(t.key ^ mix(++t.spawned));
}

// Child side of sync::thread, before anything else runs on it.
inline void adopt(std::uint64_t key) noexcept {
  ThreadState& t = thread_state();
  t.key = key;
  t.registered = true;
  t.epoch = config().epoch.load(std::memory_order_relaxed);  // harness knob
  t.steps = 0;
  t.spawned = 0;
}

// A thread that only observes the threads under test (a watchdog reading a primitive's stats
// through the facade): it is not perturbed and not counted as unregistered.
inline void observer() noexcept { thread_state().observer = true; }

inline std::uint64_t unregistered() noexcept {
  return config().unregistered.load(std::memory_order_relaxed);  // a statistic
}

// The hook: called by the facade before every atomic step.
inline void point() noexcept {
  Config& c = config();
  const std::uint32_t rate = c.rate_per_mille.load(std::memory_order_relaxed);  // harness knob
  if (rate == 0 || thread_state().observer) return;
  ThreadState& t = current();
  const std::uint64_t r = decide(c.seed.load(std::memory_order_relaxed), t.key, t.steps++);  // knob
  ++t.total_steps;
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
