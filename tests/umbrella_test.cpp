// What a newcomer relies on first, in one cheap binary (issue 11):
//  * [umbrella] <handoff/loop/loop.hpp> alone — the only handoff include of this file — gives
//    every loop-side facility: one program uses each of them;
//  * [threadcheck] this file is compiled with NDEBUG and -DHANDOFF_LOOP_THREAD_CHECKS=1 (see
//    tests/newcomer_tests.cmake): the switch turns the wrong-thread checks on in a release build;
//  * [messages] each error names the call the user made, not the one it was forwarded to;
//  * [future] Future::exception() / result() and ThreadFuture::exception() against asyncio's
//    and concurrent.futures' documented behaviour.
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <exception>
#include <future>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <catch2/catch.hpp>

#include <handoff/loop/loop.hpp>

#if !defined(NDEBUG) || HANDOFF_LOOP_THREAD_CHECKS != 1
#error "umbrella_test must be built with NDEBUG and HANDOFF_LOOP_THREAD_CHECKS=1 (tests/newcomer_tests.cmake)"
#endif

using namespace handoff;
using namespace std::chrono_literals;

namespace {

Task<int> value(int v) { co_return v; }

Task<int> every_facility() {
  EventLoop& loop = get_running_loop();
  int sum = 0;

  // The loop: call_soon, timers, LoopRef.
  bool soon = false;
  loop.call_soon([&] { soon = true; });
  TimerHandle never = loop.call_later(1h, [] {});
  never.cancel();
  CHECK(never.cancelled());
  LoopRef ref = loop.threadsafe();
  CHECK_FALSE(ref.is_closed());
  co_await sleep(1ms);
  CHECK(soon);

  // Futures and tasks.
  Future<int> f = create_future<int>(loop);
  loop.call_soon([f]() mutable { f.set_result(1); });
  sum += co_await f;
  sum += co_await loop.create_task(value(2));

  // Combinators.
  auto [a, b] = co_await gather(value(3), value(4));
  sum += a + b;
  sum += co_await wait_for(value(5), 10s);
  std::vector<Future<int>> fs{loop.create_task(value(6)), loop.create_task(value(7))};
  WaitResult<int> w = co_await wait(fs, ReturnWhen::ALL_COMPLETED);
  REQUIRE(w.done.size() == 2);
  for (auto& d : w.done) sum += d.result();
  AsCompleted<int> ac = as_completed(std::vector<Future<int>>{loop.create_task(value(8))});
  sum += co_await ac.next();
  sum += co_await shield(value(9));
  sum += co_await task_group([](TaskGroup& tg) -> Task<int> {
    Future<int> child = tg.create_task(value(10));
    co_return co_await child;
  });

  // Synchronization between tasks.
  Event ev;
  loop.call_soon([&] { ev.set(); });
  co_await ev.wait();
  Lock lock;
  {
    auto held = co_await lock.scoped();
    CHECK(held.owns_lock());
  }
  Semaphore sem(1);
  co_await sem.acquire();
  sem.release();
  BoundedSemaphore bounded(1);
  co_await bounded.acquire();
  bounded.release();
  Queue<int> q(1);
  co_await q.put(11);
  sum += co_await q.get();
  q.task_done();
  co_await q.join();

  // File descriptors and sockets (a socketpair: no network).
  int sv[2];
  REQUIRE(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) == 0);
  const char twelve = 12;
  co_await sock_sendall(sv[0], &twelve, 1);
  co_await wait_readable(sv[1]);
  char got = 0;
  // Never co_await inside a Catch2 macro: GCC 12 evaluated this recv twice there (the second
  // found nothing and waited forever).
  const std::size_t n = co_await sock_recv(sv[1], &got, 1);
  REQUIRE(n == 1);
  sum += got;
  ::close(sv[0]);
  ::close(sv[1]);

  // Threads: a ThreadFuture completed by another thread, and a Channel fed by one.
  auto st = std::make_shared<ThreadFutureState<int>>();
  std::thread completer([st] { st->set_value(13); });
  sum += co_await ThreadFuture<int>(st);
  completer.join();
  Channel<int> ch(1);
  std::thread producer([&] {
    ch.push(14);
    ch.close();
  });
  while (std::optional<int> v = co_await ch.async_pop()) sum += *v;
  producer.join();  // it has returned from close(): the stream ended
  co_return sum;
}

