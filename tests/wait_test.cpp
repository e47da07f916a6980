// Unit tests of loop/wait.hpp: asyncio.wait and asyncio.as_completed, against asyncio's
// documented behaviour — each return_when mode, the timeout (returns, raises nothing, cancels
// nothing), the waiting task cancelled (the awaited futures run on), futures that fail or are
// cancelled, as_completed's completion order and its TimeoutError.
//
// Deterministic: completions are ordered by the loop's timers (call_later with distinct
// delays fire in deadline order), and a future meant to stay pending is completed by the test
// only after the wait has returned — never two real sleeps racing.
#include <chrono>
#include <exception>
#include <stdexcept>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include <handoff/loop/loop.hpp>
#include <handoff/loop/wait.hpp>

#include "loop_test_support.hpp"

using namespace handoff;
using namespace std::chrono_literals;

namespace {

struct Loop {
  EventLoop loop;
  std::vector<std::string> reported;  // what reached the loop's exception handler
  Loop() {
    loop.set_exception_handler([this](const ExceptionContext& c) { reported.push_back(c.message); });
  }
  ~Loop() {
    cancel_all_tasks(loop);
    loop.close();
    handoff::test::check_ledger(loop.stats());
  }
  template <class T>
  T run(Task<T> t) {
    return loop.run_until_complete(std::move(t));
  }
  // n pending futures.
  std::vector<Future<int>> futures(int n) {
    std::vector<Future<int>> v;
    for (int i = 0; i < n; ++i) v.push_back(create_future<int>(loop));
    return v;
  }
  // f completes with v (or fails, or is cancelled) after d, on the loop's timer.
  void complete_after(Future<int> f, std::chrono::milliseconds d, int v) {
    loop.call_later(d, [f, v]() mutable { f.set_result(v); });
  }
  void fail_after(Future<int> f, std::chrono::milliseconds d, const char* what) {
    loop.call_later(d, [f, what]() mutable { f.set_exception(std::make_exception_ptr(std::runtime_error(what))); });
  }
  void cancel_after(Future<int> f, std::chrono::milliseconds d) {
    loop.call_later(d, [f]() mutable { f.cancel(); });
  }
};

// The indices (into `all`) of the futures in `part`, in order.
std::vector<int> indices(const std::vector<Future<int>>& all, const std::vector<Future<int>>& part) {
  std::vector<int> out;
  for (const auto& p : part) {
    for (std::size_t i = 0; i < all.size(); ++i) {
      if (all[i].state() == p.state()) out.push_back(static_cast<int>(i));
    }
  }
  return out;
}

using Ix = std::vector<int>;

}  // namespace

TEST_CASE("wait ALL_COMPLETED (the default) returns when every future is done", "[wait]") {
  Loop l;
  auto fs = l.futures(3);
  l.complete_after(fs[0], 30ms, 10);
  l.complete_after(fs[1], 10ms, 11);
  l.fail_after(fs[2], 20ms, "boom");
  auto r = l.run(wait(fs));
  CHECK(indices(fs, r.done) == Ix{0, 1, 2});  // input order
  CHECK(r.pending.empty());
  CHECK(r.done[0].result() == 10);
  CHECK(r.done[1].result() == 11);
  CHECK_THROWS_WITH(r.done[2].result(), "boom");
}

TEST_CASE("wait FIRST_COMPLETED returns at the first completion; the others stay pending, not cancelled",
          "[wait]") {
  Loop l;
  auto fs = l.futures(3);
  l.complete_after(fs[1], 10ms, 7);  // fs[0] and fs[2] are completed only after wait returned
  auto r = l.run(wait(fs, ReturnWhen::FIRST_COMPLETED));
  CHECK(indices(fs, r.done) == Ix{1});
  CHECK(indices(fs, r.pending) == Ix{0, 2});
  CHECK_FALSE(fs[0].done());
  CHECK_FALSE(fs[2].done());
  fs[0].set_result(1);  // still usable: nothing cancelled them
  fs[2].set_result(2);
  CHECK(fs[0].result() + fs[2].result() == 3);
}

TEST_CASE("wait FIRST_COMPLETED counts a cancelled future as completed", "[wait]") {
  Loop l;
  auto fs = l.futures(2);
  l.cancel_after(fs[0], 10ms);
  auto r = l.run(wait(fs, ReturnWhen::FIRST_COMPLETED));
  CHECK(indices(fs, r.done) == Ix{0});
  CHECK(r.done[0].cancelled());
  CHECK(indices(fs, r.pending) == Ix{1});
}

