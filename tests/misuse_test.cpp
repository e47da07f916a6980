// tests/misuse_test.cpp — the rows of docs/misuse.md that no other suite tested: each misuse
// gets a clear error naming the user's call (never a hang, a crash or a silent drop).
//
//  * gather / shield / TaskGroup given a future (or a handle) of another loop: InvalidStateError
//    at the call, before anything is scheduled — they used to hang, or complete from the other
//    loop's thread.
//  * Huge timeouts (nanoseconds::max(), hours::max()) at every timed wait: the wait neither
//    returns at once (the old overflowed deadline lay in the past) nor hangs — a second thread
//    completes or closes the object only after the waiter has been seen waiting.
//
// Every wait here is bounded: a loop runs under a TurnBackstop (counted in loop turns), a
// blocking wait is released by a second thread, and a wait that never returns would trip
// the Catch2 ctest TIMEOUT only after a failed check already said which one.
#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <functional>
#include <stdexcept>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#include <handoff/executor/thread_pool_executor.hpp>
#include <handoff/loop/channel.hpp>
#include <handoff/loop/gather.hpp>
#include <handoff/loop/loop.hpp>
#include <handoff/loop/loop_thread.hpp>
#include <handoff/loop/shield.hpp>
#include <handoff/loop/task_group.hpp>
#include <handoff/loop/thread_future.hpp>
#include <handoff/loop/wait_for.hpp>
#include <handoff/primitives/deadline.hpp>

#include "hang_watch.hpp"
#include "loop_test_support.hpp"

using namespace handoff;
using namespace std::chrono_literals;
using handoff::test::check_ledger;

namespace {

// The message of f's InvalidStateError, or what happened instead.
template <class T>
std::string error_of(Future<T>& f) {
  if (!f.done()) return "still pending (it hung)";
  try {
    f.result();
    return "no error";
  } catch (const InvalidStateError& e) {
    return e.what();
  } catch (const std::exception& e) {
    return std::string("another error: ") + e.what();
  }
}

Task<int> value(int v, bool& ran) {
  ran = true;
  co_return v;
}

}  // namespace

// ---- combinators given another loop's future ---------------------------------------------------

TEST_CASE("gather() of another loop's future is InvalidStateError before any task is scheduled",
          "[gather][misuse][regression]") {
  // The gather hooked its done callback to the foreign future: with the other loop not
  // running it never completed (the awaiting task hung); with it running, the gather would
  // complete from that loop's thread. asyncio raises ValueError.
  EventLoop loop, other;
  Future<int> foreign = create_future<int>(other);
  bool task_ran = false, vec_ran = false;
  auto tuple_form = [&]() -> Task<int> {
    auto [a, b] = co_await gather(value(1, task_ran), foreign);
    co_return a + b;
  };
  auto vector_form = [&]() -> Task<int> {
    std::vector<Future<int>> futs{loop.create_task(value(2, vec_ran)), foreign};
    auto v = co_await gather(std::move(futs));
    co_return v[0];
  };
  auto outcomes_form = [&]() -> Task<int> {
    auto [a] = co_await gather(return_exceptions, foreign);
    co_return a.has_value() ? 1 : 0;
  };
  Future<int> t = loop.create_task(tuple_form());
  Future<int> v = loop.create_task(vector_form());
  Future<int> o = loop.create_task(outcomes_form());
  test::TurnBackstop turns(loop, 50);  // the fixed code needs a few turns; the old one hung
  loop.run_forever();  // until the backstop: a pending result below means it hung
  CHECK_THAT(error_of(t), Catch::Contains("gather()") && Catch::Contains("another event loop"));
  CHECK_THAT(error_of(v), Catch::Contains("gather()") && Catch::Contains("another event loop"));
  CHECK_THAT(error_of(o), Catch::Contains("gather()") && Catch::Contains("another event loop"));
  CHECK_FALSE(task_ran);  // the Task argument before the bad one was never scheduled
  // A future of a closed loop (its loop() is null): rejected too, not hooked to nothing.
  EventLoop closed;
  Future<int> of_closed = create_future<int>(closed);
  closed.close();
  auto closed_form = [&]() -> Task<int> { co_return std::get<0>(co_await gather(of_closed)); };
  Future<int> c = loop.create_task(closed_form());
  test::TurnBackstop turns2(loop, 50);
  loop.run_forever();
  CHECK_THAT(error_of(c), Catch::Contains("another event loop"));
  // From outside a running loop, the first future's loop is the gather's: a second future
  // of another loop is rejected at the call.
  Future<int> mine = create_future<int>(loop);
  CHECK_THROWS_WITH(gather(mine, foreign), Catch::Contains("gather()") && Catch::Contains("another event loop"));
  loop.close();
  other.close();
  check_ledger(loop.stats());
  check_ledger(other.stats());
}

