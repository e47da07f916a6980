// tests/thread_future_test.cpp — ThreadFuture (get, get(timeout), wait_for, done, cancel,
// add_done_callback, before and after completion, from several threads) and
// run_coroutine_threadsafe (result, exception, cancel, close releasing blocked threads,
// awaiting the future from a task on another loop).
//
// Catch2 assertions are not thread-safe: threads record what they saw, the main thread checks.
#include <catch2/catch.hpp>

#include <unistd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <functional>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <handoff/executor/run_in_executor.hpp>
#include <handoff/loop/loop.hpp>
#include <handoff/loop/loop_thread.hpp>

#include "gate.hpp"
#include "loop_test_support.hpp"

using namespace handoff;
using namespace std::chrono_literals;
using handoff::test::check_ledger;
using handoff::test::StderrCapture;

namespace {

Task<int> answer_after(std::chrono::nanoseconds d, int v) {
  co_await sleep(d);
  co_return v;
}
Task<void> nap(std::chrono::nanoseconds d) { co_await sleep(d); }
Task<int> fail_after(std::chrono::nanoseconds d) {
  co_await sleep(d);
  throw std::runtime_error("remote failure");
}

}  // namespace

// ---- ThreadFuture on its own -------------------------------------------------------------------

TEST_CASE("ThreadFuture: get blocks until another thread completes it; done before and after",
          "[thread_future]") {
  auto st = std::make_shared<ThreadFutureState<int>>();
  ThreadFuture<int> tf(st);
  CHECK(tf);
  CHECK_FALSE(tf.done());
  CHECK_FALSE(tf.cancelled());
  CHECK_FALSE(tf.wait_for(0ms));
  std::thread producer([st = st] {
    std::this_thread::sleep_for(10ms);
    st->set_value(5);
  });
  CHECK(tf.get() == 5);
  producer.join();
  CHECK(tf.done());
  CHECK(tf.wait_for(0ms));
  tf.wait();
  CHECK(tf.get() == 5);  // a copyable value: get() any number of times (concurrent.futures)
  CHECK_FALSE(st->set_value(6));  // one completer, once
  CHECK_FALSE(st->set_exception(std::make_exception_ptr(std::runtime_error("late"))));
  CHECK_FALSE(tf.cancel());  // done: nothing to cancel
}

TEST_CASE("ThreadFuture: get(timeout) throws TimeoutError and the future stays usable",
          "[thread_future]") {
  auto st = std::make_shared<ThreadFutureState<std::string>>();
  ThreadFuture<std::string> tf(st);
  const auto t0 = std::chrono::steady_clock::now();
  CHECK_THROWS_AS(tf.get(20ms), TimeoutError);
  CHECK(std::chrono::steady_clock::now() - t0 >= 20ms);
  CHECK_FALSE(tf.wait_for(5ms));
  std::thread producer([st = st] {
    std::this_thread::sleep_for(5ms);
    st->set_value("late but fine");
  });
  CHECK(tf.get(10s) == "late but fine");
  producer.join();
}

TEST_CASE("ThreadFuture: wait_for from several threads; all released by one completion",
          "[thread_future]") {
  auto st = std::make_shared<ThreadFutureState<void>>();
  ThreadFuture<void> tf(st);
  constexpr int kWaiters = 4;
  std::atomic<int> released{0};
  std::vector<std::thread> waiters;
  for (int i = 0; i < kWaiters; ++i) {
    waiters.emplace_back([tf = tf, &released]() mutable {
      if (tf.wait_for(30s)) released.fetch_add(1, std::memory_order_relaxed);  // test bookkeeping; the primitive under test provides the ordering
    });
  }
  std::this_thread::sleep_for(10ms);
  CHECK(released.load() == 0);
  CHECK(st->set_value());
  for (auto& w : waiters) w.join();
  CHECK(released.load() == kWaiters);
  tf.get();  // void: no value, no exception
}

TEST_CASE("ThreadFuture: an exception is rethrown by every get()", "[thread_future]") {
  auto st = std::make_shared<ThreadFutureState<int>>();
  ThreadFuture<int> tf(st);
  st->set_exception(std::make_exception_ptr(std::runtime_error("broken")));
  CHECK(tf.done());
  CHECK_FALSE(tf.cancelled());
  CHECK_THROWS_WITH(tf.get(), "broken");
  CHECK_THROWS_WITH(tf.get(1ms), "broken");
}

