// handoff/bench/channel_bench.cpp — thread → coroutine: a producer thread hands items to a
// consumer coroutine on an event loop running in its own thread, through loop/channel.hpp's
// Channel, against the asyncio tutorial's pattern rebuilt in C++ (a blocking queue read with
// `co_await loop.run_in_executor(pool, [&] { return q.pop(); })` per item) and, from
// bench/asyncio_channel_bench.py, the same pattern in Python (queue.Queue + run_in_executor).
//
// Workloads (bench/README.md, "channel_bench", says how to read them):
//
//   channel/stream/<impl>                 the benchmark thread (the producer) pushes a
//       continuous stream; one iteration = 1024 pushes; items in flight are capped at 1024
//       (InFlightCap), so the queue is measured, not a backlog. items/s = items consumed per
//       second, timed from the first timed push until the consumer has taken the last item.
//       p50/p99: push → coroutine latency under that full pipe (≈ queueing: cap / rate).
//   channel/latency/<impl>/idle_us:t      one item at a time: push, wait until the coroutine has
//       it, then (t = 1000) sleep 1 ms outside the sample, so the loop (and, for the tutorial
//       pattern, the pool thread parked in q.pop()) has gone to sleep. Latency = from just
//       before the push to the coroutine holding the item; p50 ... p999; items/s = 1 / mean.
//
// Implementations:
//   Channel                  handoff::Channel<Item> (unbounded; the cap is the harness's):
//                            ch.push(v) on the thread, co_await ch.async_pop() in the coroutine
//   queue_run_in_executor    handoff::BlockingMutexQueue<Item> (std::mutex + condvar, Python's
//                            queue.Queue) + co_await loop.run_in_executor(pool, q.pop) per item,
//                            pool = ThreadPoolExecutor() (asyncio's default size): the baseline
//   asyncio                  (the Python script) queue.Queue + run_in_executor(None, q.get)
//
// Every item carries its sequence number: the consumer checks 0, 1, 2, ... (loss, duplication,
// reordering) and the run fails (SkipWithError) on a mismatch, a lost item or a 10 s stall.
// Harness cost, the same for every implementation: a clock read on each side per item, the
// order check, one relaxed store of the consumed count.
#include <atomic>
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <thread>

#include <handoff/executor/run_in_executor.hpp>
#include <handoff/loop/channel.hpp>
#include <handoff/loop/loop.hpp>
#include <handoff/loop/loop_thread.hpp>
#include <handoff/primitives/mutex_queue.hpp>

#include "bench_common.hpp"
#include "latency_histogram.hpp"

namespace {

namespace hb = handoff::bench;
using Clock = std::chrono::steady_clock;
using handoff::Task;

constexpr std::uint64_t kCap = 1024;         // items in flight, stream
constexpr std::uint64_t kPerIteration = 1024;
constexpr std::uint64_t kWarmup = 4 * kCap;
constexpr auto kStallLimit = std::chrono::seconds(10);

std::int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now().time_since_epoch()).count();
}

struct Item {
  std::uint64_t seq;
  std::int64_t pushed_ns;  // just before the push
};

// What the consumer coroutine (on the loop thread) writes; the producer reads `consumed`
// while it runs, the rest after the consumer's ThreadFuture is done (its get() synchronizes).
struct Books {
  alignas(hb::kPad) std::atomic<std::uint64_t> consumed{0};
  alignas(hb::kPad) hb::LatencyHistogram hist;
  std::uint64_t bad = 0;
  hb::InFlightCap cap{kCap, 64};

  void take(const Item& it) {
    hist.record(static_cast<std::uint64_t>(now_ns() - it.pushed_ns));
    const std::uint64_t n = consumed.load(std::memory_order_relaxed);  // only this thread writes it
    if (it.seq != n) ++bad;
    // release: the histogram sample is visible to the producer that sees the count (it resets
    // the histogram after the warm-up, while the consumer waits for the next item).
    consumed.store(n + 1, std::memory_order_release);  // pairs with wait_consumed's acquire
    cap.popped(n + 1);
  }
};

// The loop in its own thread (handoff::LoopThread), the consumer coroutine on it
// (run_coroutine_threadsafe), and the producer's side of one implementation. finish():
// end-of-stream, consumer done, then the LoopThread's stop (shut down on its thread, joined).
template <class Derived>
class ConsumerLoop {
 public:
  void start() { done_ = handoff::run_coroutine_threadsafe(static_cast<Derived*>(this)->consume(), lt_.loop()); }
  void finish() {
    static_cast<Derived*>(this)->close();
    done_.get();
    lt_.stop();
  }
  Books books;

 protected:
  handoff::LoopThread lt_{"bench-loop"};
  handoff::ThreadFuture<void> done_;
};

class ChannelImpl : public ConsumerLoop<ChannelImpl> {
 public:
  static constexpr const char* name = "Channel";
  void push(Item it) { ch_.push(it); }
  void close() { ch_.close(); }
  Task<void> consume() {
    while (std::optional<Item> it = co_await ch_.async_pop()) books.take(*it);
  }
  std::string check() const {
    const handoff::ChannelStats s = ch_.stats();
    return s.balanced() && s.size == 0 ? std::string() : "Channel: the ledger does not balance";
  }
  double threads() const { return 2; }  // producer + loop

