// handoff/bench/work_stealing_deque_bench.cpp — WorkStealingDeque<T> against its mutex
// baseline MutexDeque<T> (both handoff::WorkDeque, so one template runs both).
//
// Workloads (names follow bench/README.md: <family>/<workload>/<impl>/<arg>:<value>):
//
//   work_stealing_deque/owner_push_pop   one thread, the owner's fast path: push B items, then
//                                        pop B (LIFO), per iteration 2^14 items. B:1 goes
//                                        through pop's last-element CAS every time; B:64 only
//                                        once per batch (the common, CAS-free path).
//   work_stealing_deque/steal            one owner thread pushing a steady stream, T thieves
//                                        stealing it (T = 1, 2, 4 ... up to the hardware
//                                        threads). The benchmark thread is the owner; one
//                                        iteration is the owner pushing 2^14 items, with at
//                                        most 4096 in the deque (the owner waits with Backoff
//                                        while size_hint() >= 4096), so in steady state an
//                                        iteration's time is the thieves' throughput. The
//                                        owner never pops: every item is stolen.
//
// Correctness, as every suite here: every run checks that each item was taken exactly once
// (count and sum of the values) and that each thief's steals came out in push order (FIFO
// end); a failing run is an error row and the binary exits 1 (bench-smoke notices).
// Counters: items_per_second, and for steal: retry_per_item (lost CAS races), empty_per_item
// (steals that found nothing), os_threads.
#include <algorithm>
#include <atomic>
#include <cstdint>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <handoff/primitives/mutex_deque.hpp>
#include <handoff/primitives/work_stealing_deque.hpp>

#include "bench_common.hpp"

