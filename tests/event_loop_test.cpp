// tests/event_loop_test.cpp — EventLoop: scheduling order, timers, cross-thread posts, the
// sleep/wake counters, stop/run/close, the ledger, the exception handler, fd callbacks and the
// debug thread check. Tasks are in task_test.cpp, ThreadFuture in thread_future_test.cpp.
//
// Catch2 assertions are not thread-safe: threads record what they saw, the main thread checks
// it after join. Every scenario ends with the ledger identity (posted = run + cancelled +
// refused + dropped) on the closed loop.
//
// Tests tagged [regression] reproduced defects found in the loop headers (fixed; docs/loop.md
// lists them); they keep the fixes honest.
#include <catch2/catch.hpp>

#include <fcntl.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <functional>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <handoff/loop/loop.hpp>

#include "loop_test_support.hpp"

using namespace handoff;
using namespace std::chrono_literals;
using handoff::test::check_ledger;
using handoff::test::StderrCapture;

namespace {

// The WakeGate bounds that hold in every run (wake_gate.hpp): one signal per announced
// sleep at most; an epoll return with the eventfd readable consumes at least one signal; a
// spurious return is one of those.
void check_wake_bounds(const LoopStats& s) {
  INFO("sleeps=" << s.sleeps << " cancelled=" << s.sleeps_cancelled << " signals="
                 << s.wake_signals << " wakeups=" << s.wakeups << " spurious=" << s.spurious_wakeups);
  CHECK(s.sleeps_cancelled <= s.sleeps);
  CHECK(s.wake_signals <= s.sleeps);
  CHECK(s.wakeups <= s.wake_signals);
  CHECK(s.spurious_wakeups <= s.wakeups);
}

// A callback whose drop hook counts: it says whether the loop ran it or dropped it.
Callback counted(int& ran, int& dropped) {
  return Callback::with_drop([&ran] { ++ran; }, [&dropped] { ++dropped; });
}

}  // namespace

// ---- call_soon and timers ------------------------------------------------------------------

TEST_CASE("call_soon runs callbacks FIFO; what they schedule waits a turn", "[event_loop]") {
  EventLoop loop;
  std::vector<int> order;
  std::uint64_t first_iteration = 0;
  for (int i = 0; i < 5; ++i) {
    loop.call_soon([&, i] {
      order.push_back(i);
      if (i == 0) {
        first_iteration = loop.stats().iterations;
        loop.call_soon([&] {
          order.push_back(100);
          CHECK(loop.stats().iterations == first_iteration + 1);  // the next iteration
          loop.stop();
        });
      }
    });
  }
  loop.run_forever();
  CHECK(order == std::vector<int>{0, 1, 2, 3, 4, 100});
  loop.close();
  check_ledger(loop.stats());
  CHECK(loop.stats().run == 6);
}

TEST_CASE("call_at: earlier deadlines first, equal deadlines in FIFO order", "[event_loop][timer]") {
  EventLoop loop;
  std::vector<int> order;
  const auto base = loop.time() + 5ms;
  loop.call_at(base + 2ms, [&] { order.push_back(3); });
  for (int i = 0; i < 3; ++i) loop.call_at(base, [&, i] { order.push_back(i); });  // equal deadlines
  loop.call_at(base - 1ms, [&] { order.push_back(-1); });
  loop.call_at(base + 2ms, [&] {
    order.push_back(4);
    loop.stop();
  });
  loop.run_forever();
  CHECK(order == std::vector<int>{-1, 0, 1, 2, 3, 4});
  loop.close();
  check_ledger(loop.stats());
}

TEST_CASE("call_later never fires early; when() is its deadline", "[event_loop][timer]") {
  EventLoop loop;
  const auto t0 = loop.time();
  EventLoop::time_point fired{};
  TimerHandle h = loop.call_later(15ms, [&] {
    fired = loop.time();
    loop.stop();
  });
  CHECK(h.when() >= t0 + 15ms);
  CHECK_FALSE(h.cancelled());
  loop.run_forever();
  CHECK(fired >= h.when());
  CHECK(fired - t0 >= 15ms);
  h.cancel();  // after it ran: a no-op
  CHECK_FALSE(h.cancelled());
  loop.close();
  check_ledger(loop.stats());
  CHECK(loop.stats().cancelled == 0);
}

TEST_CASE("TimerHandle::cancel before it fires: never runs, counted once as cancelled",
          "[event_loop][timer]") {
  EventLoop loop;
  int ran = 0, dropped = 0;
  bool other = false;
  TimerHandle h = loop.call_later(20ms, counted(ran, dropped));
  loop.call_soon([&] {  // the first iteration: long before the timer is due
    h.cancel();
    h.cancel();  // idempotent
  });
  loop.call_later(30ms, [&] {
    other = true;
    loop.stop();
  });
  loop.run_forever();
  CHECK(h.cancelled());
  CHECK(ran == 0);
  CHECK(dropped == 1);  // cancel releases the callback at once: its drop hook says "never ran"
  CHECK(other);
  loop.close();
  const LoopStats s = loop.stats();
  CHECK(s.cancelled == 1);
  CHECK(s.dropped == 0);
  check_ledger(s);
}

TEST_CASE("TimerHandle::cancel of a due timer that has not run yet prevents it (asyncio)",
          "[event_loop][timer][regression]") {
  // Both timers are due in the same iteration: fire_due_timers() moves both callbacks to the
  // ready queue, then the first cancels the second. asyncio skips a cancelled handle in
  // _ready; here cancel() sees `fired` and does nothing, so the cancelled timer still runs.
  EventLoop loop;
  const auto when = loop.time() + 5ms;
  TimerHandle second;
  bool second_ran = false;
  loop.call_at(when, [&] { second.cancel(); });
  second = loop.call_at(when, [&] { second_ran = true; });
  loop.call_at(when + 10ms, [&] { loop.stop(); });
  loop.run_forever();
  CHECK(second.cancelled());
  CHECK_FALSE(second_ran);
  loop.close();
  check_ledger(loop.stats());
}