TEST_CASE("wait FIRST_EXCEPTION returns at the first failure", "[wait]") {
  Loop l;
  auto fs = l.futures(3);
  l.complete_after(fs[0], 10ms, 1);
  l.fail_after(fs[1], 20ms, "disk on fire");  // fs[2] never completes before wait returns
  auto r = l.run(wait(fs, ReturnWhen::FIRST_EXCEPTION));
  CHECK(indices(fs, r.done) == Ix{0, 1});
  CHECK(indices(fs, r.pending) == Ix{2});
  CHECK_THROWS_WITH(r.done[1].result(), "disk on fire");
}

TEST_CASE("wait FIRST_EXCEPTION: no failure means all completed; a cancellation is not a failure",
          "[wait]") {
  Loop l;
  auto fs = l.futures(3);
  l.cancel_after(fs[0], 10ms);  // asyncio: cancelled() futures do not trigger FIRST_EXCEPTION
  l.complete_after(fs[1], 20ms, 5);
  l.complete_after(fs[2], 30ms, 6);
  auto r = l.run(wait(fs, ReturnWhen::FIRST_EXCEPTION));
  CHECK(indices(fs, r.done) == Ix{0, 1, 2});
  CHECK(r.pending.empty());
}

TEST_CASE("wait with a timeout returns what is done, raises nothing and cancels nothing", "[wait][timeout]") {
  Loop l;
  auto fs = l.futures(3);
  l.complete_after(fs[2], 5ms, 3);  // fs[0], fs[1] stay pending past the 40 ms timeout
  const auto t0 = l.loop.time();
  auto r = l.run(wait(fs, ReturnWhen::ALL_COMPLETED, 40ms));
  CHECK(l.loop.time() - t0 >= 40ms);  // it did wait for the timeout
  CHECK(indices(fs, r.done) == Ix{2});
  CHECK(indices(fs, r.pending) == Ix{0, 1});
  CHECK_FALSE(fs[0].cancelled());
  CHECK_FALSE(fs[0].done());
  // The pending ones can still complete and be waited for again.
  l.complete_after(fs[0], 1ms, 1);
  l.complete_after(fs[1], 2ms, 2);
  auto again = l.run(wait(r.pending));
  CHECK(again.done.size() == 2);
  CHECK(again.pending.empty());
}

TEST_CASE("wait over tasks: a task that throws is done, its exception kept for the caller", "[wait]") {
  Loop l;
  auto body = [](std::chrono::milliseconds d, bool fail) -> Task<int> {
    co_await sleep(d);
    if (fail) throw std::runtime_error("task failed");
    co_return 42;
  };
  std::vector<Future<int>> ts{l.loop.create_task(body(10ms, false)), l.loop.create_task(body(20ms, true))};
  auto r = l.run(wait(ts));
  CHECK(r.done.size() == 2);
  CHECK(r.done[0].result() == 42);
  CHECK_THROWS_WITH(r.done[1].result(), "task failed");
  CHECK(l.reported.empty());  // retrieved by the caller: nothing for the exception handler
}

TEST_CASE("cancelling the task that waits throws CancelledError there; the awaited futures run on",
          "[wait][cancel]") {
  Loop l;
  auto fs = l.futures(2);
  auto waiter = l.loop.create_task([](std::vector<Future<int>> f) -> Task<int> {
    auto r = co_await wait(std::move(f));
    co_return static_cast<int>(r.done.size());
  }(fs));
  l.loop.call_later(10ms, [waiter]() mutable { waiter.cancel(); });
  bool cancelled = false;
  try {
    l.run(wait(std::vector<Future<int>>{waiter}));  // wait for the waiter itself
    (void)waiter.result();
  } catch (const CancelledError&) {
    cancelled = true;
  }
  CHECK(cancelled);
  CHECK(waiter.cancelled());
  CHECK_FALSE(fs[0].done());  // asyncio.wait does not cancel what it waits for
  CHECK_FALSE(fs[1].done());
  fs[0].set_result(1);
  fs[1].set_result(2);
  CHECK(fs[0].result() + fs[1].result() == 3);
}

