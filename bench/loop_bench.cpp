// handoff/bench/loop_bench.cpp — EventLoop's cross-thread entry (call_soon_threadsafe) against
// the same loop with its mutex inbox, libuv's async pattern and Boost.Asio's post; and, as the
// floor of a cross-thread round trip, raw futex and std::atomic wait/notify ping-pongs.
//
// Workloads (bench/README.md, "loop_bench", says how each is measured and how to read it):
//
//   loop/call_soon_threadsafe/<impl>/P:n   P = 1, 2, 4 posting threads stream callbacks into
//       a loop running in its own thread; each callback does a loop-local increment (plus the
//       harness's per-producer order check). One iteration = the loop runs the next 2^14
//       callbacks. Items in flight are capped at 4096 (InFlightCap), so a backlog does not
//       measure malloc. Every callback is accounted for, or the run fails.
//   loop/round_trip/<impl>/idle_us:t/pin:c the benchmark thread posts a callback, the
//       callback answers it (store + futex wake if it sleeps), the thread waits for the answer.
//       t = 0: back to back; t = 1000: the thread sleeps 1 ms before each round trip, so the
//       loop is asleep in epoll. c: CPU placement (below). Latency per round trip into a
//       LatencyHistogram: p50 ... p999.
//   loop/rcts_round_trip/<impl>/idle_us:t   the benchmark thread calls
//       handoff::run_coroutine_threadsafe(coro(), loop).get(); coro is a Task<int> that
//       co_returns at once (its CPU, for same_cpu). The loop runs in its own thread, unpinned;
//       the thread waits in ThreadFuture::get (its own futex wait, no client spin). Latency
//       per call into a LatencyHistogram. EventLoop and EventLoop_MutexInbox only; the peer is
//       bench/asyncio_loop_bench.py (asyncio.run_coroutine_threadsafe(...).result()).
//
// Implementations (the <impl> part of each name):
//   EventLoop             handoff::EventLoop, default Options (LockFree inbox, 20 µs spin)
//   EventLoop_MutexInbox  the same loop with Options.inbox = InboxKind::Mutex: the baseline
//   libuv                 libuv's pattern: std::mutex + std::deque<std::function>, uv_async_send
//                         per post, the async callback drains the queue (uv_run in one thread)
//   asio                  boost::asio::io_context + work guard, run() in one thread,
//                         boost::asio::post from the posting threads
//   futex_pingpong        (round_trip only) two threads wake each other with FUTEX_WAKE, both
//                         blocking in FUTEX_WAIT: the cost of two wakes
//   atomic_pingpong       (round_trip only) the same with std::atomic<uint32_t>::wait/notify_one
//
// WAITING POLICY of the round trip's posting thread, the same for the four loops: spin up to
// kClientSpin = 5 µs watching the reply word (pause, a clock read every 16 turns), then
// announce itself and FUTEX_WAIT; the answering callback stores the reply and calls FUTEX_WAKE
// only if the waiter announced (a Dekker pair, both sides seq_cst). 5 µs: several times the
// sub-µs answer of a loop that is awake on another CPU, a fraction of a wake (4–45 µs here),
// and short, because on a shared vCPU every µs spun is a µs the loop cannot run. The two
// ping-pong references block at once on both sides, as the issue defines them. `blocked` is
// the share of round trips in which the posting thread slept.
//
// PLACEMENT (`pin`). This VM's scheduler often packs two communicating threads onto one vCPU,
// and a wake then costs a context switch (~2 µs) instead of a halted vCPU's wake-up (20–40 µs),
// while a spinning thread keeps its partner off the CPU. So each round trip runs three ways:
// pin 0 = wherever the scheduler puts the threads, 1 = both on one CPU, 2 = one CPU each; the
// counter `same_cpu` says where the answers actually ran.
#include <pthread.h>
#include <sched.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <uv.h>

#include <handoff/loop/event_loop.hpp>
#include <handoff/loop/task.hpp>
#include <handoff/loop/thread_future.hpp>
#include <handoff/primitives/sync.hpp>

#include "bench_common.hpp"
#include "latency_histogram.hpp"
#include "pingpong.hpp"  // placement, the futex/atomic ping-pongs, the round-trip driver

