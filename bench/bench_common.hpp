// handoff/bench/bench_common.hpp — what every handoff benchmark suite shares.
//
// WHAT: the pieces a suite needs so that all suites measure the same way and report the
// same counters (bench/README.md has the naming convention and the counters' meanings):
//
//   HANDOFF_BENCH_MAIN()       main(): Google Benchmark's, plus a non-zero exit status when a
//                              run failed its checks (so `ctest -L bench-smoke` notices)
//   fail(state, msg)           abort a run with SkipWithError and remember the failure
//   declare_comparison(...)    tells bench/table.py which implementations are the baseline
//                              and the reference of a family/workload (JSON context)
//   encode / producer_of / seq_of
//                              the 64-bit payload: producer id (16 bits) + sequence (48)
//   SeqChecker                 consumer-side check: per-producer FIFO, no loss, no duplicate
//   InFlightCap                producers' credit gate: items in flight never exceed a cap
//   Backoff                    the one spin-then-yield policy every waiting side uses
//   QueueAdapter               the peer adapter pattern (concept): handoff's queues, the
//                              mutex baselines and third-party peers behind one interface
//   producer_consumer_stream<A>
//                              the driver: P producer threads and one consumer (the
//                              benchmark's own thread) over an adapter A
//
// THE DRIVER'S DESIGN (measured alternatives in bench/README.md). Producers are a fixed pool
// per run (one call of the benchmark function), started before the timer and pushing a
// continuous stream until the run ends; one benchmark iteration is the consumer popping the
// next `items_per_iteration` items. So the timer sees only the steady state: no thread start,
// no start/finish rendezvous and no ramp-down tail inside the timed loop. Before the timer
// starts the consumer pops `warmup_items`, so every implementation has grown its nodes or
// blocks to steady state before it is measured. After the loop the producers are stopped,
// joined and the queue drained, and every item is accounted for — a run that lost,
// duplicated or reordered an item (per producer) fails with SkipWithError, never reports.
//
// IN-FLIGHT CAP. Producers take credits from a shared counter in chunks (one fetch_add per
// `credit_chunk` pushes) and wait (Backoff) while claimed − popped > cap, where `popped` is
// published by the consumer every kPublishEvery pops. Since claimed ≥ pushed and published
// popped ≤ popped, the number of items in the queue never exceeds `cap`; the queue is
// measured, not malloc growing a backlog while a producer holds a timeslice. Deadlock-free
// while cap ≥ P·credit_chunk + kPublishEvery (checked): once the queue drains, every waiter's
// claim fits. The high-water mark ("hwm") is not this bound: the consumer samples the true
// occupancy Σ pushed − popped every kSampleEvery pops from per-producer counters.
//
// COST OF THE HARNESS per item, the same for every implementation: producer — a credit
// decrement, one store to its own cache line; consumer — the FIFO check (a table lookup), a
// counter. Shared-line traffic: one fetch_add per credit_chunk pushes, one store per
// kPublishEvery pops, P loads per kSampleEvery pops.
#pragma once

#include <algorithm>
#include <atomic>
#include <chrono>
#include <concepts>
#include <cstdint>
#include <cstdio>
#include <memory>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include <benchmark/benchmark.h>

#include <handoff/primitives/results.hpp>

namespace handoff::bench {

// Padding for harness-owned shared words: two lines, so the adjacent-line prefetcher does
// not make neighbours share (we measure the queue's false sharing, not ours).
inline constexpr std::size_t kPad = 128;

// ---- failing loudly -------------------------------------------------------------------

inline std::atomic<int>& failure_count() noexcept {
  static std::atomic<int> n{0};
  return n;
}

// Abort this run: Google Benchmark reports it as an error (JSON "error_occurred") instead of
// timing it, and HANDOFF_BENCH_MAIN's exit status says a run failed.
inline void fail(benchmark::State& state, const std::string& what) {
  failure_count().fetch_add(1, std::memory_order_relaxed);  // harness bookkeeping; no data hangs on it
  std::fprintf(stderr, "handoff bench: run failed: %s\n", what.c_str());
  state.SkipWithError(what.c_str());  // copies the message
}

inline int run_main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  const int failed = failure_count().load(std::memory_order_relaxed);  // harness bookkeeping; no data hangs on it
  if (failed != 0) {
    std::fprintf(stderr, "handoff bench: %d run(s) failed their checks (see above)\n", failed);
    return 1;
  }
  return 0;
}

