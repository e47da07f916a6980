// tests/channel_throw_test.cpp — Channel<T> when a claim's act throws: T's copy/move
// constructor, or an allocation (a counting global operator new, armed per thread, fails on
// the next allocation of at least N bytes). A binary of its own because of that operator new.
//
// Every path where the channel claims a waiter and then moves a value (docs/channel.md, "A
// throw between the claim and the move"):
//   offer      a push hands its value to a waiting pop (thread pop_for, coroutine async_pop);
//   admit      a pop makes room and admits a waiting push (thread push_for, async_push);
//   give-back  a closed loop's task returns a claimed value, which goes to a waiting pop.
// Each test forces the throw at that one step (a value-keyed trigger: the next copy/move of
// the value 7 throws; or the next large allocation on this thread fails), then checks that the
// waiter still works (gets the next value, or its timeout / cancellation), that the exception
// reached the right caller, and that the ledger balances.
//
// A waiter left CLAIMED hangs: a HangWatch (a deadline in the test, not ctest's timeout)
// prints "HANG: <what>" and ends the process with exit code 1. The mutant checks
// (tests/channel_tests.cmake) expect that line from the binary built with the undo removed.
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <new>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <catch2/catch.hpp>

#include <handoff/loop/channel.hpp>
#include <handoff/loop/loop.hpp>

#include "hang_watch.hpp"
#include "loop_test_support.hpp"

using namespace handoff;
using namespace std::chrono_literals;
using handoff::test::eventually;
using handoff::test::HangWatch;

// ---- the allocation-failure hook ------------------------------------------------------------
// Armed on one thread only (thread_local), so the other threads of the test never see it.
namespace {
thread_local std::size_t t_fail_alloc_at_least = 0;  // 0: disarmed
thread_local int t_allocs_failed = 0;
}  // namespace

// Every plain form is replaced (not only operator new(size_t)): under ASan the forms left out
// would still be ASan's, and a pair mixing the two is reported as alloc-dealloc-mismatch.
// GCC's -Wmismatched-new-delete sees free() under a delete that pairs with this malloc():
// exactly the pairing intended here.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
void* operator new(std::size_t n) {
  if (t_fail_alloc_at_least != 0 && n >= t_fail_alloc_at_least) {
    t_fail_alloc_at_least = 0;  // once
    ++t_allocs_failed;
    throw std::bad_alloc();
  }
  if (void* p = std::malloc(n == 0 ? 1 : n)) return p;
  throw std::bad_alloc();
}
void* operator new[](std::size_t n) { return operator new(n); }
void* operator new(std::size_t n, const std::nothrow_t&) noexcept {
  try {
    return operator new(n);
  } catch (...) {
    return nullptr;
  }
}
void* operator new[](std::size_t n, const std::nothrow_t& t) noexcept { return operator new(n, t); }
void operator delete(void* p) noexcept { std::free(p); }
void operator delete[](void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t) noexcept { std::free(p); }
void operator delete(void* p, const std::nothrow_t&) noexcept { std::free(p); }
void operator delete[](void* p, const std::nothrow_t&) noexcept { std::free(p); }
#pragma GCC diagnostic pop

namespace {

// Fail this thread's next allocation of at least n bytes.
void fail_next_alloc(std::size_t n) {
  t_fail_alloc_at_least = n;
  t_allocs_failed = 0;
}

// ---- a value type that throws on demand -------------------------------------------------------
struct Throwing {
  int v;
  explicit Throwing(int x) : v(x) {}
  Throwing(const Throwing& o) : v(o.v) { tick("copy"); }
  Throwing(Throwing&& o) : v(o.v) { tick("move"); }  // not noexcept: may throw
  Throwing& operator=(const Throwing&) = default;
  Throwing& operator=(Throwing&&) = default;

  // The next copy or move of a Throwing holding `value` throws (once).
  static void fail_next(int value) { trigger.store(value); }
  static inline std::atomic<int> trigger{-1};  // test bookkeeping: seq_cst, any thread

