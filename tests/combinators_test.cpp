// Unit tests of the coroutine combinators: wait_for (loop/wait_for.hpp), gather
// (loop/gather.hpp), shield (loop/shield.hpp), task_group (loop/task_group.hpp).
//
// What is pinned down: results and their order; exceptions propagating unchanged; timeouts;
// cancellation of the awaiting task at each combinator (and what happens to the inner
// operations: cancelled and waited for, or left running, as the combinator promises);
// ordering — a combinator that promises to wait returns only after its children's cleanup
// code ran; and lost-nothing: a result produced before a cancellation is returned, an
// exception nobody retrieved reaches the loop's exception handler.
//
// The [core-regression] tests reproduced two bugs in TaskBase (task.hpp) found with these
// headers (a stale scheduled step; a pending cancel not forwarded to an awaited future); both
// are fixed and the tests keep them fixed.
#include <catch2/catch.hpp>

#include <algorithm>
#include <chrono>
#include <exception>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <tuple>
#include <variant>
#include <vector>

#include <handoff/loop/event.hpp>
#include <handoff/loop/gather.hpp>
#include <handoff/loop/loop.hpp>
#include <handoff/loop/queue.hpp>
#include <handoff/loop/shield.hpp>
#include <handoff/loop/task_group.hpp>
#include <handoff/loop/wait_for.hpp>

namespace {

using namespace handoff;
using namespace std::chrono_literals;

std::string what_of(const std::exception_ptr& e) {
  if (!e) return "(none)";
  try {
    std::rethrow_exception(e);
  } catch (const std::exception& ex) {
    return ex.what();
  } catch (...) {
    return "(non-std exception)";
  }
}

template <class E>
bool is(const std::exception_ptr& e) {
  if (!e) return false;
  try {
    std::rethrow_exception(e);
  } catch (const E&) {
    return true;
  } catch (...) {
    return false;
  }
}

struct Fixture {
  EventLoop loop;
  std::vector<std::string> reported;
  Fixture() {
    loop.set_exception_handler([this](const ExceptionContext& c) {
      reported.push_back(c.message + " | " + what_of(c.exception));
    });
  }
  ~Fixture() {
    cancel_all_tasks(loop);
    loop.close();
  }
  template <class T>
  T run(Task<T> t) {
    return loop.run_until_complete(std::move(t));
  }
};

Task<void> settle(int n = 6) {
  for (int i = 0; i < n; ++i) co_await sleep(0ns);
}

template <class A>
Task<std::exception_ptr> error_of(A aw) {
  std::exception_ptr err;
  try {
    (void)co_await std::move(aw);  // discard the result (a Guard is released at once)
  } catch (...) {
    err = std::current_exception();
  }
  co_return err;
}

Task<int> value_after(std::chrono::nanoseconds d, int v) {
  co_await sleep(d);
  co_return v;
}

Task<void> fail_after(std::chrono::nanoseconds d, std::string msg) {
  co_await sleep(d);
  throw std::runtime_error(msg);
}

// Sleeps for d; when cancelled, runs `cleanup` loop iterations of cleanup (awaits!) before
// letting the CancelledError go on, and logs each phase.
Task<int> slow_to_cancel(std::chrono::nanoseconds d, int cleanup, std::vector<std::string>& log,
                         std::string name) {
  bool cancelled = false;
  try {
    co_await sleep(d);
  } catch (const CancelledError&) {
    cancelled = true;
  }
  if (!cancelled) {
    log.push_back(name + ":done");
    co_return 1;
  }
  log.push_back(name + ":cancelling");
  for (int i = 0; i < cleanup; ++i) co_await sleep(0ns);
  log.push_back(name + ":cleaned-up");
  throw CancelledError("cleaned up");
}

Task<void> sleep_then_nothing() { co_await sleep(1ms); }

// Ignores one cancellation and returns a value anyway.
Task<int> swallow_cancel(int v) {
  try {
    co_await sleep(10s);
  } catch (const CancelledError&) {
  }
  co_return v;
}

}  // namespace

// ============================== wait_for ==============================

