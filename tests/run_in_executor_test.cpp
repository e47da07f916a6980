// Unit tests of executor/run_in_executor.hpp: loop → pool → loop. Values and exceptions cross
// the handoff; the coroutine resumes on the loop thread; cancellation before, during and after
// the job; the detached form; the default executor's life; a loop closed while a job runs.
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <catch2/catch.hpp>

#include "gate.hpp"

#include <handoff/executor/run_in_executor.hpp>
#include <handoff/loop/event.hpp>
#include <handoff/loop/loop.hpp>
#include <handoff/loop/run.hpp>

#include "loop_test_support.hpp"

using namespace handoff;
using namespace std::chrono_literals;

namespace {

Task<void> nap() { co_await sleep(1ms); }

using handoff::test::Gate;

}  // namespace

TEST_CASE("run_in_executor: the value comes back to the coroutine, on the loop thread", "[run_in_executor]") {
  ThreadPoolExecutor pool(2);
  const auto loop_thread = std::this_thread::get_id();
  const int v = run([&]() -> Task<int> {
    std::thread::id job_thread;
    const int r = co_await get_running_loop().run_in_executor(pool, [&] {
      job_thread = std::this_thread::get_id();
      return 41;
    });
    CHECK(job_thread != loop_thread);                     // the job ran on a worker
    CHECK(std::this_thread::get_id() == loop_thread);     // and we are back on the loop
    co_return r + 1;
  }());
  CHECK(v == 42);
}

TEST_CASE("run_in_executor: the job's exception is rethrown at the await", "[run_in_executor]") {
  ThreadPoolExecutor pool(1);
  const std::string msg = run([&]() -> Task<std::string> {
    try {
      co_await get_running_loop().run_in_executor(pool, []() -> int { throw std::runtime_error("disk on fire"); });
    } catch (const std::runtime_error& e) {
      co_return e.what();
    }
    co_return "no exception";
  }());
  CHECK(msg == "disk on fire");
}

TEST_CASE("the default executor and to_thread; close() shuts the default executor down", "[run_in_executor]") {
  EventLoop loop;
  auto body = [&]() -> Task<int> {
    const int a = co_await get_running_loop().run_in_executor([] { return 20; });
    const int b = co_await to_thread([](int x) { return x * 2; }, 11);
    co_return a + b;
  };
  CHECK(loop.run_until_complete(body()) == 42);
  ThreadPoolExecutor& ex = loop.default_executor();
  CHECK(ex.max_workers() == ThreadPoolExecutor::default_max_workers());
  CHECK_FALSE(ex.is_shutdown());
  auto keep = std::shared_ptr<ThreadPoolExecutor>();  // (the loop owns it)
  loop.close();
  CHECK_THROWS_AS(loop.run_in_executor([] { return 1; }), LoopClosedError);
  CHECK_THROWS_AS(loop.default_executor(), LoopClosedError);
}

TEST_CASE("run() shuts down the default executor: its threads are joined", "[run_in_executor]") {
  std::shared_ptr<ThreadPoolExecutor> ex = std::make_shared<ThreadPoolExecutor>(2);
  run([&]() -> Task<void> {
    get_running_loop().set_default_executor(ex);
    co_await to_thread([] {});
  }());
  CHECK(ex->is_shutdown());
  const ExecutorStats s = ex->stats();
  CHECK(s.threads_alive == 0);
  CHECK(s.balanced());
}

TEST_CASE("cancel before the job starts: the job never runs, the task gets CancelledError",
          "[run_in_executor][cancel]") {
  ThreadPoolExecutor pool(1);
  Gate gate, started;
  auto blocker = pool.submit([&] {
    started.open();
    return gate.wait();
  });
  REQUIRE(started.wait());
  std::atomic<bool> ran{false};
  EventLoop loop;
  auto body = [&]() -> Task<int> {
    co_return co_await get_running_loop().run_in_executor(pool, [&] {
      ran = true;
      return 1;
    });
  };
  Future<int> f = loop.create_task(body());
  loop.call_soon([&] { f.cancel(); });
  CHECK_THROWS_AS(loop.run_until_complete(f), CancelledError);
  gate.open();
  CHECK(blocker.get());
  pool.shutdown();
  CHECK_FALSE(ran.load());
  CHECK(pool.stats().cancelled == 1);
  CHECK(pool.stats().balanced());
}