TEST_CASE("wait on futures that are already done still yields once and reports them done", "[wait]") {
  Loop l;
  auto fs = l.futures(2);
  fs[0].set_result(1);
  fs[1].set_result(2);
  auto r = l.run(wait(fs, ReturnWhen::FIRST_COMPLETED));
  CHECK(indices(fs, r.done) == Ix{0, 1});
}

TEST_CASE("wait: an empty list is an error (asyncio: ValueError), an empty Future too", "[wait][misuse]") {
  Loop l;
  CHECK_THROWS_WITH(l.run(wait(std::vector<Future<int>>{})), Catch::Contains("wait() of an empty list"));
  CHECK_THROWS_AS(l.run(wait(std::vector<Future<int>>{Future<int>()})), InvalidStateError);
}

TEST_CASE("as_completed yields results in completion order, exceptions at their place", "[as_completed]") {
  Loop l;
  auto fs = l.futures(4);
  l.complete_after(fs[0], 40ms, 0);
  l.complete_after(fs[1], 10ms, 1);
  l.fail_after(fs[2], 20ms, "third");
  l.complete_after(fs[3], 30ms, 3);
  auto seen = l.run([](std::vector<Future<int>> f) -> Task<std::vector<std::string>> {
    std::vector<std::string> out;
    AsCompleted<int> in_order = as_completed(std::move(f));
    CHECK(in_order.remaining() == 4);
    while (in_order.has_next()) {
      try {
        out.push_back(std::to_string(co_await in_order.next()));
      } catch (const std::runtime_error& e) {
        out.push_back(e.what());
      }
    }
    CHECK_THROWS_AS(in_order.next(), InvalidStateError);  // nothing left
    co_return out;
  }(fs));
  CHECK(seen == std::vector<std::string>{"1", "third", "3", "0"});
}

TEST_CASE("as_completed: the timeout raises TimeoutError for what is not done; nothing is cancelled",
          "[as_completed][timeout]") {
  Loop l;
  auto fs = l.futures(3);
  // Done before the call: its done callback is queued ahead of the expiry timer, so it is
  // delivered however late the loop runs (one completed by a timer could race the expiry).
  // fs[0] and fs[2] stay pending past the 40 ms timeout.
  fs[1].set_result(1);
  auto seen = l.run([](std::vector<Future<int>> f) -> Task<std::vector<std::string>> {
    std::vector<std::string> out;
    AsCompleted<int> in_order = as_completed(std::move(f), 40ms);
    while (in_order.has_next()) {
      try {
        out.push_back(std::to_string(co_await in_order.next()));
      } catch (const TimeoutError&) {
        out.push_back("timeout");
      }
    }
    co_return out;
  }(fs));
  CHECK(seen == std::vector<std::string>{"1", "timeout", "timeout"});
  CHECK_FALSE(fs[0].done());
  CHECK_FALSE(fs[2].done());
}

TEST_CASE("as_completed: cancelling the task in next() takes nothing; a later next() delivers",
          "[as_completed][cancel]") {
  Loop l;
  auto fs = l.futures(1);
  auto in_order = std::make_shared<AsCompleted<int>>(l.run([](std::vector<Future<int>> f) -> Task<AsCompleted<int>> {
    co_return as_completed(std::move(f));
  }(fs)));
  auto first = l.loop.create_task(in_order->next());
  l.loop.call_later(10ms, [first]() mutable { first.cancel(); });
  l.run(wait(std::vector<Future<int>>{first}));
  CHECK(first.cancelled());
  CHECK_FALSE(fs[0].done());  // not cancelled by the cancelled next()
  CHECK(in_order->remaining() == 1);
  l.complete_after(fs[0], 5ms, 9);
  CHECK(l.run(in_order->next()) == 9);
  CHECK(in_order->remaining() == 0);
}

TEST_CASE("as_completed: futures that completed while nobody awaited come out in completion order",
          "[as_completed]") {
  Loop l;
  auto fs = l.futures(3);
  auto seen = l.run([](std::vector<Future<int>> f) -> Task<std::vector<int>> {
    AsCompleted<int> in_order = as_completed(f);
    f[2].set_result(2);  // completion order 2, 0, 1 — all before the first next()
    f[0].set_result(0);
    f[1].set_result(1);
    co_await sleep(0ns);  // let the done callbacks run (a loop iteration, as in asyncio)
    std::vector<int> out;
    while (in_order.has_next()) out.push_back(co_await in_order.next());
    co_return out;
  }(fs));
  CHECK(seen == std::vector<int>{2, 0, 1});
}
