// handoff/bench/pingpong.hpp — the two-thread round trip that loop_bench and calibration_bench
// share: CPU placement (`pin`), the raw futex and std::atomic wait/notify ping-pongs, and the
// round-trip driver that times one post-and-answer per iteration into a LatencyHistogram.
//
//   Pin, choose_cpus, pin_this_thread, ScopedPin, placements()
//                      the `pin` argument: 0 = unpinned, 1 = both threads on one CPU, 2 = one
//                      CPU each (not registered on a one-CPU machine)
//   Waited, Answer     what one round trip reports besides its latency
//   FutexPingPong      A stores ping + FUTEX_WAKE, B (blocked in FUTEX_WAIT) answers the same way
//   AtomicPingPong     the same through std::atomic<uint32_t>::wait / notify_one
//   round_trip_bench<R>(state)
//                      the driver; args (idle_us, pin). R provides: name, kKnowsBlocking,
//                      start(cpu), round_trip(seq) -> Answer, finish(round_trips, ok) -> "" or
//                      why, add_counters(state, n)
//
// Moved here unchanged from loop_bench.cpp (which documents the waiting policies and the
// placement in its header comment; bench/README.md, "loop/round_trip") so that the calibration
// suite measures exactly the references that loop_bench reports.
#pragma once

#include <pthread.h>
#include <sched.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <string>
#include <thread>
#include <vector>

#include <benchmark/benchmark.h>

#include <handoff/primitives/sync.hpp>

#include "bench_common.hpp"
#include "latency_histogram.hpp"

namespace handoff::bench::pingpong {

namespace hb = handoff::bench;
namespace sync = handoff::sync;
using Clock = std::chrono::steady_clock;

constexpr auto kStallLimit = std::chrono::seconds(10);   // no progress this long: the run fails
constexpr std::int64_t kWaitSliceNs = 100'000'000;       // futex waits wake up to check the time

// ---- CPU placement of the round trip's two threads -------------------------------------------

// The `pin` argument: 0 = not pinned (the scheduler places both threads), 1 = both pinned to
// one CPU, 2 = pinned to two different CPUs.
enum Pin : int { kUnpinned = 0, kSameCpu = 1, kTwoCpus = 2 };

// The CPUs for the poster and the answerer under `pin`, from this thread's allowed set; false
// if it has fewer CPUs than the placement needs.
inline bool choose_cpus(int pin, int& poster, int& answerer) {
  poster = answerer = -1;
  if (pin == kUnpinned) return true;
  cpu_set_t set;
  CPU_ZERO(&set);
  if (::sched_getaffinity(0, sizeof set, &set) != 0) return false;
  std::vector<int> cpus;
  for (int c = 0; c < CPU_SETSIZE && cpus.size() < 2; ++c) {
    if (CPU_ISSET(c, &set)) cpus.push_back(c);
  }
  if (cpus.size() < static_cast<std::size_t>(pin)) return false;
  poster = cpus[0];
  answerer = pin == kSameCpu ? cpus[0] : cpus[1];
  return true;
}

inline bool pin_this_thread(int cpu) {
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(cpu, &set);
  return ::pthread_setaffinity_np(::pthread_self(), sizeof set, &set) == 0;
}

// Pins the benchmark thread for one run and restores its CPU set afterwards.
class ScopedPin {
 public:
  explicit ScopedPin(int cpu) {
    if (cpu < 0) return;
    saved_ok_ = ::pthread_getaffinity_np(::pthread_self(), sizeof saved_, &saved_) == 0;
    ok_ = saved_ok_ && pin_this_thread(cpu);
  }
  ~ScopedPin() {
    if (saved_ok_) ::pthread_setaffinity_np(::pthread_self(), sizeof saved_, &saved_);
  }
  ScopedPin(const ScopedPin&) = delete;
  ScopedPin& operator=(const ScopedPin&) = delete;
  bool ok() const noexcept { return ok_; }