#define HANDOFF_BENCH_MAIN() \
  int main(int argc, char** argv) { return ::handoff::bench::run_main(argc, argv); }

// ---- naming and table metadata (see bench/README.md) -------------------------------------

// Benchmark names are "<family>/<workload>/<impl>/<arg>:<value>...". This records, in the JSON
// context, the implementations bench/table.py divides by for that family/workload: the first
// is the baseline, the rest are references (one ratio column each).
inline void declare_comparison(std::string_view family_workload,
                               std::initializer_list<std::string_view> impls) {
  std::string value;
  for (std::string_view impl : impls) {
    if (!value.empty()) value += ',';
    value += impl;
  }
  benchmark::AddCustomContext("handoff.compare:" + std::string(family_workload), value);
}

// ---- payload ----------------------------------------------------------------------------

inline constexpr int kSeqBits = 48;
inline constexpr std::uint64_t kSeqMask = (std::uint64_t{1} << kSeqBits) - 1;
inline constexpr std::uint64_t encode(std::uint64_t producer, std::uint64_t seq) noexcept {
  return (producer << kSeqBits) | seq;
}
inline constexpr std::uint64_t producer_of(std::uint64_t v) noexcept { return v >> kSeqBits; }
inline constexpr std::uint64_t seq_of(std::uint64_t v) noexcept { return v & kSeqMask; }

// Consumer side: each producer's items must arrive as 0, 1, 2, ... — which catches loss,
// duplication and per-producer reordering, not only a wrong total.
class SeqChecker {
 public:
  explicit SeqChecker(std::size_t producers) : next_(producers, 0) {}

  void accept(std::uint64_t v) noexcept {
    const std::uint64_t p = producer_of(v);
    if (p >= next_.size() || seq_of(v) != next_[p]) [[unlikely]] {
      note_bad(v);
      return;
    }
    next_[p] = seq_of(v) + 1;
  }

  // Number of gaps, repeats and strays seen (each resynchronizes its producer's sequence).
  std::uint64_t bad() const noexcept { return bad_; }
  std::string first_bad() const {
    if (bad_ == 0) return "none";
    return "producer " + std::to_string(producer_of(first_bad_)) + " sent seq " +
           std::to_string(seq_of(first_bad_)) + " where " + std::to_string(first_expected_) +
           " was due";
  }
  // Items seen in order from producer p (its next expected sequence number).
  std::uint64_t seen(std::size_t p) const noexcept { return next_[p]; }

 private:
  [[gnu::noinline]] void note_bad(std::uint64_t v) noexcept {
    const std::uint64_t p = producer_of(v);
    const bool known = p < next_.size();
    if (bad_++ == 0) {
      first_bad_ = v;
      first_expected_ = known ? next_[p] : 0;
    }
    if (known) next_[p] = seq_of(v) + 1;
  }

  std::vector<std::uint64_t> next_;
  std::uint64_t bad_ = 0;
  std::uint64_t first_bad_ = 0;
  std::uint64_t first_expected_ = 0;
};

// ---- waiting ------------------------------------------------------------------------------

// Spin with exponentially more pause instructions, then yield the CPU: on 2 cores with more
// runnable threads than cores, a waiter that only spins starves the thread it waits for.
class Backoff {
 public:
  void pause() noexcept {
    if (step_ < kSpinSteps) {
      for (unsigned i = 0; i < (1u << step_); ++i) cpu_relax();
      ++step_;
    } else {
      std::this_thread::yield();
    }
  }
  void reset() noexcept { step_ = 0; }

 private:
  static constexpr unsigned kSpinSteps = 7;  // 1 + 2 + ... + 64 pauses, then yield
  static void cpu_relax() noexcept {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    asm volatile("yield");
#endif
  }
  unsigned step_ = 0;
};

// ---- in-flight cap --------------------------------------------------------------------------

class InFlightCap {
 public:
  static constexpr std::uint64_t kPublishEvery = 64;  // consumer publishes `popped` this often

  InFlightCap(std::uint64_t cap, std::uint64_t chunk) : cap_(cap), chunk_(chunk) {}

