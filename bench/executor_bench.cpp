// handoff/bench/executor_bench.cpp — the work-stealing ThreadPoolExecutor against its mutex
// baseline (MutexThreadPool), oneTBB's task_group and Boost.Asio's thread_pool; and the
// loop → pool → loop handoff (run_in_executor) against the library's mutex configuration,
// libuv's uv_queue_work and, as the floor of a sleeping round trip, two raw futex wakes.
//
// Workloads (bench/README.md, "executor_bench", says how each is measured and how to read it):
//
//   executor/submit_outside/<impl>/jobs:N   one thread outside the pool submits N empty jobs,
//       then waits for all of them. One iteration = N jobs; ns/item = ns per job.
//   executor/spawn_inside/<impl>/jobs:N     a root job submitted from outside submits the N
//       empty jobs from inside the pool (a flat spawn); the outside thread waits for all.
//   executor/fork_join/<impl>/n:25/depth:D  fib(n): each call at depth < D submits fib(n-1)
//       as a job, computes fib(n-2) inline, then waits for the child; deeper calls compute
//       serially. depth:25 = every call spawns (the fork-join tree); depth:3 = 7 jobs, the
//       variant MutexThreadPool can run (see "fork_join" below). ns/item = ns per fib call.
//   executor/round_trip/<impl>/idle_us:t    a coroutine awaits run_in_executor(pool, []{})
//       back to back (t = 0) or after 1 ms asleep (t = 1000): latency per round trip in a
//       LatencyHistogram (p50 ... p999).
//   executor/in_flight/<impl>/jobs:10000    a coroutine starts 10^4 run_in_executor calls,
//       then awaits them all; ns/item = ns per job.
//
// N (jobs:) is 10^6, 10^5 with HANDOFF_BENCH_QUICK=1, 10^4 with HANDOFF_EXECUTOR_BENCH_SMALL=1
// (the bench-smoke test); HANDOFF_EXECUTOR_BENCH_JOBS=N overrides. The smoke test also uses
// fib(18).
//
// WORKERS. Every pool gets W = hardware_concurrency() threads that run jobs:
// ThreadPoolExecutor(W), MutexThreadPool(W), boost::asio::thread_pool(W), libuv's threadpool
// (UV_THREADPOOL_SIZE=W, set before its first use), and a tbb::task_arena(W) — which in oneTBB
// is W − 1 worker threads plus the thread that waits: task_group::wait() runs tasks. The
// other pools' waiting thread sleeps. One exception, fork_join depth:3 on MutexThreadPool:
// its get() blocks a worker, so it gets 2^(D−1) + 1 = 5 workers, the fewest that cannot
// deadlock (os_threads says so).
//
// COMPLETION SIGNALS (what "waiting for all" costs each implementation):
//   ThreadPoolExecutor, MutexThreadPool  submit() returns a ThreadFuture per job (the API
//       has no fire-and-forget submit); the futures go into a vector reserved before the
//       timer, and the waiting thread get()s each in order.
//   tbb_task_group   run() has no per-job result; wait() waits for the group (one shared
//       reference count inside TBB). NB: run() from the benchmark thread pushes into that
//       thread's own deque (it is in the arena), and wait() runs them: TBB's "outside" submit is
//       a local spawn. Hence the extra submit_outside row tbb_arena_enqueue: task_arena(W, 0)
//       ::enqueue (TBB's fire-and-forget submit into the arena's shared queue) + a countdown,
//       the submitting thread sleeping as the other pools' does.
//   asio_thread_pool post() has no per-job result; each job decrements a shared countdown
//       (fetch_sub), the last one wakes the waiting thread through a futex: the cheapest
//       equivalent of a per-job completion.
//   fork_join: ThreadPoolExecutor/MutexThreadPool get() the child's future (the pool's worker
//       runs jobs from its own deque meanwhile; MutexThreadPool's blocks); TBB a task_group
//       per call (wait() runs tasks meanwhile); asio cannot block a thread on a child without
//       the same deadlock, so it runs the same tree in continuation-passing style: a join
//       record per spawning call (one allocation, like a job), the second arrival adds the
//       halves and passes the sum to its parent.
#include <pthread.h>
#include <sched.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>
#include <type_traits>
#include <vector>

#include <boost/asio/post.hpp>
#include <boost/asio/thread_pool.hpp>
#include <oneapi/tbb/task_arena.h>
#include <oneapi/tbb/task_group.h>
#include <uv.h>

#include <handoff/executor/mutex_thread_pool.hpp>
#include <handoff/executor/run_in_executor.hpp>
#include <handoff/executor/thread_pool_executor.hpp>
#include <handoff/loop/gather.hpp>
#include <handoff/loop/loop.hpp>
#include <handoff/primitives/sync.hpp>

#include "bench_common.hpp"
#include "latency_histogram.hpp"