TEST_CASE("TimerHandle::cancel after close() keeps the ledger balanced", "[event_loop][timer][regression]") {
  // close() drops the pending timer (dropped += 1) without marking its entry, so a later
  // cancel() also counts it as cancelled: the timer is counted twice.
  EventLoop loop;
  int ran = 0, dropped = 0;
  TimerHandle h = loop.call_later(1h, counted(ran, dropped));
  loop.close();
  CHECK(dropped == 1);
  h.cancel();
  const LoopStats s = loop.stats();
  CHECK(s.posted == 1);
  CHECK(s.cancelled + s.dropped == 1);
  check_ledger(s);
}

TEST_CASE("a callback that re-posts itself cannot starve timers", "[event_loop][timer]") {
  EventLoop loop;
  std::uint64_t spins = 0;
  bool stop = false;
  std::function<void()> again = [&] {
    ++spins;
    if (!stop) loop.call_soon([&] { again(); });
  };
  loop.call_soon([&] { again(); });
  loop.call_later(5ms, [&] {
    stop = true;
    loop.stop();
  });
  loop.run_forever();
  CHECK(spins > 1);
  loop.close();
  check_ledger(loop.stats());
}

// ---- cross-thread posts --------------------------------------------------------------------

TEST_CASE("call_soon_threadsafe from several threads keeps each thread's order",
          "[event_loop][threadsafe]") {
  const bool spin = GENERATE(false, true);
  EventLoop::Options opts;
  if (!spin) opts.spin_budget = 0ns;
  EventLoop loop(opts);
  constexpr int kThreads = 4;
  constexpr int kPerThread = 20000;
  std::vector<std::vector<int>> seen(kThreads);  // loop thread only
  std::thread controller([&] {
    std::vector<std::thread> producers;
    for (int t = 0; t < kThreads; ++t) {
      producers.emplace_back([&, t] {
        for (int i = 0; i < kPerThread; ++i) {
          loop.call_soon_threadsafe([&, t, i] { seen[t].push_back(i); });
          if (i % 1000 == 999) std::this_thread::sleep_for(100us);  // let the loop sleep sometimes
        }
      });
    }
    for (auto& p : producers) p.join();
    loop.call_soon_threadsafe([&] { loop.stop(); });  // after every producer's last post
  });
  loop.run_forever();
  controller.join();
  for (int t = 0; t < kThreads; ++t) {
    INFO("thread " << t);
    REQUIRE(seen[t].size() == static_cast<std::size_t>(kPerThread));
    bool in_order = true;
    for (int i = 0; i < kPerThread; ++i) in_order = in_order && seen[t][i] == i;
    CHECK(in_order);
  }
  loop.close();
  const LoopStats s = loop.stats();
  CHECK(s.posted_threadsafe == kThreads * kPerThread + 1);
  CHECK(s.run == s.posted);
  check_ledger(s);
  check_wake_bounds(s);
}

TEST_CASE("wake counters: at most one signal per sleep, spurious returns only after cancelled sleeps",
          "[event_loop][wake]") {
  // No timers and no fds: epoll_wait returns only when the eventfd is readable, so a sleep
  // leaves a signal pending only when its re-check cancelled it after a producer had claimed
  // it (wake_gate.hpp, SPURIOUS RETURNS). Hence spurious_wakeups <= sleeps_cancelled here.
  EventLoop::Options opts;
  opts.spin_budget = 0ns;  // sleep at once: as many sleeps (and races with producers) as possible
  EventLoop loop(opts);
  std::atomic<int> ran{0};
  constexpr int kThreads = 3, kPosts = 3000;
  std::thread controller([&] {
    std::vector<std::thread> producers;
    for (int t = 0; t < kThreads; ++t) {
      producers.emplace_back([&, t] {
        for (int i = 0; i < kPosts; ++i) {
          loop.call_soon_threadsafe([&] { ran.fetch_add(1, std::memory_order_relaxed); });  // test bookkeeping; the primitive under test provides the ordering
          if ((i + t) % 7 == 0) std::this_thread::yield();
          if (i % 500 == 0) std::this_thread::sleep_for(200us);
        }
      });
    }
    for (auto& p : producers) p.join();
    loop.stop();
  });
  loop.run_forever();
  controller.join();
  // stop() may end the loop before the last posts ran; run them, then close.
  loop.call_soon_threadsafe([&] { loop.stop(); });
  loop.run_forever();
  CHECK(ran.load() == kThreads * kPosts);
  loop.close();
  const LoopStats s = loop.stats();
  CHECK(s.sleeps > 0);
  CHECK(s.wake_signals > 0);
  check_wake_bounds(s);
  CHECK(s.spurious_wakeups <= s.sleeps_cancelled);
  check_ledger(s);
}

namespace {
// The poll seam of the spin-budget test: each blocking poll first has another thread post one
// callback (and joins it), then polls. The post is made while the loop is inside its sleep
// (the gate says SLEEPING), so "a post to a sleeping loop" holds by construction, not by
// timing. Loop thread only.
EventLoop* g_poll_loop = nullptr;
int g_poll_posts_left = 0;
int g_poll_ran = 0;
int post_then_poll(int epfd, epoll_event* events, int max_events, const timespec* timeout) {
  const bool blocking = timeout == nullptr || timeout->tv_sec != 0 || timeout->tv_nsec != 0;
  if (blocking && g_poll_posts_left > 0) {
    --g_poll_posts_left;
    std::thread poster([] {
      g_poll_loop->call_soon_threadsafe([] {
        if (++g_poll_ran == 20) g_poll_loop->stop();
      });
    });
    poster.join();
  }
  return ::epoll_pwait2(epfd, events, max_events, timeout, nullptr);
}
}  // namespace