TEST_CASE("shield() of another loop's future is InvalidStateError at the call", "[shield][misuse][regression]") {
  // The outer future belonged to the other loop: awaiting it failed only at the co_await (or,
  // from a plain callback, it completed from the other loop's thread or never).
  EventLoop loop, other;
  Future<int> foreign = create_future<int>(other);
  std::string message;
  loop.call_soon([&] {
    try {
      (void)shield(foreign);
      message = "no error";
    } catch (const InvalidStateError& e) {
      message = e.what();
    }
    loop.stop();
  });
  loop.run_forever();
  CHECK_THAT(message, Catch::Contains("shield()") && Catch::Contains("another event loop"));
  // Its own loop's future is fine, and a done foreign future is returned as it is (asyncio).
  auto own = [&]() -> Task<int> {
    Future<int> f = create_future<int>(loop);
    loop.call_soon([f]() mutable { f.set_result(5); });
    co_return co_await shield(f);
  };
  CHECK(loop.run_until_complete(loop.create_task(own())) == 5);
  loop.close();
  other.close();
  check_ledger(loop.stats());
}

TEST_CASE("TaskGroup::create_task from another loop's task is InvalidStateError", "[task_group][misuse][regression]") {
  // The handle passed to a task of another loop: the group's loop would be driven (create_task,
  // the group's bookkeeping) from the other loop's thread.
  EventLoop a, b;
  std::string message = "not reached";
  bool child_ran = false;
  auto from_b = [&](TaskGroup tg) -> Task<void> {
    try {
      (void)tg.create_task(value(1, child_ran));
      message = "no error";
    } catch (const InvalidStateError& e) {
      message = e.what();
    }
    co_return;
  };
  // b runs on a thread of its own (one thread runs one loop at a time).
  TaskGroup* handle = nullptr;
  std::atomic<bool> go{false}, done{false};
  auto body = [&]() -> Task<int> {
    co_return co_await task_group([&](TaskGroup& tg) -> Task<int> {
      handle = &tg;
      go.store(true);
      while (!done.load()) co_await sleep(1ms);
      co_return 3;
    });
  };
  std::thread other_loop([&] {
    while (!go.load()) std::this_thread::yield();
    b.run_until_complete(b.create_task(from_b(*handle)));
    done.store(true);
  });
  Future<int> f = a.create_task(body());
  CHECK(a.run_until_complete(f) == 3);
  other_loop.join();
  CHECK_THAT(message, Catch::Contains("TaskGroup::create_task()") && Catch::Contains("outside the group's event loop"));
  CHECK_FALSE(child_ran);
  a.close();
  b.close();
  check_ledger(a.stats());
  check_ledger(b.stats());
}

// ---- huge timeouts -----------------------------------------------------------------------------

TEST_CASE("saturating deadlines: any duration, clamped, never wrapped", "[deadline][timeout]") {
  using namespace std::chrono;
  using detail::saturating_nanos;
  CHECK(saturating_nanos(hours::max()) == nanoseconds::max());
  CHECK(saturating_nanos(hours::min()) == nanoseconds::min());
  CHECK(saturating_nanos(nanoseconds::max()) == nanoseconds::max());
  CHECK(saturating_nanos(duration<double>(1e30)) == nanoseconds::max());
  CHECK(saturating_nanos(hours(2)) == nanoseconds(7'200'000'000'000));
  CHECK(saturating_nanos(milliseconds(-3)) == nanoseconds(-3'000'000));
  CHECK(saturating_nanos(duration<double, std::milli>(1.5)) == nanoseconds(1'500'000));
  const auto now = steady_clock::now();
  CHECK(detail::saturating_add(now, hours::max()) == steady_clock::time_point::max());
  CHECK(detail::saturating_add(now, nanoseconds::min()) <= now);
  CHECK(detail::deadline_after(hours::max()) == steady_clock::time_point::max());
  CHECK(detail::nanos_until(steady_clock::time_point::max(), steady_clock::time_point::min()) == INT64_MAX);
  CHECK(detail::nanos_until(now, now + 1s) == 0);
  const detail::SaturatingNanos p = hours::max();
  CHECK(p.get() == nanoseconds::max());
}