namespace {

namespace hb = handoff::bench;
namespace sync = handoff::sync;
using Clock = std::chrono::steady_clock;
using handoff::EventLoop;
using handoff::InboxKind;
using handoff::MutexThreadPool;
using handoff::Task;
using handoff::ThreadFuture;
using handoff::ThreadPoolExecutor;

constexpr auto kStallLimit = std::chrono::seconds(10);  // no progress this long: the run fails
constexpr std::int64_t kWaitSliceNs = 100'000'000;      // futex waits wake up to check the time

int workers() { return static_cast<int>(std::max(1u, std::thread::hardware_concurrency())); }

bool env_set(const char* name) {
  const char* v = std::getenv(name);
  return v != nullptr && *v != '\0' && std::string(v) != "0";
}

// N for submit_outside / spawn_inside (see the header comment).
std::int64_t pool_jobs() {
  if (const char* v = std::getenv("HANDOFF_EXECUTOR_BENCH_JOBS"); v != nullptr && *v != '\0') {
    return std::max<std::int64_t>(1, std::atoll(v));
  }
  if (env_set("HANDOFF_EXECUTOR_BENCH_SMALL")) return 10'000;
  if (env_set("HANDOFF_BENCH_QUICK")) return 100'000;
  return 1'000'000;
}
int fib_n() { return env_set("HANDOFF_EXECUTOR_BENCH_SMALL") ? 18 : 25; }

std::int64_t ns_since(Clock::time_point t0, Clock::time_point t1) {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(t1 - t0).count();
}

// ---- a countdown the waiting thread sleeps on --------------------------------------------------

// reset(n) before the jobs start; each job calls count_down(); wait() returns once all have.
// The last count_down stores `done` and wakes the waiter. The latch outlives the pool that
// calls it (declared before it), so the wake never touches a dead object.
class Latch {
 public:
  void reset(std::uint64_t n) {
    left_.store(n, std::memory_order_relaxed);  // published to the jobs by the pool's queue
    done_.store(0, std::memory_order_relaxed);  // likewise
  }
  void count_down() noexcept {
    // acq_rel: the last decrement sees every other job's writes (their release halves).
    if (left_.fetch_sub(1, std::memory_order_acq_rel) == 1) {  // pairs with the other decrements
      done_.store(1, std::memory_order_release);  // pairs with wait()'s acquire load
      sync::wake_all(done_);
    }
  }
  // False if nothing completed for kStallLimit (a lost job or a lost wakeup).
  bool wait() {
    Clock::time_point since = Clock::now();
    std::uint64_t last = ~std::uint64_t{0};
    for (;;) {
      if (done_.load(std::memory_order_acquire) != 0) return true;  // pairs with count_down's store
      const std::uint64_t left = left_.load(std::memory_order_relaxed);  // progress check only
      if (left != last) {
        last = left;
        since = Clock::now();
      } else if (Clock::now() - since > kStallLimit) {
        return false;
      }
      sync::wait(done_, 0, kWaitSliceNs);
    }
  }

 private:
  alignas(hb::kPad) std::atomic<std::uint64_t> left_{0};
  alignas(hb::kPad) sync::atomic<std::uint32_t> done_{0};
};

// ---- fib: the fork-join tree -----------------------------------------------------------------

[[gnu::noinline]] std::int64_t fib_serial(int n) {
  return n < 2 ? n : fib_serial(n - 1) + fib_serial(n - 2);
}
// Calls made by fib(n): the work unit of fork_join (ns/item = ns per call).
std::uint64_t fib_calls(int n) { return n < 2 ? 1 : 1 + fib_calls(n - 1) + fib_calls(n - 2); }
std::int64_t fib_value(int n) {
  std::int64_t a = 0, b = 1;
  for (int i = 0; i < n; ++i) {
    const std::int64_t c = a + b;
    a = b;
    b = c;
  }
  return a;
}

// ThreadPoolExecutor / MutexThreadPool: submit the child, compute the sibling, get().
template <class Pool>
std::int64_t fib_futures(Pool& pool, int n, int depth, int max_depth) {
  if (n < 2) return n;
  if (depth >= max_depth) return fib_serial(n);
  ThreadFuture<std::int64_t> child =
      pool.submit([&pool, n, depth, max_depth] { return fib_futures(pool, n - 1, depth + 1, max_depth); });
  const std::int64_t b = fib_futures(pool, n - 2, depth + 1, max_depth);
  return child.get() + b;
}

std::int64_t fib_tbb(int n, int depth, int max_depth) {
  if (n < 2) return n;
  if (depth >= max_depth) return fib_serial(n);
  std::int64_t a = 0;
  tbb::task_group g;
  g.run([&a, n, depth, max_depth] { a = fib_tbb(n - 1, depth + 1, max_depth); });
  const std::int64_t b = fib_tbb(n - 2, depth + 1, max_depth);
  g.wait();
  return a + b;
}

// Asio: continuation-passing. A spawning call allocates a Join; its two halves each deliver a
// value into it; the second arrival delivers the sum to the parent (or the root's slot).
struct FibCps {
  struct Join;
  struct Cont {
    Join* parent;         // nullptr: the root
    std::int64_t* out;
  };
  struct Join {
    explicit Join(Cont c) : cont(c) {}
    std::atomic<int> pending{2};
    std::int64_t a = 0, b = 0;
    Cont cont;
  };