TEST_CASE("wait_for: in time — a Task, a Future, any awaitable, void", "[wait_for]") {
  Fixture fx;
  fx.run([](EventLoop& loop) -> Task<void> {
    const int a = co_await wait_for(value_after(1ms, 1), 10s);
    CHECK(a == 1);
    Future<int> f = loop.create_task(value_after(1ms, 2));
    const int b = co_await wait_for(f, 10s);
    CHECK(b == 2);
    Queue<int> q;
    q.put_nowait(3);
    const int c = co_await wait_for(q.get(), 10s);
    CHECK(c == 3);
    co_await wait_for(sleep(1ms), 10s);
    Future<int> done = loop.create_task(value_after(0ns, 4));
    co_await settle();
    const int d = co_await wait_for(done, 0ns);  // timeout <= 0 on a done future: its result
    CHECK(d == 4);
  }(fx.loop));
}

TEST_CASE("wait_for: timeout cancels the operation, waits for its cleanup, then TimeoutError",
          "[wait_for][timeout]") {
  Fixture fx;
  std::vector<std::string> log;
  fx.run([](std::vector<std::string>& log) -> Task<void> {
    std::exception_ptr e = co_await error_of(wait_for(slow_to_cancel(10s, 3, log, "op"), 20ms));
    log.push_back("wait_for returned");
    CHECK(is<TimeoutError>(e));
    CHECK_THAT(what_of(e), Catch::Contains("did not finish within 20 ms"));
    CHECK(log == std::vector<std::string>{"op:cancelling", "op:cleaned-up", "wait_for returned"});
  }(log));
}

TEST_CASE("wait_for: timeout <= 0 cancels at once; the operation never starts", "[wait_for][timeout]") {
  Fixture fx;
  std::vector<std::string> log;
  fx.run([](std::vector<std::string>& log) -> Task<void> {
    std::exception_ptr e = co_await error_of(wait_for(slow_to_cancel(10s, 0, log, "op"), 0ns));
    CHECK(is<TimeoutError>(e));
    CHECK(log.empty());
    e = co_await error_of(wait_for(slow_to_cancel(10s, 0, log, "op"), -5ms));
    CHECK(is<TimeoutError>(e));
    CHECK(log.empty());
  }(log));
}

TEST_CASE("wait_for: the operation's own exception propagates unchanged", "[wait_for]") {
  Fixture fx;
  fx.run([]() -> Task<void> {
    std::exception_ptr e = co_await error_of(wait_for(fail_after(1ms, "boom"), 10s));
    CHECK(what_of(e) == "boom");
  }());
  CHECK(fx.reported.empty());
}

TEST_CASE("wait_for: an operation that swallows the cancellation returns its value (3.11)",
          "[wait_for][timeout]") {
  Fixture fx;
  fx.run([]() -> Task<void> {
    const int v = co_await wait_for(swallow_cancel(42), 10ms);
    CHECK(v == 42);
  }());
}

TEST_CASE("wait_for: timeout on a Future cancels that task", "[wait_for][timeout]") {
  Fixture fx;
  fx.run([](EventLoop& loop) -> Task<void> {
    Future<int> f = loop.create_task(value_after(10s, 1));
    std::exception_ptr e = co_await error_of(wait_for(f, 10ms));
    CHECK(is<TimeoutError>(e));
    CHECK(f.cancelled());
    // A plain future: cancelled as well.
    Future<int> plain = create_future<int>(loop);
    e = co_await error_of(wait_for(plain, 10ms));
    CHECK(is<TimeoutError>(e));
    CHECK(plain.cancelled());
  }(fx.loop));
}

TEST_CASE("wait_for: cancelling the awaiting task cancels the operation and waits for it",
          "[wait_for][cancel]") {
  Fixture fx;
  std::vector<std::string> log;
  fx.run([](std::vector<std::string>& log, EventLoop& loop) -> Task<void> {
    auto waiter = [](std::vector<std::string>& log) -> Task<void> {
      std::exception_ptr e = co_await error_of(wait_for(slow_to_cancel(10s, 3, log, "op"), 10s));
      log.push_back(is<CancelledError>(e) ? "waiter:cancelled" : "waiter:" + what_of(e));
    };
    Future<void> w = loop.create_task(waiter(log));
    co_await settle(2);
    w.cancel();
    co_await w;
    CHECK(log == std::vector<std::string>{"op:cancelling", "op:cleaned-up", "waiter:cancelled"});
  }(log, fx.loop));
}