 private:
  cpu_set_t saved_{};
  bool saved_ok_ = false;
  bool ok_ = true;
};

inline std::int64_t ns_since(Clock::time_point t0, Clock::time_point t1) {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(t1 - t0).count();
}

enum class Waited { Spun, Slept, Stalled };

// What one round trip reports besides its latency: how the poster waited, and the CPU the
// answer was given on (sched_getcpu() in the answering thread), to tell whether the two
// threads shared a vCPU — on this VM the scheduler often packs them onto one.
struct Answer {
  Waited waited;
  int cpu;
};

constexpr std::uint32_t kStopWord = 0xFFFFFFFFu;

// The end of a reference ping-pong run: thread B's verdict, checked after the join.
inline std::string pingpong_verdict(const char* name, bool pin_failed, std::uint64_t served,
                                    std::uint64_t round_trips, bool ok) {
  if (pin_failed) return std::string(name) + ": could not pin thread B";
  if (ok && served != round_trips) {
    return std::string(name) + ": B answered " + std::to_string(served) + " of " + std::to_string(round_trips);
  }
  return {};
}

// Raw futex ping-pong: A (the benchmark thread) stores ping and FUTEX_WAKEs B; B, blocked in
// FUTEX_WAIT on ping, stores pong and FUTEX_WAKEs A, blocked in FUTEX_WAIT on pong. No
// spinning on either side, a wake syscall on every hand-off: the cost of two wakes.
class FutexPingPong {
 public:
  static constexpr const char* name = "futex_pingpong";
  static constexpr bool kKnowsBlocking = false;

  ~FutexPingPong() {
    if (thread_.joinable()) (void)finish(0, false);
  }

  void start(int cpu) {
    thread_ = std::thread([this, cpu] {
      if (cpu >= 0) pin_failed_ = !pin_this_thread(cpu);
      std::uint32_t last = 0;
      for (;;) {
        // acquire: pairs with round_trip()'s release store of ping.
        std::uint32_t v = ping_.load(std::memory_order_acquire);  // pairs with round_trip()'s store
        if (v == last) {
          sync::wait(ping_, v, kWaitSliceNs);
          continue;
        }
        if (v == kStopWord) return;
        last = v;
        ++served_;
        cpu_.store(::sched_getcpu(), std::memory_order_relaxed);  // published by the store of pong
        // release: pairs with round_trip()'s acquire load of pong.
        pong_.store(v, std::memory_order_release);  // pairs with round_trip()'s load
        sync::wake_one(pong_);
      }
    });
  }
  Answer round_trip(std::uint32_t seq) {
    ping_.store(seq, std::memory_order_release);  // pairs with B's acquire load of ping
    sync::wake_one(ping_);
    const Clock::time_point since = Clock::now();
    for (;;) {
      const std::uint32_t v = pong_.load(std::memory_order_acquire);  // pairs with B's store
      if (v == seq) return {Waited::Slept, cpu_.load(std::memory_order_relaxed)};  // after the acquire above
      if (Clock::now() - since > kStallLimit) return {Waited::Stalled, -1};
      sync::wait(pong_, v, kWaitSliceNs);
    }
  }
  std::string finish(std::uint64_t round_trips, bool ok) {
    ping_.store(kStopWord, std::memory_order_release);  // pairs with B's acquire load
    sync::wake_one(ping_);
    thread_.join();
    return pingpong_verdict(name, pin_failed_, served_, round_trips, ok);
  }
  void add_counters(benchmark::State&, double) const {}

 private:
  alignas(hb::kPad) sync::atomic<std::uint32_t> ping_{0};
  alignas(hb::kPad) sync::atomic<std::uint32_t> pong_{0};
  sync::atomic<int> cpu_{-1};  // B's CPU, published by the store of pong_
  std::uint64_t served_ = 0;   // B only; read after the join
  bool pin_failed_ = false;    // B only; read after the join
  std::thread thread_;
};

// The same ping-pong through std::atomic<uint32_t>::wait / notify_one (libstdc++: a short
// spin and a few yields, then a futex on the word itself). No timeout exists: a lost
// notification would hang the run (ctest's timeout catches it).
class AtomicPingPong {
 public:
  static constexpr const char* name = "atomic_pingpong";
  static constexpr bool kKnowsBlocking = false;

  ~AtomicPingPong() {
    if (thread_.joinable()) (void)finish(0, false);
  }

  void start(int cpu) {
    thread_ = std::thread([this, cpu] {
      if (cpu >= 0) pin_failed_ = !pin_this_thread(cpu);
      std::uint32_t last = 0;
      for (;;) {
        ping_.wait(last, std::memory_order_acquire);  // pairs with round_trip()'s release store
        const std::uint32_t v = ping_.load(std::memory_order_acquire);  // pairs with round_trip()'s store
        if (v == kStopWord) return;
        last = v;
        ++served_;
        cpu_.store(::sched_getcpu(), std::memory_order_relaxed);  // published by the store of pong
        pong_.store(v, std::memory_order_release);  // pairs with round_trip()'s acquire wait/load
        pong_.notify_one();
      }
    });
  }
  Answer round_trip(std::uint32_t seq) {
    ping_.store(seq, std::memory_order_release);  // pairs with B's acquire wait/load
    ping_.notify_one();
    for (;;) {
      const std::uint32_t v = pong_.load(std::memory_order_acquire);  // pairs with B's store
      if (v == seq) return {Waited::Slept, cpu_.load(std::memory_order_relaxed)};  // after the acquire above
      pong_.wait(v, std::memory_order_acquire);  // pairs with B's release store
    }
  }
  std::string finish(std::uint64_t round_trips, bool ok) {
    ping_.store(kStopWord, std::memory_order_release);  // pairs with B's acquire load
    ping_.notify_one();
    thread_.join();
    return pingpong_verdict(name, pin_failed_, served_, round_trips, ok);
  }
  void add_counters(benchmark::State&, double) const {}