  // True if P producers taking `chunk` credits at a time cannot deadlock under this cap.
  bool feasible(std::uint64_t producers) const noexcept {
    return cap_ >= producers * chunk_ + kPublishEvery;
  }

  // Producer side: one per producer thread.
  struct Credit {
    std::uint64_t left = 0;
    std::uint64_t waits = 0;  // refills that found the cap reached (the queue was full)
  };

  // Producer: take one credit, waiting while the cap is reached. False only if `stop` was
  // raised while waiting.
  bool take(Credit& c, const std::atomic<bool>& stop) noexcept {
    if (c.left == 0) [[unlikely]] {
      if (!refill(c, stop)) return false;
    }
    --c.left;
    return true;
  }

  // Consumer: call with the running total after each pop.
  void popped(std::uint64_t total) noexcept {
    if (total % kPublishEvery == 0) {
      // relaxed: flow control only; no data is published through this counter.
      popped_.store(total, std::memory_order_relaxed);  // harness bookkeeping; no data hangs on it
    }
  }

  std::uint64_t cap() const noexcept { return cap_; }

 private:
  bool refill(Credit& c, const std::atomic<bool>& stop) noexcept {
    // relaxed: a counter, not a publication; the queue itself orders the items.
    const std::uint64_t claimed = claimed_.fetch_add(chunk_, std::memory_order_relaxed) + chunk_;  // harness bookkeeping; no data hangs on it
    Backoff backoff;
    bool waited = false;
    // Signed: if we were preempted between the fetch_add and here, the other producers'
    // items may have been popped past our claim; popped − claimed > 0 then means "room", and
    // an unsigned difference would wrap and park this producer for the rest of the run.
    while (static_cast<std::int64_t>(claimed - popped_.load(std::memory_order_relaxed)) >  // harness bookkeeping; no data hangs on it
           static_cast<std::int64_t>(cap_)) {
      if (stop.load(std::memory_order_relaxed)) return false;  // harness bookkeeping; no data hangs on it
      waited = true;
      backoff.pause();
    }
    c.waits += waited ? 1 : 0;
    c.left = chunk_;
    return true;
  }

  const std::uint64_t cap_;
  const std::uint64_t chunk_;
  alignas(kPad) std::atomic<std::uint64_t> claimed_{0};  // producers: fetch_add per chunk
  alignas(kPad) std::atomic<std::uint64_t> popped_{0};   // consumer: store per kPublishEvery
};

// ---- the peer adapter pattern ----------------------------------------------------------------
//
// An adapter is a struct with
//   Queue                      default-constructible; one per run
//   Producer(Queue&)           per producer thread (holds e.g. a producer token)
//     bool push(uint64_t)        true = accepted; false = not now (full): the driver retries
//   Consumer(Queue&)           the consumer thread's handle (e.g. a consumer token)
//     PopStatus try_pop(uint64_t&)  Item, or why not: Empty, Retry (a producer mid-push)
//   static constexpr name      the <impl> part of the benchmark name
// Handles are destroyed before the queue. New suites add adapters next to their benchmark;
// a handoff primitive and its mutex baseline share one adapter when they share an interface.
template <class A>
concept QueueAdapter =
    std::default_initializable<typename A::Queue> &&
    std::constructible_from<typename A::Producer, typename A::Queue&> &&
    std::constructible_from<typename A::Consumer, typename A::Queue&> &&
    requires(typename A::Producer& p, typename A::Consumer& c, std::uint64_t& v) {
      { A::name } -> std::convertible_to<std::string_view>;
      { p.push(v) } -> std::same_as<bool>;
      { c.try_pop(v) } -> std::same_as<PopStatus>;
    };

// ---- the producer/consumer driver --------------------------------------------------------------

struct StreamConfig {
  std::uint64_t items_per_iteration = std::uint64_t{1} << 16;
  std::uint64_t cap = 4096;          // max items in flight (pushed, not yet popped)
  std::uint64_t credit_chunk = 64;   // credits a producer takes per fetch_add
  std::uint64_t warmup_items = 4 * 4096;
  std::chrono::seconds starve_limit{10};  // consumer sees nothing this long: the run fails
};