TEST_CASE("wait_for: a cancellation during the post-timeout wait is forwarded to the operation, "
          "wins over TimeoutError, and the operation still finishes first",
          "[wait_for][cancel][timeout]") {
  Fixture fx;
  std::vector<std::string> log;
  fx.run([](std::vector<std::string>& log, EventLoop& loop) -> Task<void> {
    // Cleans up for a while after the first cancellation; a second one cuts that short.
    auto stubborn = [](std::vector<std::string>& log) -> Task<int> {
      std::exception_ptr first = co_await error_of(sleep(10s));
      log.push_back(is<CancelledError>(first) ? "op:cancelling" : "op:not cancelled");
      std::exception_ptr again = co_await error_of(settle(20));
      log.push_back(is<CancelledError>(again) ? "op:cancelled again" : "op:cleaned-up");
      throw CancelledError("op gave up");
    };
    auto waiter = [](std::vector<std::string>& log, Task<int> op) -> Task<void> {
      std::exception_ptr e = co_await error_of(wait_for(std::move(op), 5ms));
      log.push_back(is<CancelledError>(e) ? "waiter:cancelled" : "waiter:" + what_of(e));
    };
    Future<void> w = loop.create_task(waiter(log, stubborn(log)));
    while (log.empty()) co_await sleep(0ns);  // the timeout fired: op is cleaning up
    w.cancel();
    co_await w;
    CHECK(log == std::vector<std::string>{"op:cancelling", "op:cancelled again", "waiter:cancelled"});
  }(log, fx.loop));
}

TEST_CASE("wait_for: an operation that handles the awaiting task's cancellation decides the "
          "outcome; the cancellation is used up",
          "[wait_for][cancel]") {
  Fixture fx;
  std::vector<std::string> log;
  fx.run([](std::vector<std::string>& log, EventLoop& loop) -> Task<void> {
    auto waiter = [](std::vector<std::string>& log) -> Task<void> {
      const int v = co_await wait_for(swallow_cancel(9), 10s);
      log.push_back("got " + std::to_string(v));
      std::exception_ptr e = co_await error_of(sleep(0ns));
      log.push_back(e ? "then " + what_of(e) : "then not cancelled");
      e = co_await error_of(wait_for(fail_after(10s, "unused"), 10s));
      log.push_back(is<CancelledError>(e) ? "second:cancelled" : "second:" + what_of(e));
    };
    Future<void> w = loop.create_task(waiter(log));
    co_await settle(2);
    w.cancel();  // swallow_cancel returns 9
    while (log.size() < 2) co_await sleep(0ns);
    w.cancel();  // fail_after ends cancelled: CancelledError
    co_await w;
    CHECK(log == std::vector<std::string>{"got 9", "then not cancelled", "second:cancelled"});
  }(log, fx.loop));
}

TEST_CASE("wait_for: a result produced before the cancellation is returned, and the "
          "cancellation is delivered at the next await",
          "[wait_for][cancel]") {
  Fixture fx;
  std::vector<std::string> log;
  fx.run([](std::vector<std::string>& log, EventLoop& loop) -> Task<void> {
    Queue<int> q;
    auto waiter = [](Queue<int>& q, std::vector<std::string>& log) -> Task<void> {
      const int v = co_await wait_for(q.get(), 10s);
      log.push_back("got " + std::to_string(v));
      std::exception_ptr e = co_await error_of(sleep(0ns));
      log.push_back(is<CancelledError>(e) ? "then cancelled" : "then " + what_of(e));
    };
    Future<void> w = loop.create_task(waiter(q, log));
    co_await settle();
    q.put_nowait(7);  // the inner get() takes it in the next iteration ...
    loop.call_soon([w]() mutable { w.cancel(); });  // ... and right after that, w is cancelled
    co_await w;
    CHECK(log == std::vector<std::string>{"got 7", "then cancelled"});
    CHECK(q.empty());
  }(log, fx.loop));
}

TEST_CASE("wait_for / task_group: a cancellation pending when they start — the operation "
          "never starts, CancelledError",
          "[wait_for][task_group][cancel]") {
  Fixture fx;
  bool ran = false;
  std::vector<std::string> log;
  fx.run([](bool& ran, std::vector<std::string>& log, EventLoop& loop) -> Task<void> {
    auto body = [](std::shared_ptr<Future<void>> self, bool& ran, std::vector<std::string>& log) -> Task<void> {
      auto op = [](bool& ran) -> Task<int> {
        ran = true;
        co_return 1;
      };
      self->cancel();
      std::exception_ptr e = co_await error_of(wait_for(op(ran), 10s));
      log.push_back(is<CancelledError>(e) ? "wait_for:cancelled" : "wait_for:" + what_of(e));
      self->cancel();
      e = co_await error_of(task_group([&](TaskGroup& tg) -> Task<void> {
        ran = true;
        (void)tg.create_task(op(ran));
        co_return;
      }));
      log.push_back(is<CancelledError>(e) ? "task_group:cancelled" : "task_group:" + what_of(e));
    };
    auto self = std::make_shared<Future<void>>();
    *self = loop.create_task(body(self, ran, log));
    co_await *self;
  }(ran, log, fx.loop));
  CHECK_FALSE(ran);
  CHECK(log == std::vector<std::string>{"wait_for:cancelled", "task_group:cancelled"});
}