TEST_CASE("ThreadFuture: add_done_callback before (completing thread) and after (at once)",
          "[thread_future]") {
  auto st = std::make_shared<ThreadFutureState<int>>();
  ThreadFuture<int> tf(st);
  std::vector<int> order;  // written by the producer, then (after join) by this thread
  std::thread::id ran_on;
  tf.add_done_callback([&] {
    order.push_back(1);
    ran_on = std::this_thread::get_id();
  });
  tf.add_done_callback([&] { order.push_back(2); });
  std::thread producer([st = st] { st->set_value(1); });
  const std::thread::id producer_id = producer.get_id();
  producer.join();
  CHECK(order == std::vector<int>{1, 2});  // in the order they were added
  CHECK(ran_on == producer_id);
  tf.add_done_callback([&] {
    order.push_back(3);
    ran_on = std::this_thread::get_id();
  });
  CHECK(order == std::vector<int>{1, 2, 3});  // already done: ran right here
  CHECK(ran_on == std::this_thread::get_id());
}

TEST_CASE("ThreadFuture: callbacks added from many threads while it completes each run once",
          "[thread_future]") {
  for (int round = 0; round < 50; ++round) {
    auto st = std::make_shared<ThreadFutureState<int>>();
    ThreadFuture<int> tf(st);
    std::atomic<int> runs{0};
    std::vector<std::thread> adders;
    for (int t = 0; t < 3; ++t) {
      adders.emplace_back([tf = tf, &runs]() mutable {
        for (int i = 0; i < 20; ++i) tf.add_done_callback([&runs] { runs.fetch_add(1, std::memory_order_relaxed); });  // test bookkeeping; the primitive under test provides the ordering
      });
    }
    st->set_value(round);
    for (auto& a : adders) a.join();
    CHECK(runs.load() == 60);
  }
}

TEST_CASE("ThreadFuture: a throwing done callback is reported; the others still run",
          "[thread_future]") {
  auto st = std::make_shared<ThreadFutureState<int>>();
  ThreadFuture<int> tf(st);
  bool second = false;
  tf.add_done_callback([] { throw std::runtime_error("callback broke"); });
  tf.add_done_callback([&] { second = true; });
  std::string out;
  {
    StderrCapture cap;
    st->set_value(1);
    out = cap.text();
  }
  CHECK(second);
  CHECK_THAT(out, Catch::Contains("exception in a ThreadFuture done callback: callback broke"));
}

TEST_CASE("ThreadFuture: destroyed uncompleted, its callbacks are dropped (drop hooks run)",
          "[thread_future]") {
  bool ran = false, dropped = false;
  {
    auto st = std::make_shared<ThreadFutureState<int>>();
    ThreadFuture<int> tf(st);
    tf.add_done_callback(Callback::with_drop([&] { ran = true; }, [&] { dropped = true; }));
  }
  CHECK_FALSE(ran);
  CHECK(dropped);
}

TEST_CASE("ThreadFuture::cancel asks the producer: the hook runs, the producer decides",
          "[thread_future][cancel]") {
  auto st = std::make_shared<ThreadFutureState<int>>();
  ThreadFuture<int> tf(st);
  std::atomic<int> hook_calls{0};
  st->set_cancel_hook([&] {
    hook_calls.fetch_add(1, std::memory_order_relaxed);  // test bookkeeping; the primitive under test provides the ordering
    return true;
  });
  CHECK(tf.cancel());  // pending: the request was made
  CHECK(hook_calls.load() == 1);
  CHECK(st->cancel_requested());
  CHECK_FALSE(tf.done());  // not cancelled until the producer says so
  CHECK_FALSE(tf.cancelled());
  std::thread producer([st = st] {
    if (st->cancel_requested()) st->set_exception(std::make_exception_ptr(CancelledError("producer gave up")));
  });
  producer.join();
  CHECK(tf.done());
  CHECK(tf.cancelled());
  CHECK_THROWS_WITH(tf.get(), Catch::Contains("producer gave up"));
  CHECK(tf.cancel());  // cancelled: true, as concurrent.futures

  // Too late: the producer completes with its value; cancel() of a done future is false.
  auto st2 = std::make_shared<ThreadFutureState<int>>();
  ThreadFuture<int> tf2(st2);
  st2->set_value(3);
  CHECK_FALSE(tf2.cancel());
  CHECK_FALSE(tf2.cancelled());
  CHECK(tf2.get() == 3);
}

TEST_CASE("ThreadFuture::get on a loop thread throws instead of blocking the loop",
          "[thread_future][threads]") {
  EventLoop loop;
  auto st = std::make_shared<ThreadFutureState<int>>();
  ThreadFuture<int> tf(st);
  auto st_done = std::make_shared<ThreadFutureState<int>>();
  ThreadFuture<int> tf_done(st_done);
  st_done->set_value(8);
  std::string err;
  int done_value = 0;
  bool wait_threw = false;
  loop.call_soon([&] {
    try {
      tf.get();
    } catch (const InvalidStateError& e) {
      err = e.what();
    }
    try {
      tf.wait_for(1ms);
    } catch (const InvalidStateError&) {
      wait_threw = true;
    }
    done_value = tf_done.get();  // done: no blocking, allowed
    loop.stop();
  });
  loop.run_forever();
  CHECK_THAT(err, Catch::Contains("would block the event loop's thread") &&
                      Catch::Contains("co_await the future instead"));
  CHECK(wait_threw);
  CHECK(done_value == 8);
  loop.close();
}