TEST_CASE("spin budget: 0 sleeps at once; a long budget takes posts without sleeping",
          "[event_loop][wake]") {
  {
    // Budget 0: an idle loop sleeps at once, so each of the 20 posts (made from inside a
    // sleep, see post_then_poll) costs exactly one wake signal. (This case used to post 1 ms
    // apart and expect 20 sleeps, which failed under load: it depended on scheduling.)
    EventLoop::Options opts;
    opts.spin_budget = 0ns;
    EventLoop loop(opts);
    g_poll_loop = &loop;
    g_poll_posts_left = 20;
    g_poll_ran = 0;
    loop.set_poll_function_for_test(&post_then_poll);
    loop.run_forever();
    loop.close();
    const LoopStats none = loop.stats();
    CHECK(g_poll_ran == 20);
    CHECK(none.sleeps >= 20);
    CHECK(none.wake_signals == 20);
    CHECK(none.wakeups == 20);
    CHECK(none.spurious_wakeups == 0);
    check_wake_bounds(none);
    check_ledger(none);
  }
  // A long budget: posts 1 ms apart all arrive within it, so the loop never sleeps.
  auto run_with = [](std::chrono::nanoseconds budget) {
    EventLoop::Options opts;
    opts.spin_budget = budget;
    EventLoop loop(opts);
    std::atomic<int> ran{0};
    loop.call_soon([&] {});  // the first iteration has work: the loop is busy when posts start
    std::thread producer([&] {
      for (int i = 0; i < 20; ++i) {
        std::this_thread::sleep_for(1ms);
        loop.call_soon_threadsafe([&] { ran.fetch_add(1, std::memory_order_relaxed); });  // test bookkeeping; the primitive under test provides the ordering
      }
      // Wait until all ran, so the stop is not the only thing the loop sees.
      while (ran.load(std::memory_order_relaxed) < 20) std::this_thread::sleep_for(100us);  // test bookkeeping; the primitive under test provides the ordering
      loop.stop();
    });
    loop.run_forever();
    producer.join();
    loop.close();
    const LoopStats s = loop.stats();
    check_wake_bounds(s);
    check_ledger(s);
    return s;
  };
  const LoopStats spin = run_with(std::chrono::seconds(30));
  CHECK(spin.sleeps == 0);  // every post arrived within the budget; stop() too
  CHECK(spin.wake_signals == 0);
  // A budget too long to add to the clock spins until work arrives: time() + budget used to
  // overflow to the past, so the loop slept at once [regression].
  const LoopStats forever = run_with(std::chrono::nanoseconds::max());
  CHECK(forever.sleeps == 0);
  CHECK(forever.wake_signals == 0);
}

TEST_CASE("a flood of posts cannot starve timers or ready callbacks (bounded inbox batches)",
          "[event_loop][threadsafe]") {
  EventLoop::Options opts;
  opts.inbox_batch = 16;
  EventLoop loop(opts);
  constexpr int kFlood = 1000;
  int flood_ran = 0;
  int flood_at_ready = -1, flood_at_timer = -1;
  for (int i = 0; i < kFlood; ++i) loop.call_soon_threadsafe([&] { ++flood_ran; });
  loop.call_soon([&] { flood_at_ready = flood_ran; });
  loop.call_at(loop.time() - 1s, [&] { flood_at_timer = flood_ran; });  // already due
  loop.call_soon_threadsafe([&] { loop.stop(); });  // the last of the flood
  loop.run_forever();
  CHECK(flood_ran == kFlood);
  CHECK(flood_at_ready == 16);  // one batch, then the ready callback and the due timer
  CHECK(flood_at_timer == 16);
  loop.close();
  const LoopStats s = loop.stats();
  CHECK(s.batches >= kFlood / 16);
  check_ledger(s);
}

// ---- stop, run, close ------------------------------------------------------------------------

TEST_CASE("stop() from another thread wakes a sleeping loop", "[event_loop][stop]") {
  EventLoop loop;
  std::thread stopper([&] {
    std::this_thread::sleep_for(20ms);
    loop.stop();
  });
  loop.run_forever();  // nothing to do: sleeps until the stop
  stopper.join();
  CHECK_FALSE(loop.is_running());
  loop.close();
  const LoopStats s = loop.stats();
  check_wake_bounds(s);
  check_ledger(s);
}

TEST_CASE("stop() via a LoopRef, from a thread, after the loop is gone", "[event_loop][stop]") {
  LoopRef ref;
  {
    EventLoop loop;
    ref = loop.threadsafe();
    REQUIRE(ref);
    CHECK_FALSE(ref.is_closed());
    std::atomic<bool> ran{false};
    std::thread t([&] {
      ref.call_soon_threadsafe([&] { ran = true; });
      ref.stop();
    });
    loop.run_forever();
    t.join();
    if (!ran) {  // the stop may have been seen before the post: one more iteration runs it
      loop.stop();
      loop.run_forever();
    }
    CHECK(ran);
  }
  CHECK(ref.is_closed());
  CHECK_THROWS_AS(ref.call_soon_threadsafe([] {}), LoopClosedError);
  ref.stop();  // harmless
}

TEST_CASE("stop() before run_forever: one iteration, then run_forever returns", "[event_loop][stop]") {
  EventLoop loop;
  bool a = false, b = false;
  loop.call_soon([&] {
    a = true;
    loop.call_soon([&] { b = true; });  // the next iteration: not reached
  });
  loop.stop();
  loop.run_forever();
  CHECK(a);
  CHECK_FALSE(b);
  CHECK(loop.stats().iterations == 1);
  loop.stop();
  loop.run_forever();  // the stop was consumed: this one runs one iteration again
  CHECK(b);
  loop.close();
  check_ledger(loop.stats());
}

