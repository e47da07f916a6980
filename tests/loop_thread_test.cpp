// tests/loop_thread_test.cpp — LoopThread (loop/loop_thread.hpp): submit and get a result,
// call_soon_threadsafe from several threads, the thread's name, stop()/destructor running the
// pending tasks' cancellation cleanup on the loop thread before close(), stop() on the loop's
// own thread (InvalidStateError), work racing stop() (every future completes), and exceptions
// in the loop thread reaching the exception handler. The destructor run on the loop's own
// thread is tested by tests/loop_thread_misuse.cpp (it ends the process: std::terminate).
//
// Catch2 assertions are not thread-safe: threads record what they saw, the main thread checks.
#include <pthread.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <catch2/catch.hpp>

#include <handoff/loop/loop.hpp>
#include <handoff/loop/loop_thread.hpp>

#include "hang_watch.hpp"
#include "loop_test_support.hpp"

using namespace handoff;
using namespace std::chrono_literals;
using handoff::test::check_ledger;
using handoff::test::HangWatch;

namespace {

Task<int> answer_after(std::chrono::nanoseconds d, int v) {
  co_await sleep(d);
  co_return v;
}

std::string thread_name() {
  char buf[16] = "?";
  pthread_getname_np(pthread_self(), buf, sizeof buf);
  return buf;
}

}  // namespace

TEST_CASE("LoopThread: run_coroutine_threadsafe result and exception; the thread is named",
          "[loop_thread]") {
  // The failed future outlives the loop thread: the exception object is then released on this
  // thread (its message is a refcounted string inside uninstrumented libstdc++, whose release
  // on the loop thread TSan cannot see ordered after this thread's read of what()).
  ThreadFuture<int> failed;
  LoopThread lt;
  CHECK(run_coroutine_threadsafe(answer_after(1ms, 42), lt.loop()).get() == 42);
  auto failing = []() -> Task<int> {
    co_await sleep(0ns);
    throw std::runtime_error("remote failure");
  };
  failed = run_coroutine_threadsafe(failing(), lt.threadsafe());
  CHECK_THROWS_WITH(failed.get(), "remote failure");
  auto name = []() -> Task<std::string> { co_return thread_name(); };
  CHECK(run_coroutine_threadsafe(name(), lt.loop()).get() == "handoff-loop");
  CHECK(lt.thread_id() != std::this_thread::get_id());

  LoopThread named("a-name-longer-than-fifteen");
  CHECK(run_coroutine_threadsafe(name(), named.loop()).get() == "a-name-longer-t");
}

TEST_CASE("LoopThread: call_soon_threadsafe from several threads; every callback runs on the loop thread",
          "[loop_thread]") {
  constexpr int kThreads = 4, kEach = 1000;
  int ran = 0;  // loop thread only
  int off_thread = 0;
  {
    LoopThread lt;
    const std::thread::id loop_id = lt.thread_id();
    std::vector<std::thread> posters;
    for (int t = 0; t < kThreads; ++t) {
      posters.emplace_back([&] {
        for (int i = 0; i < kEach; ++i) {
          lt.loop().call_soon_threadsafe([&] {
            ++ran;
            if (std::this_thread::get_id() != loop_id) ++off_thread;
          });
        }
      });
    }
    for (auto& p : posters) p.join();
    // A marker behind every post (each poster's posts are FIFO; all posters have joined).
    run_coroutine_threadsafe([]() -> Task<void> { co_return; }(), lt.loop()).get();
    lt.stop();  // joins: ran and off_thread are ours to read
    CHECK(ran == kThreads * kEach);
    CHECK(off_thread == 0);
    check_ledger(lt.loop().stats());
  }
}

TEST_CASE("LoopThread: the destructor cancels pending tasks and runs their cleanup on the loop thread, then closes",
          "[loop_thread][shutdown]") {
  std::atomic<bool> started{false};
  bool cleanup_ran = false, cleanup_awaited = false, cleanup_on_loop_thread = false;
  std::string message;
  ThreadFuture<int> f;
  std::thread::id loop_id;
  {
    // Declared before the LoopThread: the task reads the closure until ~LoopThread ends it.
    auto forever = [&]() -> Task<int> {
      started = true;
      bool cancelled = false;
      try {
        co_await sleep(1h);
      } catch (const CancelledError& e) {
        cancelled = true;
        message = e.what();
        cleanup_on_loop_thread = std::this_thread::get_id() == loop_id;
      }
      if (cancelled) {
        cleanup_ran = true;
        co_await sleep(1ms);  // cleanup may await: the loop still runs during the shutdown
        cleanup_awaited = true;
        throw CancelledError("cleaned up");
      }
      co_return 0;
    };
    LoopThread lt;
    loop_id = lt.thread_id();
    f = run_coroutine_threadsafe(forever(), lt.loop());
    REQUIRE(test::eventually([&] { return started.load(); }));
    HangWatch watch("~LoopThread with a task pending");
  }  // ~LoopThread: stop, cancel_all_tasks + close on the loop thread, join
  CHECK(cleanup_ran);
  CHECK(cleanup_awaited);
  CHECK(cleanup_on_loop_thread);
  CHECK_THAT(message, Catch::Contains("LoopThread::stop()"));
  CHECK_THAT(message, !Catch::Contains("run() finished"));
  CHECK(f.done());
  CHECK_THROWS_AS(f.get(), CancelledError);  // not LoopClosedError: the task ended by its own cleanup
}