// ---- run_coroutine_threadsafe ------------------------------------------------------------------

TEST_CASE("run_coroutine_threadsafe: result, exception, void, via EventLoop& and LoopRef",
          "[thread_future][rcts]") {
  LoopThread lt;
  ThreadFuture<int> a = run_coroutine_threadsafe(answer_after(1ms, 42), lt.loop());
  ThreadFuture<int> b = run_coroutine_threadsafe(fail_after(1ms), lt.loop().threadsafe());
  auto v = []() -> Task<void> { co_await sleep(1ms); };
  ThreadFuture<void> c = run_coroutine_threadsafe(v(), lt.loop());
  CHECK(a.get() == 42);
  CHECK_THROWS_WITH(b.get(), "remote failure");
  c.get();
  CHECK(c.done());
  lt.stop();
  check_ledger(lt.loop().stats());
}

TEST_CASE("run_coroutine_threadsafe: cancel() cancels the task on its loop", "[thread_future][rcts][cancel]") {
  LoopThread lt;
  std::atomic<bool> started{false}, cleanup{false};
  auto forever = [&]() -> Task<int> {
    started = true;
    try {
      co_await sleep(1h);
    } catch (const CancelledError&) {
      cleanup = true;
      throw;
    }
    co_return 0;
  };
  ThreadFuture<int> f = run_coroutine_threadsafe(forever(), lt.loop());
  while (!started.load()) std::this_thread::sleep_for(100us);
  CHECK(f.cancel());
  CHECK_THROWS_AS(f.get(), CancelledError);
  CHECK(f.cancelled());
  CHECK(cleanup.load());
  lt.stop();
  check_ledger(lt.loop().stats());
}

TEST_CASE("run_coroutine_threadsafe: cancelled before the loop starts it, it never starts",
          "[thread_future][rcts][cancel]") {
  EventLoop loop;  // not running yet
  bool ran = false;
  auto body = [&]() -> Task<int> {
    ran = true;
    co_return 1;
  };
  ThreadFuture<int> f;
  std::thread client([&] {
    f = run_coroutine_threadsafe(body(), loop);
    f.cancel();
  });
  client.join();
  loop.stop();
  loop.run_forever();  // one iteration: the start sees the cancel request
  CHECK(f.done());
  CHECK(f.cancelled());
  CHECK_THROWS_WITH(f.get(), Catch::Contains("cancelled before it started"));
  CHECK_FALSE(ran);
  loop.close();
  check_ledger(loop.stats());
}

TEST_CASE("close() releases a thread blocked in ThreadFuture::get() with LoopClosedError",
          "[thread_future][rcts][close]") {
  SECTION("the task was running") {
    // Manual steps, not LoopThread: this tests close() itself (LoopThread cancels first).
    EventLoop loop;
    std::thread runner([&] { loop.run_forever(); });
    std::atomic<bool> started{false};
    auto forever = [&]() -> Task<int> {
      started = true;
      co_await sleep(1h);
      co_return 0;
    };
    std::string err;
    std::atomic<bool> waiting{false};
    ThreadFuture<int> f;  // dropped by this thread after close (see the [regression] tests at the end)
    std::thread waiter([&] {
      f = run_coroutine_threadsafe(forever(), loop);
      waiting = true;
      try {
        f.get();
      } catch (const LoopClosedError& e) {
        err = e.what();
      }
    });
    while (!started.load() || !waiting.load()) std::this_thread::sleep_for(100us);
    std::this_thread::sleep_for(5ms);  // let it block in get()
    loop.stop();
    runner.join();
    loop.close();
    waiter.join();
    CHECK_THAT(err, Catch::Contains("still pending when its loop was closed"));
    check_ledger(loop.stats());
  }
  SECTION("the loop never started the task") {
    EventLoop loop;  // never runs
    std::string err;
    std::atomic<bool> waiting{false};
    std::thread waiter([&] {
      ThreadFuture<int> f = run_coroutine_threadsafe(answer_after(0ns, 1), loop);
      waiting = true;
      try {
        f.get();
      } catch (const LoopClosedError& e) {
        err = e.what();
      }
    });
    while (!waiting.load()) std::this_thread::sleep_for(100us);
    std::this_thread::sleep_for(5ms);
    loop.close();
    waiter.join();
    CHECK_THAT(err, Catch::Contains("closed before starting the task"));
    const LoopStats s = loop.stats();
    CHECK(s.dropped == 1);
    check_ledger(s);
  }
}

