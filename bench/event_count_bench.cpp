// handoff/bench/event_count_bench.cpp — EventCount against its mutex baselines and the
// standard library's parking primitives.
//
// Implementations (<impl>):
//   EventCount               primitives/event_count.hpp (the subject)
//   CountedMutexEventCount   the baseline (declare_comparison puts it first: the ratio column):
//                            mutex + condvar, notify() reads an atomic waiter count and locks
//                            only when someone waits — the design an expert writes (issue 12)
//   MutexEventCount_naive    MutexEventCount, which locks in every notify(): kept as a labelled
//                            row to show what the waiter-count check alone buys
//   atomic_wait              reference: std::atomic<std::uint32_t>::wait/notify_one on the ball
//                            word itself (libstdc++ 12: a short spin, then a futex, with a
//                            waiter count in its proxy table)
//   binary_semaphore         reference (ping_pong only: release() on a full binary semaphore
//                            breaks its precondition, so there is no no-waiter row):
//                            std::binary_semaphore release/acquire (libstdc++ 12: atomic wait)
// Workloads (bench/README.md has the naming convention):
//   event_count/notify_no_waiter/<impl>   notify_one() with nobody waiting, one thread: the
//                                         notifier's fast path, paid on every job submission
//                                         while the pool is busy (EventCount and
//                                         CountedMutexEventCount: one load; the naive one: a
//                                         lock/unlock pair). One item = one notify_one().
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
#include <semaphore>
#include <string>
#include <thread>

#include <handoff/primitives/counted_mutex_event_count.hpp>
#include <handoff/primitives/event_count.hpp>
#include <handoff/primitives/mutex_event_count.hpp>

#include "bench_common.hpp"

namespace {

using handoff::CountedMutexEventCount;
using handoff::EventCount;
using handoff::MutexEventCount;

template <class EC>
struct Impl;
template <>
struct Impl<EventCount> {
  static constexpr const char* name = "EventCount";
};
template <>
struct Impl<CountedMutexEventCount> {
  static constexpr const char* name = "CountedMutexEventCount";
};
template <>
struct Impl<MutexEventCount> {
  static constexpr const char* name = "MutexEventCount_naive";
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

// ---- references: the standard library's parking, same workloads ----------------------------

void notify_no_waiter_atomic_wait(benchmark::State& state) {
  auto word = std::make_unique<std::atomic<std::uint32_t>>(0);
  for (auto _ : state) {
    word->notify_one();  // nobody waits: libstdc++ checks its proxy's waiter count first
    benchmark::ClobberMemory();
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()));
}

// The ball is the futex word: each side stores the round number, notifies, and waits on its
// own word until the other side's store changes it.
void ping_pong_atomic_wait(benchmark::State& state) {
  struct Words {
    alignas(handoff::bench::kPad) std::atomic<std::uint32_t> to_main{0};
    alignas(handoff::bench::kPad) std::atomic<std::uint32_t> to_partner{0};
    alignas(handoff::bench::kPad) std::atomic<bool> stop{false};
  };
  auto w = std::make_unique<Words>();
  std::thread partner([&p = *w] {
    for (std::uint32_t i = 1;; ++i) {
      for (;;) {
        const std::uint32_t seen = p.to_partner.load(std::memory_order_seq_cst);  // pairs with the main thread's store
        if (seen == i || p.stop.load(std::memory_order_seq_cst)) break;  // pairs with the main thread's stop store
        p.to_partner.wait(seen, std::memory_order_seq_cst);  // sleeps while the word still holds `seen`
      }
      if (p.to_partner.load(std::memory_order_seq_cst) != i) return;  // stopped (pairs with the main store)
      p.to_main.store(i, std::memory_order_seq_cst);  // the ball back: pairs with the main thread's wait loads
      p.to_main.notify_one();
    }
  });
  std::uint32_t i = 0;
  for (auto _ : state) {
    ++i;
    w->to_partner.store(i, std::memory_order_seq_cst);  // the ball: pairs with the partner's wait loads
    w->to_partner.notify_one();
    for (std::uint32_t seen; (seen = w->to_main.load(std::memory_order_seq_cst)) != i;) {  // pairs with the partner's store
      w->to_main.wait(seen, std::memory_order_seq_cst);
    }
  }
  w->stop.store(true, std::memory_order_seq_cst);  // then wake: the partner's loop re-reads it
  w->to_partner.fetch_add(0x8000'0000u, std::memory_order_seq_cst);  // change the word so its wait returns (pairs with its load)
  w->to_partner.notify_one();
  partner.join();
  state.SetItemsProcessed(static_cast<std::int64_t>(i));
  if (w->to_main.load(std::memory_order_relaxed) != i) {  // after join
    handoff::bench::fail(state, "ping_pong: the ball did not come back every round");
  }
}

void ping_pong_binary_semaphore(benchmark::State& state) {
  struct Sems {
    alignas(handoff::bench::kPad) std::binary_semaphore to_main{0};
    alignas(handoff::bench::kPad) std::binary_semaphore to_partner{0};
    alignas(handoff::bench::kPad) std::atomic<bool> stop{false};
    std::uint64_t returned = 0;  // partner's count; read after join
  };
  auto s = std::make_unique<Sems>();
  std::thread partner([&p = *s] {
    for (;;) {
      p.to_partner.acquire();
      if (p.stop.load(std::memory_order_seq_cst)) return;  // pairs with the main thread's stop store (release/acquire of the semaphore orders it too)
      ++p.returned;
      p.to_main.release();
    }
  });
  std::uint64_t i = 0;
  for (auto _ : state) {
    ++i;
    s->to_partner.release();
    s->to_main.acquire();
  }
  s->stop.store(true, std::memory_order_seq_cst);  // before the release that lets the partner see it
  s->to_partner.release();
  partner.join();
  state.SetItemsProcessed(static_cast<std::int64_t>(i));
  if (s->returned != i) handoff::bench::fail(state, "ping_pong: the ball did not come back every round");
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
  // The baseline first, then the references (a ratio column each; bench/report.py).
  handoff::bench::declare_comparison("event_count/notify_no_waiter",
                                     {"CountedMutexEventCount", "MutexEventCount_naive", "atomic_wait"});
  handoff::bench::declare_comparison(
      "event_count/ping_pong",
      {"CountedMutexEventCount", "MutexEventCount_naive", "atomic_wait", "binary_semaphore"});
  register_impl<EventCount>();
  register_impl<CountedMutexEventCount>();
  register_impl<MutexEventCount>();
  benchmark::RegisterBenchmark("event_count/notify_no_waiter/atomic_wait", notify_no_waiter_atomic_wait);
  benchmark::RegisterBenchmark("event_count/ping_pong/atomic_wait", ping_pong_atomic_wait)
      ->UseRealTime()
      ->Unit(benchmark::kMicrosecond);
  benchmark::RegisterBenchmark("event_count/ping_pong/binary_semaphore", ping_pong_binary_semaphore)
      ->UseRealTime()
      ->Unit(benchmark::kMicrosecond);
  return true;
}();

}  // namespace

HANDOFF_BENCH_MAIN()