TEST_CASE("LoopThread: stop() is idempotent; afterwards the loop is closed and posts are refused",
          "[loop_thread]") {
  LoopThread lt;
  CHECK(run_coroutine_threadsafe(answer_after(0ns, 1), lt.loop()).get() == 1);
  lt.stop();
  lt.stop();
  CHECK(lt.loop().is_closed());
  CHECK_THROWS_AS(lt.loop().call_soon_threadsafe([] {}), LoopClosedError);
  CHECK_THROWS_AS(run_coroutine_threadsafe(answer_after(0ns, 2), lt.loop()), LoopClosedError);
  check_ledger(lt.loop().stats());
}

TEST_CASE("LoopThread: stop() on the loop's own thread throws InvalidStateError instead of deadlocking",
          "[loop_thread][misuse]") {
  LoopThread* self = nullptr;
  auto from_inside = [&]() -> Task<std::string> {
    try {
      self->stop();
    } catch (const InvalidStateError& e) {
      co_return e.what();
    }
    co_return "no error";
  };
  LoopThread lt;
  self = &lt;
  std::string what;
  {
    HangWatch watch("LoopThread::stop() from its own loop thread");
    what = run_coroutine_threadsafe(from_inside(), lt.loop()).get();
  }
  CHECK_THAT(what, Catch::Contains("LoopThread::stop() called on the loop's own thread"));
  // Ending the loop from inside is loop().stop(): the thread shuts down by itself.
  lt.loop().call_soon_threadsafe([&] { lt.loop().stop(); });
  HangWatch watch("LoopThread after loop().stop() from inside");
  lt.stop();  // joins
  CHECK(lt.loop().is_closed());
}

TEST_CASE("LoopThread: work submitted while it stops completes (value, cancelled or LoopClosedError), never hangs",
          "[loop_thread][shutdown]") {
  for (int round = 0; round < 20; ++round) {
    std::vector<ThreadFuture<int>> futures;
    std::atomic<bool> go{false};
    auto lt = std::make_unique<LoopThread>();
    std::thread poster([&] {
      while (!go.load()) std::this_thread::yield();
      for (int i = 0; i < 200; ++i) {
        try {
          futures.push_back(run_coroutine_threadsafe(answer_after(std::chrono::microseconds(i % 50), i), lt->loop()));
        } catch (const LoopClosedError&) {
          break;  // stopped: refused
        }
      }
    });
    go = true;
    std::this_thread::sleep_for(std::chrono::microseconds(round * 50));
    lt->stop();
    poster.join();
    int values = 0, cancelled = 0, closed = 0, other = 0;
    {
      HangWatch watch("futures of work racing LoopThread::stop()");
      for (auto& f : futures) {
        try {
          (void)f.get();
          ++values;
        } catch (const CancelledError&) {
          ++cancelled;
        } catch (const LoopClosedError&) {
          ++closed;
        } catch (...) {
          ++other;
        }
      }
    }
    INFO("round " << round << ": " << values << " values, " << cancelled << " cancelled, " << closed << " closed");
    CHECK(other == 0);
    CHECK(values + cancelled + closed == static_cast<int>(futures.size()));
    check_ledger(lt->loop().stats());
    lt.reset();
  }
}

TEST_CASE("LoopThread: exceptions on the loop thread reach the exception handler; the loop runs on",
          "[loop_thread][errors]") {
  std::vector<std::string> reports;  // loop thread only until the join
  {
    LoopThread::Options opts;
    opts.name = "errors-loop";
    opts.exception_handler = [&](const ExceptionContext& ctx) {
      std::string what = ctx.message;
      try {
        if (ctx.exception) std::rethrow_exception(ctx.exception);
      } catch (const std::exception& e) {
        what += std::string(": ") + e.what();
      }
      reports.push_back(what);
    };
    // A task whose cancellation cleanup fails at shutdown: reported, the shutdown completes.
    // (Declared before the LoopThread, which ends the task.)
    std::atomic<bool> started{false};
    auto bad_cleanup = [&]() -> Task<void> {
      started = true;
      try {
        co_await sleep(1h);
      } catch (const CancelledError&) {
        throw std::runtime_error("cleanup failed");
      }
    };
    LoopThread lt(opts);
    lt.loop().call_soon_threadsafe([] { throw std::runtime_error("boom in a callback"); });
    CHECK(run_coroutine_threadsafe(answer_after(0ns, 5), lt.loop()).get() == 5);  // still running
    LoopRef ref = lt.threadsafe();
    ref.call_soon_threadsafe([&] { (void)get_running_loop().create_task(bad_cleanup()); });
    REQUIRE(test::eventually([&] { return started.load(); }));
  }  // joined: reports is ours
  REQUIRE(reports.size() == 2);
  CHECK_THAT(reports[0], Catch::Contains("boom in a callback"));
  CHECK_THAT(reports[1], Catch::Contains("cleanup failed"));
}

TEST_CASE("LoopThread: the default exception handler prints to stderr", "[loop_thread][errors]") {
  std::string text;
  {
    test::StderrCapture capture;
    {
      LoopThread lt;
      lt.loop().call_soon_threadsafe([] { throw std::runtime_error("printed by the default handler"); });
      run_coroutine_threadsafe(answer_after(0ns, 0), lt.loop()).get();
    }
    text = capture.text();
  }
  CHECK_THAT(text, Catch::Contains("handoff: exception in callback: printed by the default handler"));
}