TEST_CASE("run_coroutine_threadsafe on a closed loop throws LoopClosedError", "[thread_future][rcts][close]") {
  EventLoop loop;
  LoopRef ref = loop.threadsafe();
  loop.close();
  std::string err;
  std::thread client([&] {
    try {
      (void)run_coroutine_threadsafe(answer_after(0ns, 1), ref);
    } catch (const LoopClosedError& e) {
      err = e.what();
    }
  });
  client.join();
  CHECK_THAT(err, Catch::Contains("event loop is closed"));
  const LoopStats s = loop.stats();
  CHECK(s.refused == 1);
  check_ledger(s);
}

TEST_CASE("close() right after the task finished, before its done callback ran: the result is delivered",
          "[thread_future][rcts][close]") {
  // tla/LoopClose.tla (LoopCloseResultLost) found this: a task that finishes in the loop's
  // last iteration queues its done callback for the next one; close() drops that callback,
  // and its drop hook used to report "still pending" and lose the result.
  EventLoop loop;
  bool finished = false;
  auto body = [&]() -> Task<int> {
    finished = true;
    co_return 7;
  };
  ThreadFuture<int> f = run_coroutine_threadsafe(body(), loop);
  for (int i = 0; i < 10 && !finished; ++i) {
    loop.stop();  // before run_forever: exactly one iteration
    loop.run_forever();
  }
  REQUIRE(finished);
  INFO("done before close(): " << f.done() << " (true would mean this run did not reach the window)");
  CHECK_FALSE(f.done());  // the done callback is still queued: the window the model found
  loop.close();
  REQUIRE(f.done());
  CHECK(f.get() == 7);
  check_ledger(loop.stats());
}

TEST_CASE("run_coroutine_threadsafe from several threads: every result arrives", "[thread_future][rcts]") {
  LoopThread lt;
  constexpr int kThreads = 4, kEach = 300;
  std::atomic<int> wrong{0};
  // The futures outlive the loop: dropping one on a client thread while the loop runs hits
  // the task-ownership defect shown by the [regression] test at the end of this file.
  std::vector<std::vector<ThreadFuture<int>>> futures(kThreads);
  std::vector<std::thread> clients;
  for (int t = 0; t < kThreads; ++t) {
    clients.emplace_back([&, t] {
      auto& fs = futures[t];
      for (int i = 0; i < kEach; ++i) fs.push_back(run_coroutine_threadsafe(answer_after(0ns, t * kEach + i), lt.loop()));
      for (int i = 0; i < kEach; ++i) {
        if (fs[i].get() != t * kEach + i) wrong.fetch_add(1, std::memory_order_relaxed);  // test bookkeeping; the primitive under test provides the ordering
      }
    });
  }
  for (auto& c : clients) c.join();
  CHECK(wrong.load() == 0);
  lt.stop();
  check_ledger(lt.loop().stats());
}

// ---- awaiting a ThreadFuture from a task -------------------------------------------------------

TEST_CASE("co_await a ThreadFuture from a task on another loop (asyncio.wrap_future)",
          "[thread_future][await]") {
  LoopThread remote;
  EventLoop loop;
  // Held here, not as temporaries in the coroutine, so that they are dropped after the remote
  // loop is closed (see the [regression] tests at the end of this file).
  ThreadFuture<int> ok, failing;
  auto top_level = [&]() -> Task<int> {
    ok = run_coroutine_threadsafe(answer_after(2ms, 40), remote.loop());
    const int a = co_await ok;
    int b = 0;
    failing = run_coroutine_threadsafe(fail_after(0ns), remote.loop());
    try {
      co_await failing;
    } catch (const std::runtime_error& e) {
      b = std::string(e.what()) == "remote failure" ? 2 : -100;
    }
    // An already-completed future does not suspend.
    auto st = std::make_shared<ThreadFutureState<int>>();
    ThreadFuture<int> done(st);
    st->set_value(0);
    const int c = co_await done;
    co_return a + b + c;
  };
  CHECK(loop.run_until_complete(top_level()) == 42);
  remote.stop();
  loop.close();
  check_ledger(loop.stats());
  check_ledger(remote.loop().stats());
}