  boost::asio::thread_pool& pool;
  Latch& root_done;
  int max_depth;

  void deliver(Cont c, std::int64_t v) {
    *c.out = v;
    if (c.parent == nullptr) {
      root_done.count_down();
      return;
    }
    // acq_rel: the second arrival sees the first one's half (written before its decrement).
    if (c.parent->pending.fetch_sub(1, std::memory_order_acq_rel) == 1) {  // pairs with the sibling's decrement
      Join* j = c.parent;
      const std::int64_t sum = j->a + j->b;
      const Cont up = j->cont;
      delete j;
      deliver(up, sum);
    }
  }
  void run(int n, int depth, Cont c) {
    if (n < 2) return deliver(c, n);
    if (depth >= max_depth) return deliver(c, fib_serial(n));
    Join* j = new Join(c);
    boost::asio::post(pool, [this, j, n, depth] { run(n - 1, depth + 1, Cont{j, &j->a}); });
    run(n - 2, depth + 1, Cont{j, &j->b});
  }
};

// ---- the pools under test: one adapter each --------------------------------------------------
//
//   static name; threads(depth)      the <impl> part; threads that run jobs (os_threads)
//   A(max_depth)                     the pool (max_depth: fork_join's; others pass 0)
//   bool outside(N), inside(N)       one iteration of submit_outside / spawn_inside; false on
//                                    a stall (10 s without progress)
//   int64 fib(n, max_depth)          one iteration of fork_join: fib(n)'s value
//   std::string finish(jobs)         after the timing loop: shut down; "" if the pool's own
//                                    books agree with the harness's job count
//   add_counters(state, jobs)        pool statistics per job

int fork_join_workers(int max_depth) {
  return max_depth >= 2 ? (1 << (max_depth - 1)) + 1 : 2;
}

template <class Pool, const char* Name>
class FuturePool {
 public:
  static constexpr const char* name = Name;
  static int threads(int max_depth) {
    if constexpr (std::is_same_v<Pool, MutexThreadPool>) {
      if (max_depth > 0) return std::max(workers(), fork_join_workers(max_depth));
    }
    return workers();
  }
  explicit FuturePool(int max_depth) : pool_(threads(max_depth)) {}

  bool outside(std::int64_t n) {
    futures_.clear();
    futures_.reserve(static_cast<std::size_t>(n));
    for (std::int64_t i = 0; i < n; ++i) futures_.push_back(pool_.submit([] {}));
    for (auto& f : futures_) f.get();
    submitted_ += static_cast<std::uint64_t>(n);
    return true;
  }
  bool inside(std::int64_t n) {
    futures_.clear();
    futures_.reserve(static_cast<std::size_t>(n));
    auto root = pool_.submit([this, n] {
      for (std::int64_t i = 0; i < n; ++i) futures_.push_back(pool_.submit([] {}));
    });
    root.get();  // publishes futures_ (the job's writes) to this thread
    for (auto& f : futures_) f.get();
    submitted_ += static_cast<std::uint64_t>(n) + 1;
    return true;
  }
  std::int64_t fib(int n, int max_depth) {
    auto root = pool_.submit([this, n, max_depth] { return fib_futures(pool_, n, 0, max_depth); });
    return root.get();
  }

  std::string finish(std::uint64_t expected_jobs) {
    futures_.clear();
    futures_.shrink_to_fit();
    pool_.shutdown(true);
    const handoff::ExecutorStats s = pool_.stats();
    if (expected_jobs != 0 && s.run != expected_jobs) {
      return std::string(Name) + ": stats().run = " + std::to_string(s.run) + ", the harness submitted " +
             std::to_string(expected_jobs);
    }
    if (!s.balanced()) return std::string(Name) + ": ledger not balanced after shutdown";
    return {};
  }
  std::uint64_t submitted() const { return submitted_; }
  void add_counters(benchmark::State& state, double jobs) const {
    if constexpr (std::is_same_v<Pool, ThreadPoolExecutor>) {
      const handoff::ExecutorStats s = pool_.stats();
      state.counters["steals"] = benchmark::Counter(static_cast<double>(s.steals) / jobs);
      state.counters["parks"] = benchmark::Counter(static_cast<double>(s.parks) / jobs);
    }
  }

 private:
  Pool pool_;
  std::vector<ThreadFuture<void>> futures_;
  std::uint64_t submitted_ = 0;
};

constexpr char kTpe[] = "ThreadPoolExecutor";
constexpr char kMtp[] = "MutexThreadPool";
using TpePool = FuturePool<ThreadPoolExecutor, kTpe>;
using MtpPool = FuturePool<MutexThreadPool, kMtp>;

class TbbPool {
 public:
  static constexpr const char* name = "tbb_task_group";
  static int threads(int) { return workers(); }
  explicit TbbPool(int) : arena_(workers()) {}