// ============================== gather ==============================

TEST_CASE("gather: tuple of results in argument order; children start at once", "[gather]") {
  Fixture fx;
  std::vector<std::string> log;
  fx.run([](std::vector<std::string>& log, EventLoop& loop) -> Task<void> {
    auto rec = [](std::vector<std::string>& log, std::string name, std::chrono::nanoseconds d) -> Task<std::string> {
      log.push_back(name + ":start");
      co_await sleep(d);
      co_return name;
    };
    auto nothing = [](std::vector<std::string>& log) -> Task<void> {
      log.push_back("void:start");
      co_return;
    };
    Future<int> existing = loop.create_task(value_after(1ms, 5));
    auto g = gather(rec(log, "slow", 20ms), rec(log, "fast", 1ms), nothing(log), existing);
    co_await settle(1);
    CHECK(log == std::vector<std::string>{"slow:start", "fast:start", "void:start"});  // before any await on g
    auto [a, b, c, d] = co_await g;
    CHECK(a == "slow");
    CHECK(b == "fast");
    CHECK(std::is_same_v<decltype(c), std::monostate>);
    CHECK(d == 5);
    std::tuple<> none = co_await gather();
    (void)none;
  }(log, fx.loop));
}

TEST_CASE("gather: vectors of tasks and futures; vector of void tasks", "[gather]") {
  Fixture fx;
  fx.run([](EventLoop& loop) -> Task<void> {
    std::vector<Task<int>> ts;
    for (int i = 0; i < 5; ++i) ts.push_back(value_after(std::chrono::milliseconds(5 - i), i));
    std::vector<int> v = co_await gather(std::move(ts));
    CHECK(v == std::vector<int>{0, 1, 2, 3, 4});

    std::vector<Future<int>> fs;
    for (int i = 0; i < 3; ++i) fs.push_back(loop.create_task(value_after(0ns, i * 10)));
    v = co_await gather(std::move(fs));
    CHECK(v == std::vector<int>{0, 10, 20});

    int ran = 0;
    auto bump = [](int& ran) -> Task<void> {
      ++ran;
      co_return;
    };
    std::vector<Task<void>> vs;
    for (int i = 0; i < 4; ++i) vs.push_back(bump(ran));
    co_await gather(std::move(vs));
    CHECK(ran == 4);
    std::vector<int> empty = co_await gather(std::vector<Task<int>>{});
    CHECK(empty.empty());
  }(fx.loop));
}

TEST_CASE("gather: the first exception propagates, the others keep running; a later failure "
          "is reported, not dropped",
          "[gather]") {
  Fixture fx;
  std::vector<std::string> log;
  fx.run([](std::vector<std::string>& log) -> Task<void> {
    auto survivor = [](std::vector<std::string>& log) -> Task<int> {
      co_await sleep(20ms);
      log.push_back("survivor done");
      co_return 1;
    };
    std::exception_ptr e = co_await error_of(gather(fail_after(1ms, "first"), survivor(log),
                                                    fail_after(10ms, "second")));
    CHECK(what_of(e) == "first");
    CHECK(log.empty());
    co_await sleep(40ms);
    CHECK(log == std::vector<std::string>{"survivor done"});
  }(log));
  REQUIRE(fx.reported.size() == 1);
  CHECK(fx.reported[0] == "Task exception was never retrieved | second");
}

TEST_CASE("gather: a child cancelled on its own fails the gather with CancelledError", "[gather][cancel]") {
  Fixture fx;
  fx.run([](EventLoop& loop) -> Task<void> {
    Future<int> child = loop.create_task(value_after(10s, 1));
    Future<std::tuple<int, int>> g = gather(child, value_after(1ms, 2));
    co_await settle(1);
    child.cancel("by hand");
    std::exception_ptr e = co_await error_of(g);
    CHECK(is<CancelledError>(e));
    CHECK_THAT(what_of(e), Catch::Contains("by hand"));
    CHECK_FALSE(g.cancelled());  // failed with the child's CancelledError (asyncio too)
  }(fx.loop));
}