namespace {

using handoff::StealStatus;
using handoff::bench::Backoff;
using Payload = std::uint64_t;
using Counter = benchmark::Counter;

constexpr char kWs[] = "WorkStealingDeque";
constexpr char kMutex[] = "MutexDeque";
constexpr const char* kPushPop = "work_stealing_deque/owner_push_pop";
constexpr const char* kSteal = "work_stealing_deque/steal";
constexpr std::uint64_t kPerIteration = std::uint64_t{1} << 14;

template <class D>
void owner_push_pop(benchmark::State& state) {
  const std::uint64_t batch = static_cast<std::uint64_t>(state.range(0));
  D d(64);
  std::uint64_t next = 0, sum_in = 0, sum_out = 0, popped = 0;
  for (auto _ : state) {
    for (std::uint64_t done = 0; done < kPerIteration; done += batch) {
      for (std::uint64_t i = 0; i < batch; ++i) {
        d.push(next);
        sum_in += next++;
      }
      for (std::uint64_t i = 0; i < batch; ++i) {
        const std::optional<Payload> v = d.pop();
        if (!v) [[unlikely]] break;
        sum_out += *v;
        ++popped;
      }
    }
  }
  if (popped != next || sum_in != sum_out || d.pop().has_value()) {
    handoff::bench::fail(state, "owner_push_pop: popped " + std::to_string(popped) + " of " +
                                    std::to_string(next) + " pushed (or wrong values)");
    return;
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(next));
  state.counters["os_threads"] = Counter(1);
}

template <class D>
void steal_stream(benchmark::State& state) {
  const unsigned thieves = static_cast<unsigned>(state.range(0));
  constexpr std::size_t kCap = 4096;
  D d(kCap);
  struct alignas(handoff::bench::kPad) Slot {
    std::uint64_t taken = 0, sum = 0, retries = 0, empties = 0;
    bool fifo_ok = true;
  };
  std::vector<Slot> slots(thieves);
  alignas(handoff::bench::kPad) std::atomic<bool> stop{false};
  std::vector<std::thread> ts;
  ts.reserve(thieves);
  for (unsigned k = 0; k < thieves; ++k) {
    ts.emplace_back([&, k] {
      Slot& s = slots[k];
      Backoff backoff;
      Payload last = 0;
      bool any = false;
      bool draining = false;
      for (;;) {
        Payload v;
        const StealStatus st = d.steal(v);
        if (st == StealStatus::Success) {
          backoff.reset();
          if (any && v <= last) s.fifo_ok = false;
          last = v;
          any = true;
          ++s.taken;
          s.sum += v;
        } else if (st == StealStatus::Retry) {
          ++s.retries;
        } else {
          ++s.empties;
          // The owner stops after its last push: an Empty from a steal that began after this
          // thief saw stop means drained (the owner never pops in this workload).
          if (draining) break;
          if (stop.load(std::memory_order_acquire)) {  // harness: pairs with the owner's release below
            draining = true;
            continue;
          }
          backoff.pause();
        }
      }
    });
  }
  Payload next = 0;
  std::uint64_t sum_in = 0, owner_waits = 0;
  auto push_capped = [&] {
    if (d.size_hint() >= kCap) [[unlikely]] {
      Backoff backoff;
      ++owner_waits;
      while (d.size_hint() >= kCap) backoff.pause();
    }
    d.push(next);
    sum_in += next++;
  };
  for (std::uint64_t i = 0; i < 4 * kCap; ++i) push_capped();  // warm-up: steady state first
  const Payload timed_from = next;
  for (auto _ : state) {
    for (std::uint64_t i = 0; i < kPerIteration; ++i) push_capped();
  }
  const Payload timed = next - timed_from;
  stop.store(true, std::memory_order_release);  // harness: every push happens before a thief's exit
  for (auto& t : ts) t.join();
  std::uint64_t taken = 0, sum_out = 0, retries = 0, empties = 0;
  bool fifo_ok = true;
  for (const Slot& s : slots) {
    taken += s.taken;
    sum_out += s.sum;
    retries += s.retries;
    empties += s.empties;
    fifo_ok = fifo_ok && s.fifo_ok;
  }
  if (taken != next || sum_out != sum_in || !fifo_ok || d.pop().has_value()) {
    handoff::bench::fail(state, "steal: thieves took " + std::to_string(taken) + " of " + std::to_string(next) +
                                    " pushed" + (sum_out != sum_in ? ", wrong values" : "") +
                                    (fifo_ok ? "" : ", a thief's steals out of push order"));
    return;
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(timed));
  const double all = static_cast<double>(std::max<std::uint64_t>(next, 1));
  state.counters["retry_per_item"] = Counter(static_cast<double>(retries) / all);
  state.counters["empty_per_item"] = Counter(static_cast<double>(empties) / all);
  state.counters["owner_waits"] = Counter(static_cast<double>(owner_waits) / all);
  state.counters["os_threads"] = Counter(static_cast<double>(thieves + 1));
}

template <template <class> class D, const char* Name>
void register_impl() {
  benchmark::RegisterBenchmark((std::string(kPushPop) + "/" + Name).c_str(), owner_push_pop<D<Payload>>)
      ->ArgName("B")
      ->Arg(1)
      ->Arg(64)
      ->UseRealTime()
      ->Unit(benchmark::kMicrosecond);
  auto* b = benchmark::RegisterBenchmark((std::string(kSteal) + "/" + Name).c_str(), steal_stream<D<Payload>>);
  b->ArgName("T")->UseRealTime()->Unit(benchmark::kMillisecond);
  const unsigned hw = std::max(1u, std::thread::hardware_concurrency());
  for (unsigned t = 1; t <= hw; t *= 2) b->Arg(t);
  if ((hw & (hw - 1)) != 0) b->Arg(hw);  // not a power of two: the hardware count too
}

[[maybe_unused]] const bool registered = [] {
  handoff::bench::declare_comparison(kPushPop, {kMutex});
  handoff::bench::declare_comparison(kSteal, {kMutex});
  register_impl<handoff::WorkStealingDeque, kWs>();
  register_impl<handoff::MutexDeque, kMutex>();
  return true;
}();

}  // namespace

HANDOFF_BENCH_MAIN()
