// Unit tests of executor/thread_pool_executor.hpp and its baseline executor/mutex_thread_pool.hpp
// (one template suite where the contract is the same), and of the pool-only behaviour:
// lazy growth, idle reuse, retirement, waiting inside a job.
//
// No timing assertions: "the three jobs ran at once" is proved by a rendezvous that can only
// complete if they did (with a generous deadline that turns a failure into a message, not a
// hang).
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <catch2/catch.hpp>

#include "gate.hpp"

#include <handoff/executor/mutex_thread_pool.hpp>
#include <handoff/executor/thread_pool_executor.hpp>

using namespace handoff;
using namespace std::chrono_literals;

namespace {

using handoff::test::Gate;

// n parties meet; true if all arrived before the deadline.
class Rendezvous {
 public:
  explicit Rendezvous(int n) : left_(n) {}
  bool arrive_and_wait(std::chrono::seconds limit = 20s) {
    std::unique_lock<std::mutex> lock(mu_);
    if (--left_ == 0) cv_.notify_all();
    return cv_.wait_for(lock, limit, [this] { return left_ <= 0; });
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  int left_;
};

template <class Pool>
void check_balanced(const Pool& pool) {
  const ExecutorStats s = pool.stats();
  INFO("submitted=" << s.submitted << " run=" << s.run << " cancelled=" << s.cancelled
                    << " refused=" << s.refused);
  CHECK(s.balanced());
}

// Poll until pred() or the deadline (for state that changes asynchronously, e.g. retirement).
template <class Pred>
bool eventually(Pred pred, std::chrono::seconds limit = 20s) {
  const auto until = std::chrono::steady_clock::now() + limit;
  while (!pred()) {
    if (std::chrono::steady_clock::now() > until) return false;
    std::this_thread::sleep_for(1ms);
  }
  return true;
}

}  // namespace

TEMPLATE_TEST_CASE("submit: the value, or the job's exception, through the future", "[executor]",
                   ThreadPoolExecutor, MutexThreadPool) {
  TestType pool(4);
  auto f = pool.submit([](int a, int b) { return a + b; }, 2, 40);
  CHECK(f.get() == 42);
  auto g = pool.submit([]() -> int { throw std::runtime_error("job failed"); });
  CHECK_THROWS_WITH(g.get(), "job failed");
  auto v = pool.submit([] {});
  v.get();
  pool.shutdown();
  check_balanced(pool);
  CHECK(pool.stats().run == 3);
}

TEMPLATE_TEST_CASE("max_workers <= 0 is a clear error", "[executor]", ThreadPoolExecutor, MutexThreadPool) {
  CHECK_THROWS_WITH(TestType(0), Catch::Contains("max_workers must be greater than 0"));
  CHECK_THROWS_AS(TestType(-3), std::invalid_argument);
}

TEMPLATE_TEST_CASE("submit after shutdown is refused with a clear error and counted", "[executor]",
                   ThreadPoolExecutor, MutexThreadPool) {
  TestType pool(2);
  pool.submit([] { return 1; }).get();
  pool.shutdown();
  CHECK(pool.is_shutdown());
  CHECK_THROWS_AS(pool.submit([] { return 2; }), ExecutorShutdownError);
  CHECK_THROWS_WITH(pool.submit([] {}), Catch::Contains("executor is shut down"));
  const ExecutorStats s = pool.stats();
  CHECK(s.refused == 2);
  CHECK(s.submitted == 3);
  check_balanced(pool);
}

TEMPLATE_TEST_CASE("N blocking jobs with N <= max_workers all run at once; idle threads are reused",
                   "[executor][lazy]", ThreadPoolExecutor, MutexThreadPool) {
  TestType pool(3);
  CHECK(pool.stats().threads_started == 0);  // lazy: no job, no thread
  for (int round = 0; round < 3; ++round) {
    Rendezvous all(3);
    std::vector<ThreadFuture<bool>> fs;
    for (int i = 0; i < 3; ++i) fs.push_back(pool.submit([&all] { return all.arrive_and_wait(); }));
    for (auto& f : fs) CHECK(f.get());  // false: the three were not running at the same time
  }
  CHECK(pool.stats().threads_started == 3);  // rounds 2 and 3 reused the idle threads
  pool.shutdown();
  check_balanced(pool);
}

TEMPLATE_TEST_CASE("cancel: before the start it cancels, during or after it does not", "[executor][cancel]",
                   ThreadPoolExecutor, MutexThreadPool) {
  TestType pool(1);
  Gate gate, started;
  auto blocker = pool.submit([&] {
    started.open();
    return gate.wait();
  });
  REQUIRE(started.wait());
  auto queued = pool.submit([] { return 7; });
  CHECK(queued.cancel());  // not started: cancelled
  CHECK(queued.done());
  CHECK(queued.cancelled());
  CHECK_THROWS_AS(queued.get(), CancelledError);
  CHECK_FALSE(blocker.cancel());  // running: concurrent.futures says no
  gate.open();
  CHECK(blocker.get());  // and it finishes with its own result
  CHECK_FALSE(blocker.cancel());  // done: no
  pool.shutdown();
  const ExecutorStats s = pool.stats();
  CHECK(s.cancelled == 1);
  CHECK(s.run == 1);
  check_balanced(pool);
}

TEMPLATE_TEST_CASE("shutdown(cancel_futures): queued jobs are cancelled, the running one finishes",
                   "[executor][shutdown]", ThreadPoolExecutor, MutexThreadPool) {
  TestType pool(1);
  Gate gate, started;
  auto running = pool.submit([&] {
    started.open();
    return gate.wait();
  });
  REQUIRE(started.wait());
  std::vector<ThreadFuture<int>> queued;
  for (int i = 0; i < 5; ++i) queued.push_back(pool.submit([i] { return i; }));
  std::thread opener([&] {
    std::this_thread::sleep_for(10ms);
    gate.open();
  });
  pool.shutdown(true, true);
  opener.join();
  CHECK(running.get());
  for (auto& f : queued) CHECK(f.cancelled());
  const ExecutorStats s = pool.stats();
  CHECK(s.cancelled == 5);
  CHECK(s.run == 1);
  check_balanced(pool);
}

TEMPLATE_TEST_CASE("shutdown(wait=false): queued jobs still run; the destructor joins", "[executor][shutdown]",
                   ThreadPoolExecutor, MutexThreadPool) {
  std::atomic<int> ran{0};
  std::vector<ThreadFuture<void>> fs;
  {
    TestType pool(2);
    for (int i = 0; i < 50; ++i) {
      fs.push_back(pool.submit([&ran] { ran.fetch_add(1, std::memory_order_relaxed); }));  // test counter; join orders it
    }
    pool.shutdown(false);
    CHECK_THROWS_AS(pool.submit([] {}), ExecutorShutdownError);
  }  // the destructor waits
  CHECK(ran.load() == 50);
  for (auto& f : fs) CHECK(f.done());
}

TEMPLATE_TEST_CASE("shutdown(wait=true) from inside a job is a clear error, not a deadlock",
                   "[executor][shutdown]", ThreadPoolExecutor, MutexThreadPool) {
  TestType pool(2);
  auto f = pool.submit([&pool] { pool.shutdown(true); });
  CHECK_THROWS_AS(f.get(), InvalidStateError);
  auto g = pool.submit([&pool] { pool.shutdown(false); });
  g.get();
  CHECK(pool.is_shutdown());
}

TEMPLATE_TEST_CASE("map: results in input order; one deadline; exceptions rethrown in place", "[executor][map]",
                   ThreadPoolExecutor, MutexThreadPool) {
  TestType pool(4);
  std::vector<int> in{5, 1, 4, 2, 3};
  std::vector<int> out;
  for (int v : pool.map([](int x) { return x * 10; }, in)) out.push_back(v);
  CHECK(out == std::vector<int>{50, 10, 40, 20, 30});

  auto failing = pool.map([](int x) {
    if (x == 4) throw std::runtime_error("four");
    return x;
  }, in);
  CHECK(failing.next() == 5);
  CHECK(failing.next() == 1);
  CHECK_THROWS_WITH(failing.next(), "four");
  CHECK(failing.next() == 2);

  Gate gate;
  auto slow = pool.map([&gate](int x) { return gate.wait() ? x : -1; }, std::vector<int>{1, 2}, 20ms);
  CHECK_THROWS_AS(slow.next(), TimeoutError);
  gate.open();
}

TEMPLATE_TEST_CASE("map after shutdown names map(), not submit()", "[executor][map][messages]",
                   ThreadPoolExecutor, MutexThreadPool) {
  TestType pool(1);
  pool.shutdown();
  CHECK_THROWS_WITH(pool.map([](int x) { return x; }, std::vector<int>{1}),
                    Catch::Contains("executor is shut down: map() after shutdown()"));
}

TEST_CASE("a job that waits on its children runs them itself: a 1-worker pool finishes a spawn tree",
          "[executor][nested]") {
  ThreadPoolExecutor pool(1);
  std::function<long(int)> fib = [&](int n) -> long {
    if (n < 2) return n;
    auto left = pool.submit(fib, n - 1);  // from a job: onto this worker's own deque
    const long right = fib(n - 2);
    return left.get() + right;  // get() runs queued children instead of sleeping
  };
  CHECK(pool.submit(fib, 15).get() == 610);
  pool.shutdown();
  check_balanced(pool);
  CHECK(pool.stats().threads_started == 1);
}

TEST_CASE("nested submits from jobs are stolen by other workers", "[executor][nested]") {
  ThreadPoolExecutor pool(4);
  std::atomic<int> leaves{0};
  std::function<void(int)> tree = [&](int depth) {
    if (depth == 0) {
      leaves.fetch_add(1, std::memory_order_relaxed);  // test counter; get() orders it
      return;
    }
    auto a = pool.submit(tree, depth - 1);
    auto b = pool.submit(tree, depth - 1);
    a.get();
    b.get();
  };
  pool.submit(tree, 10).get();
  CHECK(leaves.load() == 1024);
  pool.shutdown();
  check_balanced(pool);
  const ExecutorStats s = pool.stats();
  CHECK(s.run == 2047);
}

TEST_CASE("an idle thread retires after keep_alive; its slot serves the next thread", "[executor][lazy]") {
  ThreadPoolExecutor::Options o;
  o.max_workers = 2;
  o.keep_alive = 20ms;
  ThreadPoolExecutor pool(o);
  CHECK(pool.submit([] { return 1; }).get() == 1);
  REQUIRE(eventually([&] { return pool.stats().threads_exited == 1; }));
  CHECK(pool.stats().threads_alive == 0);
  CHECK(pool.submit([] { return 2; }).get() == 2);  // a new thread in the freed slot
  CHECK(pool.stats().threads_started == 2);
  pool.shutdown();
  check_balanced(pool);
  const ExecutorStats s = pool.stats();
  CHECK(s.threads_started == s.threads_exited);
}

TEST_CASE("workers are named <prefix>_<slot>", "[executor]") {
  ThreadPoolExecutor::Options o;
  o.max_workers = 1;
  o.thread_name_prefix = "tpe";
  ThreadPoolExecutor pool(o);
  auto name = pool.submit([] {
    char buf[16] = {};
    pthread_getname_np(pthread_self(), buf, sizeof buf);
    return std::string(buf);
  });
  CHECK(name.get() == "tpe_0");
}

TEST_CASE("a trickle of jobs to sleeping workers: every job runs, parks and wakeups are counted",
          "[executor][parking]") {
  ThreadPoolExecutor::Options o;
  o.max_workers = 3;
  o.spin = std::chrono::nanoseconds(0);  // park at once: every job has to wake a sleeper
  ThreadPoolExecutor pool(o);
  for (int i = 0; i < 50; ++i) {
    CHECK(pool.submit([i] { return i; }).get() == i);
    if (i % 10 == 0) std::this_thread::sleep_for(2ms);
  }
  pool.shutdown();
  check_balanced(pool);
  const ExecutorStats s = pool.stats();
  CHECK(s.parks > 0);
  CHECK(s.wakeups <= s.parks);
}

// ---- issue 10: a cancellation racing the pool's teardown --------------------------------
namespace {
// The test seam detail::t_cancel_claimed_hook holds the canceller right after its CAS won.
Gate* g_cancel_claimed = nullptr;
Gate* g_cancel_resume = nullptr;
void hold_cancel_after_claim() {
  g_cancel_claimed->open();
  g_cancel_resume->wait();
}
}  // namespace

TEMPLATE_TEST_CASE("cancel racing teardown: a cancel() held after its claim while the pool shuts down and is "
                   "destroyed; the ledger is complete when shutdown(true) returns, the pool untouched after",
                   "[executor][cancel][lifetime]", ThreadPoolExecutor, MutexThreadPool) {
  Gate gate, started, claimed, resume;
  g_cancel_claimed = &claimed;
  g_cancel_resume = &resume;
  auto pool = std::make_unique<TestType>(1);
  auto blocker = pool->submit([&] {
    started.open();
    return gate.wait();
  });
  REQUIRE(started.wait());
  auto queued = pool->submit([] { return 7; });  // behind the blocker on the only worker
  bool cancel_won = false;
  std::thread canceller([&] {
    detail::t_cancel_claimed_hook = &hold_cancel_after_claim;
    cancel_won = queued.cancel();  // wins its CAS, then waits in the seam until `resume`
    detail::t_cancel_claimed_hook = nullptr;
  });
  REQUIRE(claimed.wait());  // the job is CANCELLED; the canceller has not returned
  gate.open();
  pool->shutdown(true);  // the worker runs the blocker, discards the cancelled job, exits
  const ExecutorStats s = pool->stats();
  CHECK(s.cancelled == 1);  // counted before shutdown(true) returned, not by the late canceller
  CHECK(s.run == 1);
  check_balanced(*pool);
  pool.reset();  // destroyed while the cancel() is still in flight (ASan: no use after free)
  resume.open();
  canceller.join();
  CHECK(cancel_won);
  CHECK(queued.cancelled());
  CHECK(blocker.get());
}

// ---- issue 10: map(timeout) cancels the rest as the TimeoutError is raised ---------------
TEMPLATE_TEST_CASE("map: a TimeoutError from next() cancels the jobs not yet started, at once",
                   "[executor][map]", ThreadPoolExecutor, MutexThreadPool) {
  TestType pool(1);
  Gate gate, started;
  std::atomic<int> ran{0};
  auto results = pool.map(
      [&](int x) {
        ++ran;
        if (x == 0) {
          started.open();
          gate.wait();  // holds the only worker: jobs 1 and 2 stay queued
        }
        return x;
      },
      std::vector<int>{0, 1, 2}, 30ms);
  REQUIRE(started.wait());
  CHECK_THROWS_AS(results.next(), TimeoutError);  // job 0 is still running: the gate is closed
  gate.open();
  pool.shutdown(true);  // `results` is still alive: only the TimeoutError can have cancelled them
  CHECK(ran.load() == 1);
  CHECK(pool.stats().cancelled == 2);
  CHECK_FALSE(results.has_next());
  CHECK_THROWS_WITH(results.next(), Catch::Contains("ended with a TimeoutError"));
  check_balanced(pool);
}

// ---- issue 10: back-to-back submit().get() reuses the idle thread ------------------------
TEST_CASE("idle reuse: back-to-back submit().get() on max_workers = 8, 100 calls start at most 2 threads",
          "[executor][lazy]") {
  ThreadPoolExecutor::Options o;
  o.max_workers = 8;
  o.keep_alive = std::chrono::hours(1);  // no retirement during the test
  ThreadPoolExecutor pool(o);
  for (int i = 0; i < 100; ++i) REQUIRE(pool.submit([i] { return i; }).get() == i);
  const ExecutorStats s = pool.stats();
  INFO("threads_started=" << s.threads_started);
  CHECK(s.threads_started <= 2);
  pool.shutdown();
  check_balanced(pool);
}

TEST_CASE("idle reuse: back-to-back submit().get() while the worker still runs the last job's "
          "done-callback; the next submit counts on it, one thread in all", "[executor][lazy]") {
  ThreadPoolExecutor::Options o;
  o.max_workers = 8;
  o.keep_alive = std::chrono::hours(1);
  ThreadPoolExecutor pool(o);
  std::vector<std::unique_ptr<Gate>> gates;  // alive until the pool is shut down
  Gate* callback_gate = nullptr;  // the previous job's worker waits on it in a done-callback
  for (int i = 0; i < 100; ++i) {
    auto run = std::make_unique<Gate>();
    auto cb = std::make_unique<Gate>();
    auto f = pool.submit([r = run.get(), i] { return r->wait() ? i : -1; });
    // Forced interleaving: the previous job's worker is still inside its done-callback (its
    // result was published; it has not looked for work yet) when the submit above ran.
    if (callback_gate != nullptr) callback_gate->open();
    f.add_done_callback([c = cb.get()] { c->wait(); });  // before the job can finish
    run->open();
    REQUIRE(f.get() == i);  // returns while the worker waits in the callback
    callback_gate = cb.get();
    gates.push_back(std::move(run));
    gates.push_back(std::move(cb));
  }
  callback_gate->open();
  const ExecutorStats s = pool.stats();
  INFO("threads_started=" << s.threads_started);
  CHECK(s.threads_started == 1);
  pool.shutdown();
  check_balanced(pool);
}

// ---- issue 10: the owner destroys the pool while the submitter is still inside submit() ----
// A 1-worker pool runs a blocker; a second thread submits a job, which is queued behind it, and
// is held by the seam detail::t_submit_pushed_hook right after the push, before its remaining
// work on the pool (ThreadPoolExecutor: after_push's notify/token/spawn; MutexThreadPool: its
// notify). The blocker is released: the worker takes the queued job by itself (no notify
// needed), runs it, and the owner, which saw the job's effect, destroys the pool at once.
// Then the submitter goes on. Before the fix it touched the freed pool (ASan:
// heap-use-after-free in after_push; TSan: in MutexThreadPool's condvar notify); now the
// destructor waits for the submit in flight (its t_destroy_waits_hook releases the
// submitter). Forced order, no timing.
namespace {
std::atomic<int>* g_submit_step = nullptr;  // 1: pushed; 2: the submitter may go on
void hold_submit_after_push() {
  g_submit_step->store(1);
  while (g_submit_step->load() < 2) std::this_thread::yield();
}
void release_held_submit() { g_submit_step->store(2); }  // the destructor waits for the submit
}  // namespace

TEMPLATE_TEST_CASE("lifetime: the owner destroys the pool as soon as the job is done, while its submitter is "
                   "still inside submit()",
                   "[executor][lifetime]", ThreadPoolExecutor, MutexThreadPool) {
  std::atomic<int> step{0};
  g_submit_step = &step;
  Gate gate, started;
  std::atomic<bool> ran{false};
  auto pool = std::make_unique<TestType>(1);
  auto blocker = pool->submit([&] {
    started.open();
    return gate.wait();
  });
  REQUIRE(started.wait());  // the only worker is busy: the next job waits in the queue
  std::optional<ThreadFuture<int>> late;
  std::thread submitter([&] {
    detail::t_submit_pushed_hook = &hold_submit_after_push;
    late.emplace(pool->submit([&] {
      ran.store(true);
      return 5;
    }));
    detail::t_submit_pushed_hook = nullptr;
  });
  while (step.load() < 1) std::this_thread::yield();  // queued; the submitter is held
  gate.open();                                         // the worker finishes the blocker, takes the job
  const auto deadline = std::chrono::steady_clock::now() + 20s;
  while (!ran.load() && std::chrono::steady_clock::now() < deadline) std::this_thread::yield();
  REQUIRE(ran.load());  // the owner saw the work done (a hang guard, never hit)
  detail::t_destroy_waits_hook = &release_held_submit;
  pool.reset();  // destroyed at once: it waits for the held submit (the hook releases it)
  detail::t_destroy_waits_hook = nullptr;
  step.store(2);  // the pre-fix pools did not wait: the submitter goes on now, into freed memory
  submitter.join();
  g_submit_step = nullptr;
  REQUIRE(late.has_value());
  CHECK(late->get() == 5);
  CHECK(blocker.get());
}