namespace {

namespace hb = handoff::bench;
namespace sync = handoff::sync;
using Clock = std::chrono::steady_clock;
using handoff::InboxKind;
using namespace handoff::bench::pingpong;  // shared with calibration_bench

constexpr auto kClientSpin = std::chrono::microseconds(5);

// Wait until word >= want (a monotonic counter), sleeping in FUTEX_WAIT. False if it made no
// progress for kStallLimit.
bool await_at_least(sync::atomic<std::uint32_t>& word, std::uint32_t want) {
  Clock::time_point since = Clock::now();
  std::uint32_t last = 0;
  for (;;) {
    // acquire: pairs with the release store that published the count (and what it counts).
    const std::uint32_t now = word.load(std::memory_order_acquire);  // pairs with the writer's release store
    if (now >= want) return true;
    if (now != last) {
      last = now;
      since = Clock::now();
    } else if (Clock::now() - since > kStallLimit) {
      return false;
    }
    sync::wait(word, now, kWaitSliceNs);
  }
}

// ---- the loops under test: one adapter each --------------------------------------------------
//
//   L()                 constructs the loop (not yet running)
//   start()             starts the loop's thread
//   post(F&&)           any thread: run F on the loop thread
//   stop_and_join()     after the last post returned: the loop runs what was posted, stops,
//                       its thread is joined. abort_and_join(): stop now (a failed run).
//   check(posted)       after the join: "" if the loop's own books agree that `posted`
//                       callbacks were posted and ran, else what disagrees
//   add_counters(state, n)   loop statistics per callback (n = callbacks in the whole run)

template <InboxKind Kind, const char* Name>
class HandoffLoop {
 public:
  static constexpr const char* name = Name;

  HandoffLoop() : loop_(options()) {}
  ~HandoffLoop() {
    if (thread_.joinable()) abort_and_join();
  }
  HandoffLoop(const HandoffLoop&) = delete;
  HandoffLoop& operator=(const HandoffLoop&) = delete;

  void start() {
    thread_ = std::thread([this] { loop_.run_forever(); });
  }
  template <class F>
  void post(F&& f) {
    loop_.call_soon_threadsafe(std::forward<F>(f));
  }
  // The caller has seen its last callback run (a marker), so the inbox is empty: stop is taken
  // on the loop's next iteration. close() then counts anything left as dropped.
  void stop_and_join() {
    loop_.stop();
    thread_.join();
    loop_.close();
  }
  void abort_and_join() { stop_and_join(); }

  std::string check(std::uint64_t posted) const {
    const handoff::LoopStats s = loop_.stats();  // the loop thread was joined
    if (s.posted_threadsafe != posted || s.run != posted || s.dropped != 0 || !s.balanced()) {
      return std::string(Name) + " ledger: posted_threadsafe " + std::to_string(s.posted_threadsafe) +
             ", run " + std::to_string(s.run) + ", dropped " + std::to_string(s.dropped) +
             "; the harness posted " + std::to_string(posted);
    }
    return {};
  }

  void add_counters(benchmark::State& state, double n) const {
    const handoff::LoopStats s = loop_.stats();
    using benchmark::Counter;
    state.counters["sleeps"] = Counter(static_cast<double>(s.sleeps) / n);
    state.counters["wake_signals"] = Counter(static_cast<double>(s.wake_signals) / n);
    state.counters["loop_iterations"] = Counter(static_cast<double>(s.iterations) / n);
    if (s.batches != 0) state.counters["batch"] = Counter(static_cast<double>(s.run) / static_cast<double>(s.batches));
  }

 private:
  static handoff::EventLoop::Options options() {
    handoff::EventLoop::Options o;
    o.inbox = Kind;
    return o;
  }
  handoff::EventLoop loop_;
  std::thread thread_;
};

constexpr char kEventLoop[] = "EventLoop";
constexpr char kEventLoopMutex[] = "EventLoop_MutexInbox";
using LockFreeLoop = HandoffLoop<InboxKind::LockFree, kEventLoop>;
using MutexInboxLoop = HandoffLoop<InboxKind::Mutex, kEventLoopMutex>;

// libuv's cross-thread pattern, as libuv users write it: a mutex-protected deque of callbacks,
// uv_async_send after each push (libuv coalesces: only the first send of a round writes the
// eventfd), and the async callback swaps the deque out under the lock and runs it. The two
// deques are reused, so steady state allocates nothing.
class UvLoop {
 public:
  static constexpr const char* name = "libuv";