// A loop running in its own thread, known to be running (its first callback has run).
struct BackgroundLoop {
  EventLoop loop;
  std::thread thread;
  BackgroundLoop() {
    std::promise<void> running;
    loop.call_soon_threadsafe([&] { running.set_value(); });
    thread = std::thread([this] { loop.run_forever(); });
    running.get_future().wait();
  }
  ~BackgroundLoop() {
    if (thread.joinable()) stop();
    loop.close();
  }
  void stop() {
    loop.stop();
    thread.join();
  }
};

template <class F>
std::string message_of(F&& f) {
  try {
    f();
  } catch (const std::exception& e) {
    return e.what();
  }
  return "(nothing thrown)";
}

}  // namespace

TEST_CASE("loop.hpp alone gives every loop-side facility", "[umbrella]") {
  CHECK(run(every_facility()) == 1 + 2 + 3 + 4 + 5 + 6 + 7 + 8 + 9 + 10 + 11 + 12 + 13 + 14);
  // run_coroutine_threadsafe from this thread to a loop in another: a LoopThread's.
  LoopThread lt("umbrella");
  CHECK(run_coroutine_threadsafe(value(15), lt.loop()).get() == 15);
  lt.stop();
  CHECK(lt.loop().is_closed());  // cancel-then-close ran on its thread, which stop() joined
}

TEST_CASE("NDEBUG with -DHANDOFF_LOOP_THREAD_CHECKS=1: a wrong-thread call throws", "[threadcheck]") {
  BackgroundLoop bg;
  CHECK_THROWS_AS(bg.loop.call_soon([] {}), WrongThreadError);
  CHECK_THROWS_WITH(bg.loop.call_later(1s, [] {}), Catch::Contains("EventLoop::call_later called from a thread"));
  CHECK_THROWS_WITH(bg.loop.call_at(bg.loop.time(), [] {}), Catch::Contains("EventLoop::call_at called from a thread"));
  bg.stop();
  CHECK(bg.loop.stats().balanced());  // a call refused by the check was never counted as posted
}

TEST_CASE("errors name the call the user made", "[messages]") {
  SECTION("call_later and call_at after close()") {
    EventLoop loop;
    loop.close();
    const std::string later = message_of([&] { loop.call_later(1s, [] {}); });
    CHECK_THAT(later, Catch::Contains("call_later() after close()"));
    CHECK_THAT(later, !Catch::Contains("call_at"));
    CHECK_THAT(message_of([&] { loop.call_at(loop.time(), [] {}); }), Catch::Contains("call_at() after close()"));
    CHECK(loop.stats().balanced());
  }
  SECTION("run_coroutine_threadsafe after close()") {
    EventLoop loop;
    LoopRef ref = loop.threadsafe();
    loop.close();
    const std::string m = message_of([&] { run_coroutine_threadsafe(value(1), ref); });
    CHECK_THAT(m, Catch::Contains("run_coroutine_threadsafe() after close()"));
    CHECK_THAT(m, !Catch::Contains("call_soon_threadsafe"));
    CHECK_THAT(message_of([&] { run_coroutine_threadsafe(value(1), loop); }),
               Catch::Contains("run_coroutine_threadsafe() after close()"));
    // The plain post still names itself.
    CHECK_THAT(message_of([&] { ref.call_soon_threadsafe([] {}); }), Catch::Contains("call_soon_threadsafe() after close()"));
  }
  SECTION("run_coroutine_threadsafe with an empty LoopRef (was a null dereference)") {
    CHECK_THAT(message_of([] { run_coroutine_threadsafe(value(1), LoopRef()); }),
               Catch::Contains("run_coroutine_threadsafe() with an empty LoopRef"));
  }
  SECTION("calls that need a running loop, made outside one") {
    std::vector<Task<int>> tasks;
    tasks.push_back(value(1));
    CHECK_THAT(message_of([&] { gather(std::move(tasks)); }), Catch::Contains("gather(): no running event loop"));
    CHECK_THAT(message_of([] { gather(value(1), value(2)); }), Catch::Contains("gather(): no running event loop"));
    CHECK_THAT(message_of([] { shield(value(1)); }), Catch::Contains("shield(): no running event loop"));
    CHECK_THAT(message_of([] { as_completed(std::vector<Future<int>>{}); }),
               Catch::Contains("as_completed(): no running event loop"));
    CHECK_THROWS_AS(shield(value(1)), NoRunningLoopError);
  }
}

TEST_CASE("a wrong-thread TaskGroup::create_task names TaskGroup::create_task", "[messages]") {
  BackgroundLoop bg;
  std::promise<TaskGroup*> group;
  Event release;  // set on the loop thread once the wrong-thread call has been tried
  ThreadFuture<int> done = run_coroutine_threadsafe(task_group([&](TaskGroup& tg) -> Task<int> {
                                                      group.set_value(&tg);
                                                      co_await release.wait();
                                                      co_return 1;
                                                    }),
                                                    bg.loop);
  TaskGroup* tg = group.get_future().get();
  CHECK_THROWS_WITH(tg->create_task(value(1)), Catch::Contains("TaskGroup::create_task(): called outside the group's event loop"));
  bg.loop.call_soon_threadsafe([&] { release.set(); });
  CHECK(done.get() == 1);
}

