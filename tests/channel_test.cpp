// Unit tests of loop/channel.hpp: the thread side, the loop side, close, timeouts,
// cancellation on both sides, several loops on one channel, and the ledger.
// No timing assertions: waits end by what another thread does, with deadlines that turn a
// bug into a failure instead of a hang.
#include <atomic>
#include <chrono>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <catch2/catch.hpp>

#include <handoff/loop/channel.hpp>
#include <handoff/loop/loop.hpp>

#include "hang_watch.hpp"

using namespace handoff;
using namespace std::chrono_literals;
using handoff::test::eventually;

namespace {

void check_balanced(const ChannelStats& s) {
  INFO("pushed=" << s.pushed << " popped=" << s.popped << " dropped=" << s.dropped << " size=" << s.size);
  CHECK(s.balanced());
}

}  // namespace

TEST_CASE("thread side: FIFO, try_push on full, try_pop on empty", "[channel]") {
  Channel<int> ch(2);
  CHECK(ch.try_push(1));
  CHECK(ch.try_push(2));
  CHECK_FALSE(ch.try_push(3));  // full
  CHECK(ch.size() == 2);
  CHECK(ch.try_pop() == 1);
  CHECK(ch.pop() == 2);
  CHECK_FALSE(ch.try_pop().has_value());  // empty
  check_balanced(ch.stats());
}

TEST_CASE("a value the channel did not accept stays with the caller; lvalues are copied", "[channel]") {
  Channel<std::unique_ptr<int>> ch(1);
  auto a = std::make_unique<int>(1);
  auto b = std::make_unique<int>(2);
  CHECK(ch.try_push(std::move(a)));
  CHECK(a == nullptr);  // accepted: moved
  CHECK_FALSE(ch.try_push(std::move(b)));
  REQUIRE(b != nullptr);  // refused: untouched
  CHECK_THROWS_AS(ch.push_for(std::move(b), 1ms), TimeoutError);
  REQUIRE(b != nullptr);  // timed out: untouched
  CHECK(*b == 2);
  Channel<std::string> strings;
  std::string s = "kept";
  ch.drop_all();
  strings.push(s);
  CHECK(s == "kept");
  CHECK(strings.pop() == "kept");
}

TEST_CASE("blocking push waits for room; blocking pop waits for a value", "[channel]") {
  Channel<int> ch(1);
  ch.push(1);
  std::thread pusher([&] { ch.push(2); });  // blocks: full
  REQUIRE(eventually([&] { return ch.stats().push_waits == 1; }));
  CHECK(ch.pop() == 1);  // admits the waiting push
  pusher.join();
  CHECK(ch.pop() == 2);
  std::thread popper([&] { CHECK(ch.pop() == 3); });
  REQUIRE(eventually([&] { return ch.stats().pop_waits == 1; }));
  ch.push(3);  // handed straight to the waiting pop
  popper.join();
  const ChannelStats s = ch.stats();
  CHECK(s.pushed == 3);
  CHECK(s.popped == 3);
  check_balanced(s);
}

TEST_CASE("timeouts: pop_for on empty, push_for on full throw TimeoutError and take nothing", "[channel]") {
  Channel<int> ch(1);
  CHECK_THROWS_AS(ch.pop_for(2ms), TimeoutError);
  ch.push(1);
  CHECK_THROWS_AS(ch.push_for(2, 2ms), TimeoutError);
  CHECK(ch.size() == 1);
  CHECK(ch.pop() == 1);
  check_balanced(ch.stats());
}

TEST_CASE("close: pushes refused, pops drain then get end-of-stream, waiters of both sides woken", "[channel][close]") {
  Channel<int> ch(1);
  ch.push(7);
  std::thread pusher([&] { CHECK_THROWS_AS(ch.push(8), ChannelClosedError); });
  REQUIRE(eventually([&] { return ch.stats().push_waits == 1; }));
  ch.close();
  pusher.join();
  ch.close();  // idempotent
  CHECK(ch.is_closed());
  CHECK_THROWS_WITH(ch.push(9), Catch::Contains("channel is closed"));
  CHECK_THROWS_AS(ch.try_push(9), ChannelClosedError);
  CHECK(ch.pop() == 7);               // drains
  CHECK_FALSE(ch.pop().has_value());  // then end-of-stream, not a hang
  Channel<int> empty;
  std::thread popper([&] { CHECK_FALSE(empty.pop().has_value()); });
  REQUIRE(eventually([&] { return empty.stats().pop_waits == 1; }));
  empty.close();
  popper.join();
  const ChannelStats s = ch.stats();
  CHECK(s.refused == 3);
  check_balanced(s);
}