TEST_CASE("stop() inside a callback finishes the iteration, then run_forever returns",
          "[event_loop][stop]") {
  EventLoop loop;
  std::vector<int> order;
  loop.call_soon([&] {
    order.push_back(1);
    loop.stop();
    CHECK(loop.is_running());
  });
  loop.call_soon([&] { order.push_back(2); });  // same iteration: still runs
  loop.run_forever();
  CHECK(order == std::vector<int>{1, 2});
  CHECK_FALSE(loop.is_running());
  loop.close();
  check_ledger(loop.stats());
}

TEST_CASE("run_forever refuses a running loop, a closed loop, a second loop in the thread",
          "[event_loop][run]") {
  EventLoop loop;
  EventLoop other;
  loop.call_soon([&] {
    CHECK_THROWS_AS(loop.run_forever(), InvalidStateError);
    CHECK_THROWS_AS(other.run_forever(), InvalidStateError);
    CHECK_THROWS_AS(loop.close(), InvalidStateError);  // not while running
    loop.stop();
  });
  loop.run_forever();
  loop.close();
  loop.close();  // idempotent
  CHECK(loop.is_closed());
  CHECK_THROWS_AS(loop.run_forever(), LoopClosedError);
  check_ledger(loop.stats());
}

TEST_CASE("run_until_complete returns the future's result or rethrows its exception",
          "[event_loop][run]") {
  EventLoop loop;
  auto f = create_future<int>(loop);
  loop.call_later(2ms, [&] { f.set_result(42); });
  CHECK(loop.run_until_complete(f) == 42);
  CHECK_FALSE(loop.is_running());

  auto g = create_future<std::string>(loop);
  loop.call_soon([&] { g.set_exception(std::make_exception_ptr(std::runtime_error("boom"))); });
  CHECK_THROWS_WITH(loop.run_until_complete(g), "boom");

  auto done = create_future<void>(loop);
  done.set_result();  // already done: one iteration
  loop.run_until_complete(done);

  auto never = create_future<int>(loop);
  loop.stop();
  CHECK_THROWS_AS(loop.run_until_complete(never), InvalidStateError);  // stopped first
  loop.close();
  check_ledger(loop.stats());
}

TEST_CASE("run_until_complete after an early stop leaves no stale stop behind",
          "[event_loop][run][regression]") {
  // run_until_complete(f) adds a done callback to f that calls stop() (and writes a local of
  // that call). If the loop stops before f is done, the callback is never removed (asyncio
  // removes it in a finally): when f completes during a later run_until_complete(g), it stops
  // that run too, and writes to a dead stack frame.
  EventLoop loop;
  auto f = create_future<int>(loop);
  loop.stop();
  CHECK_THROWS_AS(loop.run_until_complete(f), InvalidStateError);
  auto g = create_future<int>(loop);
  loop.call_soon([&] { f.set_result(1); });
  loop.call_later(10ms, [&] { g.set_result(2); });
  int got = 0;
  CHECK_NOTHROW(got = loop.run_until_complete(g));
  CHECK(got == 2);
  loop.close();
}

TEST_CASE("close(): accepted work is dropped and counted, drop hooks run", "[event_loop][close]") {
  EventLoop loop;
  int ran = 0, dropped = 0;
  loop.call_soon(counted(ran, dropped));               // ready, never run
  loop.call_soon_threadsafe(counted(ran, dropped));    // in the inbox
  std::thread t([&] {                                  // from another thread
    for (int i = 0; i < 10; ++i) loop.call_soon_threadsafe(counted(ran, dropped));
  });
  t.join();
  TimerHandle timer = loop.call_later(1h, counted(ran, dropped));  // a pending timer
  TimerHandle cancelled = loop.call_later(1h, counted(ran, dropped));
  cancelled.cancel();                                   // cancelled: not dropped again
  loop.close();
  CHECK(ran == 0);
  CHECK(dropped == 14);
  const LoopStats s = loop.stats();
  CHECK(s.posted == 14);
  CHECK(s.dropped == 13);
  CHECK(s.cancelled == 1);
  CHECK(s.posted_threadsafe == 11);
  check_ledger(s);
}

TEST_CASE("close(): a timer that fired but did not run yet is dropped once", "[event_loop][close]") {
  EventLoop loop;
  int ran = 0, dropped = 0;
  loop.call_at(loop.time() - 1s, counted(ran, dropped));  // due at the first iteration
  loop.call_soon([&] { loop.stop(); });
  loop.stop();  // one iteration: the timer moves to the ready queue and runs in it
  loop.run_forever();
  CHECK(ran == 1);
  loop.call_at(loop.time() - 1s, counted(ran, dropped));
  loop.close();
  CHECK(dropped == 1);
  check_ledger(loop.stats());
}

TEST_CASE("posting after close() throws LoopClosedError, counted as refused; hooks say so",
          "[event_loop][close]") {
  int fd[2];
  REQUIRE(::pipe2(fd, O_CLOEXEC | O_NONBLOCK) == 0);
  EventLoop loop;
  LoopRef ref = loop.threadsafe();
  loop.close();
  CHECK(loop.is_closed());
  CHECK(ref.is_closed());
  int ran = 0, dropped = 0;
  CHECK_THROWS_AS(loop.call_soon(counted(ran, dropped)), LoopClosedError);
  CHECK_THROWS_AS(loop.call_soon_threadsafe(counted(ran, dropped)), LoopClosedError);
  CHECK_THROWS_AS(loop.call_later(1ms, counted(ran, dropped)), LoopClosedError);
  CHECK_THROWS_AS(loop.call_at(loop.time(), counted(ran, dropped)), LoopClosedError);
  std::string from_thread;
  std::thread t([&] {
    try {
      ref.call_soon_threadsafe(counted(ran, dropped));
    } catch (const LoopClosedError& e) {
      from_thread = e.what();
    }
  });
  t.join();
  CHECK_THAT(from_thread, Catch::Contains("event loop is closed") &&
                              Catch::Contains("call_soon_threadsafe() after close()"));
  CHECK_THROWS_AS(loop.add_reader(fd[0], [] {}), LoopClosedError);
  CHECK_THROWS_WITH(loop.call_soon([] {}), Catch::Contains("call_soon() after close()") &&
                                               Catch::Contains("create a new one"));
  CHECK(ran == 0);
  CHECK(dropped == 5);  // each refused callback's drop hook ran
  const LoopStats s = loop.stats();
  CHECK(s.posted == 6);
  CHECK(s.refused == 6);
  check_ledger(s);
  ::close(fd[0]);
  ::close(fd[1]);
}