  bool outside(std::int64_t n) {
    arena_.execute([n] {
      tbb::task_group g;
      for (std::int64_t i = 0; i < n; ++i) g.run([] {});
      g.wait();
    });
    return true;
  }
  bool inside(std::int64_t n) {
    arena_.execute([n] {
      tbb::task_group g;
      g.run([&g, n] {
        for (std::int64_t i = 0; i < n; ++i) g.run([] {});
      });
      g.wait();
    });
    return true;
  }
  std::int64_t fib(int n, int max_depth) {
    std::int64_t r = 0;
    arena_.execute([&r, n, max_depth] { r = fib_tbb(n, 0, max_depth); });
    return r;
  }
  std::string finish(std::uint64_t) { return {}; }  // wait() returned: every task ran
  void add_counters(benchmark::State&, double) const {}

 private:
  tbb::task_arena arena_;
};

// submit_outside only: tbb::task_arena::enqueue, TBB's fire-and-forget submit from a thread
// that does not join the arena (it sleeps on a Latch, as the others' waiting threads do).
// arena(W, 0): no slot reserved for an external thread, so W workers run the jobs.
class TbbEnqueue {
 public:
  static constexpr const char* name = "tbb_arena_enqueue";
  static int threads(int) { return workers(); }
  explicit TbbEnqueue(int) : arena_(workers(), 0) {}
  ~TbbEnqueue() { (void)latch_.wait(); }

  bool outside(std::int64_t n) {
    latch_.reset(static_cast<std::uint64_t>(n));
    for (std::int64_t i = 0; i < n; ++i) arena_.enqueue([l = &latch_] { l->count_down(); });
    return latch_.wait();
  }
  bool inside(std::int64_t) { return false; }
  std::int64_t fib(int, int) { return -1; }
  std::string finish(std::uint64_t) { return {}; }
  void add_counters(benchmark::State&, double) const {}

 private:
  Latch latch_;  // before the arena: outlives every job that counts it down
  tbb::task_arena arena_;
};

class AsioPool {
 public:
  static constexpr const char* name = "asio_thread_pool";
  static int threads(int) { return workers(); }
  explicit AsioPool(int) : pool_(static_cast<std::size_t>(workers())) {}
  ~AsioPool() { pool_.join(); }

  bool outside(std::int64_t n) {
    latch_.reset(static_cast<std::uint64_t>(n));
    for (std::int64_t i = 0; i < n; ++i) boost::asio::post(pool_, [l = &latch_] { l->count_down(); });
    return latch_.wait();
  }
  bool inside(std::int64_t n) {
    latch_.reset(static_cast<std::uint64_t>(n));
    boost::asio::post(pool_, [this, n] {
      for (std::int64_t i = 0; i < n; ++i) boost::asio::post(pool_, [l = &latch_] { l->count_down(); });
    });
    return latch_.wait();
  }
  std::int64_t fib(int n, int max_depth) {
    latch_.reset(1);
    std::int64_t r = -1;
    FibCps cps{pool_, latch_, max_depth};
    boost::asio::post(pool_, [&cps, &r, n] { cps.run(n, 0, FibCps::Cont{nullptr, &r}); });
    if (!latch_.wait()) return -1;
    return r;
  }
  std::string finish(std::uint64_t) {
    pool_.join();
    return {};
  }
  void add_counters(benchmark::State&, double) const {}