TEST_CASE("gather: cancelling it cancels every child and completes only after all finished",
          "[gather][cancel]") {
  Fixture fx;
  std::vector<std::string> log;
  fx.run([](std::vector<std::string>& log, EventLoop& loop) -> Task<void> {
    // Cancel the gather future itself.
    auto g = gather(slow_to_cancel(10s, 1, log, "a"), slow_to_cancel(10s, 5, log, "b"));
    co_await settle(2);
    CHECK(g.cancel("stop"));
    std::exception_ptr e = co_await error_of(g);
    log.push_back("gather done");
    CHECK(is<CancelledError>(e));
    CHECK(g.cancelled());
    CHECK(log == std::vector<std::string>{"a:cancelling", "b:cancelling", "a:cleaned-up",
                                          "b:cleaned-up", "gather done"});
    log.clear();

    // Cancel the task awaiting it.
    auto waiter = [](std::vector<std::string>& log) -> Task<void> {
      std::exception_ptr e = co_await error_of(gather(slow_to_cancel(10s, 3, log, "c"), value_after(10s, 1)));
      log.push_back(is<CancelledError>(e) ? "waiter:cancelled" : "waiter:" + what_of(e));
    };
    Future<void> w = loop.create_task(waiter(log));
    co_await settle(2);
    w.cancel();
    co_await w;
    CHECK(log == std::vector<std::string>{"c:cancelling", "c:cleaned-up", "waiter:cancelled"});
  }(log, fx.loop));
}

TEST_CASE("gather(return_exceptions): every outcome comes back", "[gather]") {
  Fixture fx;
  fx.run([](EventLoop& loop) -> Task<void> {
    Future<int> victim = loop.create_task(value_after(10s, 0));
    auto g = gather(return_exceptions, value_after(1ms, 1), fail_after(1ms, "bad"), victim);
    co_await settle(1);
    victim.cancel("victim");
    auto [ok, bad, cancelled] = co_await g;
    CHECK(ok.has_value());
    CHECK(ok.value() == 1);
    CHECK_FALSE(bad.has_value());
    CHECK(what_of(bad.exception()) == "bad");
    CHECK_THROWS_WITH(bad.value(), "bad");
    CHECK(cancelled.cancelled());
    CHECK(is<CancelledError>(cancelled.exception()));

    std::vector<Task<void>> ts;
    ts.push_back(fail_after(0ns, "x"));
    ts.push_back(sleep_then_nothing());
    std::vector<Outcome<void>> outs = co_await gather(return_exceptions, std::move(ts));
    REQUIRE(outs.size() == 2);
    CHECK_FALSE(outs[0].has_value());
    CHECK(outs[1].has_value());
  }(fx.loop));
  CHECK(fx.reported.empty());  // every exception was handed back: nothing unretrieved
}

TEST_CASE("gather: a failed gather nobody awaits reports its exception when destroyed", "[gather]") {
  Fixture fx;
  fx.run([]() -> Task<void> {
    {
      auto g = gather(fail_after(0ns, "unseen"), value_after(0ns, 1));
      co_await settle();
      CHECK(g.done());
    }  // dropped unawaited
  }());
  REQUIRE(fx.reported.size() == 1);
  CHECK(fx.reported[0] == "gather() exception was never retrieved | unseen");
}

// ============================== shield ==============================

TEST_CASE("shield: passes the result through; an already-done future is returned as is", "[shield]") {
  Fixture fx;
  fx.run([](EventLoop& loop) -> Task<void> {
    const int v = co_await shield(value_after(1ms, 3));
    CHECK(v == 3);
    Future<int> done = loop.create_task(value_after(0ns, 4));
    co_await settle();
    Future<int> same = shield(done);
    CHECK(same.state() == done.state());
    std::exception_ptr e = co_await error_of(shield(fail_after(0ns, "inner failed")));
    CHECK(what_of(e) == "inner failed");
  }(fx.loop));
}