TEST_CASE("hours::max() at the loop's timeouts: call_later, sleep and wait_for never end by themselves",
          "[event_loop][timeout][misuse][regression]") {
  // Each took std::chrono::nanoseconds: hours::max() converted to it wraps to -1 h, so the
  // timer fired and the sleep ended at once, and wait_for timed out at once.
  using std::chrono::hours;
  EventLoop loop;
  bool timer_fired = false, slept = false;
  TimerHandle h = loop.call_later(hours::max(), [&] { timer_fired = true; });
  auto sleeper = [](bool& flag) -> Task<void> {
    co_await sleep(hours::max());
    flag = true;
  };
  auto waiter = [](Future<int> f) -> Task<int> { co_return co_await wait_for(f, hours::max()); };
  Future<void> s = loop.create_task(sleeper(slept));
  Future<int> never = create_future<int>(loop);
  Future<int> w = loop.create_task(waiter(never));
  bool near_fired = false;
  loop.call_later(20ms, [&] {  // a near timer beside them still fires: the loop is not frozen
    near_fired = true;
    loop.stop();
  });
  loop.run_forever();
  CHECK(near_fired);
  CHECK_FALSE(timer_fired);
  CHECK_FALSE(slept);
  CHECK_FALSE(w.done());
  never.set_result(3);  // completing the operation ends the wait
  CHECK(loop.run_until_complete(w) == 3);
  s.cancel();
  CHECK_THROWS_AS(loop.run_until_complete(s), CancelledError);
  h.cancel();
  loop.close();
  CHECK_FALSE(timer_fired);
  check_ledger(loop.stats());
}

// ---- throwing value types ----------------------------------------------------------------------

namespace {
// Throws on its `throw_at`-th move (counted from reset()).
struct MoveBomb {
  int v;
  explicit MoveBomb(int x) : v(x) {}
  MoveBomb(MoveBomb&& o) : v(o.v) {
    if (++moves == throw_at) throw std::runtime_error("MoveBomb: move " + std::to_string(moves) + " threw");
  }
  MoveBomb(const MoveBomb&) = delete;
  static void reset(int at) {
    moves = 0;
    throw_at = at;
  }
  static inline int moves = 0;
  static inline int throw_at = 0;
};
}  // namespace

TEST_CASE("a task whose result's move throws completes with that exception (it terminated the process)",
          "[task][throw][misuse][regression]") {
  // TaskState::root_finished (noexcept) moved the result into the future: the second move of
  // the result (after co_return's) threw inside a noexcept function: std::terminate.
  EventLoop loop;
  auto produce = []() -> Task<MoveBomb> { co_return MoveBomb(4); };
  for (int at = 1; at <= 4; ++at) {
    INFO("the move that throws: " << at);
    Future<MoveBomb> f = loop.create_task(produce());
    std::string outcome;
    try {
      Future<MoveBomb> g = f;
      MoveBomb::reset(at);  // counts the task's own moves (co_return, completion, result)
      outcome = "value " + std::to_string(loop.run_until_complete(g).v);
    } catch (const std::runtime_error& e) {
      outcome = e.what();
    }
    CHECK(f.done());
    CHECK_THAT(outcome, Catch::Contains("value 4") || Catch::Contains("MoveBomb: move"));
  }
  loop.close();
  check_ledger(loop.stats());
}

// ---- huge timeouts at the channel --------------------------------------------------------------