TEST_CASE("cancel while the job runs: the task resumes with CancelledError only after the job returns",
          "[run_in_executor][cancel]") {
  ThreadPoolExecutor pool(1);
  Gate gate, started;
  std::atomic<bool> job_returned{false};
  bool returned_before_resume = false;
  EventLoop loop;
  auto body = [&]() -> Task<int> {
    int frame_local = 5;  // the job uses the coroutine's frame: the reason for the rule
    try {
      co_return co_await get_running_loop().run_in_executor(pool, [&] {
        started.open();
        gate.wait();
        job_returned = true;
        return frame_local;
      });
    } catch (const CancelledError&) {
      returned_before_resume = job_returned.load();
      throw;
    }
  };
  Future<int> f = loop.create_task(body());
  // Runs right after the task's first step, which submitted the job and suspended: so the
  // cancel runs on the loop while the task is suspended and the job is running (held by the
  // gate). (Posted from another thread instead, the cancel could run late: the loop thread,
  // preempted between submit() and the await, found the job already finished and never
  // suspended — see the next test.)
  bool cancel_accepted = false;
  loop.call_soon([&] {
    if (!started.wait()) return;  // (the job did not start: the checks below fail)
    cancel_accepted = f.cancel();  // the job is running: the task stays suspended
    gate.open();                   // only now can the job return
  });
  CHECK_THROWS_AS(loop.run_until_complete(f), CancelledError);
  CHECK(cancel_accepted);
  CHECK(returned_before_resume);  // resumed only after the job returned; its result discarded
  pool.shutdown();
  CHECK(pool.stats().run == 1);
  CHECK(pool.stats().cancelled == 0);
}

TEST_CASE("the job finishes before the task reaches its await: a cancel posted meanwhile runs after the task finished and is refused",
          "[run_in_executor][cancel]") {
  // The interleaving behind the old flake of the test above: the loop thread is preempted
  // between submit() and the await; the job runs, a canceller posts the task's cancel and
  // lets the job return. The await finds the thread future done and does not suspend
  // (ThreadFutureAwaiter::await_ready), so the task finishes with the value before the
  // posted cancel runs — which then finds the task done and returns false: the canceller is
  // told it was too late; no cancel is lost.
  ThreadPoolExecutor pool(1);
  Gate gate, started;
  EventLoop loop;
  auto body = [&]() -> Task<int> {
    auto tf = get_running_loop().run_in_executor(pool, [&] {
      started.open();
      return gate.wait() ? 5 : -1;
    });
    // Force the preemption: hold the loop thread until the job has finished.
    const auto until = std::chrono::steady_clock::now() + 20s;
    while (!tf.done() && std::chrono::steady_clock::now() < until) std::this_thread::yield();
    co_return co_await std::move(tf);
  };
  Future<int> f = loop.create_task(body());
  std::atomic<int> cancel_result{-1};  // -1: the cancel did not run
  std::thread canceller([&] {
    if (!started.wait()) return;
    loop.call_soon_threadsafe([&] { cancel_result = f.cancel() ? 1 : 0; });
    gate.open();  // the cancel is queued on the loop before the job can return
  });
  CHECK(loop.run_until_complete(f) == 5);
  canceller.join();
  for (int i = 0; i < 100 && cancel_result.load() == -1; ++i) loop.run_until_complete(nap());
  CHECK(cancel_result.load() == 0);  // the cancel ran after the task finished: refused
  CHECK_FALSE(f.cancelled());
  pool.shutdown();
  CHECK(pool.stats().run == 1);
}

