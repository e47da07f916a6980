// handoff/bench/event_count_bench.cpp — EventCount against its mutex baseline, MutexEventCount.
//
// Workloads (bench/README.md has the naming convention; declare_comparison makes
// MutexEventCount the baseline column of each table):
//   event_count/notify_no_waiter/<impl>   notify_one() with nobody waiting, one thread: the
//                                         notifier's fast path, paid on every job submission
//                                         while the pool is busy (EventCount: one load;
//                                         MutexEventCount: a lock/unlock pair). One item = one
//                                         notify_one().
//   event_count/ping_pong/<impl>          two threads, two event counts, a ball (a seq_cst
//                                         counter per direction): each side publishes the ball,
//                                         notify_one()s the other and parks with prepare ->
//                                         re-check -> wait until the ball comes back. No
//                                         spinning: one item = one round trip = two sleeps and
//                                         two wakes (the executor's idle-worker wake latency,
//                                         twice). Counters: syscalls and wait returns per trip.
// On 2 shared cores the round trip is dominated by the kernel's futex wake and the context
// switches; note the load average (scripts/bench records it) and compare within one run.
#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <thread>

#include <handoff/primitives/event_count.hpp>
#include <handoff/primitives/mutex_event_count.hpp>

#include "bench_common.hpp"

namespace {

using handoff::EventCount;
using handoff::MutexEventCount;

template <class EC>
struct Impl;
template <>
struct Impl<EventCount> {
  static constexpr const char* name = "EventCount";
};
template <>
struct Impl<MutexEventCount> {
  static constexpr const char* name = "MutexEventCount";
};

template <class EC>
void notify_no_waiter(benchmark::State& state) {
  auto ec = std::make_unique<EC>();
  for (auto _ : state) {
    ec->notify_one();
    benchmark::ClobberMemory();
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()));
  if (ec->stats().notify_syscalls != 0) {
    handoff::bench::fail(state, "notify_one with nobody waiting issued a wake");
  }
}

// Park on `ec` until cond() holds: the header's protocol (prepare, re-check, cancel or wait).
template <class EC, class F>
void park_until(EC& ec, F&& cond) {
  while (!cond()) {
    const typename EC::Key k = ec.prepare_wait();
    if (cond()) {
      ec.cancel_wait();
      return;
    }
    ec.wait(k);
  }
}

template <class EC>
struct PingPong {
  EC to_main_ec;  // the benchmark thread parks here
  EC to_partner_ec;
  alignas(handoff::bench::kPad) std::atomic<std::uint64_t> to_main{0};
  alignas(handoff::bench::kPad) std::atomic<std::uint64_t> to_partner{0};
  alignas(handoff::bench::kPad) std::atomic<bool> stop{false};
};

template <class EC>
void ping_pong(benchmark::State& state) {
  auto pp = std::make_unique<PingPong<EC>>();
  std::thread partner([&p = *pp] {
    for (std::uint64_t i = 1;; ++i) {
      // seq_cst loads: the re-check half of the Dekker pair with the other side's seq_cst store.
      park_until(p.to_partner_ec, [&] {
        return p.to_partner.load(std::memory_order_seq_cst) >= i || p.stop.load(std::memory_order_seq_cst);  // pairs with the main thread's stores
      });
      if (p.to_partner.load(std::memory_order_seq_cst) < i) return;  // stopped (pairs with the main store)
      p.to_main.store(i, std::memory_order_seq_cst);  // publish the ball back, then notify
      p.to_main_ec.notify_one();
    }
  });
  std::uint64_t i = 0;
  for (auto _ : state) {
    ++i;
    pp->to_partner.store(i, std::memory_order_seq_cst);  // publish the ball, then notify
    pp->to_partner_ec.notify_one();
    park_until(pp->to_main_ec, [&] { return pp->to_main.load(std::memory_order_seq_cst) >= i; });  // pairs with the partner's store
  }
  pp->stop.store(true, std::memory_order_seq_cst);  // then notify_all: the partner's re-check sees it
  pp->to_partner_ec.notify_all();
  partner.join();
  const std::uint64_t trips = i;
  state.SetItemsProcessed(static_cast<std::int64_t>(trips));
  if (pp->to_main.load(std::memory_order_relaxed) != trips) {  // after join
    handoff::bench::fail(state, "ping_pong: the ball did not come back every round");
    return;
  }
  const auto a = pp->to_main_ec.stats();
  const auto b = pp->to_partner_ec.stats();
  const double n = trips == 0 ? 1.0 : static_cast<double>(trips);
  state.counters["syscalls_per_trip"] = static_cast<double>(a.notify_syscalls + b.notify_syscalls) / n;
  state.counters["sleeps_per_trip"] = static_cast<double>(a.committed + b.committed) / n;
  state.counters["cancels_per_trip"] = static_cast<double>(a.cancelled + b.cancelled) / n;
}

template <class EC>
void register_impl() {
  const std::string impl = Impl<EC>::name;
  benchmark::RegisterBenchmark(("event_count/notify_no_waiter/" + impl).c_str(), notify_no_waiter<EC>);
  benchmark::RegisterBenchmark(("event_count/ping_pong/" + impl).c_str(), ping_pong<EC>)
      ->UseRealTime()
      ->Unit(benchmark::kMicrosecond);
}

[[maybe_unused]] const bool registered = [] {
  handoff::bench::declare_comparison("event_count/notify_no_waiter", {"MutexEventCount"});
  handoff::bench::declare_comparison("event_count/ping_pong", {"MutexEventCount"});
  register_impl<EventCount>();
  register_impl<MutexEventCount>();
  return true;
}();

}  // namespace

HANDOFF_BENCH_MAIN()