// LoopRef::reserve_post (issue 10): the post that cannot fail for want of memory, for the act
// after a claim (a channel's or a ThreadFuture's resumption of a task). Both inbox kinds.
TEST_CASE("ReservedPost: posts from a thread, answers Closed after close() (drop hook runs), keeps the ledger",
          "[event_loop][ledger][reservation]") {
  for (InboxKind kind : {InboxKind::LockFree, InboxKind::Mutex}) {
    INFO((kind == InboxKind::LockFree ? "lock-free inbox" : "mutex inbox"));
    EventLoop::Options opts;
    opts.inbox = kind;
    int ran = 0, dropped = 0;
    ReservedPost late;  // outlives the loop: only a reference to its core
    {
      EventLoop loop(opts);
      LoopRef ref = loop.threadsafe();
      ReservedPost a = ref.reserve_post(), b = ref.reserve_post(), unused = ref.reserve_post();
      late = ref.reserve_post();
      REQUIRE(a);
      CHECK(a.loop().is_closed() == false);
      PushResult from_thread = PushResult::Closed;
      std::thread t([&] { from_thread = a.post(counted(ran, dropped)); });  // any thread
      t.join();
      CHECK(from_thread == PushResult::Pushed);
      CHECK_FALSE(a);  // used up
      // Used twice, or empty: a misuse error, before anything is counted or posted.
      CHECK_THROWS_WITH(a.post(counted(ran, dropped)), Catch::Contains("ReservedPost::post() on an empty reservation"));
      CHECK_THROWS_AS(ReservedPost().post([] {}), InvalidStateError);
      CHECK(dropped == 1);  // the misused post's callback was dropped (its hook ran)
      loop.call_soon([&] { loop.stop(); });
      loop.run_forever();
      CHECK(ran == 1);
      loop.close();
      CHECK(b.post(counted(ran, dropped)) == PushResult::Closed);  // refused at once; hook runs
      CHECK(dropped == 2);
      const LoopStats s = loop.stats();
      CHECK(s.posted == 3);  // a, b, and the stop callback
      CHECK(s.refused == 1);
      check_ledger(s);
    }  // `unused` gives its node back here; `late` still holds one
    CHECK(late.post(counted(ran, dropped)) == PushResult::Closed);  // the EventLoop is gone: Closed
    CHECK(dropped == 3);
    CHECK(ran == 1);
    CHECK_THROWS_AS(LoopRef().reserve_post(), InvalidStateError);
  }
}

TEST_CASE("ledger balances in a mixed scenario: run, cancelled, dropped, refused",
          "[event_loop][ledger]") {
  EventLoop loop;
  std::atomic<bool> stop_posting{false};
  std::atomic<std::uint64_t> refused_seen{0};
  std::vector<TimerHandle> timers;
  int timer_runs = 0;
  for (int i = 0; i < 50; ++i) {
    timers.push_back(loop.call_later(std::chrono::milliseconds(i % 5), [&timer_runs] { ++timer_runs; }));
  }
  for (int i = 0; i < 50; i += 2) timers[i].cancel();
  std::vector<std::thread> producers;
  for (int t = 0; t < 2; ++t) {
    producers.emplace_back([&] {
      while (!stop_posting.load(std::memory_order_relaxed)) {  // test bookkeeping; the primitive under test provides the ordering
        try {
          loop.call_soon_threadsafe([] {});
        } catch (const LoopClosedError&) {
          refused_seen.fetch_add(1, std::memory_order_relaxed);  // test bookkeeping; the primitive under test provides the ordering
          std::this_thread::yield();
        }
      }
    });
  }
  loop.call_later(10ms, [&] { loop.stop(); });
  loop.call_later(1h, [] {});  // dropped at close
  loop.run_forever();
  loop.close();  // the producers are still posting: some accepted posts are dropped, later ones refused
  while (refused_seen.load() < 10) std::this_thread::yield();
  stop_posting = true;
  for (auto& p : producers) p.join();
  const LoopStats s = loop.stats();
  CHECK(timer_runs == 25);
  CHECK(s.run > 0);
  CHECK(s.cancelled == 25);
  CHECK(s.dropped >= 1);
  CHECK(s.refused == refused_seen.load());
  check_ledger(s);
  check_wake_bounds(s);
}

// ---- the exception handler ---------------------------------------------------------------------

TEST_CASE("exceptions from callbacks go to the exception handler; the loop keeps running",
          "[event_loop][exceptions]") {
  EventLoop loop;
  std::vector<std::string> seen;
  loop.set_exception_handler([&](const ExceptionContext& ctx) {
    try {
      std::rethrow_exception(ctx.exception);
    } catch (const std::exception& e) {
      seen.push_back(ctx.message + ": " + e.what());
    }
  });
  bool after = false;
  loop.call_soon([] { throw std::runtime_error("soon"); });
  loop.call_soon_threadsafe([] { throw std::runtime_error("threadsafe"); });
  loop.call_later(1ms, [] { throw std::runtime_error("timer"); });
  loop.call_later(5ms, [&] {
    after = true;
    loop.stop();
  });
  loop.run_forever();
  CHECK(after);
  REQUIRE(seen.size() == 3);
  CHECK(seen[0] == "exception in callback: threadsafe");  // the inbox batch runs first
  CHECK(seen[1] == "exception in callback: soon");
  CHECK(seen[2] == "exception in callback: timer");
  loop.close();
  const LoopStats s = loop.stats();
  CHECK(s.exceptions == 3);
  CHECK(s.run == 4);  // a callback that threw still counts as run
  check_ledger(s);
}