 private:
  Latch latch_;  // before the pool: outlives every job that counts it down
  boost::asio::thread_pool pool_;
};

// ---- workload 1: pool throughput ---------------------------------------------------------------

enum class PoolWork { Outside, Inside };

template <class A, PoolWork W>
void pool_throughput(benchmark::State& state) {
  const std::int64_t n = state.range(0);
  const std::string label = std::string(A::name) + (W == PoolWork::Outside ? " submit_outside" : " spawn_inside");
  A pool(0);
  std::uint64_t expected = 0;
  const auto once = [&] {
    const bool ok = W == PoolWork::Outside ? pool.outside(n) : pool.inside(n);
    expected += static_cast<std::uint64_t>(n) + (W == PoolWork::Inside ? 1 : 0);
    return ok;
  };
  // Warm-up: a tenth of N (threads started, queues and allocator warm), untimed.
  const std::int64_t warm = std::max<std::int64_t>(1, n / 10);
  bool ok = W == PoolWork::Outside ? pool.outside(warm) : pool.inside(warm);
  expected += static_cast<std::uint64_t>(warm) + (W == PoolWork::Inside ? 1 : 0);
  if (ok) {
    for (auto _ : state) {
      if (!once()) {
        ok = false;
        break;
      }
    }
  }
  if (!ok) {
    (void)pool.finish(0);
    return hb::fail(state, label + ": no job completed for 10 s (lost job or wakeup?)");
  }
  if constexpr (std::is_same_v<A, TpePool> || std::is_same_v<A, MtpPool>) {
    pool.add_counters(state, static_cast<double>(expected));
  }
  if (std::string why = pool.finish(expected); !why.empty()) return hb::fail(state, label + ": " + why);
  using benchmark::Counter;
  state.SetItemsProcessed(state.iterations() * n);
  state.counters["time_per_item"] =
      Counter(static_cast<double>(n), Counter::kIsIterationInvariantRate | Counter::kInvert);
  state.counters["os_threads"] = Counter(A::threads(0));
}

template <class A>
void fork_join(benchmark::State& state) {
  const int n = static_cast<int>(state.range(0));
  const int max_depth = static_cast<int>(state.range(1));
  const std::string label = std::string(A::name) + " fork_join n=" + std::to_string(n) +
                            " depth=" + std::to_string(max_depth);
  const std::int64_t want = fib_value(n);
  A pool(max_depth);
  std::int64_t got = pool.fib(n, max_depth);  // warm-up
  if (got == want) {
    for (auto _ : state) {
      got = pool.fib(n, max_depth);
      if (got != want) break;
    }
  }
  (void)pool.finish(0);  // job counts: the value checks the tree
  if (got != want) {
    return hb::fail(state, label + ": fib = " + std::to_string(got) + ", expected " + std::to_string(want));
  }
  using benchmark::Counter;
  const auto calls = static_cast<double>(fib_calls(n));
  state.SetItemsProcessed(static_cast<std::int64_t>(static_cast<double>(state.iterations()) * calls));
  state.counters["time_per_item"] = Counter(calls, Counter::kIsIterationInvariantRate | Counter::kInvert);
  state.counters["os_threads"] = Counter(A::threads(max_depth));
}

// ---- workload 2 and 3: run_in_executor -----------------------------------------------------------

void sleep_idle(std::chrono::microseconds idle) {
  if (idle.count() > 0) std::this_thread::sleep_for(idle);
}

// The library's two configurations: the loop and the pool, the loop running in the benchmark
// thread (run_until_complete).
template <class Pool, InboxKind Inbox, const char* Name>
struct LoopAndPool {
  static constexpr const char* name = Name;
  static EventLoop::Options options() {
    EventLoop::Options o;
    o.inbox = Inbox;
    return o;
  }
  LoopAndPool() : loop(options()), pool(workers()) {}
  ~LoopAndPool() {
    pool.shutdown(true);
    loop.close();
  }
  EventLoop loop;
  Pool pool;
};

constexpr char kHandoff[] = "handoff";
constexpr char kMutexConfig[] = "mutex_config";
using HandoffConfig = LoopAndPool<ThreadPoolExecutor, InboxKind::LockFree, kHandoff>;
using MutexConfig = LoopAndPool<MutexThreadPool, InboxKind::Mutex, kMutexConfig>;

// The job stores the worker's CPU (sched_getcpu) in the awaiting frame, published by the
// future's completion; the loop compares it with its own after the resumption (same_cpu).
template <class Pool>
Task<void> round_trips(Pool& pool, benchmark::State& state, std::chrono::microseconds idle,
                       hb::LatencyHistogram& hist, std::uint64_t& same_cpu) {
  EventLoop& loop = handoff::get_running_loop();
  int cpu = -1;
  const int warmup = idle.count() > 0 ? 2 : 200;
  for (int i = 0; i < warmup; ++i) co_await loop.run_in_executor(pool, [&cpu] { cpu = ::sched_getcpu(); });
  for (auto _ : state) {
    sleep_idle(idle);
    const Clock::time_point t0 = Clock::now();
    co_await loop.run_in_executor(pool, [&cpu] { cpu = ::sched_getcpu(); });
    hist.record(static_cast<std::uint64_t>(ns_since(t0, Clock::now())));
    same_cpu += cpu == ::sched_getcpu() ? 1 : 0;
  }
}

template <class C>
struct LoopRoundTrip {
  static constexpr const char* name = C::name;
  std::string run(benchmark::State& state, std::chrono::microseconds idle, hb::LatencyHistogram& hist,
                  std::uint64_t& same_cpu) {
    C c;
    c.loop.run_until_complete(round_trips(c.pool, state, idle, hist, same_cpu));
    const std::uint64_t jobs = hist.count() + (idle.count() > 0 ? 2 : 200);
    c.pool.shutdown(true);
    const handoff::ExecutorStats s = c.pool.stats();
    if (s.run != jobs) {
      return std::string(C::name) + ": pool ran " + std::to_string(s.run) + " jobs, the harness submitted " +
             std::to_string(jobs);
    }
    if constexpr (std::is_same_v<C, HandoffConfig>) {
      const double n = static_cast<double>(jobs);
      state.counters["pool_parks"] = benchmark::Counter(static_cast<double>(s.parks) / n);
      state.counters["loop_sleeps"] = benchmark::Counter(static_cast<double>(c.loop.stats().sleeps) / n);
    }
    return {};
  }
};

// libuv: uv_queue_work on a loop run by the benchmark thread (uv_run returns when the request's
// after_work callback has run: nothing else keeps the loop alive). Its threadpool has
// UV_THREADPOOL_SIZE = W threads (set at registration, before libuv's first use).
class UvWork {
 public:
  static constexpr const char* name = "libuv";
  UvWork() {
    if (uv_loop_init(&loop_) != 0) throw std::runtime_error("uv_loop_init failed");
    loop_.data = this;
  }
  ~UvWork() { uv_loop_close(&loop_); }
  UvWork(const UvWork&) = delete;
  UvWork& operator=(const UvWork&) = delete;