TEST_CASE("cancelling a task that awaits run_coroutine_threadsafe's future cancels the remote task",
          "[thread_future][await][cancel]") {
  LoopThread remote;
  EventLoop loop;
  std::atomic<bool> remote_started{false}, remote_cleanup{false};
  auto remote_body = [&]() -> Task<int> {
    remote_started = true;
    try {
      co_await sleep(1h);
    } catch (const CancelledError&) {
      remote_cleanup = true;
      throw;
    }
    co_return 1;
  };
  ThreadFuture<int> tf;
  auto local = [&]() -> Task<int> {
    tf = run_coroutine_threadsafe(remote_body(), remote.loop());
    co_return co_await tf;
  };
  Future<int> f = loop.create_task(local());
  std::thread canceller([&] {
    while (!remote_started.load()) std::this_thread::sleep_for(100us);
    loop.call_soon_threadsafe([&] { f.cancel(); });
  });
  CHECK_THROWS_AS(loop.run_until_complete(f), CancelledError);
  canceller.join();
  CHECK(f.cancelled());
  CHECK(tf.cancelled());
  CHECK(remote_cleanup.load());
  remote.stop();
  loop.close();
  check_ledger(loop.stats());
  check_ledger(remote.loop().stats());
}

TEST_CASE("a ThreadFuture completed after the awaiting loop closed: the resumption is refused quietly",
          "[thread_future][await][close]") {
  auto st = std::make_shared<ThreadFutureState<int>>();
  ThreadFuture<int> tf(st);
  EventLoop loop;
  auto body = [&]() -> Task<int> { co_return co_await tf; };
  Future<int> f = loop.create_task(body());
  loop.call_soon([&] { loop.call_soon([&] { loop.stop(); }); });
  loop.run_forever();
  loop.close();
  CHECK_THROWS_AS(f.result(), LoopClosedError);
  f = Future<int>();  // the producer's callback now holds the last reference to the task
  std::thread producer([st = st] { st->set_value(1); });
  producer.join();
  CHECK(tf.get() == 1);
  const LoopStats s = loop.stats();
  CHECK(s.refused == 1);  // the resumption post
  check_ledger(s);
}

TEST_CASE("a task released by the completing thread after close() does not race with close()",
          "[thread_future][await][close][regression][tsan]") {
  // A worker completes a ThreadFuture that a fire-and-forget task of a closed loop was
  // awaiting (think of an executor job still running when the loop closed). The worker
  // synchronizes only with the future. Its resumption post is refused, and the shared_ptr to
  // the task it carried is the last one: ~TaskState runs on the worker and reads
  // LoopCell::loop, which close() wrote (nullptr) after its last release of the task, so
  // nothing orders the write before the read. ThreadSanitizer reports the data race; other
  // builds pass.
  auto st = std::make_shared<ThreadFutureState<int>>();
  ThreadFuture<int> tf(st);
  std::atomic<int> go{0};
  std::thread worker([st, &go] {
    // relaxed on purpose: a worker that does not synchronize with the loop thread
    while (go.load(std::memory_order_relaxed) == 0) std::this_thread::yield();  // test bookkeeping; the primitive under test provides the ordering
    st->set_value(1);
  });
  EventLoop loop;
  auto body = [&]() -> Task<int> { co_return co_await tf; };
  (void)loop.create_task(body());  // fire and forget: only the loop and the awaiter hold it
  loop.call_soon([&] { loop.call_soon([&] { loop.stop(); }); });
  loop.run_forever();
  loop.close();
  go.store(1, std::memory_order_relaxed);  // test bookkeeping; the primitive under test provides the ordering
  worker.join();
  CHECK(tf.get() == 1);
  CHECK(loop.stats().refused == 1);
}

TEST_CASE("run_coroutine_threadsafe: a client dropping its future does not destroy the task off the loop thread",
          "[thread_future][rcts][regression][tsan]") {
  // The ThreadFuture's cancel hook holds the task's loop-local Future<T>, so the thread that
  // drops the last copy of the ThreadFuture destroys the TaskState: ~TaskBase unlinks it from
  // the loop's intrusive task list (and ~TaskState may call the exception handler) on that
  // thread, while the loop thread links and unlinks other tasks. Here a client drops its
  // future while the loop creates a task every millisecond; nothing orders the client's
  // unlink before the loop's next link. ThreadSanitizer reports the data race; with more
  // clients the list gets corrupted (a use-after-free in close()).
  LoopThread lt;
  std::atomic<bool> ticking{false};
  auto churn = [&]() -> Task<void> {
    ticking.store(true, std::memory_order_release);  // pairs with the acquire load below
    for (int i = 0; i < 100; ++i) {
      (void)get_running_loop().create_task(nap(0ns));  // linked now, unlinked when done
      co_await sleep(1ms);
    }
  };
  ThreadFuture<void> ticker = run_coroutine_threadsafe(churn(), lt.loop());
  while (!ticking.load(std::memory_order_acquire)) std::this_thread::yield();  // test bookkeeping; the primitive under test provides the ordering
  int got = 0;
  std::thread client([&] {
    ThreadFuture<int> f = run_coroutine_threadsafe(answer_after(0ns, 7), lt.loop());
    got = f.get();
    std::this_thread::sleep_for(10ms);  // the loop is done with the task by now
  });  // f, the last reference to the task, is dropped on the client thread
  client.join();
  CHECK(got == 7);
  ticker.get();
  lt.stop();
}