TEST_CASE("per-producer FIFO with several producer threads", "[channel]") {
  Channel<int> ch(4);
  constexpr int kPer = 2000;
  std::vector<std::thread> producers;
  for (int p = 0; p < 3; ++p) {
    producers.emplace_back([&, p] {
      for (int i = 0; i < kPer; ++i) ch.push(p * 100000 + i);
    });
  }
  int last[3] = {-1, -1, -1};
  for (int n = 0; n < 3 * kPer; ++n) {
    const int v = *ch.pop();
    const int p = v / 100000;
    REQUIRE(v % 100000 == last[p] + 1);
    last[p] = v % 100000;
  }
  for (auto& t : producers) t.join();
  check_balanced(ch.stats());
}

TEST_CASE("loop side: a coroutine awaits values pushed by a thread; end-of-stream at close", "[channel][async]") {
  Channel<int> ch;
  std::thread producer([&] {
    for (int i = 1; i <= 100; ++i) ch.push(i);
    ch.close();
  });
  const long sum = run([&]() -> Task<long> {
    long total = 0;
    while (auto v = co_await ch.async_pop()) total += *v;
    co_return total;
  }());
  producer.join();
  CHECK(sum == 5050);
  check_balanced(ch.stats());
}

TEST_CASE("loop side: async_push waits for room (backpressure) without blocking the loop", "[channel][async]") {
  // The wait is forced, not left to scheduling (this test used to assert push_waits > 0 with
  // a consumer that could keep up, and failed under GCC TSan): the consumer starts popping
  // only once the coroutine is parked in async_push on the full channel.
  Channel<int> ch(2);
  std::vector<int> got;
  bool saw_wait = false;
  std::thread consumer([&] {
    saw_wait = eventually([&] { return ch.stats().push_waits >= 1; });
    while (auto v = ch.pop()) got.push_back(*v);
  });
  run([&]() -> Task<void> {
    for (int i = 0; i < 50; ++i) co_await ch.async_push(i);
    ch.close();
  }());
  consumer.join();
  CHECK(saw_wait);
  REQUIRE(got.size() == 50);
  for (int i = 0; i < 50; ++i) CHECK(got[static_cast<std::size_t>(i)] == i);
  CHECK(ch.stats().push_waits >= 1);
  check_balanced(ch.stats());
}

TEST_CASE("loop side: timeouts throw TimeoutError and take nothing", "[channel][async]") {
  Channel<int> ch(1);
  run([&]() -> Task<void> {
    CHECK_THROWS_AS(co_await ch.async_pop(1ms), TimeoutError);
    co_await ch.async_push(1);
    bool timed_out = false;
    try {
      co_await ch.async_push(2, 1ms);
    } catch (const TimeoutError&) {
      timed_out = true;
    }
    CHECK(timed_out);
    CHECK(ch.size() == 1);
    auto v = co_await ch.async_pop(1s);
    CHECK(v == 1);
  }());
  check_balanced(ch.stats());
}

TEST_CASE("loop side: cancelling a waiting pop takes nothing; the next value goes to the next popper",
          "[channel][async][cancel]") {
  Channel<int> ch;
  EventLoop loop;
  auto waiter = [&]() -> Task<int> {
    auto v = co_await ch.async_pop();
    co_return v ? *v : -1;
  };
  Future<int> f = loop.create_task(waiter());
  loop.call_soon([&] { f.cancel(); });  // runs after the task suspended in async_pop
  CHECK_THROWS_AS(loop.run_until_complete(f), CancelledError);
  ch.push(5);
  CHECK(ch.try_pop() == 5);  // not handed to the cancelled waiter
  check_balanced(ch.stats());
}

TEST_CASE("loop side: cancelling a waiting push leaves nothing in the channel", "[channel][async][cancel]") {
  Channel<int> ch(1);
  ch.push(1);
  EventLoop loop;
  auto pusher = [&]() -> Task<void> { co_await ch.async_push(2); };
  Future<void> f = loop.create_task(pusher());
  loop.call_soon([&] { f.cancel(); });
  CHECK_THROWS_AS(loop.run_until_complete(f), CancelledError);
  CHECK(ch.pop() == 1);
  CHECK_FALSE(ch.try_pop().has_value());
  CHECK(ch.stats().pushed == 1);
}