TEST_CASE("shield: cancelling the awaiter does not cancel the inner task", "[shield][cancel]") {
  Fixture fx;
  std::vector<std::string> log;
  fx.run([](std::vector<std::string>& log, EventLoop& loop) -> Task<void> {
    Future<int> inner = loop.create_task(slow_to_cancel(20ms, 0, log, "inner"));
    auto waiter = [](Future<int> inner, std::vector<std::string>& log) -> Task<void> {
      std::exception_ptr e = co_await error_of(shield(inner));
      log.push_back(is<CancelledError>(e) ? "waiter:cancelled" : "waiter:" + what_of(e));
    };
    Future<void> w = loop.create_task(waiter(inner, log));
    co_await settle();
    w.cancel();
    co_await w;
    CHECK(log == std::vector<std::string>{"waiter:cancelled"});  // at once
    CHECK_FALSE(inner.done());
    const int v = co_await inner;
    CHECK(v == 1);
    CHECK(log == std::vector<std::string>{"waiter:cancelled", "inner:done"});

    // The inner cancelled by someone else: the outer is cancelled too.
    Future<int> other = loop.create_task(value_after(10s, 0));
    Future<int> outer = shield(other);
    other.cancel();
    std::exception_ptr e = co_await error_of(outer);
    CHECK(is<CancelledError>(e));
    CHECK(outer.cancelled());
  }(log, fx.loop));
}

TEST_CASE("shield: an inner failure after the awaiter gave up reaches the exception handler",
          "[shield][cancel]") {
  Fixture fx;
  fx.run([](EventLoop& loop) -> Task<void> {
    auto waiter = []() -> Task<void> { co_await shield(fail_after(10ms, "late failure")); };
    Future<void> w = loop.create_task(waiter());
    co_await settle();
    w.cancel();
    std::exception_ptr e = co_await error_of(w);
    CHECK(is<CancelledError>(e));
    co_await sleep(30ms);
  }(fx.loop));
  REQUIRE(fx.reported.size() == 1);
  CHECK(fx.reported[0] == "Task exception was never retrieved | late failure");
}

// ============================== task_group ==============================

TEST_CASE("task_group: returns the body's result once every task has finished", "[task_group]") {
  Fixture fx;
  std::vector<std::string> log;
  fx.run([](std::vector<std::string>& log) -> Task<void> {
    auto child = [](std::vector<std::string>& log, std::string name, std::chrono::nanoseconds d) -> Task<int> {
      co_await sleep(d);
      log.push_back(name);
      co_return static_cast<int>(name.size());
    };
    Future<int> kept;
    const int r = co_await task_group([&](TaskGroup& tg) -> Task<int> {
      kept = tg.create_task(child(log, "slow", 20ms));
      Future<int> fast = tg.create_task(child(log, "fast!", 1ms));
      const int f = co_await fast;
      CHECK(tg.running() == 2);  // the body and "slow"
      log.push_back("body");
      co_return f * 10;
    });
    log.push_back("after");
    CHECK(r == 50);
    CHECK(kept.result() == 4);
    CHECK(log == std::vector<std::string>{"fast!", "body", "slow", "after"});
    co_await task_group([](TaskGroup&) -> Task<void> { co_return; });  // empty group, void body
  }(log));
}

TEST_CASE("task_group: a failing task cancels the rest and the body; all finish before ExceptionGroup",
          "[task_group][cancel]") {
  Fixture fx;
  std::vector<std::string> log;
  fx.run([](std::vector<std::string>& log) -> Task<void> {
    std::exception_ptr e = co_await error_of(task_group([&](TaskGroup& tg) -> Task<void> {
      (void)tg.create_task(slow_to_cancel(10s, 3, log, "sibling"));
      (void)tg.create_task(fail_after(5ms, "child failed"));
      bool body_cancelled = false;
      try {
        co_await sleep(10s);
      } catch (const CancelledError&) {
        body_cancelled = true;
      }
      log.push_back(body_cancelled ? "body:cancelled" : "body:done");
      std::exception_ptr late = co_await error_of(sleep(0ns));  // cancelled already delivered
      CHECK_FALSE(late);
      try {
        (void)tg.create_task(value_after(0ns, 1));
      } catch (const InvalidStateError& ex) {
        log.push_back(std::string("create_task:") + (std::string(ex.what()).find("shutting down") != std::string::npos ? "refused" : ex.what()));
      }
    }));
    log.push_back("scope done");
    REQUIRE(is<ExceptionGroup>(e));
    try {
      std::rethrow_exception(e);
    } catch (const ExceptionGroup& g) {
      REQUIRE(g.size() == 1);
      CHECK(what_of(g.first()) == "child failed");
      CHECK_THAT(std::string(g.what()), Catch::Contains("[1] child failed"));
    }
    // The body is the group's first task, so it is cancelled first.
    CHECK(log == std::vector<std::string>{"body:cancelled", "sibling:cancelling", "create_task:refused",
                                          "sibling:cleaned-up", "scope done"});
  }(log));
  CHECK(fx.reported.empty());  // the group retrieved the failure itself
}