// ---- issue 10: a throwing move, concurrent get(), cancel() of a cancelled future -------------

namespace {

// A move-only value whose `fuse`-th move (counted along its line of moves) throws: injects a
// throw at one chosen step of a result's way from the producer into the future's slot.
struct MoveBomb {
  int value;
  int fuse;       // which move throws (1 = the first)
  int moves = 0;  // moves so far along this value's line
  MoveBomb(int v, int f) : value(v), fuse(f) {}
  MoveBomb(MoveBomb&& o) : value(o.value), fuse(o.fuse), moves(o.moves + 1) {
    if (moves == fuse) throw std::runtime_error("MoveBomb: move #" + std::to_string(moves) + " threw");
  }
  MoveBomb(const MoveBomb&) = delete;
  MoveBomb& operator=(const MoveBomb&) = delete;
  MoveBomb& operator=(MoveBomb&&) = delete;
};

// The diagnostic of a future left COMPLETING: a claim whose act threw, never undone (the
// mutant HANDOFF_MUTANT_FUTURE_NO_UNDO is caught by this text; tests/future_tests.cmake).
constexpr const char* kStuckCompleting =
    "ThreadFuture STUCK COMPLETING: the value's move threw after set_value claimed the future, "
    "and nothing completed it";

template <class T>
void require_done_within(ThreadFuture<T>& f, std::chrono::seconds limit) {
  if (!f.wait_for(limit)) FAIL(kStuckCompleting);
}

// Forces a getter to be inside get() before the value is set: the future's wait helper (the
// hook an executor worker uses to run jobs while it waits) is called once get() has seen the
// future pending; this one counts the thread in and lets it go on to sleep.
void count_me_in_get(std::atomic<int>& in_get) {
  detail::t_wait_helper = [](void* arg) {
    static_cast<std::atomic<int>*>(arg)->fetch_add(1, std::memory_order_relaxed);  // test bookkeeping; the primitive under test provides the ordering
    detail::t_wait_helper = nullptr;  // once per thread
    return false;  // nothing to help with: go on to the futex wait
  };
  detail::t_wait_helper_arg = &in_get;
}

Task<MoveBomb> make_bomb(int fuse) { co_return MoveBomb(7, fuse); }

}  // namespace

TEST_CASE("ThreadFuture: set_value whose value's move throws completes the future with that exception",
          "[thread_future][throwing][regression]") {
  auto st = std::make_shared<ThreadFutureState<MoveBomb>>();
  ThreadFuture<MoveBomb> tf(st);
  bool set_value_threw = false;
  try {
    CHECK(st->set_value(MoveBomb(7, 1)));  // the slot's emplace is move #1: it throws after the claim
  } catch (const std::runtime_error&) {
    set_value_threw = true;  // (today's code: the throw escapes and the claim is never undone)
  }
  CHECK_FALSE(set_value_threw);  // the future took the exception: the completer has nothing to undo
  require_done_within(tf, 5s);
  CHECK_FALSE(tf.cancelled());
  CHECK_THROWS_WITH(tf.get(), "MoveBomb: move #1 threw");
  CHECK_THROWS_WITH(tf.get(), "MoveBomb: move #1 threw");  // an exception is rethrown every time
  // It is complete: no other completion can win.
  CHECK_FALSE(st->set_value(MoveBomb(8, 99)));
  CHECK_FALSE(st->set_exception(std::make_exception_ptr(std::runtime_error("late"))));
}

TEST_CASE("ThreadPoolExecutor: a job whose result's move throws: get() rethrows it, no hang",
          "[thread_future][throwing][executor][regression]") {
  ThreadPoolExecutor pool(1);
  // fn() returns a prvalue: the only move is the one into the future's slot, after the claim.
  ThreadFuture<MoveBomb> f = pool.submit([] { return MoveBomb(7, 1); });
  require_done_within(f, 5s);
  CHECK_THROWS_WITH(f.get(), "MoveBomb: move #1 threw");
  pool.shutdown(true);
  const ExecutorStats s = pool.stats();
  CHECK(s.submitted == 1);
  CHECK(s.run == 1);  // it ran: its outcome is the exception
}