TEST_CASE("the default exception handler prints to stderr and the loop keeps running",
          "[event_loop][exceptions]") {
  EventLoop loop;
  bool after = false;
  std::string out;
  {
    StderrCapture cap;
    loop.call_soon([] { throw std::runtime_error("boom from a callback"); });
    loop.call_soon([] { throw 42; });  // not a std::exception
    loop.call_soon([&] {
      after = true;
      loop.stop();
    });
    loop.run_forever();
    out = cap.text();
  }
  CHECK(after);
  CHECK_THAT(out, Catch::Contains("handoff: exception in callback: boom from a callback"));
  CHECK_THAT(out, Catch::Contains("handoff: exception in callback: unknown exception"));
  loop.close();
  CHECK(loop.stats().exceptions == 2);
}

TEST_CASE("an exception handler that throws falls back to the default handler",
          "[event_loop][exceptions]") {
  EventLoop loop;
  loop.set_exception_handler([](const ExceptionContext&) { throw std::logic_error("handler broke"); });
  std::string out;
  {
    StderrCapture cap;
    loop.call_soon([] { throw std::runtime_error("original"); });
    loop.call_soon([&] { loop.stop(); });
    loop.run_forever();
    out = cap.text();
  }
  CHECK_THAT(out, Catch::Contains("the exception handler itself threw"));
  CHECK_THAT(out, Catch::Contains("exception in callback: original"));
  loop.close();
}

// ---- threads ---------------------------------------------------------------------------------

TEST_CASE("get_running_loop: NoRunningLoopError outside a loop, the loop inside",
          "[event_loop][threads]") {
  CHECK_THROWS_AS(get_running_loop(), NoRunningLoopError);
  CHECK_THROWS_WITH(get_running_loop(), Catch::Contains("no running event loop"));
  EventLoop loop;
  EventLoop* inside = nullptr;
  bool in_this_thread = false;
  loop.call_soon([&] {
    inside = &get_running_loop();
    in_this_thread = loop.running_in_this_thread();
    loop.stop();
  });
  CHECK_FALSE(loop.running_in_this_thread());
  loop.run_forever();
  CHECK(inside == &loop);
  CHECK(in_this_thread);
  CHECK_THROWS_AS(get_running_loop(), NoRunningLoopError);  // cleared after run_forever
  std::string other_thread;
  loop.call_soon([&] {
    std::thread t([&] {
      try {
        get_running_loop();
      } catch (const NoRunningLoopError& e) {
        other_thread = e.what();
      }
    });
    t.join();
    loop.stop();
  });
  loop.run_forever();
  CHECK_FALSE(other_thread.empty());  // the running loop is per thread
  loop.close();
}

TEST_CASE("is_running, is_closed, time", "[event_loop]") {
  EventLoop loop;
  CHECK_FALSE(loop.is_running());
  CHECK_FALSE(loop.is_closed());
  const auto a = loop.time();
  const auto b = loop.time();
  CHECK(b >= a);  // monotonic
  bool running_inside = false;
  loop.call_soon([&] {
    running_inside = loop.is_running();
    loop.stop();
  });
  loop.run_forever();
  CHECK(running_inside);
  CHECK_FALSE(loop.is_running());
  loop.close();
  CHECK(loop.is_closed());
}

// ---- fd callbacks ----------------------------------------------------------------------------

TEST_CASE("add_reader / add_writer: level-triggered until removed; remove_* says if registered",
          "[event_loop][fd]") {
  int p[2];
  REQUIRE(::pipe2(p, O_CLOEXEC | O_NONBLOCK) == 0);
  EventLoop loop;
  int reads = 0, writes = 0;
  std::string got;
  loop.add_writer(p[1], [&] {
    ++writes;
    REQUIRE(::write(p[1], "x", 1) == 1);
    CHECK(loop.remove_writer(p[1]));  // one write is enough
  });
  loop.add_reader(p[0], [&] {
    ++reads;
    if (reads < 3) return;  // level-triggered: not reading keeps it readable
    char c;
    REQUIRE(::read(p[0], &c, 1) == 1);
    got += c;
    CHECK(loop.remove_reader(p[0]));
    loop.stop();
  });
  loop.run_forever();
  CHECK(writes == 1);
  CHECK(reads == 3);
  CHECK(got == "x");
  CHECK_FALSE(loop.remove_reader(p[0]));
  CHECK_FALSE(loop.remove_writer(p[1]));
  CHECK_FALSE(loop.remove_reader(12345));
  CHECK_THROWS_AS(loop.add_reader(-1, [] {}), std::invalid_argument);

  // Reader and writer on one fd; replacing the reader keeps the writer.
  int s[2];
  REQUIRE(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, s) == 0);
  int first = 0, second = 0, w = 0;
  loop.add_reader(s[0], [&] { ++first; });
  loop.add_reader(s[0], [&] {  // replaces the first
    ++second;
    char c;
    REQUIRE(::read(s[0], &c, 1) == 1);
    loop.remove_reader(s[0]);
    loop.stop();
  });
  loop.add_writer(s[0], [&] {
    ++w;
    loop.remove_writer(s[0]);
    REQUIRE(::write(s[1], "y", 1) == 1);
  });
  loop.run_forever();
  CHECK(first == 0);
  CHECK(second == 1);
  CHECK(w == 1);

  // A hang-up wakes the reader (EPOLLHUP); an exception in an fd callback goes to the handler.
  std::vector<std::string> seen;
  loop.set_exception_handler([&](const ExceptionContext& ctx) { seen.push_back(ctx.message); });
  ::close(s[1]);
  loop.add_reader(s[0], [&] {
    loop.remove_reader(s[0]);
    loop.stop();
    throw std::runtime_error("fd callback failed");
  });
  loop.run_forever();
  CHECK(seen == std::vector<std::string>{"exception in fd callback"});
  loop.close();
  CHECK_FALSE(loop.remove_reader(s[0]));  // after close: nothing registered
  check_ledger(loop.stats());
  ::close(s[0]);
  ::close(p[0]);
  ::close(p[1]);
}