  // Queue n requests (work: nothing; after_work: a loop-thread count) and run the loop until
  // all have come back. False if a request failed.
  bool run_batch(std::vector<uv_work_t>& reqs) {
    for (auto& r : reqs) {
      r.data = this;
      if (uv_queue_work(&loop_, &r, [](uv_work_t*) {}, &UvWork::after) != 0) return false;
    }
    uv_run(&loop_, UV_RUN_DEFAULT);
    return true;
  }
  // One request whose work records the worker's CPU (published by libuv's completion queue).
  bool run_one(int& cpu) {
    uv_work_t r;
    r.data = &cpu;
    if (uv_queue_work(&loop_, &r, [](uv_work_t* w) { *static_cast<int*>(w->data) = ::sched_getcpu(); },
                      &UvWork::after_one) != 0) {
      return false;
    }
    uv_run(&loop_, UV_RUN_DEFAULT);
    return true;
  }
  std::uint64_t completed() const { return completed_; }

  std::string run(benchmark::State& state, std::chrono::microseconds idle, hb::LatencyHistogram& hist,
                  std::uint64_t& same_cpu) {
    int cpu = -1;
    const int warmup = idle.count() > 0 ? 2 : 200;
    for (int i = 0; i < warmup; ++i) {
      if (!run_one(cpu)) return "libuv: uv_queue_work failed";
    }
    for (auto _ : state) {
      sleep_idle(idle);
      const Clock::time_point t0 = Clock::now();
      if (!run_one(cpu)) return "libuv: uv_queue_work failed";
      hist.record(static_cast<std::uint64_t>(ns_since(t0, Clock::now())));
      same_cpu += cpu == ::sched_getcpu() ? 1 : 0;
    }
    const std::uint64_t want = hist.count() + static_cast<std::uint64_t>(warmup);
    if (completed_ != want) {
      return "libuv: " + std::to_string(completed_) + " after_work callbacks for " + std::to_string(want) + " requests";
    }
    return {};
  }

 private:
  static void after(uv_work_t* r, int status) {
    auto* self = static_cast<UvWork*>(r->data);
    if (status == 0) ++self->completed_;
  }
  static void after_one(uv_work_t* r, int status) {
    auto* self = static_cast<UvWork*>(r->loop->data);
    if (status == 0) ++self->completed_;
  }
  uv_loop_t loop_{};
  std::uint64_t completed_ = 0;  // loop thread (the benchmark thread)
};

// Two raw futex wakes (bench/loop_bench.cpp's futex_pingpong, replicated): A stores ping and
// FUTEX_WAKEs B; B, blocked in FUTEX_WAIT, stores pong and wakes A, blocked in FUTEX_WAIT.
class FutexPingPong {
 public:
  static constexpr const char* name = "futex_pingpong";
  std::string run(benchmark::State& state, std::chrono::microseconds idle, hb::LatencyHistogram& hist,
                  std::uint64_t& same_cpu) {
    std::thread b([this] {
      std::uint32_t last = 0;
      for (;;) {
        const std::uint32_t v = ping_.load(std::memory_order_acquire);  // pairs with A's release store
        if (v == last) {
          sync::wait(ping_, v, kWaitSliceNs);
          continue;
        }
        if (v == kStop) return;
        last = v;
        cpu_.store(::sched_getcpu(), std::memory_order_relaxed);  // published by the store of pong
        pong_.store(v, std::memory_order_release);  // pairs with A's acquire load
        sync::wake_one(pong_);
      }
    });
    std::uint32_t seq = 0;
    bool stalled = false;
    auto once = [&](bool record) {
      sleep_idle(idle);
      ++seq;
      const Clock::time_point t0 = Clock::now();
      ping_.store(seq, std::memory_order_release);  // pairs with B's acquire load
      sync::wake_one(ping_);
      for (;;) {
        const std::uint32_t v = pong_.load(std::memory_order_acquire);  // pairs with B's store
        if (v == seq) break;
        if (Clock::now() - t0 > kStallLimit) {
          stalled = true;
          return false;
        }
        sync::wait(pong_, v, kWaitSliceNs);
      }
      if (record) {
        hist.record(static_cast<std::uint64_t>(ns_since(t0, Clock::now())));
        same_cpu += cpu_.load(std::memory_order_relaxed) == ::sched_getcpu() ? 1 : 0;  // after pong's acquire
      }
      return true;
    };
    const int warmup = idle.count() > 0 ? 2 : 200;
    for (int i = 0; i < warmup && once(false); ++i) {
    }
    if (!stalled) {
      for (auto _ : state) {
        if (!once(true)) break;
      }
    }
    ping_.store(kStop, std::memory_order_release);  // pairs with B's acquire load
    sync::wake_one(ping_);
    b.join();
    return stalled ? "futex_pingpong: no answer for 10 s" : "";
  }