 private:
  void tick(const char* what) const {
    int expected = v;
    if (trigger.compare_exchange_strong(expected, -1)) {
      throw std::runtime_error(std::string("Throwing: ") + what + " of " + std::to_string(v) + " threw");
    }
  }
};

// A value whose armed copy waits until a cancel has started on the loop thread, then throws.
struct Slow {
  int v;
  static inline std::atomic<bool> block{false}, cancel_started{false};  // test bookkeeping
  explicit Slow(int x) : v(x) {}
  Slow(const Slow& o) : v(o.v) {
    if (block.exchange(false)) {
      while (!cancel_started.load()) std::this_thread::yield();
      std::this_thread::sleep_for(50ms);  // lets the canceller reach the lock (not needed for correctness)
      throw std::runtime_error("Slow: copy threw");
    }
  }
};

// A value big enough that std::deque gives each one a block of its own (libstdc++: one element
// per node above 512 bytes): every emplace_back allocates, so fail_next_alloc hits it.
struct Big {
  int v;
  char pad[1024 - sizeof(int)] = {};
  explicit Big(int x) : v(x) {}
};

void check_ledger(const ChannelStats& s, std::uint64_t pushed, std::uint64_t popped, std::uint64_t dropped = 0) {
  INFO("pushed=" << s.pushed << " popped=" << s.popped << " dropped=" << s.dropped << " size=" << s.size);
  CHECK(s.balanced());
  CHECK(s.pushed == pushed);
  CHECK(s.popped == popped);
  CHECK(s.dropped == dropped);
}

// One loop iteration: a task just created runs up to its first suspension.
void step(EventLoop& loop) {
  loop.stop();
  loop.run_forever();
}

}  // namespace

// ---- offer: a push hands its value to a waiting pop --------------------------------------------

TEST_CASE("offer: a copy that throws into a waiting pop_for leaves it waiting; the next value reaches it",
          "[channel][throw][offer]") {
  Channel<Throwing> ch;
  std::optional<Throwing> got;
  std::string error;
  std::thread popper([&] {
    try {
      got = ch.pop_for(20s);
    } catch (const std::exception& e) {
      error = e.what();
    }
  });
  REQUIRE(eventually([&] { return ch.stats().pop_waits == 1; }));
  const Throwing seven(7);
  Throwing::fail_next(7);
  CHECK_THROWS_WITH(ch.push(seven), "Throwing: copy of 7 threw");  // the pusher hears it
  ch.push(Throwing(8));                                              // the waiter still waits: it gets 8
  {
    HangWatch watch("offer: pop_for waiter after a throwing copy");
    popper.join();
  }
  CHECK(error.empty());
  REQUIRE(got.has_value());
  CHECK(got->v == 8);
  check_ledger(ch.stats(), 1, 1);
}

TEST_CASE("offer: after a throwing copy, a waiting pop_for still times out", "[channel][throw][offer]") {
  Channel<Throwing> ch;
  bool timed_out = false;
  std::thread popper([&] {
    try {
      (void)ch.pop_for(200ms);
    } catch (const TimeoutError&) {
      timed_out = true;
    }
  });
  REQUIRE(eventually([&] { return ch.stats().pop_waits == 1; }));
  const Throwing seven(7);
  Throwing::fail_next(7);
  CHECK_THROWS_AS(ch.push(seven), std::runtime_error);
  {
    HangWatch watch("offer: pop_for(200ms) waiter's deadline after a throwing copy");
    popper.join();
  }
  CHECK(timed_out);
  check_ledger(ch.stats(), 0, 0);
}

TEST_CASE("offer: bad_alloc copying into a waiting pop leaves it waiting", "[channel][throw][offer][alloc]") {
  Channel<std::vector<char>> ch;
  std::optional<std::vector<char>> got;
  std::thread popper([&] { got = ch.pop_for(20s); });
  REQUIRE(eventually([&] { return ch.stats().pop_waits == 1; }));
  const std::vector<char> big(64 * 1024, 'x');
  fail_next_alloc(64 * 1024);
  CHECK_THROWS_AS(ch.push(big), std::bad_alloc);
  CHECK(t_allocs_failed == 1);
  ch.push(std::vector<char>(3, 'y'));
  {
    HangWatch watch("offer: pop_for waiter after bad_alloc in the copy");
    popper.join();
  }
  REQUIRE(got.has_value());
  CHECK(got->size() == 3);
  check_ledger(ch.stats(), 1, 1);
}