TEST_CASE("cancel after the job finished but before the task resumed: CancelledError, result discarded",
          "[run_in_executor][cancel]") {
  ThreadPoolExecutor pool(1);
  EventLoop loop;
  Gate gate;
  auto body = [&]() -> Task<int> {
    co_return co_await get_running_loop().run_in_executor(pool, [&] { return gate.wait() ? 3 : -1; });
  };
  Future<int> f = loop.create_task(body());
  // Runs right after the task's first step (which submitted the job and suspended: the job
  // waits for the gate). It lets the job finish and keeps the loop busy until the job has
  // published its result and posted the resumption; then it cancels the suspended task, whose
  // future is already done.
  loop.call_soon([&] {
    gate.open();
    // The worker counts the run after the job published its result and posted the resumption.
    const auto until = std::chrono::steady_clock::now() + 20s;
    while (pool.stats().run == 0 && std::chrono::steady_clock::now() < until) std::this_thread::yield();
    REQUIRE(pool.stats().run == 1);
    f.cancel();
  });
  CHECK_THROWS_AS(loop.run_until_complete(f), CancelledError);
  pool.shutdown();
}

TEST_CASE("run_in_executor_detached: cancelling resumes the task at once; the job finishes on its own",
          "[run_in_executor][cancel][detached]") {
  ThreadPoolExecutor pool(1);
  auto gate = std::make_shared<Gate>();
  auto started = std::make_shared<Gate>();
  EventLoop loop;
  bool cancelled_at_once = false;
  bool woken_again = false;
  Event never;  // the task waits here afterwards: a stale resumption would wake it
  auto body = [&]() -> Task<void> {
    try {
      // Named and passed as an lvalue (copied into the job): GCC < 14 destroys an inline
      // lambda's owning captures twice and so rejects an rvalue one (docs/executor.md, "GCC 12
      // and co_await temporaries").
      auto job = [gate, started] {  // owns its data: by value
        started->open();
        return gate->wait() ? 1 : 0;
      };
      co_await run_in_executor_detached(pool, job);
    } catch (const CancelledError&) {
      cancelled_at_once = true;
    }
    co_await never.wait();
    woken_again = true;
  };
  Future<void> f = loop.create_task(body());
  std::thread canceller([&] {
    REQUIRE(started->wait());
    loop.call_soon_threadsafe([&] { f.cancel(); });
  });
  // Run until the task caught the cancellation (the job is still blocked on the gate).
  while (!cancelled_at_once) loop.run_until_complete(nap());
  canceller.join();
  gate->open();  // now the job completes and posts its (stale) resumption
  pool.shutdown(true);
  for (int i = 0; i < 5; ++i) loop.run_until_complete(nap());  // run the posted resumption
  INFO("RESUMED TWICE: a stale completion woke the task from a later await");
  CHECK_FALSE(woken_again);
  CHECK_FALSE(f.done());
  f.cancel();
  CHECK_THROWS_AS(loop.run_until_complete(f), CancelledError);
}