  UvLoop() {
    if (uv_loop_init(&loop_) != 0) throw std::runtime_error("uv_loop_init failed");
    uv_async_init(&loop_, &work_, &UvLoop::on_work);
    uv_async_init(&loop_, &stopper_, &UvLoop::on_stop);
    work_.data = this;
    stopper_.data = this;
  }
  ~UvLoop() {
    if (thread_.joinable()) abort_and_join();
    uv_loop_close(&loop_);
  }
  UvLoop(const UvLoop&) = delete;
  UvLoop& operator=(const UvLoop&) = delete;

  void start() {
    thread_ = std::thread([this] { uv_run(&loop_, UV_RUN_DEFAULT); });
  }
  template <class F>
  void post(F&& f) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      queue_.emplace_back(std::forward<F>(f));
    }
    uv_async_send(&work_);
  }
  // on_stop drains what is queued, then closes both handles: uv_run returns.
  void stop_and_join() {
    uv_async_send(&stopper_);
    thread_.join();
  }
  void abort_and_join() { stop_and_join(); }

  std::string check(std::uint64_t posted) const {
    if (ran_ != posted) {
      return "libuv: ran " + std::to_string(ran_) + " callbacks, the harness posted " + std::to_string(posted);
    }
    return {};
  }
  void add_counters(benchmark::State& state, double n) const {
    state.counters["drains"] = benchmark::Counter(static_cast<double>(drains_) / n);
  }

 private:
  static void on_work(uv_async_t* h) { static_cast<UvLoop*>(h->data)->drain(); }
  static void on_stop(uv_async_t* h) {
    auto* self = static_cast<UvLoop*>(h->data);
    self->drain();
    uv_close(reinterpret_cast<uv_handle_t*>(&self->work_), nullptr);
    uv_close(reinterpret_cast<uv_handle_t*>(&self->stopper_), nullptr);
  }
  void drain() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      running_.swap(queue_);
    }
    ++drains_;
    for (auto& f : running_) {
      f();
      ++ran_;
    }
    running_.clear();
  }

  uv_loop_t loop_{};
  uv_async_t work_{};
  uv_async_t stopper_{};
  std::mutex mu_;
  std::deque<std::function<void()>> queue_;    // posting threads, under mu_
  std::deque<std::function<void()>> running_;  // loop thread only
  std::uint64_t ran_ = 0, drains_ = 0;         // loop thread; read after the join
  std::thread thread_;
};

// Boost.Asio: an io_context kept alive by a work guard, run() in one thread.
class AsioLoop {
 public:
  static constexpr const char* name = "asio";

  AsioLoop() : guard_(boost::asio::make_work_guard(ctx_)) {}
  ~AsioLoop() {
    if (thread_.joinable()) abort_and_join();
  }
  AsioLoop(const AsioLoop&) = delete;
  AsioLoop& operator=(const AsioLoop&) = delete;

  void start() {
    thread_ = std::thread([this] { ran_ = ctx_.run(); });
  }
  template <class F>
  void post(F&& f) {
    boost::asio::post(ctx_, std::forward<F>(f));
  }
  // Without the guard, run() returns once every posted handler has run.
  void stop_and_join() {
    guard_.reset();
    thread_.join();
  }
  void abort_and_join() {
    guard_.reset();
    ctx_.stop();
    thread_.join();
  }

  std::string check(std::uint64_t posted) const {
    if (ran_ != posted) {
      return "asio: run() ran " + std::to_string(ran_) + " handlers, the harness posted " + std::to_string(posted);
    }
    return {};
  }
  void add_counters(benchmark::State&, double) const {}

 private:
  boost::asio::io_context ctx_;
  boost::asio::executor_work_guard<boost::asio::io_context::executor_type> guard_;
  std::size_t ran_ = 0;  // written by the loop thread before it ends; read after the join
  std::thread thread_;
};

// ---- workload 1: call_soon_threadsafe throughput ------------------------------------------------

constexpr std::uint64_t kChunk = std::uint64_t{1} << 14;  // callbacks per benchmark iteration
constexpr std::uint64_t kCap = 4096;                      // callbacks in flight, at most
constexpr std::uint64_t kCreditChunk = 64;

// What the callbacks touch: loop-thread state, plus the two words the loop publishes.
struct StreamSink {
  explicit StreamSink(std::size_t producers, hb::InFlightCap& g) : checker(producers), gate(g) {}