TEST_CASE("hours::max() at the channel's timed waits: they last until the other side acts",
          "[channel][timeout][misuse][regression]") {
  // push_for/pop_for computed now + timeout (wrapped: TimeoutError at once); async_pop(d)
  // converted d to nanoseconds (hours::max() -> -1 h: the timer fired at once).
  using std::chrono::hours;
  test::HangWatch watch("hours::max() at the channel's timed waits");  // the old code then blocked in push()
  Channel<int> ch(1);
  std::string popped = "not returned";
  std::thread popper([&] {
    try {
      std::optional<int> v = ch.pop_for(hours::max());
      popped = v ? std::to_string(*v) : "end";
    } catch (const TimeoutError&) {
      popped = "TimeoutError";
    }
  });
  REQUIRE(test::eventually([&] { return ch.stats().pop_waits == 1; }));
  ch.push(5);
  popper.join();
  CHECK(popped == "5");

  ch.push(1);  // full
  std::string pushed = "not returned";
  std::thread pusher([&] {
    try {
      ch.push_for(2, std::chrono::nanoseconds::max());
      pushed = "ok";
    } catch (const TimeoutError&) {
      pushed = "TimeoutError";
    }
  });
  REQUIRE(test::eventually([&] { return ch.stats().push_waits == 1; }));
  CHECK(ch.pop() == 1);
  pusher.join();
  CHECK(pushed == "ok");
  CHECK(ch.pop() == 2);

  LoopThread lt;
  ThreadFuture<int> f = run_coroutine_threadsafe(
      [](Channel<int>& c) -> Task<int> {
        std::optional<int> v = co_await c.async_pop(hours::max());
        co_return v.value_or(-1);
      }(ch),
      lt.threadsafe());
  REQUIRE(test::eventually([&] { return ch.stats().pop_waits == 2; }));
  ch.push(7);
  CHECK(f.get(10s) == 7);
  CHECK(ch.stats().balanced());
}


// ---- huge timeouts at ThreadFuture and the pool ------------------------------------------------

TEST_CASE("hours::max() and nanoseconds::max() at ThreadFuture::get(timeout) / wait_for; a negative timeout polls",
          "[thread_future][timeout][misuse][regression]") {
  // now + nanoseconds::max() wrapped (TimeoutError at once); a negative timeout was taken as
  // "no timeout" and waited forever.
  for (int which = 0; which < 2; ++which) {
    auto st = std::make_shared<ThreadFutureState<int>>();
    ThreadFuture<int> f(st);
    std::string got = "not returned";
    std::thread waiter([&] {
      try {
        got = std::to_string(which == 0 ? f.get(std::chrono::hours::max()) : f.get(std::chrono::nanoseconds::max()));
      } catch (const TimeoutError&) {
        got = "TimeoutError";
      }
    });
    std::this_thread::sleep_for(20ms);  // not an assertion: the waiter is usually waiting by now
    st->set_value(3);
    waiter.join();
    CHECK(got == "3");
  }
  auto st = std::make_shared<ThreadFutureState<int>>();
  ThreadFuture<int> f(st);
  test::HangWatch watch("ThreadFuture::wait_for(-1 ms) must return at once");
  CHECK_FALSE(f.wait_for(-1ms));
  CHECK_FALSE(f.wait_for(std::chrono::hours::min()));
  CHECK_THROWS_AS(f.get(-1ms), TimeoutError);
}

TEST_CASE("hours::max() as map()'s timeout: the results are waited for, not timed out at once",
          "[executor][timeout][misuse][regression]") {
  ThreadPoolExecutor pool(1);
  std::atomic<bool> gate{false};
  auto results = pool.map([&gate](int x) {
    while (!gate.load()) std::this_thread::yield();
    return x * 2;
  }, std::vector<int>{1, 2}, std::chrono::hours::max());
  std::thread opener([&] {
    std::this_thread::sleep_for(20ms);  // not an assertion: next() is usually waiting by now
    gate.store(true);
  });
  std::vector<int> out;
  std::string error;
  try {
    while (results.has_next()) out.push_back(results.next());
  } catch (const TimeoutError& e) {
    error = e.what();
  }
  opener.join();
  CHECK(error.empty());
  CHECK(out == std::vector<int>{2, 4});
  pool.shutdown(true);
  CHECK(pool.stats().balanced());
}

TEST_CASE("an empty LoopRef (default-constructed or moved from) is InvalidStateError, not a null deref",
          "[loop][misuse][regression]") {
  LoopRef empty;
  CHECK_FALSE(empty);
  CHECK(empty.is_closed());
  CHECK_THROWS_WITH(empty.call_soon_threadsafe([] {}), Catch::Contains("empty LoopRef"));
  CHECK_THROWS_WITH(empty.stop(), Catch::Contains("LoopRef::stop() on an empty LoopRef"));
  EventLoop loop;
  LoopRef ref = loop.threadsafe();
  LoopRef taken = std::move(ref);
  CHECK_THROWS_AS(ref.call_soon_threadsafe([] {}), InvalidStateError);  // NOLINT(bugprone-use-after-move): the misuse under test
  CHECK_FALSE(taken.is_closed());
  int ran = 0;
  taken.call_soon_threadsafe([&] { ++ran; loop.stop(); });
  loop.run_forever();
  CHECK(ran == 1);
  loop.close();
}