TEST_CASE("offer: a throwing copy into a waiting async_pop leaves the task waiting; its timeout still works",
          "[channel][throw][offer][async]") {
  Channel<Throwing> ch;
  EventLoop loop;
  SECTION("the next value reaches the task") {
    auto waiter = [&]() -> Task<int> {
      auto v = co_await ch.async_pop();
      co_return v ? v->v : -1;
    };
    Future<int> f = loop.create_task(waiter());
    step(loop);  // the task suspends in async_pop
    REQUIRE(ch.stats().pop_waits == 1);
    const Throwing seven(7);
    Throwing::fail_next(7);
    CHECK_THROWS_WITH(ch.push(seven), "Throwing: copy of 7 threw");
    ch.push(Throwing(8));
    HangWatch watch("offer: async_pop task after a throwing copy");
    CHECK(loop.run_until_complete(f) == 8);
    check_ledger(ch.stats(), 1, 1);
  }
  SECTION("its timeout fires") {
    auto waiter = [&]() -> Task<void> { (void)co_await ch.async_pop(50ms); };
    Future<void> f = loop.create_task(waiter());
    step(loop);
    const Throwing seven(7);
    Throwing::fail_next(7);
    CHECK_THROWS_AS(ch.push(seven), std::runtime_error);
    HangWatch watch("offer: async_pop(50ms) task's timeout after a throwing copy");
    CHECK_THROWS_AS(loop.run_until_complete(f), TimeoutError);
    check_ledger(ch.stats(), 0, 0);
  }
  loop.close();
}

TEST_CASE("offer: a task cancelled while its claim is being undone is cancelled, not left waiting",
          "[channel][throw][offer][async][cancel]") {
  // The loop runs in its own thread; the copy into the task's awaiter blocks until the task's
  // cancel() has started (on the loop thread, it waits for the channel's lock that the pusher
  // holds), then throws. The cancel CAS lost to the claim; the claim is undone; the cancel
  // must be re-checked under the lock, or the task waits for a value forever.
  Channel<Slow> ch;
  EventLoop loop;
  std::atomic<bool> parked{false};
  bool cancelled = false;
  // The task itself must see the cancellation (not only its future): it stops the loop.
  auto waiter = [&]() -> Task<void> {
    parked = true;
    try {
      (void)co_await ch.async_pop();
    } catch (const CancelledError&) {
      cancelled = true;
    }
    get_running_loop().stop();
  };
  Future<void> f = loop.create_task(waiter());
  LoopRef ref = loop.threadsafe();
  std::thread runner([&] { loop.run_forever(); });
  REQUIRE(eventually([&] { return parked.load() && ch.stats().pop_waits == 1; }));
  Slow::block = true;
  std::thread pusher([&] {
    try {
      const Slow s(1);
      ch.push(s);
    } catch (const std::runtime_error&) {
    }
  });
  ref.call_soon_threadsafe([&] {
    Slow::cancel_started = true;
    f.cancel();
  });
  {
    HangWatch watch("offer: task cancelled during an undone claim");
    pusher.join();
    runner.join();
  }
  CHECK(cancelled);
  loop.close();
  check_ledger(ch.stats(), 0, 0);
}

// ---- admit: a pop makes room for a waiting push ----------------------------------------------