  // Loop thread: the callback's body.
  void on_item(std::uint64_t v) {
    checker.accept(v);
    ++ran;
    gate.popped(ran);
    if ((ran & (kChunk - 1)) == 0) [[unlikely]] {
      // release: the benchmark thread reads the count, nothing else, but it is cheap here.
      chunks.store(static_cast<std::uint32_t>(ran / kChunk), std::memory_order_release);  // pairs with await_at_least's acquire
      sync::wake_all(chunks);
    }
  }
  // Loop thread: the marker posted after every producer was joined.
  void on_marker() {
    // release: publishes ran and the checker to the benchmark thread (it joins later anyway).
    drained.store(1, std::memory_order_release);  // pairs with await_at_least's acquire
    sync::wake_all(drained);
  }

  hb::SeqChecker checker;  // loop thread; read after the loop's join
  std::uint64_t ran = 0;   // loop thread; read after the loop's join
  hb::InFlightCap& gate;
  alignas(hb::kPad) sync::atomic<std::uint32_t> chunks{0};   // loop: store per kChunk; bench: waits
  alignas(hb::kPad) sync::atomic<std::uint32_t> drained{0};  // the marker ran
};

template <class L>
void call_soon_threadsafe_stream(benchmark::State& state) {
  const auto producers = static_cast<std::size_t>(state.range(0));
  hb::InFlightCap gate(kCap, kCreditChunk);
  if (!gate.feasible(producers)) return hb::fail(state, "cap too small for P producers");
  StreamSink sink(producers, gate);
  L loop;
  loop.start();

  struct alignas(hb::kPad) Slot {
    std::uint64_t pushed = 0;  // written by the producer before it exits; read after join
  };
  std::vector<Slot> slots(producers);
  alignas(hb::kPad) std::atomic<bool> stop{false};
  std::vector<std::thread> threads;
  threads.reserve(producers);
  for (std::size_t p = 0; p < producers; ++p) {
    threads.emplace_back([&, p] {
      hb::InFlightCap::Credit credit;
      std::uint64_t seq = 0;
      while (!stop.load(std::memory_order_relaxed) && gate.take(credit, stop)) {  // harness bookkeeping; no data hangs on it
        loop.post([s = &sink, v = hb::encode(p, seq)] { s->on_item(v); });
        ++seq;
      }
      slots[p].pushed = seq;
    });
  }

  // Warm-up: one chunk, so each implementation reaches its steady state (node caches, deque
  // blocks, Asio's operation memory) before the timer starts.
  std::uint32_t target = 1;
  bool stalled = !await_at_least(sink.chunks, target);
  if (!stalled) {
    for (auto _ : state) {
      if (!await_at_least(sink.chunks, ++target)) {
        stalled = true;
        break;
      }
    }
  }

  stop.store(true, std::memory_order_relaxed);  // harness bookkeeping; no data hangs on it
  for (auto& t : threads) t.join();
  std::uint64_t pushed = 0, least = ~std::uint64_t{0};
  for (const Slot& s : slots) {
    pushed += s.pushed;
    least = std::min(least, s.pushed);
  }
  // Every post returned before the joins above, so the marker is queued behind all of them.
  bool drained = false;
  if (!stalled) {
    loop.post([s = &sink] { s->on_marker(); });
    drained = await_at_least(sink.drained, 1);
  }
  if (drained) {
    loop.stop_and_join();
  } else {
    loop.abort_and_join();
  }

  const std::string label = std::string(L::name) + " P=" + std::to_string(producers);
  if (stalled) return hb::fail(state, label + ": the loop ran no callback for 10 s (lost wakeup?)");
  if (!drained) return hb::fail(state, label + ": the final marker did not run within 10 s");
  if (sink.checker.bad() != 0) {
    return hb::fail(state, label + ": " + std::to_string(sink.checker.bad()) +
                               " callback(s) out of per-thread order; first: " + sink.checker.first_bad());
  }
  if (sink.ran != pushed) {
    return hb::fail(state, label + ": posted " + std::to_string(pushed) + " callbacks, " +
                               std::to_string(sink.ran) + " ran");
  }
  for (std::size_t p = 0; p < producers; ++p) {
    if (sink.checker.seen(p) != slots[p].pushed) {
      return hb::fail(state, label + ": thread " + std::to_string(p) + " posted " +
                                 std::to_string(slots[p].pushed) + ", " +
                                 std::to_string(sink.checker.seen(p)) + " ran");
    }
  }
  if (std::string why = loop.check(pushed + 1); !why.empty()) return hb::fail(state, label + ": " + why);

  using benchmark::Counter;
  const double timed = static_cast<double>(state.iterations()) * static_cast<double>(kChunk);
  const double all = static_cast<double>(std::max<std::uint64_t>(pushed, 1));
  state.SetItemsProcessed(static_cast<std::int64_t>(timed));
  state.counters["time_per_item"] =
      Counter(static_cast<double>(kChunk), Counter::kIsIterationInvariantRate | Counter::kInvert);
  state.counters["os_threads"] = Counter(static_cast<double>(producers + 1));
  state.counters["min_share"] = Counter(static_cast<double>(least) * static_cast<double>(producers) / all);
  loop.add_counters(state, all);
}