TEST_CASE("task_group: several failures are all kept, in order; the body's own failure counts",
          "[task_group]") {
  Fixture fx;
  fx.run([]() -> Task<void> {
    std::exception_ptr e = co_await error_of(task_group([](TaskGroup& tg) -> Task<void> {
      // Both fail in the same iteration, before the abort can cancel either.
      (void)tg.create_task(fail_after(0ns, "one"));
      (void)tg.create_task(fail_after(0ns, "two"));
      co_await sleep(10s);
    }));
    REQUIRE(is<ExceptionGroup>(e));
    try {
      std::rethrow_exception(e);
    } catch (const ExceptionGroup& g) {
      REQUIRE(g.size() == 2);
      CHECK(what_of(g.exceptions()[0]) == "one");
      CHECK(what_of(g.exceptions()[1]) == "two");
    }

    std::vector<std::string> log;
    e = co_await error_of(task_group([&](TaskGroup& tg) -> Task<void> {
      (void)tg.create_task(slow_to_cancel(10s, 1, log, "child"));
      co_await sleep(1ms);
      throw std::logic_error("body failed");
    }));
    REQUIRE(is<ExceptionGroup>(e));
    try {
      std::rethrow_exception(e);
    } catch (const ExceptionGroup& g) {
      REQUIRE(g.size() == 1);
      CHECK(what_of(g.first()) == "body failed");
    }
    CHECK(log == std::vector<std::string>{"child:cancelling", "child:cleaned-up"});
  }());
}

TEST_CASE("task_group: cancelling the awaiting task cancels the group, waits, throws CancelledError",
          "[task_group][cancel]") {
  Fixture fx;
  std::vector<std::string> log;
  fx.run([](std::vector<std::string>& log, EventLoop& loop) -> Task<void> {
    auto scope = [](std::vector<std::string>& log) -> Task<void> {
      std::exception_ptr e = co_await error_of(task_group([&](TaskGroup& tg) -> Task<void> {
        (void)tg.create_task(slow_to_cancel(10s, 4, log, "child"));
        co_await slow_to_cancel(10s, 1, log, "body");
      }));
      log.push_back(is<CancelledError>(e) ? "scope:cancelled" : "scope:" + what_of(e));
    };
    Future<void> s = loop.create_task(scope(log));
    co_await settle(3);
    s.cancel();
    co_await s;
    REQUIRE(log.size() == 5);
    CHECK(log.back() == "scope:cancelled");
    CHECK(log[4] == "scope:cancelled");
    CHECK(std::count(log.begin(), log.end(), "child:cleaned-up") == 1);
    CHECK(std::count(log.begin(), log.end(), "body:cleaned-up") == 1);
  }(log, fx.loop));
}

TEST_CASE("task_group: failures win over the awaiting task's cancellation, which stays pending",
          "[task_group][cancel]") {
  Fixture fx;
  std::vector<std::string> log;
  fx.run([](std::vector<std::string>& log, EventLoop& loop) -> Task<void> {
    auto scope = [](std::vector<std::string>& log) -> Task<void> {
      auto failing_on_cancel = []() -> Task<void> {
        bool cancelled = false;
        try {
          co_await sleep(10s);
        } catch (const CancelledError&) {
          cancelled = true;
        }
        if (cancelled) throw std::runtime_error("failed while cancelling");
      };
      std::exception_ptr e = co_await error_of(task_group([&](TaskGroup& tg) -> Task<void> {
        (void)tg.create_task(failing_on_cancel());
        co_await sleep(10s);
      }));
      log.push_back(is<ExceptionGroup>(e) ? "scope:group" : "scope:" + what_of(e));
      e = co_await error_of(sleep(0ns));
      log.push_back(is<CancelledError>(e) ? "next await:cancelled" : "next await:" + what_of(e));
    };
    Future<void> s = loop.create_task(scope(log));
    co_await settle(3);
    s.cancel();
    co_await s;
    CHECK(log == std::vector<std::string>{"scope:group", "next await:cancelled"});
  }(log, fx.loop));
}