TEST_CASE("run_coroutine_threadsafe: whichever move of the result throws, the future completes with it",
          "[thread_future][throwing][rcts][regression]") {
  // The result is moved by co_return into the promise (#1), from the promise into the task's
  // future (#2, TaskState::root_finished), out of it by result() (#3) and into the
  // ThreadFuture's slot, after the claim (#4). Each fuse makes a different move throw; every
  // one must end in a done future: the exception of that move, or the value when the fuse is
  // past the last move. Fuse 2 is left out: root_finished is noexcept, so a throw there
  // terminates the process — a defect of loop/task.hpp, reported, not this test's subject.
  LoopThread lt;
  int value_outcomes = 0;
  int exception_outcomes = 0;
  for (int fuse : {1, 3, 4, 5, 6}) {
    INFO("fuse = " << fuse);
    ThreadFuture<MoveBomb> f = run_coroutine_threadsafe(make_bomb(fuse), lt.loop());
    require_done_within(f, 5s);
    try {
      MoveBomb b = f.get();
      CHECK(b.value == 7);
      ++value_outcomes;
    } catch (const std::runtime_error& e) {
      CHECK_THAT(e.what(), Catch::Equals("MoveBomb: move #" + std::to_string(fuse) + " threw"));
      ++exception_outcomes;
    }
  }
  CHECK(exception_outcomes >= 3);  // co_return, result(), the slot: at least three moves
  CHECK(value_outcomes >= 1);      // a fuse past the last move: the value arrives
  lt.stop();
}

TEST_CASE("run_in_executor: a job whose result's move throws resumes the task with it; close() returns",
          "[thread_future][throwing][executor][close][regression]") {
  // Today's code leaves the job's future COMPLETING: the task never resumes and close() (its
  // abandon path waits for the job's future) never returns. The loop runs on its own thread so
  // that this test fails with a message instead of hanging: on a timeout the thread is
  // detached (leaked; the test has failed) rather than joined.
  struct Shared {
    std::mutex mu;
    std::condition_variable cv;
    bool finished = false;
    std::string outcome;
  };
  auto sh = std::make_shared<Shared>();
  std::thread runner([sh] {
    std::string outcome;
    {
      ThreadPoolExecutor pool(1);
      EventLoop loop;
      auto body = [&]() -> Task<int> {
        MoveBomb b = co_await loop.run_in_executor(pool, [] { return MoveBomb(7, 1); });
        co_return b.value;
      };
      try {
        outcome = "value " + std::to_string(loop.run_until_complete(body()));
      } catch (const std::runtime_error& e) {
        outcome = e.what();
      }
      loop.close();
    }
    std::lock_guard<std::mutex> lock(sh->mu);
    sh->finished = true;
    sh->outcome = outcome;
    sh->cv.notify_all();
  });
  std::unique_lock<std::mutex> lock(sh->mu);
  if (!sh->cv.wait_for(lock, 10s, [&] { return sh->finished; })) {
    lock.unlock();
    runner.detach();
    FAIL(kStuckCompleting << " (the task never resumed; close() would wait forever)");
  }
  lock.unlock();
  runner.join();
  CHECK(sh->outcome == "MoveBomb: move #1 threw");
}

TEST_CASE("ThreadFuture: two threads get() a copyable value at once: both get it, get() repeats",
          "[thread_future][get][tsan][regression]") {
  // concurrent.futures: result() may be called any number of times, from any thread. Today's
  // get() moves the value out and marks it taken with a plain bool: the second get() throws
  // "already taken", and two concurrent get()s race on that bool (ThreadSanitizer reports it).
  for (int round = 0; round < 20; ++round) {
    auto st = std::make_shared<ThreadFutureState<std::string>>();
    ThreadFuture<std::string> a(st);
    ThreadFuture<std::string> b = a;  // a copy: the same state
    std::atomic<int> in_get{0};
    std::string got[2];
    std::string err[2];
    auto getter = [&in_get](ThreadFuture<std::string> f, std::string& out, std::string& e) {
      count_me_in_get(in_get);
      try {
        out = f.get();  // both threads are inside get() when the value is set
      } catch (const std::exception& ex) {
        e = ex.what();
      }
    };
    std::thread t0(getter, a, std::ref(got[0]), std::ref(err[0]));
    std::thread t1(getter, b, std::ref(got[1]), std::ref(err[1]));
    while (in_get.load(std::memory_order_relaxed) < 2) std::this_thread::yield();  // test bookkeeping
    CHECK(st->set_value(std::string(64, 'v')));  // a heap-allocated string: a move would empty it
    t0.join();
    t1.join();
    INFO("round " << round << ": errors '" << err[0] << "' / '" << err[1] << "'");
    CHECK(err[0].empty());
    CHECK(err[1].empty());
    CHECK(got[0] == std::string(64, 'v'));
    CHECK(got[1] == std::string(64, 'v'));
    CHECK(a.get() == std::string(64, 'v'));  // and again, on this thread
  }
}