namespace detail {

struct alignas(kPad) ProducerSlot {
  std::atomic<std::uint64_t> pushed{0};  // producer: store after each push; consumer: samples
  std::uint64_t cap_waits = 0;           // written by the producer before it exits
  std::uint64_t push_refusals = 0;
};

}  // namespace detail

// Counters set on success (bench/README.md): items_per_second, time_per_item (seconds),
// hwm (max sampled items in flight), os_threads (producers + consumer), and per item:
// retry_polls, empty_polls (timed consumer pops that found no item), cap_waits (producer
// chunk refills that found the cap reached, per item pushed in the whole run: well above 0
// means the consumer was the bottleneck), min_share (the least-served producer's share of
// the run's items × P: 1 = fair, near 0 = a producer hardly ran).
template <QueueAdapter A>
void producer_consumer_stream(benchmark::State& state, std::size_t producers,
                              const StreamConfig& cfg = {}) {
  using Clock = std::chrono::steady_clock;
  constexpr std::uint64_t kSampleEvery = 4096;  // consumer samples occupancy this often

  InFlightCap gate(cfg.cap, cfg.credit_chunk);
  if (!gate.feasible(producers)) {
    fail(state, "StreamConfig: cap < producers * credit_chunk + 64 could deadlock");
    return;
  }
  auto queue = std::make_unique<typename A::Queue>();
  std::vector<detail::ProducerSlot> slots(producers);
  alignas(kPad) std::atomic<bool> stop{false};

  std::vector<std::thread> threads;
  threads.reserve(producers);
  for (std::size_t p = 0; p < producers; ++p) {
    threads.emplace_back([&, p] {
      typename A::Producer handle(*queue);
      detail::ProducerSlot& slot = slots[p];
      InFlightCap::Credit credit;
      std::uint64_t seq = 0;
      std::uint64_t refusals = 0;
      // Push v, retrying while the queue says "not now"; false if stopped meanwhile.
      auto push = [&](std::uint64_t v) -> bool {
        if (handle.push(v)) [[likely]] return true;
        Backoff backoff;
        do {
          ++refusals;
          if (stop.load(std::memory_order_relaxed)) return false;  // harness bookkeeping; no data hangs on it
          backoff.pause();
        } while (!handle.push(v));
        return true;
      };
      while (!stop.load(std::memory_order_relaxed) && gate.take(credit, stop) &&  // harness bookkeeping; no data hangs on it
             push(encode(p, seq))) {
        ++seq;
        // relaxed: read only by the consumer's occupancy sampler and after join.
        slot.pushed.store(seq, std::memory_order_relaxed);  // harness bookkeeping; no data hangs on it
      }
      slot.cap_waits = credit.waits;
      slot.push_refusals = refusals;
    });
  }

  typename A::Consumer consumer(*queue);
  SeqChecker checker(producers);
  std::uint64_t popped = 0;
  std::uint64_t retry_polls = 0;
  std::uint64_t empty_polls = 0;
  std::uint64_t hwm = 0;
  bool starved = false;

  auto sample = [&] {
    std::uint64_t pushed = 0;
    for (const auto& s : slots) pushed += s.pushed.load(std::memory_order_relaxed);  // harness bookkeeping; no data hangs on it
    if (pushed > popped) hwm = std::max(hwm, pushed - popped);
  };
  // Pop one item; false if nothing arrived for starve_limit (the run is then failed).
  auto pop_one = [&]() -> bool {
    std::uint64_t v;
    PopStatus s = consumer.try_pop(v);
    if (s != PopStatus::Item) [[unlikely]] {
      Backoff backoff;
      std::uint64_t polls = 0;
      const Clock::time_point since = Clock::now();
      do {
        (s == PopStatus::Retry ? retry_polls : empty_polls) += 1;
        if (++polls % 1024 == 0 && Clock::now() - since > cfg.starve_limit) return false;
        backoff.pause();
        s = consumer.try_pop(v);
      } while (s != PopStatus::Item);
    }
    checker.accept(v);
    ++popped;
    gate.popped(popped);
    if (popped % kSampleEvery == 0) sample();
    return true;
  };

  for (std::uint64_t i = 0; i < cfg.warmup_items && !starved; ++i) starved = !pop_one();
  retry_polls = empty_polls = 0;
  const std::uint64_t popped_before = popped;

  if (!starved) {
    for (auto _ : state) {
      for (std::uint64_t i = 0; i < cfg.items_per_iteration; ++i) {
        if (!pop_one()) [[unlikely]] {
          starved = true;
          break;
        }
      }
      if (starved) break;
    }
  }
  const std::uint64_t timed_items = popped - popped_before;

  stop.store(true, std::memory_order_relaxed);  // harness bookkeeping; no data hangs on it
  for (auto& t : threads) t.join();

  // Drain: after the joins every push is complete, so the rest must come out at once.
  std::uint64_t total_pushed = 0;
  std::uint64_t cap_waits = 0;
  std::uint64_t refusals = 0;
  for (const auto& s : slots) {
    total_pushed += s.pushed.load(std::memory_order_relaxed);  // harness bookkeeping; no data hangs on it
    cap_waits += s.cap_waits;
    refusals += s.push_refusals;
  }
  for (std::uint64_t misses = 0; popped < total_pushed && misses < 1'000'000;) {
    std::uint64_t v;
    if (consumer.try_pop(v) == PopStatus::Item) {
      checker.accept(v);
      ++popped;
    } else {
      ++misses;
    }
  }
  std::uint64_t extra = 0;
  for (std::uint64_t v; consumer.try_pop(v) == PopStatus::Item;) {
    checker.accept(v);
    ++extra;
  }

  const std::string label = std::string(A::name) + " P=" + std::to_string(producers);
  if (starved) {
    return fail(state, label + ": consumer got no item for " +
                           std::to_string(cfg.starve_limit.count()) + " s (queue stuck?)");
  }
  if (checker.bad() != 0) {
    return fail(state, label + ": " + std::to_string(checker.bad()) +
                           " item(s) out of per-producer order; first: " + checker.first_bad());
  }
  if (popped != total_pushed || extra != 0) {
    return fail(state, label + ": pushed " + std::to_string(total_pushed) + ", popped " +
                           std::to_string(popped + extra));
  }
  for (std::size_t p = 0; p < producers; ++p) {
    if (checker.seen(p) != slots[p].pushed.load(std::memory_order_relaxed)) {  // harness bookkeeping; no data hangs on it
      return fail(state, label + ": producer " + std::to_string(p) + " pushed " +
                             std::to_string(slots[p].pushed.load(std::memory_order_relaxed)) +  // harness bookkeeping; no data hangs on it
                             ", consumer saw " + std::to_string(checker.seen(p)));
    }
  }
  if (timed_items != static_cast<std::uint64_t>(state.iterations()) * cfg.items_per_iteration) {
    return fail(state, label + ": timed " + std::to_string(timed_items) + " items, expected " +
                           std::to_string(state.iterations() * cfg.items_per_iteration));
  }

  using benchmark::Counter;
  const double n = static_cast<double>(timed_items);
  // Whole-run totals (warm-up and wind-down included) are given per item pushed.
  const double all = static_cast<double>(std::max<std::uint64_t>(total_pushed, 1));
  state.SetItemsProcessed(static_cast<std::int64_t>(timed_items));
  state.counters["time_per_item"] =
      Counter(static_cast<double>(cfg.items_per_iteration),
              Counter::kIsIterationInvariantRate | Counter::kInvert);
  state.counters["hwm"] = Counter(static_cast<double>(hwm));
  state.counters["os_threads"] = Counter(static_cast<double>(producers + 1));
  // The smallest producer's share of the items, relative to a fair 1/P (1 = all equal; near 0
  // = a producer hardly ran: the run measured fewer producers than its name says).
  std::uint64_t least = total_pushed;
  for (const auto& s : slots) least = std::min(least, s.pushed.load(std::memory_order_relaxed));  // harness bookkeeping; no data hangs on it
  state.counters["min_share"] =
      Counter(static_cast<double>(least) * static_cast<double>(producers) / all);
  state.counters["retry_polls"] = Counter(static_cast<double>(retry_polls) / n);
  state.counters["empty_polls"] = Counter(static_cast<double>(empty_polls) / n);
  state.counters["cap_waits"] = Counter(static_cast<double>(cap_waits) / all);
  if (refusals != 0) state.counters["push_refusals"] = Counter(static_cast<double>(refusals) / all);
}

}  // namespace handoff::bench