TEST_CASE("a sleep with a timer pending wakes for an fd event, and for the timer",
          "[event_loop][fd][timer]") {
  int p[2];
  REQUIRE(::pipe2(p, O_CLOEXEC | O_NONBLOCK) == 0);
  EventLoop loop;
  // 1. The fd becomes readable long before the timer: the fd wakes the loop.
  bool timer_ran = false, fd_ran = false;
  TimerHandle far = loop.call_later(10s, [&] { timer_ran = true; });
  loop.add_reader(p[0], [&] {
    char c;
    CHECK(::read(p[0], &c, 1) == 1);
    fd_ran = true;
    loop.remove_reader(p[0]);
    loop.stop();
  });
  ssize_t wrote = 0;
  std::thread writer([&] {
    std::this_thread::sleep_for(10ms);
    wrote = ::write(p[1], "z", 1);
  });
  const auto t0 = loop.time();
  loop.run_forever();
  writer.join();
  CHECK(wrote == 1);
  CHECK(fd_ran);
  CHECK_FALSE(timer_ran);
  CHECK(loop.time() - t0 < 10s);
  far.cancel();
  // 2. An fd that never becomes ready: the timer ends the sleep.
  bool fd_again = false;
  loop.add_reader(p[0], [&] { fd_again = true; });
  loop.call_later(10ms, [&] { loop.stop(); });
  loop.run_forever();
  CHECK_FALSE(fd_again);
  CHECK(loop.remove_reader(p[0]));
  loop.close();
  const LoopStats s = loop.stats();
  CHECK(s.sleeps >= 2);
  check_wake_bounds(s);
  check_ledger(s);
  ::close(p[0]);
  ::close(p[1]);
}

// ---- issue 10: huge delays, foreign futures, nested runs, timer pruning, fd dispatch, order ---

TEST_CASE("call_later/call_at with a huge delay never fire and do not freeze the loop",
          "[event_loop][timer][regression]") {
  // time() + nanoseconds::max() overflowed: the "never" timer wrapped to the distant past and
  // fired at once, and the loop computed its sleep from that wrapped deadline and froze (a
  // 1 ms timer beside it never ran). Deadlines saturate now: max() means never, min() is due.
  EventLoop loop;
  bool never = false, soon = false, past = false, past_delay = false;
  TimerHandle a = loop.call_later(std::chrono::nanoseconds::max(), [&] { never = true; });
  TimerHandle b = loop.call_at(EventLoop::time_point::max(), [&] { never = true; });
  loop.call_at(EventLoop::time_point::min(), [&] { past = true; });
  loop.call_later(std::chrono::nanoseconds::min(), [&] { past_delay = true; });
  loop.call_later(1ms, [&] {
    soon = true;
    loop.stop();
  });
  // A backstop, so that a frozen loop ends in failed checks instead of a hung test.
  std::atomic<bool> finished{false};
  std::thread backstop([&] {
    for (int i = 0; i < 6000 && !finished.load(); ++i) std::this_thread::sleep_for(10ms);
    if (!finished.load()) loop.stop();
  });
  loop.run_forever();
  finished.store(true);
  backstop.join();
  CHECK(soon);
  CHECK(past);
  CHECK(past_delay);
  CHECK_FALSE(never);
  CHECK(a.when() == EventLoop::time_point::max());
  CHECK(b.when() == EventLoop::time_point::max());
  CHECK(loop.stats().timer_heap == 2);  // the two "never" timers, still pending
  loop.close();
  CHECK_FALSE(never);
  check_ledger(loop.stats());
}

TEST_CASE("run_until_complete(f) with a future of another loop is refused before the loop runs",
          "[event_loop][run][regression]") {
  // It used to run forever (f's done callbacks go to the other loop); asyncio raises
  // ValueError. A future of a closed loop, and an empty Future, are refused the same way.
  EventLoop loop, other;
  auto f = create_future<int>(other);
  test::TurnBackstop backstop(loop, 100);  // today's main ran until this stopped it
  CHECK_THROWS_WITH(loop.run_until_complete(f),
                    Catch::Contains("run_until_complete()") && Catch::Contains("another event loop"));
  CHECK(loop.stats().iterations == 0);
  CHECK_FALSE(backstop.fired());
  EventLoop closed;
  auto g = create_future<int>(closed);
  closed.close();
  CHECK_THROWS_WITH(loop.run_until_complete(g), Catch::Contains("run_until_complete()") &&
                                                    Catch::Contains("another event loop"));
  CHECK_THROWS_WITH(loop.run_until_complete(Future<int>()),
                    Catch::Contains("run_until_complete()") && Catch::Contains("empty Future"));
  CHECK(loop.stats().iterations == 0);
  f.set_result(1);  // other's future is still usable on its own loop
  CHECK(other.run_until_complete(f) == 1);
  loop.close();
  other.close();
  check_ledger(loop.stats());
  check_ledger(other.stats());
}