// ---- workload 2: round trip ------------------------------------------------------------------------


// The answer word of a loop round trip, and the waiting policy of the posting thread.
struct alignas(hb::kPad) Reply {
  sync::atomic<std::uint32_t> word{0};     // the last sequence number answered
  sync::atomic<std::uint32_t> sleeping{0}; // the waiter announced a FUTEX_WAIT
  sync::atomic<int> cpu{-1};               // the answering thread's CPU, published by `word`

  // Loop thread (the posted callback).
  void answer(std::uint32_t seq) noexcept {
    cpu.store(::sched_getcpu(), std::memory_order_relaxed);  // published by the store of `word`
    // seq_cst: the store half of the answerer's Dekker pair; precedes the load of `sleeping`.
    word.store(seq, std::memory_order_seq_cst);  // pairs with await()'s load after announcing
    // seq_cst: either we see the announcement, or the waiter's re-check sees `seq`.
    if (sleeping.load(std::memory_order_seq_cst) != 0) sync::wake_one(word);  // pairs with await()'s store
  }

  // The posting thread: spin up to kClientSpin, then announce and FUTEX_WAIT.
  Waited await(std::uint32_t seq) noexcept {
    const Clock::time_point t0 = Clock::now();
    for (unsigned i = 1;; ++i) {
      // acquire: pairs with answer()'s store (the callback's effects are visible after it).
      if (word.load(std::memory_order_acquire) == seq) return Waited::Spun;  // pairs with answer()'s store
      if ((i & 15) == 0 && Clock::now() - t0 >= kClientSpin) break;
      sync::spin_pause();
    }
    // seq_cst: the store half of the waiter's Dekker pair; precedes the re-check below.
    sleeping.store(1, std::memory_order_seq_cst);  // pairs with answer()'s load of `sleeping`
    Clock::time_point since = Clock::now();
    Waited result = Waited::Slept;
    for (;;) {
      const std::uint32_t now = word.load(std::memory_order_seq_cst);  // pairs with answer()'s store
      if (now == seq) break;
      if (Clock::now() - since > kStallLimit) {
        result = Waited::Stalled;
        break;
      }
      sync::wait(word, now, kWaitSliceNs);
    }
    // relaxed: the next answer comes only after our next post, which publishes this store.
    sleeping.store(0, std::memory_order_relaxed);  // ordered before the next post by the post itself
    return result;
  }
};

// A round trip through one of the loops: post a callback that answers, wait for the answer.
template <class L>
class LoopRoundTrip {
 public:
  static constexpr const char* name = L::name;
  static constexpr bool kKnowsBlocking = true;

  // Pins the loop thread (cpu >= 0) with the first callback; FIFO puts it before the first
  // round trip.
  void start(int cpu) {
    loop_.start();
    if (cpu >= 0) {
      ++extra_posts_;
      loop_.post([this, cpu] { pin_failed_ = !pin_this_thread(cpu); });
    }
  }
  Answer round_trip(std::uint32_t seq) {
    loop_.post([r = &reply_, seq] { r->answer(seq); });
    const Waited w = reply_.await(seq);
    return {w, reply_.cpu.load(std::memory_order_relaxed)};  // after await()'s acquire of `word`
  }
  std::string finish(std::uint64_t round_trips, bool ok) {
    if (!ok) {
      loop_.abort_and_join();
      return {};
    }
    loop_.stop_and_join();  // the last answer was seen, so nothing is left in the loop
    if (pin_failed_) return std::string(L::name) + ": could not pin the loop thread";
    return loop_.check(round_trips + extra_posts_);
  }
  void add_counters(benchmark::State& state, double n) const { loop_.add_counters(state, n); }

 private:
  L loop_;
  Reply reply_;
  std::uint64_t extra_posts_ = 0;
  bool pin_failed_ = false;  // loop thread; read after the join
};


// ---- workload 3: run_coroutine_threadsafe round trip -------------------------------------------------