 private:
  alignas(hb::kPad) std::atomic<std::uint32_t> ping_{0};
  alignas(hb::kPad) std::atomic<std::uint32_t> pong_{0};
  std::atomic<int> cpu_{-1};  // B's CPU, published by the store of pong_
  std::uint64_t served_ = 0;  // B only; read after the join
  bool pin_failed_ = false;   // B only; read after the join
  std::thread thread_;
};

// One iteration = one round trip, timed with steady_clock around post-and-wait (the two clock
// reads are inside the sample). With idle_us > 0 the thread first sleeps that long, outside
// the sample. Reported: time_per_item = mean latency, items_per_second = 1 / mean,
// p50 ... p999 and max from the histogram, blocked = share of round trips in which the
// posting thread slept (the loops only), same_cpu = share of round trips answered on the
// poster's CPU (both threads on one vCPU: a wake is then a context switch, and a spinning
// thread keeps the other off the CPU).
template <class R>
void round_trip_bench(benchmark::State& state) {
  const std::chrono::microseconds idle(state.range(0));
  const int pin = static_cast<int>(state.range(1));
  int poster_cpu = -1, answerer_cpu = -1;
  if (!choose_cpus(pin, poster_cpu, answerer_cpu)) {
    return state.SkipWithError("pin: this machine offers fewer CPUs than the placement needs");
  }
  ScopedPin pinned(poster_cpu);
  if (!pinned.ok()) return hb::fail(state, std::string(R::name) + ": could not pin the posting thread");
  R rt;
  rt.start(answerer_cpu);
  hb::LatencyHistogram hist;
  std::uint32_t seq = 0;
  std::uint64_t blocked = 0, same_cpu = 0;
  bool stalled = false;

  auto once = [&](bool record) {
    if (idle.count() > 0) std::this_thread::sleep_for(idle);
    ++seq;
    const Clock::time_point t0 = Clock::now();
    const Answer a = rt.round_trip(seq);
    const Clock::time_point t1 = Clock::now();
    if (a.waited == Waited::Stalled) [[unlikely]] {
      stalled = true;
      return false;
    }
    if (record) {
      hist.record(static_cast<std::uint64_t>(ns_since(t0, t1)));
      blocked += a.waited == Waited::Slept ? 1 : 0;
      same_cpu += a.cpu == ::sched_getcpu() ? 1 : 0;
    }
    return true;
  };

  const int warmup = idle.count() > 0 ? 2 : 200;
  for (int i = 0; i < warmup && once(false);) ++i;
  if (!stalled) {
    for (auto _ : state) {
      if (!once(true)) break;
    }
  }
  const std::string why = rt.finish(seq, !stalled);
  const std::string label = std::string(R::name) + " idle_us=" + std::to_string(idle.count()) +
                            " pin=" + std::to_string(pin);
  if (stalled) return hb::fail(state, label + ": no answer for 10 s (lost wakeup?)");
  if (!why.empty()) return hb::fail(state, label + ": " + why);
  std::string bad;
  if (!hb::report_round_trips(state, hist, same_cpu, &bad)) return hb::fail(state, label + ": " + bad);
  state.counters["os_threads"] = benchmark::Counter(2);
  if constexpr (R::kKnowsBlocking) {
    state.counters["blocked"] = benchmark::Counter(static_cast<double>(blocked) / static_cast<double>(hist.count()));
  }
  rt.add_counters(state, static_cast<double>(std::max<std::uint32_t>(seq, 1)));
}

// pin:2 needs two CPUs; on a one-CPU machine it is not registered (rather than failing).
inline std::vector<std::int64_t> placements() {
  int a = -1, b = -1;
  if (choose_cpus(kTwoCpus, a, b)) return {kUnpinned, kSameCpu, kTwoCpus};
  return {kUnpinned, kSameCpu};
}

}  // namespace handoff::bench::pingpong