TEST_CASE("a nested run_until_complete(coro) is refused before the coroutine becomes a task",
          "[event_loop][run][regression]") {
  // From inside the running loop (or inside another loop's callback), run_until_complete
  // threw, but only after create_task had scheduled the coroutine: it then ran anyway.
  EventLoop loop, other;
  bool ran = false, other_ran = false;
  auto body = [](bool& flag) -> Task<int> {
    flag = true;
    co_return 1;
  };
  std::string nested_error, other_error;
  loop.call_soon([&] {
    try {
      loop.run_until_complete(body(ran));
    } catch (const InvalidStateError& e) {
      nested_error = e.what();
    }
    try {
      other.run_until_complete(body(other_ran));
    } catch (const InvalidStateError& e) {
      other_error = e.what();
    }
    // Two more turns: a task created above would have run by then.
    loop.call_soon([&] { loop.call_soon([&] { loop.stop(); }); });
  });
  loop.run_forever();
  CHECK_THAT(nested_error, Catch::Contains("run_until_complete()") && Catch::Contains("already running"));
  CHECK_THAT(other_error, Catch::Contains("run_until_complete()") && Catch::Contains("another loop"));
  CHECK_FALSE(ran);
  CHECK(all_tasks_of(loop).empty());
  CHECK(all_tasks_of(other).empty());
  other.stop();
  other.run_forever();  // one iteration: a task created on `other` would run now
  CHECK_FALSE(other_ran);
  loop.close();
  other.close();
  check_ledger(loop.stats());
  check_ledger(other.stats());
}

TEST_CASE("cancelled timers are pruned: call_later + cancel cycles beside a long-lived timer stay bounded",
          "[event_loop][timer][regression]") {
  // Cancelled timers used to leave the heap only when they reached its top: with a timer
  // due earlier on top, every call_later(long) + cancel stayed (500k cycles: +76 MB).
  // asyncio's rule: rebuild the heap once more than half of it is cancelled (and it holds
  // more than 100 entries). So with one live timer the heap stays near 100 entries.
  EventLoop loop;
  TimerHandle heartbeat = loop.call_later(1h, [] {});  // the earliest deadline: the heap's top
  std::uint64_t most = 0;
  constexpr int kCycles = 100000;
  for (int i = 0; i < kCycles; ++i) {
    TimerHandle t = loop.call_later(2h, [] {});
    t.cancel();
    most = std::max(most, loop.stats().timer_heap);
  }
  INFO("largest timer heap: " << most << " entries for 1 live timer");
  CHECK(most <= 256);
  // The same while the loop runs: each turn adds and cancels one.
  int turns = 0;
  std::function<void()> turn = [&] {
    loop.call_later(2h, [] {}).cancel();
    most = std::max(most, loop.stats().timer_heap);
    if (++turns < 2000) loop.call_soon([&] { turn(); });
    else loop.stop();
  };
  loop.call_soon([&] { turn(); });
  loop.run_forever();
  CHECK(most <= 256);
  CHECK_FALSE(heartbeat.cancelled());
  loop.close();
  const LoopStats s = loop.stats();
  CHECK(s.cancelled == kCycles + 2000);
  CHECK(s.dropped == 1);  // the heartbeat
  CHECK(s.timer_heap == 0);
  check_ledger(s);
}

TEST_CASE("fd callbacks run after the sleep has ended: a post during one sends no wake signal",
          "[event_loop][fd][wake][regression]") {
  // The loop dispatched fd events inside the sleep, while the wake gate still said
  // "sleeping": a cross-thread post during a long fd callback paid an eventfd write (and a
  // spurious wakeup later) for a loop that was awake.
  int p[2];
  REQUIRE(::pipe2(p, O_CLOEXEC | O_NONBLOCK) == 0);
  REQUIRE(::write(p[1], "x", 1) == 1);
  EventLoop::Options opts;
  opts.spin_budget = 0ns;  // nothing ready and no timers: the first iteration sleeps in epoll
  EventLoop loop(opts);
  std::uint64_t signals_before = 0, signals_after = 0;
  bool posted_ran = false;
  loop.add_reader(p[0], [&] {
    char c;
    REQUIRE(::read(p[0], &c, 1) == 1);
    loop.remove_reader(p[0]);
    signals_before = loop.stats().wake_signals;
    std::thread poster([&] { loop.call_soon_threadsafe([&] {
      posted_ran = true;
      loop.stop();
    }); });
    poster.join();
    signals_after = loop.stats().wake_signals;
  });
  loop.run_forever();
  CHECK(posted_ran);
  CHECK(loop.stats().sleeps >= 1);  // the fd event ended a real sleep: the case under test
  CHECK(signals_after == signals_before);
  loop.close();
  check_ledger(loop.stats());
  check_wake_bounds(loop.stats());
  ::close(p[0]);
  ::close(p[1]);
}

TEST_CASE("order: a cross-thread post runs before an earlier call_soon (a deviation from asyncio)",
          "[event_loop][threadsafe]") {
  // Decided (issue 10): each iteration drains the inbox before the ready queue, so y
  // (call_soon_threadsafe from another thread) runs before x (call_soon on the loop thread)
  // although x was scheduled first; asyncio has one FIFO and runs x first. One FIFO would put
  // a lock or a second handoff on the hot path. docs/loop.md lists this deviation.
  EventLoop loop;
  std::vector<std::string> order;
  loop.call_soon([&] {
    loop.call_soon([&] { order.push_back("x"); });
    std::thread other([&] { loop.call_soon_threadsafe([&] { order.push_back("y"); }); });
    other.join();  // y is in the inbox before the next iteration starts
    loop.call_soon([&] { loop.stop(); });
  });
  loop.run_forever();
  CHECK(order == std::vector<std::string>{"y", "x"});
  loop.close();
  check_ledger(loop.stats());
}