handoff::Task<int> answer_cpu() { co_return ::sched_getcpu(); }

template <InboxKind Kind, const char* Name>
void rcts_round_trip_bench(benchmark::State& state) {
  const std::chrono::microseconds idle(state.range(0));
  handoff::EventLoop::Options o;
  o.inbox = Kind;
  handoff::EventLoop loop(o);
  std::thread thread([&] { loop.run_forever(); });
  hb::LatencyHistogram hist;
  std::uint64_t same_cpu = 0;
  std::string error;
  auto once = [&](bool record) {
    if (idle.count() > 0) std::this_thread::sleep_for(idle);
    const Clock::time_point t0 = Clock::now();
    const int cpu = handoff::run_coroutine_threadsafe(answer_cpu(), loop).get();
    const Clock::time_point t1 = Clock::now();
    if (record) {
      hist.record(static_cast<std::uint64_t>(ns_since(t0, t1)));
      same_cpu += cpu == ::sched_getcpu() ? 1 : 0;
    }
  };
  try {
    for (int i = 0, n = idle.count() > 0 ? 2 : 200; i < n; ++i) once(false);
    for (auto _ : state) once(true);
  } catch (const std::exception& e) {
    error = e.what();
  }
  loop.stop();
  thread.join();
  loop.close();
  const std::string label = std::string(Name) + " rcts idle_us=" + std::to_string(idle.count());
  if (!error.empty()) return hb::fail(state, label + ": " + error);
  std::string bad;
  if (!hb::report_round_trips(state, hist, same_cpu, &bad)) return hb::fail(state, label + ": " + bad);
  state.counters["os_threads"] = benchmark::Counter(2);
}

// ---- registration ------------------------------------------------------------------------------------

constexpr const char* kThroughput = "loop/call_soon_threadsafe";
constexpr const char* kRoundTrip = "loop/round_trip";
constexpr const char* kRcts = "loop/rcts_round_trip";

template <InboxKind Kind, const char* Name>
void register_rcts() {
  const std::string name = std::string(kRcts) + "/" + Name;
  benchmark::RegisterBenchmark(name.c_str(), [](benchmark::State& s) { rcts_round_trip_bench<Kind, Name>(s); })
      ->ArgName("idle_us")
      ->Arg(0)
      ->Arg(1000)
      ->UseRealTime()
      ->Unit(benchmark::kMicrosecond);
}

template <class L>
void register_throughput() {
  const std::string name = std::string(kThroughput) + "/" + L::name;
  benchmark::RegisterBenchmark(name.c_str(), [](benchmark::State& s) { call_soon_threadsafe_stream<L>(s); })
      ->ArgName("P")
      ->Arg(1)
      ->Arg(2)
      ->Arg(4)
      ->UseRealTime()
      ->Unit(benchmark::kMillisecond);
}


template <class R>
void register_round_trip() {
  const std::string name = std::string(kRoundTrip) + "/" + R::name;
  benchmark::RegisterBenchmark(name.c_str(), [](benchmark::State& s) { round_trip_bench<R>(s); })
      ->ArgNames({"idle_us", "pin"})
      ->ArgsProduct({{0, 1000}, placements()})
      ->UseRealTime()
      ->Unit(benchmark::kMicrosecond);
}

[[maybe_unused]] const bool registered = [] {
  hb::declare_comparison(kThroughput, {kEventLoopMutex, "libuv", "asio", "asyncio"});
  register_throughput<LockFreeLoop>();
  register_throughput<MutexInboxLoop>();
  register_throughput<UvLoop>();
  register_throughput<AsioLoop>();

  hb::declare_comparison(kRoundTrip, {kEventLoopMutex, "futex_pingpong", "libuv", "asio", "asyncio"});
  register_round_trip<LoopRoundTrip<LockFreeLoop>>();
  register_round_trip<LoopRoundTrip<MutexInboxLoop>>();
  register_round_trip<LoopRoundTrip<UvLoop>>();
  register_round_trip<LoopRoundTrip<AsioLoop>>();
  register_round_trip<FutexPingPong>();
  register_round_trip<AtomicPingPong>();

  hb::declare_comparison(kRcts, {kEventLoopMutex, "asyncio"});  // asyncio: bench/asyncio_loop_bench.py
  register_rcts<InboxKind::LockFree, kEventLoop>();
  register_rcts<InboxKind::Mutex, kEventLoopMutex>();
  return true;
}();

}  // namespace

HANDOFF_BENCH_MAIN()