TEST_CASE("a loop closed while its job runs: close() waits for the job (it may use the frame); the completion is refused or dropped, counted once",
          "[run_in_executor][close]") {
  // The job's completion posts the task's resumption; the loop is stopped, so that post is
  // never run. Which of the other two ledger outcomes it gets depends on when the job
  // finishes: during close() (after the inbox closed): the post is refused; before close():
  // accepted, then dropped by close(). Each section forces one; both balance the ledger with
  // the resumption counted exactly once.
  ThreadPoolExecutor pool(1);
  Gate gate, started;
  std::atomic<bool> job_returned{false};
  auto loop = std::make_unique<EventLoop>();
  auto body = [&]() -> Task<int> {
    int in_frame = 1;  // the job reads it by reference: the frame must outlive the job
    co_return co_await get_running_loop().run_in_executor(pool, [&] {
      started.open();
      const int v = gate.wait() ? in_frame : 0;
      job_returned = true;
      return v;
    });
  };
  Future<int> f = loop->create_task(body());
  loop->call_later(1ms, [&] {
    if (started.wait()) get_running_loop().stop();
  });
  loop->run_forever();
  REQUIRE_FALSE(job_returned.load());
  const LoopStats before = loop->stats();
  std::uint64_t refused = 0, dropped = 0;
  SECTION("the job finishes while close() waits for it: the completion's post is refused") {
    // close() abandons the task and waits for its running job (the frame rule) through
    // ThreadFuture::wait(), which calls this thread's wait helper first: the gate opens only
    // once close() is waiting, i.e. after it closed the inbox.
    detail::t_wait_helper = [](void* g) {
      static_cast<Gate*>(g)->open();
      return false;  // nothing else to do: sleep until the job is done
    };
    detail::t_wait_helper_arg = &gate;
    loop->close();
    detail::t_wait_helper = nullptr;
    detail::t_wait_helper_arg = nullptr;
    CHECK(job_returned.load());  // the frame was destroyed only after the job returned
    refused = 1;
  }
  SECTION("the job finished before close(): the completion's post was accepted; close() drops it") {
    gate.open();
    // The worker counts the run after the job published its outcome and ran its done
    // callbacks, i.e. after the resumption's post was accepted.
    const auto until = std::chrono::steady_clock::now() + 20s;
    while (pool.stats().run == 0 && std::chrono::steady_clock::now() < until) std::this_thread::yield();
    REQUIRE(pool.stats().run == 1);
    loop->close();
    dropped = 1;
  }
  CHECK(f.done());
  CHECK_THROWS_AS(f.result(), LoopClosedError);
  pool.shutdown(true);  // joins the worker: its done callbacks have run
  const LoopStats after = loop->stats();
  CHECK(after.posted == before.posted + 1);  // the job's resumption, and nothing else
  CHECK(after.run == before.run);
  CHECK(after.refused == before.refused + refused);
  CHECK(after.dropped == before.dropped + dropped);
  handoff::test::check_ledger(after);
  loop.reset();  // nothing touches the destroyed loop
}

TEST_CASE("errors name the call the user made: run_in_executor / to_thread, not the pool's submit()",
          "[run_in_executor][messages]") {
  ThreadPoolExecutor pool(1);
  pool.shutdown();
  auto message = [](auto&& call) -> std::string {
    try {
      call();
    } catch (const ExecutorShutdownError& e) {
      return e.what();
    }
    return "(no ExecutorShutdownError)";
  };
  EventLoop loop;
  CHECK_THAT(message([&] { loop.run_in_executor(pool, [] { return 1; }); }),
             Catch::Contains("run_in_executor() on an executor after its shutdown()"));
  loop.set_default_executor(std::make_shared<ThreadPoolExecutor>(1));
  loop.default_executor().shutdown();
  const std::string to = loop.run_until_complete([&]() -> Task<std::string> {
    co_return message([] { to_thread([] { return 1; }); });
  }());
  CHECK_THAT(to, Catch::Contains("to_thread() on an executor after its shutdown()"));
  CHECK_THAT(to, !Catch::Contains("submit()"));
  loop.close();
  // Outside a running loop: the call is named, not get_running_loop().
  try {
    to_thread([] { return 1; });
    FAIL("to_thread outside a loop did not throw");
  } catch (const NoRunningLoopError& e) {
    CHECK_THAT(std::string(e.what()), Catch::Contains("to_thread(): no running event loop"));
  }
}

TEST_CASE("MapResults::next() on a loop thread names itself, not ThreadFuture::get()", "[run_in_executor][messages]") {
  ThreadPoolExecutor pool(1);
  auto gate = std::make_shared<Gate>();
  const std::string m = run([&]() -> Task<std::string> {
    auto results = pool.map([gate](int x) { return gate->wait() ? x : -1; }, std::vector<int>{1});
    std::string what;
    try {
      results.next();
    } catch (const InvalidStateError& e) {
      what = e.what();
    }
    gate->open();
    co_return what;
  }());
  CHECK_THAT(m, Catch::Contains("MapResults::next() would block the event loop"));
}