TEST_CASE("loop side: close() wakes coroutine waiters of both sides", "[channel][async][close]") {
  Channel<int> full(1), empty;
  full.push(0);
  bool push_refused = false, pop_ended = false;
  run([&]() -> Task<void> {
    EventLoop& loop = get_running_loop();
    loop.call_later(2ms, [&] {
      full.close();
      empty.close();
    });
    // Named closures: a lambda coroutine reads its captures through the closure object, which
    // must outlive the task (a temporary would die at the end of the create_task statement).
    auto pushing = [&]() -> Task<void> {
      try {
        co_await full.async_push(1);
      } catch (const ChannelClosedError&) {
        push_refused = true;
      }
    };
    auto popping = [&]() -> Task<void> { pop_ended = !(co_await empty.async_pop()).has_value(); };
    auto a = loop.create_task(pushing());
    auto b = loop.create_task(popping());
    co_await a;
    co_await b;
  }());
  CHECK(push_refused);
  CHECK(pop_ended);
}

TEST_CASE("several loops and threads on one channel: every value received exactly once", "[channel][async]") {
  Channel<int> ch(8);
  constexpr int kN = 3000;
  std::vector<std::vector<int>> got(3);
  auto consume = [&](std::vector<int>& out) {
    run([&]() -> Task<void> {
      while (auto v = co_await ch.async_pop()) out.push_back(*v);
    }());
  };
  std::thread loop_a([&] { consume(got[0]); });
  std::thread loop_b([&] { consume(got[1]); });
  std::thread plain([&] {
    while (auto v = ch.pop()) got[2].push_back(*v);
  });
  std::thread producer([&] {
    for (int i = 0; i < kN; ++i) ch.push(i);
    ch.close();
  });
  producer.join();
  loop_a.join();
  loop_b.join();
  plain.join();
  std::vector<int> seen(kN, 0);
  for (auto& list : got) {
    for (std::size_t k = 1; k < list.size(); ++k) CHECK(list[k - 1] < list[k]);  // one producer: FIFO per consumer
    for (int v : list) ++seen[static_cast<std::size_t>(v)];
  }
  for (int i = 0; i < kN; ++i) REQUIRE(seen[static_cast<std::size_t>(i)] == 1);
  check_balanced(ch.stats());
}

TEST_CASE("a value claimed for a task whose loop closes before it resumes goes back to the channel",
          "[channel][async][close]") {
  Channel<int> ch;
  {
    EventLoop loop;
    auto waiter = [&]() -> Task<void> { (void)co_await ch.async_pop(); };
    Future<void> f = loop.create_task(waiter());
    loop.stop();
    loop.run_forever();  // one iteration: the task suspends in async_pop
    REQUIRE(ch.stats().pop_waits == 1);
    ch.push(42);  // claimed for the waiter; its resumption is posted to the (stopped) loop
    loop.close();  // drops the resumption, abandons the task: its frame gives the value back
    CHECK(f.done());
  }
  CHECK(ch.size() == 1);
  CHECK(ch.try_pop() == 42);
  check_balanced(ch.stats());
}

TEST_CASE("a value given back by a closed loop's task goes to a thread already waiting in pop",
          "[channel][async][close]") {
  // Found by stress/channel_stress.cpp's author and tla/Channel.tla (ChannelBuggyGiveBackFront):
  // give_back() used to buffer the value without waking a waiting pop, which then slept next
  // to it (pop_for timed out with size() == 1).
  Channel<int> ch;
  EventLoop loop;
  auto waiter = [&]() -> Task<void> { (void)co_await ch.async_pop(); };
  Future<void> f = loop.create_task(waiter());
  loop.stop();
  loop.run_forever();  // the task suspends in async_pop
  ch.push(42);         // claimed for the task; its resumption waits in the stopped loop's inbox
  std::optional<int> got;
  std::thread popper([&] { got = ch.pop_for(20s); });  // the buffer is empty: it waits
  REQUIRE(eventually([&] { return ch.stats().pop_waits == 2; }));
  loop.close();  // the task's frame gives 42 back: it must go to the waiting pop
  popper.join();
  CHECK(got == 42);
  check_balanced(ch.stats());
}