 private:
  handoff::Channel<Item> ch_;
};

class QueueExecutorImpl : public ConsumerLoop<QueueExecutorImpl> {
 public:
  static constexpr const char* name = "queue_run_in_executor";
  ~QueueExecutorImpl() { pool_.shutdown(true); }
  void push(Item it) { q_.push(it); }
  void close() { q_.close(); }
  Task<void> consume() {
    handoff::EventLoop& loop = handoff::get_running_loop();
    auto get = [this] { return q_.pop(); };  // parks a pool thread until an item comes
    while (std::optional<Item> it = co_await loop.run_in_executor(pool_, get)) books.take(*it);
  }
  std::string check() const { return {}; }
  double threads() const { return 2.0 + static_cast<double>(pool_.stats().threads_started); }

 private:
  handoff::BlockingMutexQueue<Item> q_;
  handoff::ThreadPoolExecutor pool_;  // asyncio's default executor size: min(32, cores + 4)
};

// Producer: wait (Backoff) until the consumer has taken `n` items; false after kStallLimit.
bool wait_consumed(Books& b, std::uint64_t n) {
  hb::Backoff backoff;
  const Clock::time_point since = Clock::now();
  while (b.consumed.load(std::memory_order_acquire) < n) {  // pairs with Books::take's release
    backoff.pause();
    if (Clock::now() - since > kStallLimit) return false;
  }
  return true;
}

void set_rate(benchmark::State& state, double items, double seconds) {
  state.counters["items_per_second"] = benchmark::Counter(seconds > 0 ? items / seconds : 0);
  state.counters["time_per_item"] = benchmark::Counter(items > 0 ? seconds / items : 0);
}

template <class Impl>
void stream(benchmark::State& state) {
  Impl impl;
  impl.start();
  Books& b = impl.books;
  hb::InFlightCap::Credit credit;
  std::atomic<bool> stop{false};
  std::uint64_t seq = 0;
  auto push_one = [&] {
    b.cap.take(credit, stop);
    impl.push(Item{seq, now_ns()});
    ++seq;
  };
  for (std::uint64_t i = 0; i < kWarmup; ++i) push_one();
  bool ok = wait_consumed(b, seq);
  b.hist.reset();  // the consumer waits for the next item: it does not touch the histogram
  const std::uint64_t first = seq;
  const Clock::time_point t0 = Clock::now();
  for (auto _ : state) {
    for (std::uint64_t i = 0; i < kPerIteration; ++i) push_one();
  }
  ok = ok && wait_consumed(b, seq);
  const double seconds = std::chrono::duration<double>(Clock::now() - t0).count();
  impl.finish();
  if (!ok) return hb::fail(state, std::string(Impl::name) + ": the consumer stalled");
  if (b.bad != 0 || b.consumed.load() != seq) {
    return hb::fail(state, std::string(Impl::name) + ": items lost or out of order (" + std::to_string(b.bad) + ")");
  }
  if (std::string e = impl.check(); !e.empty()) return hb::fail(state, e);
  set_rate(state, static_cast<double>(seq - first), seconds);
  hb::set_latency_counters(state, b.hist);
  state.counters["os_threads"] = impl.threads();
}

template <class Impl>
void latency(benchmark::State& state) {
  const std::chrono::microseconds idle(state.range(0));
  Impl impl;
  impl.start();
  Books& b = impl.books;
  std::uint64_t seq = 0;
  bool ok = true;
  const int warmup = idle.count() > 0 ? 2 : 200;
  for (int i = 0; i < warmup && ok; ++i) {
    impl.push(Item{seq++, now_ns()});
    ok = wait_consumed(b, seq);
  }
  b.hist.reset();
  for (auto _ : state) {
    if (!ok) break;
    if (idle.count() > 0) std::this_thread::sleep_for(idle);
    impl.push(Item{seq++, now_ns()});
    ok = wait_consumed(b, seq);
  }
  impl.finish();
  if (!ok) return hb::fail(state, std::string(Impl::name) + ": the consumer stalled");
  if (b.bad != 0) return hb::fail(state, std::string(Impl::name) + ": items out of order");
  const double mean_s = b.hist.mean() * 1e-9;
  set_rate(state, 1.0, mean_s);
  hb::set_latency_counters(state, b.hist);
  state.counters["os_threads"] = impl.threads();
}

constexpr const char* kStream = "channel/stream";
constexpr const char* kLatency = "channel/latency";

template <class Impl>
void register_impl() {
  benchmark::RegisterBenchmark((std::string(kStream) + "/" + Impl::name).c_str(), stream<Impl>)
      ->UseRealTime()->Unit(benchmark::kMicrosecond);
  benchmark::RegisterBenchmark((std::string(kLatency) + "/" + Impl::name).c_str(), latency<Impl>)
      ->ArgName("idle_us")->Arg(0)->Arg(1000)->UseRealTime()->Unit(benchmark::kMicrosecond);
}

[[maybe_unused]] const bool registered = [] {
  hb::declare_comparison(kStream, {"queue_run_in_executor", "asyncio"});
  hb::declare_comparison(kLatency, {"queue_run_in_executor", "asyncio"});
  register_impl<ChannelImpl>();
  register_impl<QueueExecutorImpl>();
  return true;
}();

}  // namespace

HANDOFF_BENCH_MAIN()