TEST_CASE("ThreadFuture: two threads get() a move-only value at once: one gets it, the other a clear error",
          "[thread_future][get][tsan]") {
  for (int round = 0; round < 20; ++round) {
    auto st = std::make_shared<ThreadFutureState<std::unique_ptr<int>>>();
    ThreadFuture<std::unique_ptr<int>> a(st);
    ThreadFuture<std::unique_ptr<int>> b = a;
    std::atomic<int> in_get{0};
    std::unique_ptr<int> got[2];
    std::string err[2];
    auto getter = [&in_get](ThreadFuture<std::unique_ptr<int>> f, std::unique_ptr<int>& out, std::string& e) {
      count_me_in_get(in_get);
      try {
        out = f.get();
      } catch (const InvalidStateError& ex) {
        e = ex.what();
      }
    };
    std::thread t0(getter, a, std::ref(got[0]), std::ref(err[0]));
    std::thread t1(getter, b, std::ref(got[1]), std::ref(err[1]));
    while (in_get.load(std::memory_order_relaxed) < 2) std::this_thread::yield();  // test bookkeeping
    CHECK(st->set_value(std::make_unique<int>(42)));
    t0.join();
    t1.join();
    INFO("round " << round);
    const int winners = (got[0] != nullptr) + (got[1] != nullptr);
    CHECK(winners == 1);
    const std::string& loser = got[0] ? err[1] : err[0];
    CHECK_THAT(loser, Catch::Contains("ThreadFuture::get()") && Catch::Contains("already moved out"));
    CHECK(*(got[0] ? got[0] : got[1]) == 42);
  }
}

TEST_CASE("ThreadFuture: get() on a temporary or std::move'd future moves the value out, once",
          "[thread_future][get]") {
  auto st = std::make_shared<ThreadFutureState<std::vector<int>>>();
  ThreadFuture<std::vector<int>> a(st);
  ThreadFuture<std::vector<int>> b = a;
  st->set_value(std::vector<int>(1000, 3));
  CHECK(a.get().size() == 1000);               // an lvalue: a copy, the value stays
  CHECK(std::move(a).get().size() == 1000);    // an rvalue: moved out
  CHECK_THROWS_WITH(b.get(), Catch::Contains("already moved out"));  // every copy sees it gone
  CHECK_THROWS_AS(std::move(b).get(), InvalidStateError);

  // An exception is no value: it is rethrown by every get(), moved or not.
  auto st2 = std::make_shared<ThreadFutureState<std::vector<int>>>();
  st2->set_exception(std::make_exception_ptr(std::runtime_error("no vector")));
  CHECK_THROWS_WITH(ThreadFuture<std::vector<int>>(st2).get(), "no vector");
  CHECK_THROWS_WITH(ThreadFuture<std::vector<int>>(st2).get(), "no vector");

  // void: nothing to move out; get() any number of times.
  auto st3 = std::make_shared<ThreadFutureState<void>>();
  ThreadFuture<void> v(st3);
  st3->set_value();
  v.get();
  std::move(v).get();
  v.get();

  // Misuse: set_exception without an exception is a clear error, not a crash.
  CHECK_THROWS_AS(st3->set_exception(nullptr), std::invalid_argument);
}

TEST_CASE("ThreadFuture::cancel on a cancelled future returns true, on a finished one false (concurrent.futures)",
          "[thread_future][cancel][regression]") {
  auto st = std::make_shared<ThreadFutureState<int>>();
  ThreadFuture<int> tf(st);
  st->set_cancel_hook([st = st.get()] {
    return st->set_exception(std::make_exception_ptr(CancelledError("hook")));
  });
  CHECK(tf.cancel());
  CHECK(tf.cancelled());
  CHECK(tf.cancel());  // already cancelled: True, as concurrent.futures.Future.cancel()
  CHECK(tf.cancel());

  // The executor: a queued job cancelled twice (the second call finds it CANCELLED).
  ThreadPoolExecutor pool(1);
  test::Gate gate;
  ThreadFuture<bool> blocker = pool.submit([&] { return gate.wait(); });
  ThreadFuture<int> queued = pool.submit([] { return 1; });
  CHECK(queued.cancel());
  CHECK(queued.cancel());
  CHECK(queued.cancelled());
  gate.open();
  CHECK(blocker.get());
  CHECK_FALSE(blocker.cancel());  // finished with a value: False
  pool.shutdown(true);
}
