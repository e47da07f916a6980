// handoff/bench/calibration_bench.cpp — what this machine's floor costs, measured in the same
// run as the suites, so that the report can give every handoff's latency as a multiple of it
// (bench/report.py, "Calibration"; bench/README.md, "calibration_bench").
//
// Workloads:
//
//   calibration/syscall/<impl>   one call per iteration, back to back; ns/item = ns per call
//       getppid            syscall(SYS_getppid): the cheapest real system call (no vDSO)
//       futex_wake         syscall(SYS_futex, FUTEX_WAKE_PRIVATE) on a word nobody waits on:
//                          what a notify costs when it finds no sleeper
//       steady_clock_now   std::chrono::steady_clock::now() (vDSO, no syscall): the cost of
//                          the two clock reads inside every latency sample of the suites
//   calibration/round_trip/<impl>/idle_us:t/pin:c   one round trip per iteration between the
//       benchmark thread and a second thread, through pingpong.hpp's driver (the same one as
//       loop/round_trip, so the same placement and the same histogram):
//       futex_pingpong     both sides block in FUTEX_WAIT at once, two FUTEX_WAKEs per trip
//       atomic_pingpong    the same through std::atomic<uint32_t>::wait / notify_one
//       spin_pingpong      both sides spin on the other's word (pause; a sched_yield after
//                          every 64 turns without an answer, so a shared vCPU still makes
//                          progress): a cache line's trip between two CPUs and back.
//                          idle_us:0 only, pin 0 and 2 (on one CPU spinning only measures
//                          the scheduler's time slice)
//
// Counters as loop/round_trip: p50 ... p999, max (seconds), time_per_item = mean,
// items_per_second = 1 / mean, same_cpu = share of trips answered on the poster's CPU.
#include <linux/futex.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <string>
#include <thread>
#include <vector>

#include "bench_common.hpp"
#include "latency_histogram.hpp"
#include "pingpong.hpp"

namespace {

namespace hb = handoff::bench;
namespace pp = handoff::bench::pingpong;
using Clock = std::chrono::steady_clock;

// ---- calibration/syscall -----------------------------------------------------------------

void per_call_counters(benchmark::State& state) {
  using benchmark::Counter;
  state.SetItemsProcessed(state.iterations());
  state.counters["time_per_item"] = Counter(1.0, Counter::kIsIterationInvariantRate | Counter::kInvert);
}

void syscall_getppid(benchmark::State& state) {
  for (auto _ : state) benchmark::DoNotOptimize(::syscall(SYS_getppid));
  per_call_counters(state);
}

void syscall_futex_wake(benchmark::State& state) {
  alignas(hb::kPad) std::uint32_t word = 0;
  for (auto _ : state) {
    benchmark::DoNotOptimize(::syscall(SYS_futex, &word, FUTEX_WAKE_PRIVATE, 1, nullptr, nullptr, 0));
  }
  per_call_counters(state);
}

void steady_clock_now(benchmark::State& state) {
  for (auto _ : state) benchmark::DoNotOptimize(Clock::now());
  per_call_counters(state);
}

// ---- calibration/round_trip: the spin ping-pong ----------------------------------------------

// A stores ping and spins until pong equals it; B spins on ping and copies it to pong. Each side
// yields after every kYieldEvery turns without news, so on a shared vCPU the partner runs.
class SpinPingPong {
 public:
  static constexpr const char* name = "spin_pingpong";
  static constexpr bool kKnowsBlocking = false;
  static constexpr unsigned kYieldEvery = 64;

  ~SpinPingPong() {
    if (thread_.joinable()) (void)finish(0, false);
  }

  void start(int cpu) {
    thread_ = std::thread([this, cpu] {
      if (cpu >= 0) pin_failed_ = !pp::pin_this_thread(cpu);
      std::uint32_t last = 0;
      for (unsigned turns = 1;; ++turns) {
        // acquire: pairs with round_trip()'s release store of ping.
        const std::uint32_t v = ping_.load(std::memory_order_acquire);  // pairs with round_trip()'s store
        if (v == last) {
          if (turns % kYieldEvery == 0) {
            std::this_thread::yield();
          } else {
            handoff::sync::spin_pause();
          }
          continue;
        }
        if (v == pp::kStopWord) return;
        last = v;
        turns = 0;
        ++served_;
        cpu_.store(::sched_getcpu(), std::memory_order_relaxed);  // published by the store of pong
        pong_.store(v, std::memory_order_release);  // pairs with round_trip()'s acquire load
      }
    });
  }
  pp::Answer round_trip(std::uint32_t seq) {
    ping_.store(seq, std::memory_order_release);  // pairs with B's acquire load of ping
    const Clock::time_point since = Clock::now();
    for (unsigned turns = 1;; ++turns) {
      if (pong_.load(std::memory_order_acquire) == seq) {  // pairs with B's release store
        return {pp::Waited::Spun, cpu_.load(std::memory_order_relaxed)};  // after the acquire above
      }
      if (turns % kYieldEvery == 0) {
        if (Clock::now() - since > pp::kStallLimit) return {pp::Waited::Stalled, -1};
        std::this_thread::yield();
      } else {
        handoff::sync::spin_pause();
      }
    }
  }
  std::string finish(std::uint64_t round_trips, bool ok) {
    ping_.store(pp::kStopWord, std::memory_order_release);  // pairs with B's acquire load
    thread_.join();
    return pp::pingpong_verdict(name, pin_failed_, served_, round_trips, ok);
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

// ---- registration ------------------------------------------------------------------------------

constexpr const char* kSyscall = "calibration/syscall";
constexpr const char* kRoundTrip = "calibration/round_trip";

template <class R>
void register_round_trip(const std::vector<std::int64_t>& idle, const std::vector<std::int64_t>& pins) {
  const std::string name = std::string(kRoundTrip) + "/" + R::name;
  benchmark::RegisterBenchmark(name.c_str(), [](benchmark::State& s) { pp::round_trip_bench<R>(s); })
      ->ArgNames({"idle_us", "pin"})
      ->ArgsProduct({idle, pins})
      ->UseRealTime()
      ->Unit(benchmark::kMicrosecond);
}

[[maybe_unused]] const bool registered = [] {
  for (auto [impl, fn] : {std::pair{"getppid", &syscall_getppid},
                          std::pair{"futex_wake", &syscall_futex_wake},
                          std::pair{"steady_clock_now", &steady_clock_now}}) {
    benchmark::RegisterBenchmark((std::string(kSyscall) + "/" + impl).c_str(), fn)
        ->UseRealTime()
        ->Unit(benchmark::kNanosecond);
  }
  const std::vector<std::int64_t> pins = pp::placements();
  std::vector<std::int64_t> spin_pins{pp::kUnpinned};
  if (pins.back() == pp::kTwoCpus) spin_pins.push_back(pp::kTwoCpus);
  register_round_trip<pp::FutexPingPong>({0, 1000}, pins);
  register_round_trip<pp::AtomicPingPong>({0, 1000}, pins);
  register_round_trip<SpinPingPong>({0}, spin_pins);
  // The report divides by futex_pingpong (the "cost of two wakes" every blocking handoff pays).
  hb::declare_comparison(kRoundTrip, {"futex_pingpong"});
  return true;
}();

}  // namespace

HANDOFF_BENCH_MAIN()