TEST_CASE("Future::exception() and result(), as asyncio.Future", "[future]") {
  EventLoop loop;
  Future<int> pending = create_future<int>(loop);
  CHECK_THROWS_WITH(pending.exception(), Catch::Contains("exception() of a future that is not done yet"));
  CHECK_THROWS_AS(pending.exception(), InvalidStateError);
  CHECK_THROWS_AS(pending.result(), InvalidStateError);

  Future<int> ok = create_future<int>(loop);
  ok.set_result(7);
  CHECK(ok.exception() == nullptr);  // succeeded: no exception (asyncio: None)
  CHECK(ok.result() == 7);           // done: never waits

  Future<int> failed = create_future<int>(loop);
  failed.set_exception(std::make_exception_ptr(std::runtime_error("boom")));
  std::exception_ptr e = failed.exception();
  REQUIRE(e != nullptr);
  CHECK_THROWS_WITH(std::rethrow_exception(e), "boom");
  CHECK_THROWS_WITH(failed.result(), "boom");
  CHECK(failed.exception() == e);  // the same exception, every time

  Future<int> cancelled = create_future<int>(loop);
  cancelled.cancel("stop it");
  CHECK_THROWS_WITH(cancelled.exception(), Catch::Contains("stop it"));
  CHECK_THROWS_AS(cancelled.exception(), CancelledError);
  CHECK_THROWS_AS(cancelled.result(), CancelledError);
  loop.close();
}

TEST_CASE("ThreadFuture::exception() and get(), as concurrent.futures.Future", "[future]") {
  auto st = std::make_shared<ThreadFutureState<std::string>>();
  ThreadFuture<std::string> f(st);
  SECTION("a value: exception() waits for it, returns nullptr and leaves the value for get()") {
    std::thread completer([st] { st->set_value("v"); });
    CHECK(f.exception() == nullptr);  // blocks until done, whichever thread gets there first
    CHECK(f.get() == "v");
    completer.join();
  }
  SECTION("an exception: the same one every time; get() rethrows it") {
    st->set_exception(std::make_exception_ptr(std::runtime_error("boom")));
    std::exception_ptr e = f.exception();
    REQUIRE(e != nullptr);
    CHECK_THROWS_WITH(std::rethrow_exception(e), "boom");
    CHECK(f.exception() == e);
    CHECK_THROWS_WITH(f.get(), "boom");
  }
  SECTION("cancelled: exception() throws CancelledError, with its message") {
    st->set_exception(std::make_exception_ptr(CancelledError("stop it")));
    CHECK(f.cancelled());
    CHECK_THROWS_AS(f.exception(), CancelledError);
    CHECK_THROWS_WITH(f.exception(), Catch::Contains("stop it"));
  }
  SECTION("pending with a timeout: TimeoutError naming exception(timeout); the future stays valid") {
    CHECK_THROWS_AS(f.exception(1ms), TimeoutError);
    CHECK_THROWS_WITH(f.exception(1ms), Catch::Contains("ThreadFuture::exception(timeout)"));
    st->set_value("late");
    CHECK(f.exception(1ms) == nullptr);
    CHECK(f.get() == "late");
  }
  SECTION("on a loop thread: a pending future's blocking calls throw, naming the call; a done one never blocks") {
    run([&]() -> Task<void> {
      CHECK_THROWS_WITH(f.exception(), Catch::Contains("ThreadFuture::exception() would block the event loop"));
      CHECK_THROWS_WITH(f.exception(1s), Catch::Contains("ThreadFuture::exception(timeout) would block"));
      CHECK_THROWS_WITH(f.get(), Catch::Contains("ThreadFuture::get() would block"));
      CHECK_THROWS_WITH(f.get(1s), Catch::Contains("ThreadFuture::get(timeout) would block"));
      CHECK_THROWS_WITH(f.wait(), Catch::Contains("ThreadFuture::wait() would block"));
      CHECK_THROWS_WITH(f.wait_for(1s), Catch::Contains("ThreadFuture::wait_for() would block"));
      st->set_value("done");
      CHECK(f.exception() == nullptr);  // done: no wait, so allowed on the loop thread
      CHECK(f.get() == "done");
      co_return;
    }());
  }
}