TEST_CASE("task_group: tasks may add tasks; a task cancelled on its own is not a failure; "
          "create_task after the scope is refused",
          "[task_group]") {
  Fixture fx;
  fx.run([](EventLoop& loop) -> Task<void> {
    int leaves = 0;
    std::optional<TaskGroup> escaped;
    co_await task_group([&](TaskGroup& tg) -> Task<void> {
      escaped = tg;
      auto spawner = [](TaskGroup tg, int& leaves) -> Task<void> {
        auto leaf = [](int& leaves) -> Task<void> {
          co_await sleep(1ms);
          ++leaves;
        };
        for (int i = 0; i < 3; ++i) (void)tg.create_task(leaf(leaves));
        co_return;
      };
      (void)tg.create_task(spawner(tg, leaves));
      Future<int> victim = tg.create_task(value_after(10s, 0));
      co_await sleep(0ns);
      victim.cancel();
    });
    CHECK(leaves == 3);
    REQUIRE(escaped);
    CHECK(escaped->finished());
    CHECK_THROWS_WITH(escaped->create_task(value_after(0ns, 1)), Catch::Contains("the group has finished"));
    (void)loop;
  }(fx.loop));
}

TEST_CASE("task_group: a body ending cancelled on its own aborts the group", "[task_group][cancel]") {
  Fixture fx;
  std::vector<std::string> log;
  fx.run([](std::vector<std::string>& log, EventLoop& loop) -> Task<void> {
    std::exception_ptr e = co_await error_of(task_group([&](TaskGroup& tg) -> Task<void> {
      (void)tg.create_task(slow_to_cancel(10s, 1, log, "child"));
      Future<int> f = loop.create_task(value_after(10s, 0));
      f.cancel();
      co_await f;  // throws CancelledError out of the body
    }));
    CHECK(is<CancelledError>(e));
    CHECK(log == std::vector<std::string>{"child:cancelling", "child:cleaned-up"});
  }(log, fx.loop));
}

// ============================== the core bug ==============================

// TaskBase::resume_soon schedules a step without the suspension number; resume_now runs one
// at once. When both fire for the same suspension (a SleepAwaiter whose timer was already
// moved to the ready queue when the task was cancelled: on_cancel's timer_.cancel() is too
// late and it also calls resume_soon), the task runs twice: the second, stale step resumes it
// at whatever await it reached next. Here that makes a 200 ms sleep return at once.
TEST_CASE("core: a stale scheduled step resumes a task at its next await", "[core-regression]") {
  Fixture fx;
  std::chrono::nanoseconds slept{0};
  Future<void> a = fx.loop.create_task([](std::chrono::nanoseconds& slept) -> Task<void> {
    bool cancelled = false;
    try {
      co_await sleep(10ms);
    } catch (const CancelledError&) {
      cancelled = true;
    }
    if (cancelled) {
      const auto t0 = std::chrono::steady_clock::now();
      co_await sleep(200ms);
      slept = std::chrono::steady_clock::now() - t0;
    }
  }(slept));
  auto b = fx.loop.create_task([](Future<void> a) -> Task<void> {
    co_await sleep(5ms);  // due before a's timer; both fire in the same iteration
    a.cancel();
  }(a));
  auto c = fx.loop.create_task([]() -> Task<void> {
    co_await sleep(1ms);
    std::this_thread::sleep_for(30ms);  // hold the loop so both timers are due together
  }());
  fx.loop.run_until_complete(a);
  CHECK(slept >= 200ms);
}

// FutureAwaiter::await_suspend, finding a cancellation pending, throws at once without
// cancelling the future it was about to wait on. asyncio's Task.__step cancels that future
// (`if self._must_cancel: self._fut_waiter.cancel()`) and wakes when it is done. So here a
// task cancelled just before `co_await gather(...)` (or `co_await some_task_future`) leaves
// the children running, unowned.
TEST_CASE("core: a cancellation pending at `co_await future` does not cancel the future",
          "[core-regression]") {
  Fixture fx;
  std::vector<std::string> log;
  fx.run([](std::vector<std::string>& log, EventLoop& loop) -> Task<void> {
    auto body = [](std::shared_ptr<Future<void>> self, std::vector<std::string>& log) -> Task<void> {
      auto g = gather(slow_to_cancel(30ms, 0, log, "child"));
      co_await sleep(0ns);  // the child starts
      self->cancel();
      std::exception_ptr e = co_await error_of(g);
      log.push_back(is<CancelledError>(e) ? "awaiter:cancelled" : "awaiter:" + what_of(e));
    };
    auto self = std::make_shared<Future<void>>();
    *self = loop.create_task(body(self, log));
    co_await *self;
    co_await sleep(60ms);
  }(log, fx.loop));
  // asyncio: child:cancelling, child:cleaned-up, awaiter:cancelled
  CHECK(log == std::vector<std::string>{"child:cancelling", "child:cleaned-up", "awaiter:cancelled"});
}