TEST_CASE("admit: a waiting push_for whose value's move throws fails with that exception; the pop is unaffected",
          "[channel][throw][admit]") {
  Channel<Throwing> ch(1);
  ch.push(Throwing(1));
  std::string error;
  std::thread pusher([&] {
    try {
      ch.push_for(Throwing(7), 20s);
    } catch (const std::runtime_error& e) {
      error = e.what();
    }
  });
  REQUIRE(eventually([&] { return ch.stats().push_waits == 1; }));
  Throwing::fail_next(7);
  std::optional<Throwing> got;
  CHECK_NOTHROW(got = ch.pop());  // admits the pusher: moving its 7 in throws
  {
    HangWatch watch("admit: push_for waiter whose move threw");
    pusher.join();
  }
  REQUIRE(got.has_value());
  CHECK(got->v == 1);
  CHECK(error == "Throwing: move of 7 threw");
  CHECK(ch.size() == 0);
  check_ledger(ch.stats(), 1, 1);
}

TEST_CASE("admit: bad_alloc from the buffer fails the waiting push, not the pop", "[channel][throw][admit][alloc]") {
  Channel<Big> ch(1);
  ch.push(Big(1));
  bool bad_alloc = false;
  std::thread pusher([&] {
    try {
      ch.push_for(Big(2), 20s);
    } catch (const std::bad_alloc&) {
      bad_alloc = true;
    }
  });
  REQUIRE(eventually([&] { return ch.stats().push_waits == 1; }));
  std::optional<Big> got;
  fail_next_alloc(sizeof(Big));  // the admission's emplace_back (a new deque block)
  CHECK_NOTHROW(got = ch.pop());
  CHECK(t_allocs_failed == 1);
  {
    HangWatch watch("admit: push_for waiter after bad_alloc in emplace_back");
    pusher.join();
  }
  REQUIRE(got.has_value());
  CHECK(got->v == 1);
  CHECK(bad_alloc);
  ch.push(Big(3));  // the channel works on
  CHECK(ch.pop()->v == 3);
  check_ledger(ch.stats(), 2, 2);
}

TEST_CASE("admit: a waiting async_push whose value's move throws fails with that exception",
          "[channel][throw][admit][async]") {
  Channel<Throwing> ch(1);
  ch.push(Throwing(1));
  EventLoop loop;
  auto pusher = [&]() -> Task<void> { co_await ch.async_push(Throwing(7)); };
  Future<void> f = loop.create_task(pusher());
  step(loop);  // suspends: full
  REQUIRE(ch.stats().push_waits == 1);
  Throwing::fail_next(7);
  std::optional<Throwing> got;
  CHECK_NOTHROW(got = ch.try_pop());
  REQUIRE(got.has_value());
  CHECK(got->v == 1);
  {
    HangWatch watch("admit: async_push task whose move threw");
    CHECK_THROWS_WITH(loop.run_until_complete(f), "Throwing: move of 7 threw");
  }
  loop.close();
  check_ledger(ch.stats(), 1, 1);
}

// ---- give-back: a closed loop's task returns a claimed value ----------------------------------

TEST_CASE("give-back: a move that throws into a waiting pop drops the value (reported), the pop still waits",
          "[channel][throw][give_back]") {
  Channel<Throwing> ch;
  std::optional<Throwing> got;
  std::thread popper;
  std::string report;
  {
    EventLoop loop;
    auto waiter = [&]() -> Task<void> { (void)co_await ch.async_pop(); };
    Future<void> f = loop.create_task(waiter());
    step(loop);           // the task suspends in async_pop
    ch.push(Throwing(7));  // claimed for the task; its resumption waits in the stopped loop's inbox
    popper = std::thread([&] { got = ch.pop_for(20s); });
    REQUIRE(eventually([&] { return ch.stats().pop_waits == 2; }));
    Throwing::fail_next(7);
    handoff::test::StderrCapture capture;
    loop.close();  // the task's frame gives 7 back: its move into the waiting pop throws
    report = capture.text();
  }
  CHECK_THAT(report, Catch::Contains("could not be re-queued") && Catch::Contains("Throwing: move of 7 threw"));
  ch.push(Throwing(8));  // the pop was not left claimed: it gets 8
  {
    HangWatch watch("give_back: pop_for waiter after a throwing move");
    popper.join();
  }
  REQUIRE(got.has_value());
  CHECK(got->v == 8);
  check_ledger(ch.stats(), 2, 1, 1);
}