 private:
  static constexpr std::uint32_t kStop = 0xFFFFFFFFu;
  alignas(hb::kPad) sync::atomic<std::uint32_t> ping_{0};
  alignas(hb::kPad) sync::atomic<std::uint32_t> pong_{0};
  sync::atomic<int> cpu_{-1};  // B's CPU, published by the store of pong_
};

template <class R>
void round_trip_bench(benchmark::State& state) {
  const std::chrono::microseconds idle(state.range(0));
  hb::LatencyHistogram hist;
  std::uint64_t same_cpu = 0;
  R rt;
  const std::string why = rt.run(state, idle, hist, same_cpu);
  const std::string label = std::string(R::name) + " idle_us=" + std::to_string(idle.count());
  if (!why.empty()) return hb::fail(state, label + ": " + why);
  std::string bad;
  if (!hb::report_round_trips(state, hist, same_cpu, &bad)) return hb::fail(state, label + ": " + bad);
}

// Workload 3. `handoff`, `mutex_config`: one task per call (create_task through gather), each
// awaiting run_in_executor — asyncio's gather(*(run_in_executor(...) ...)) shape: every
// completion resumes its task through the loop's inbox. `*_futures`: one coroutine holds the
// 10^4 ThreadFutures and awaits them in order (a done one is not suspended on).
template <class Pool>
Task<void> one_call(Pool& pool) {
  co_await handoff::get_running_loop().run_in_executor(pool, [] {});
}

template <class Pool>
Task<void> in_flight_tasks(Pool& pool, benchmark::State& state, std::int64_t n, bool warmup_only) {
  const auto batch = [&]() -> Task<void> {
    std::vector<Task<void>> calls;
    calls.reserve(static_cast<std::size_t>(n));
    for (std::int64_t i = 0; i < n; ++i) calls.push_back(one_call(pool));
    co_await handoff::gather(std::move(calls));
  };
  co_await batch();
  if (warmup_only) co_return;
  for (auto _ : state) co_await batch();
}

template <class Pool>
Task<void> in_flight_futures(Pool& pool, benchmark::State& state, std::int64_t n, bool warmup_only) {
  EventLoop& loop = handoff::get_running_loop();
  std::vector<ThreadFuture<void>> fs;
  fs.reserve(static_cast<std::size_t>(n));
  const auto batch = [&]() -> Task<void> {
    fs.clear();
    for (std::int64_t i = 0; i < n; ++i) fs.push_back(loop.run_in_executor(pool, [] {}));
    for (auto& f : fs) co_await f;
  };
  co_await batch();
  if (warmup_only) co_return;
  for (auto _ : state) co_await batch();
}

template <class C, bool Futures>
struct LoopInFlight {
  static std::string name() { return std::string(C::name) + (Futures ? "_futures" : ""); }
  std::string run(benchmark::State& state, std::int64_t n) {
    C c;
    if constexpr (Futures) {
      c.loop.run_until_complete(in_flight_futures(c.pool, state, n, false));
    } else {
      c.loop.run_until_complete(in_flight_tasks(c.pool, state, n, false));
    }
    c.pool.shutdown(true);
    const std::uint64_t want = static_cast<std::uint64_t>(state.iterations() + 1) * static_cast<std::uint64_t>(n);
    const handoff::ExecutorStats s = c.pool.stats();
    if (s.run != want) {
      return name() + ": pool ran " + std::to_string(s.run) + " jobs, the harness submitted " + std::to_string(want);
    }
    if constexpr (std::is_same_v<C, HandoffConfig>) {
      const double jobs = static_cast<double>(want);
      state.counters["pool_parks"] = benchmark::Counter(static_cast<double>(s.parks) / jobs);
      state.counters["loop_sleeps"] = benchmark::Counter(static_cast<double>(c.loop.stats().sleeps) / jobs);
    }
    return {};
  }
};

struct UvInFlight {
  static std::string name() { return "libuv"; }
  std::string run(benchmark::State& state, std::int64_t n) {
    UvWork uv;
    std::vector<uv_work_t> reqs(static_cast<std::size_t>(n));
    if (!uv.run_batch(reqs)) return "libuv: uv_queue_work failed";
    for (auto _ : state) {
      if (!uv.run_batch(reqs)) return "libuv: uv_queue_work failed";
    }
    const std::uint64_t want = static_cast<std::uint64_t>(state.iterations() + 1) * static_cast<std::uint64_t>(n);
    if (uv.completed() != want) {
      return "libuv: " + std::to_string(uv.completed()) + " after_work callbacks for " + std::to_string(want);
    }
    return {};
  }
};

template <class R>
void in_flight_bench(benchmark::State& state) {
  const std::int64_t n = state.range(0);
  R r;
  if (std::string why = r.run(state, n); !why.empty()) return hb::fail(state, why);
  using benchmark::Counter;
  state.SetItemsProcessed(state.iterations() * n);
  state.counters["time_per_item"] =
      Counter(static_cast<double>(n), Counter::kIsIterationInvariantRate | Counter::kInvert);
  state.counters["os_threads"] = Counter(workers() + 1);
}

// ---- registration ------------------------------------------------------------------------------------

constexpr const char* kOutside = "executor/submit_outside";
constexpr const char* kInside = "executor/spawn_inside";
constexpr const char* kForkJoin = "executor/fork_join";
constexpr const char* kRoundTrip = "executor/round_trip";
constexpr const char* kInFlight = "executor/in_flight";
constexpr std::int64_t kInFlightJobs = 10'000;

// submit_outside / spawn_inside: one iteration = the N jobs, once per repetition (after an
// untimed warm-up pass of the same N): N = 10^6 is the sample, and --benchmark_min_time would
// only multiply a ~0.1-0.6 s iteration (the name's "/iterations:1" suffix is dropped by table.py).
template <class A>
void register_outside() {
  benchmark::RegisterBenchmark((std::string(kOutside) + "/" + A::name).c_str(),
                               [](benchmark::State& s) { pool_throughput<A, PoolWork::Outside>(s); })
      ->ArgName("jobs")->Arg(pool_jobs())->Iterations(1)->UseRealTime()->Unit(benchmark::kMillisecond);
}

template <class A>
void register_pool() {
  register_outside<A>();
  benchmark::RegisterBenchmark((std::string(kInside) + "/" + A::name).c_str(),
                               [](benchmark::State& s) { pool_throughput<A, PoolWork::Inside>(s); })
      ->ArgName("jobs")->Arg(pool_jobs())->Iterations(1)->UseRealTime()->Unit(benchmark::kMillisecond);
  auto* fj = benchmark::RegisterBenchmark((std::string(kForkJoin) + "/" + A::name).c_str(),
                                          [](benchmark::State& s) { fork_join<A>(s); });
  fj->ArgNames({"n", "depth"})->UseRealTime()->Unit(benchmark::kMillisecond);
  // MutexThreadPool cannot run the full tree: its get() blocks a worker (see the header).
  if (!std::is_same_v<A, MtpPool>) fj->Args({fib_n(), fib_n()});
  fj->Args({fib_n(), 3});
}

template <class R>
void register_round_trip() {
  benchmark::RegisterBenchmark((std::string(kRoundTrip) + "/" + R::name).c_str(),
                               [](benchmark::State& s) { round_trip_bench<R>(s); })
      ->ArgName("idle_us")->Arg(0)->Arg(1000)->UseRealTime()->Unit(benchmark::kMicrosecond);
}

template <class R>
void register_in_flight() {
  benchmark::RegisterBenchmark((std::string(kInFlight) + "/" + R::name()).c_str(),
                               [](benchmark::State& s) { in_flight_bench<R>(s); })
      ->ArgName("jobs")->Arg(kInFlightJobs)->UseRealTime()->Unit(benchmark::kMillisecond);
}

[[maybe_unused]] const bool registered = [] {
  // libuv sizes its global threadpool from this at its first uv_queue_work: W, as the others.
  ::setenv("UV_THREADPOOL_SIZE", std::to_string(workers()).c_str(), 1);

  for (const char* fw : {kOutside, kInside, kForkJoin}) {
    hb::declare_comparison(fw, {kMtp, "tbb_task_group", "asio_thread_pool"});
  }
  register_pool<TpePool>();
  register_pool<MtpPool>();
  register_pool<TbbPool>();
  register_pool<AsioPool>();
  register_outside<TbbEnqueue>();

  hb::declare_comparison(kRoundTrip, {kMutexConfig, "futex_pingpong", "libuv", "asyncio"});
  register_round_trip<LoopRoundTrip<HandoffConfig>>();
  register_round_trip<LoopRoundTrip<MutexConfig>>();
  register_round_trip<UvWork>();
  register_round_trip<FutexPingPong>();

  hb::declare_comparison(kInFlight, {kMutexConfig, "libuv", "asyncio"});
  register_in_flight<LoopInFlight<HandoffConfig, false>>();
  register_in_flight<LoopInFlight<HandoffConfig, true>>();
  register_in_flight<LoopInFlight<MutexConfig, false>>();
  register_in_flight<LoopInFlight<MutexConfig, true>>();
  register_in_flight<UvInFlight>();
  return true;
}();

}  // namespace

HANDOFF_BENCH_MAIN()
