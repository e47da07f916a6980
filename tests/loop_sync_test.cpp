// Unit tests of the loop-local synchronization primitives: Event (loop/event.hpp), Lock
// (loop/lock.hpp), Semaphore and BoundedSemaphore (loop/semaphore.hpp), Queue (loop/queue.hpp).
//
// What is pinned down: the asyncio API and its errors; FIFO order of wake-ups; no barging past
// a waiter whose wake-up is in flight; cancellation at every kind of await point — while
// parked, and after the wake-up but before the task ran (the grant is undone and passed on:
// nothing is lost, nothing is granted twice); a cancellation pending before the await; a
// primitive destroyed while tasks wait on it; the same awaitables under wait_for.
//
// Tests drive the loop with run_until_complete on one EventLoop per test. settle() lets a few
// loop iterations pass, so that every posted wake-up has fired.
#include <catch2/catch.hpp>

#include <chrono>
#include <exception>
#include <memory>
#include <algorithm>
#include <cstdint>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include <handoff/loop/event.hpp>
#include <handoff/loop/lock.hpp>
#include <handoff/loop/loop.hpp>
#include <handoff/loop/queue.hpp>
#include <handoff/loop/semaphore.hpp>
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

// One loop per test; records what reaches the exception handler.
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

// Let n loop iterations pass (each sleep(0) is one round through the loop).
Task<void> settle(int n = 6) {
  for (int i = 0; i < n; ++i) co_await sleep(0ns);
}

// Await `aw`; the exception it threw, or nullptr.
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

// A task that records into `log` when it gets past `aw`, or the error it got.
template <class A>
Task<void> logged(A aw, std::vector<std::string>& log, std::string name) {
  std::exception_ptr e = co_await error_of(std::move(aw));
  if (!e) {
    log.push_back(name);
  } else if (is<CancelledError>(e)) {
    log.push_back(name + ":cancelled");
  } else {
    log.push_back(name + ":" + what_of(e));
  }
}

// A task that cancels itself, then awaits `aw`: the await must throw at once.
template <class A>
Task<std::exception_ptr> await_with_cancel_pending(std::shared_ptr<Future<std::exception_ptr>> self, A aw) {
  self->cancel("pending");
  co_return co_await error_of(std::move(aw));
}

}  // namespace

// ============================== Event ==============================

TEST_CASE("Event: smoke — wait returns at once when set, set releases all waiters in FIFO order",
          "[event]") {
  Fixture fx;
  Event ev;
  std::vector<std::string> log;
  fx.run([](Event& ev, std::vector<std::string>& log, EventLoop& loop) -> Task<void> {
    CHECK_FALSE(ev.is_set());
    auto a = loop.create_task(logged(ev.wait(), log, "a"));
    auto b = loop.create_task(logged(ev.wait(), log, "b"));
    auto c = loop.create_task(logged(ev.wait(), log, "c"));
    co_await settle();
    CHECK(log.empty());
    ev.set();
    ev.set();  // idempotent
    CHECK(ev.is_set());
    co_await settle();
    CHECK(log == std::vector<std::string>{"a", "b", "c"});
    co_await ev.wait();  // set: no suspension
    ev.clear();
    CHECK_FALSE(ev.is_set());
    auto d = loop.create_task(logged(ev.wait(), log, "d"));
    co_await settle();
    CHECK(log.size() == 3);
    ev.set();
    co_await d;
    CHECK(log.back() == "d");
  }(ev, log, fx.loop));
}

TEST_CASE("Event: a waiter released by set() returns even if clear() runs before it resumes",
          "[event]") {
  Fixture fx;
  Event ev;
  std::vector<std::string> log;
  fx.run([](Event& ev, std::vector<std::string>& log, EventLoop& loop) -> Task<void> {
    auto a = loop.create_task(logged(ev.wait(), log, "a"));
    co_await settle();
    ev.set();
    ev.clear();  // asyncio: the released waiter does not re-check
    co_await a;
    CHECK(log == std::vector<std::string>{"a"});
  }(ev, log, fx.loop));
}

TEST_CASE("Event: cancellation while parked, after release, and pending before the wait",
          "[event][cancel]") {
  Fixture fx;
  Event ev;
  std::vector<std::string> log;
  fx.run([](Event& ev, std::vector<std::string>& log, EventLoop& loop) -> Task<void> {
    auto a = loop.create_task(logged(ev.wait(), log, "a"));
    auto b = loop.create_task(logged(ev.wait(), log, "b"));
    auto c = loop.create_task(logged(ev.wait(), log, "c"));
    co_await settle();
    b.cancel();  // parked: leaves the list
    co_await settle();
    CHECK(log == std::vector<std::string>{"b:cancelled"});
    ev.set();
    c.cancel();  // released but not yet resumed: the cancellation wins at this await
    co_await settle();
    CHECK(log == std::vector<std::string>{"b:cancelled", "a", "c:cancelled"});

    ev.clear();
    auto self = std::make_shared<Future<std::exception_ptr>>();
    *self = loop.create_task(await_with_cancel_pending(self, ev.wait()));
    co_await settle();
    REQUIRE(self->done());
    CHECK(is<CancelledError>(self->result()));
  }(ev, log, fx.loop));
}

TEST_CASE("Event: destroyed while tasks wait on it: they get InvalidStateError, not a hang",
          "[event]") {
  Fixture fx;
  std::vector<std::string> log;
  fx.run([](std::vector<std::string>& log, EventLoop& loop) -> Task<void> {
    auto ev = std::make_unique<Event>();
    auto a = loop.create_task(logged(ev->wait(), log, "a"));
    co_await settle();
    ev.reset();
    co_await a;
    REQUIRE(log.size() == 1);
    CHECK(log[0].find("destroyed while this task waited") != std::string::npos);
  }(log, fx.loop));
}

// ============================== Lock ==============================

TEST_CASE("Lock: smoke — acquire/release, scoped guard, misuse errors", "[lock]") {
  Fixture fx;
  Lock lock;
  fx.run([](Lock& lock) -> Task<void> {
    CHECK_FALSE(lock.locked());
    co_await lock.acquire();
    CHECK(lock.locked());
    lock.release();
    CHECK_FALSE(lock.locked());
    CHECK_THROWS_AS(lock.release(), InvalidStateError);
    {
      Lock::Guard g = co_await lock.scoped();
      CHECK(g.owns_lock());
      CHECK(lock.locked());
      Lock::Guard moved = std::move(g);
      CHECK_FALSE(g.owns_lock());
      CHECK(lock.locked());
      moved.unlock();
      CHECK_FALSE(lock.locked());
      moved.unlock();  // idempotent
    }
    {
      auto g = co_await lock.scoped();
    }
    CHECK_FALSE(lock.locked());
  }(lock));
}

TEST_CASE("Lock: FIFO — waiters get the lock in the order they asked", "[lock][fifo]") {
  Fixture fx;
  Lock lock;
  std::vector<int> order;
  fx.run([](Lock& lock, std::vector<int>& order, EventLoop& loop) -> Task<void> {
    auto worker = [](Lock& lock, std::vector<int>& order, int id) -> Task<void> {
      auto g = co_await lock.scoped();
      order.push_back(id);
      co_await sleep(0ns);  // hold it across an await
    };
    co_await lock.acquire();
    std::vector<Future<void>> fs;
    for (int i = 0; i < 6; ++i) {
      fs.push_back(loop.create_task(worker(lock, order, i)));
      co_await sleep(0ns);  // each parks before the next is created
    }
    lock.release();
    for (auto& f : fs) co_await f;
    CHECK(order == std::vector<int>{0, 1, 2, 3, 4, 5});
    CHECK_FALSE(lock.locked());
  }(lock, order, fx.loop));
}

TEST_CASE("Lock: no barging — release hands the lock to the first waiter", "[lock][fifo]") {
  Fixture fx;
  Lock lock;
  std::vector<std::string> log;
  fx.run([](Lock& lock, std::vector<std::string>& log, EventLoop& loop) -> Task<void> {
    co_await lock.acquire();
    auto a = loop.create_task([](Lock& lock, std::vector<std::string>& log) -> Task<void> {
      co_await lock.acquire();
      log.push_back("a");
      lock.release();
    }(lock, log));
    co_await settle();
    lock.release();
    CHECK(lock.locked());  // handed to a, whose wake-up is in flight
    co_await lock.acquire();  // must queue behind a
    log.push_back("main");
    lock.release();
    co_await a;
    CHECK(log == std::vector<std::string>{"a", "main"});
  }(lock, log, fx.loop));
}

TEST_CASE("Lock: cancellation while parked and after the hand-off", "[lock][cancel]") {
  Fixture fx;
  Lock lock;
  std::vector<std::string> log;
  fx.run([](Lock& lock, std::vector<std::string>& log, EventLoop& loop) -> Task<void> {
    auto holder = [](Lock& lock, std::vector<std::string>& log, std::string name) -> Task<void> {
      std::exception_ptr e = co_await error_of(lock.acquire());
      if (e) {
        log.push_back(name + (is<CancelledError>(e) ? ":cancelled" : ":error"));
        co_return;
      }
      log.push_back(name);
      co_await sleep(0ns);
      lock.release();
    };
    co_await lock.acquire();
    auto a = loop.create_task(holder(lock, log, "a"));
    auto b = loop.create_task(holder(lock, log, "b"));
    auto c = loop.create_task(holder(lock, log, "c"));
    auto d = loop.create_task(holder(lock, log, "d"));
    co_await settle();
    b.cancel();  // parked
    co_await settle();
    CHECK(log == std::vector<std::string>{"b:cancelled"});
    lock.release();  // handed to a ...
    a.cancel();      // ... who is cancelled before it runs: the lock goes on to c
    co_await c;
    co_await d;
    CHECK(log == std::vector<std::string>{"b:cancelled", "a:cancelled", "c", "d"});
    CHECK_FALSE(lock.locked());

    // Hand-off undone with nobody waiting: the lock becomes free.
    co_await lock.acquire();
    auto e = loop.create_task(holder(lock, log, "e"));
    co_await settle();
    lock.release();
    e.cancel();
    co_await settle();
    CHECK(log.back() == "e:cancelled");
    CHECK_FALSE(lock.locked());

    // A cancellation pending before the acquire: it throws at once, the lock untouched.
    co_await lock.acquire();
    auto self = std::make_shared<Future<std::exception_ptr>>();
    *self = loop.create_task(await_with_cancel_pending(self, lock.acquire()));
    co_await settle();
    CHECK(is<CancelledError>(self->result()));
    lock.release();
    CHECK_FALSE(lock.locked());
  }(lock, log, fx.loop));
}

TEST_CASE("Lock: wait_for(lock.scoped()) times out without leaking the lock", "[lock][wait_for]") {
  Fixture fx;
  Lock lock;
  fx.run([](Lock& lock) -> Task<void> {
    co_await lock.acquire();
    std::exception_ptr e = co_await error_of(wait_for(lock.scoped(), 20ms));
    CHECK(is<TimeoutError>(e));
    lock.release();
    CHECK_FALSE(lock.locked());
    Lock::Guard g = co_await wait_for(lock.scoped(), 10s);
    CHECK(lock.locked());
    g.unlock();
    CHECK_FALSE(lock.locked());
  }(lock));
}

TEST_CASE("Lock: destroyed while tasks wait on it", "[lock]") {
  Fixture fx;
  std::vector<std::string> log;
  fx.run([](std::vector<std::string>& log, EventLoop& loop) -> Task<void> {
    auto lock = std::make_unique<Lock>();
    co_await lock->acquire();
    auto a = loop.create_task(logged(lock->acquire(), log, "a"));
    co_await settle();
    lock.reset();
    co_await a;
    REQUIRE(log.size() == 1);
    CHECK(log[0].find("Lock::acquire(): the object was destroyed") != std::string::npos);
  }(log, fx.loop));
}

// ============================== Semaphore ==============================

TEST_CASE("Semaphore: smoke — permits, locked(), guard, FIFO", "[semaphore]") {
  Fixture fx;
  Semaphore sem(2);
  std::vector<int> order;
  fx.run([](Semaphore& sem, std::vector<int>& order, EventLoop& loop) -> Task<void> {
    CHECK(sem.value() == 2);
    CHECK_FALSE(sem.locked());
    co_await sem.acquire();
    {
      auto g = co_await sem.scoped();
      CHECK(g.holds_permit());
      CHECK(sem.value() == 0);
      CHECK(sem.locked());
    }
    CHECK(sem.value() == 1);
    co_await sem.acquire();
    auto worker = [](Semaphore& sem, std::vector<int>& order, int id) -> Task<void> {
      auto g = co_await sem.scoped();
      order.push_back(id);
      co_await sleep(0ns);
    };
    std::vector<Future<void>> fs;
    for (int i = 0; i < 5; ++i) {
      fs.push_back(loop.create_task(worker(sem, order, i)));
      co_await sleep(0ns);
    }
    CHECK(sem.waiters() == 5);
    sem.release();
    sem.release();
    for (auto& f : fs) co_await f;
    CHECK(order == std::vector<int>{0, 1, 2, 3, 4});
    CHECK(sem.value() == 2);
    Semaphore unbounded(0);
    unbounded.release();  // asyncio: a plain Semaphore may be released beyond its start value
    CHECK(unbounded.value() == 1);
  }(sem, order, fx.loop));
}

TEST_CASE("Semaphore: no barging, and cancellation while parked and after the hand-off",
          "[semaphore][cancel][fifo]") {
  Fixture fx;
  Semaphore sem(1);
  std::vector<std::string> log;
  fx.run([](Semaphore& sem, std::vector<std::string>& log, EventLoop& loop) -> Task<void> {
    auto user = [](Semaphore& sem, std::vector<std::string>& log, std::string name) -> Task<void> {
      std::exception_ptr e = co_await error_of(sem.acquire());
      if (e) {
        log.push_back(name + (is<CancelledError>(e) ? ":cancelled" : ":error"));
        co_return;
      }
      log.push_back(name);
      co_await sleep(0ns);
      sem.release();
    };
    co_await sem.acquire();
    auto a = loop.create_task(user(sem, log, "a"));
    auto b = loop.create_task(user(sem, log, "b"));
    auto c = loop.create_task(user(sem, log, "c"));
    co_await settle();
    b.cancel();
    co_await settle();
    sem.release();          // handed to a
    CHECK(sem.value() == 0);
    a.cancel();             // undone: passes on to c
    co_await sem.acquire();  // no barging: queues behind c
    log.push_back("main");
    sem.release();
    co_await c;
    CHECK(log == std::vector<std::string>{"b:cancelled", "a:cancelled", "c", "main"});
    CHECK(sem.value() == 1);

    // Undone with nobody waiting: back to the count.
    co_await sem.acquire();
    auto d = loop.create_task(user(sem, log, "d"));
    co_await settle();
    sem.release();
    d.cancel();
    co_await settle();
    CHECK(log.back() == "d:cancelled");
    CHECK(sem.value() == 1);

    // Timed out acquire: no permit leaks.
    co_await sem.acquire();
    std::exception_ptr timed_out = co_await error_of(wait_for(sem.acquire(), 20ms));
    CHECK(is<TimeoutError>(timed_out));
    sem.release();
    CHECK(sem.value() == 1);
  }(sem, log, fx.loop));
}

TEST_CASE("BoundedSemaphore: releasing more than acquired throws, a permit in flight counts as held",
          "[semaphore]") {
  Fixture fx;
  BoundedSemaphore sem(2);
  fx.run([](BoundedSemaphore& sem, EventLoop& loop) -> Task<void> {
    CHECK_THROWS_AS(sem.release(), InvalidStateError);
    co_await sem.acquire();
    co_await sem.acquire();
    auto waiter = loop.create_task([](Semaphore& sem) -> Task<void> { co_await sem.acquire(); }(sem));
    co_await settle();
    sem.release();  // to the waiter (in flight)
    sem.release();  // back to the count: 1
    CHECK(sem.value() == 1);
    CHECK_NOTHROW(sem.release());  // 3 acquired (main twice, the waiter once): 3 releases are fine
    CHECK(sem.value() == 2);
    co_await waiter;
    CHECK_THROWS_WITH(sem.release(), Catch::Contains("BoundedSemaphore::release() called more times"));
  }(sem, fx.loop));
}

// ============================== Queue ==============================

TEST_CASE("Queue: smoke — nowait operations, sizes, QueueEmpty / QueueFull", "[queue]") {
  Queue<int> q(2);
  CHECK(q.maxsize() == 2);
  CHECK(q.empty());
  CHECK_FALSE(q.full());
  CHECK_THROWS_AS(q.get_nowait(), QueueEmpty);
  q.put_nowait(1);
  q.put_nowait(2);
  CHECK(q.full());
  CHECK(q.qsize() == 2);
  CHECK_THROWS_AS(q.put_nowait(3), QueueFull);
  CHECK_THROWS_WITH(q.put_nowait(3), Catch::Contains("maxsize 2"));
  CHECK(q.get_nowait() == 1);
  CHECK(q.get_nowait() == 2);
  CHECK(q.empty());
  CHECK(q.unfinished_tasks() == 2);

  Queue<int> unbounded;
  for (int i = 0; i < 1000; ++i) unbounded.put_nowait(i);
  CHECK_FALSE(unbounded.full());
  for (int i = 0; i < 1000; ++i) REQUIRE(unbounded.get_nowait() == i);
}

TEST_CASE("Queue: getters wait and are served in FIFO order; move-only items", "[queue][fifo]") {
  Fixture fx;
  Queue<std::unique_ptr<int>> q;
  std::vector<std::string> log;
  fx.run([](Queue<std::unique_ptr<int>>& q, std::vector<std::string>& log, EventLoop& loop) -> Task<void> {
    auto getter = [](Queue<std::unique_ptr<int>>& q, std::vector<std::string>& log, std::string name) -> Task<void> {
      std::unique_ptr<int> v = co_await q.get();
      log.push_back(name + "=" + std::to_string(*v));
    };
    std::vector<Future<void>> fs;
    for (const char* n : {"a", "b", "c"}) {
      fs.push_back(loop.create_task(getter(q, log, n)));
      co_await sleep(0ns);
    }
    co_await q.put(std::make_unique<int>(1));
    q.put_nowait(std::make_unique<int>(2));
    q.put_nowait(std::make_unique<int>(3));
    for (auto& f : fs) co_await f;
    CHECK(log == std::vector<std::string>{"a=1", "b=2", "c=3"});
    q.put_nowait(std::make_unique<int>(4));
    std::unique_ptr<int> four = co_await q.get();  // fast path
    CHECK(*four == 4);
  }(q, log, fx.loop));
}

TEST_CASE("Queue: bounded — put waits while full, putters in FIFO order, items in order",
          "[queue][fifo]") {
  Fixture fx;
  Queue<int> q(1);
  fx.run([](Queue<int>& q, EventLoop& loop) -> Task<void> {
    co_await q.put(0);
    auto putter = [](Queue<int>& q, int v) -> Task<void> { co_await q.put(v); };
    std::vector<Future<void>> fs;
    for (int i = 1; i <= 4; ++i) {
      fs.push_back(loop.create_task(putter(q, i)));
      co_await sleep(0ns);
    }
    CHECK(q.full());
    std::vector<int> got;
    for (int i = 0; i <= 4; ++i) got.push_back(co_await q.get());
    for (auto& f : fs) co_await f;
    CHECK(got == std::vector<int>{0, 1, 2, 3, 4});
    CHECK(q.empty());
  }(q, fx.loop));
}

TEST_CASE("Queue: a cancelled getter never loses an item", "[queue][cancel]") {
  Fixture fx;
  Queue<int> q;
  std::vector<std::string> log;
  fx.run([](Queue<int>& q, std::vector<std::string>& log, EventLoop& loop) -> Task<void> {
    auto getter = [](Queue<int>& q, std::vector<std::string>& log, std::string name) -> Task<void> {
      int v = -1;
      std::exception_ptr e;
      try {
        v = co_await q.get();
      } catch (...) {
        e = std::current_exception();
      }
      log.push_back(e ? name + (is<CancelledError>(e) ? ":cancelled" : ":error") : name + "=" + std::to_string(v));
    };
    auto a = loop.create_task(getter(q, log, "a"));
    auto b = loop.create_task(getter(q, log, "b"));
    auto c = loop.create_task(getter(q, log, "c"));
    co_await settle();
    b.cancel();  // parked
    co_await settle();
    q.put_nowait(1);  // wakes a ...
    a.cancel();       // ... cancelled before it ran: its wake-up passes to c
    co_await settle();
    CHECK(log == std::vector<std::string>{"b:cancelled", "a:cancelled", "c=1"});
    CHECK(q.empty());

    // Timed-out get: the item put later stays in the queue.
    std::exception_ptr timed_out = co_await error_of(wait_for(q.get(), 20ms));
    CHECK(is<TimeoutError>(timed_out));
    q.put_nowait(7);
    co_await settle();
    CHECK(q.qsize() == 1);
    CHECK(q.get_nowait() == 7);

    // A cancellation pending before get() on an empty queue: throws at once, does not park
    // (the item put next stays in the queue).
    auto self = std::make_shared<Future<std::exception_ptr>>();
    *self = loop.create_task(await_with_cancel_pending(self, q.get()));
    co_await settle();
    CHECK(is<CancelledError>(self->result()));
    q.put_nowait(8);
    co_await settle();
    CHECK(q.qsize() == 1);
  }(q, log, fx.loop));
}

TEST_CASE("Queue: a cancelled putter does not insert, its wake-up passes on", "[queue][cancel]") {
  Fixture fx;
  Queue<int> q(1);
  std::vector<std::string> log;
  fx.run([](Queue<int>& q, std::vector<std::string>& log, EventLoop& loop) -> Task<void> {
    q.put_nowait(0);
    auto a = loop.create_task(logged(q.put(1), log, "a"));
    auto b = loop.create_task(logged(q.put(2), log, "b"));
    auto c = loop.create_task(logged(q.put(3), log, "c"));
    co_await settle();
    b.cancel();
    co_await settle();
    CHECK(q.get_nowait() == 0);  // frees a slot: wakes a ...
    a.cancel();                  // ... cancelled before it ran: c puts instead
    co_await settle();
    CHECK(log == std::vector<std::string>{"b:cancelled", "a:cancelled", "c"});
    CHECK(q.qsize() == 1);
    CHECK(q.get_nowait() == 3);
    CHECK(q.unfinished_tasks() == 2);  // 0 and 3 were put; 1 and 2 never were
    std::exception_ptr e = co_await error_of(wait_for(q.put(9), 20ms));  // there is room
    CHECK_FALSE(e);
    CHECK(q.get_nowait() == 9);
    q.put_nowait(10);
    e = co_await error_of(wait_for(q.put(11), 20ms));
    CHECK(is<TimeoutError>(e));
    CHECK(q.qsize() == 1);
    CHECK(q.get_nowait() == 10);
  }(q, log, fx.loop));
}

TEST_CASE("Queue: get_nowait may take a woken getter's item; that getter keeps its place",
          "[queue][fifo]") {
  Fixture fx;
  Queue<int> q;
  std::vector<std::string> log;
  fx.run([](Queue<int>& q, std::vector<std::string>& log, EventLoop& loop) -> Task<void> {
    auto getter = [](Queue<int>& q, std::vector<std::string>& log, std::string name) -> Task<void> {
      int v = co_await q.get();
      log.push_back(name + "=" + std::to_string(v));
    };
    auto a = loop.create_task(getter(q, log, "a"));
    co_await settle();
    auto b = loop.create_task(getter(q, log, "b"));
    co_await settle();
    q.put_nowait(1);               // wakes a
    CHECK(q.get_nowait() == 1);    // barges (asyncio allows it for the nowait call)
    co_await settle();
    CHECK(log.empty());            // a re-parked, at the front
    q.put_nowait(2);
    q.put_nowait(3);
    co_await a;
    co_await b;
    CHECK(log == std::vector<std::string>{"a=2", "b=3"});

    // co_await get() does not barge past a woken getter.
    auto c = loop.create_task(getter(q, log, "c"));
    co_await settle();
    q.put_nowait(4);  // wakes c
    loop.call_soon([&q] { q.put_nowait(5); });
    const int mine = co_await q.get();  // arrives while c's wake-up is in flight: queues behind c
    log.push_back("main=" + std::to_string(mine));
    co_await c;
    CHECK(log == std::vector<std::string>{"a=2", "b=3", "c=4", "main=5"});
  }(q, log, fx.loop));
}

TEST_CASE("Queue: co_await put() does not barge past a woken putter", "[queue][fifo]") {
  Fixture fx;
  Queue<int> q(1);
  fx.run([](Queue<int>& q, EventLoop& loop) -> Task<void> {
    q.put_nowait(0);
    auto p = loop.create_task([](Queue<int>& q) -> Task<void> { co_await q.put(1); }(q));
    co_await settle();
    CHECK(q.get_nowait() == 0);  // wakes p
    loop.call_soon([&q] { CHECK(q.get_nowait() == 1); });
    co_await q.put(2);  // arrives while p's wake-up is in flight: queues behind p
    co_await p;
    CHECK(q.get_nowait() == 2);
  }(q, fx.loop));
}

TEST_CASE("Queue: task_done / join", "[queue][join]") {
  Fixture fx;
  Queue<int> q;
  std::vector<std::string> log;
  fx.run([](Queue<int>& q, std::vector<std::string>& log, EventLoop& loop) -> Task<void> {
    co_await q.join();  // nothing unfinished: returns at once
    CHECK_THROWS_AS(q.task_done(), InvalidStateError);
    q.put_nowait(1);
    q.put_nowait(2);
    auto j1 = loop.create_task(logged(q.join(), log, "j1"));
    auto j2 = loop.create_task(logged(q.join(), log, "j2"));
    auto j3 = loop.create_task(logged(q.join(), log, "j3"));
    co_await settle();
    j2.cancel();
    (void)q.get_nowait();
    q.task_done();
    co_await settle();
    CHECK(log == std::vector<std::string>{"j2:cancelled"});
    (void)q.get_nowait();
    q.task_done();
    co_await settle();
    CHECK(log == std::vector<std::string>{"j2:cancelled", "j1", "j3"});
    CHECK_THROWS_WITH(q.task_done(), Catch::Contains("more times than items were put"));
  }(q, log, fx.loop));
}

TEST_CASE("Queue: shutdown (Python 3.13)", "[queue][shutdown]") {
  Fixture fx;
  std::vector<std::string> log;
  fx.run([](std::vector<std::string>& log, EventLoop& loop) -> Task<void> {
    {  // gets drain what is left, then fail; puts fail; parked putters wake with QueueShutDown
      Queue<int> q(1);
      q.put_nowait(1);
      auto p = loop.create_task(logged(q.put(2), log, "p"));
      co_await settle();
      CHECK(q.shutdown().empty());
      co_await settle();
      REQUIRE(log.size() == 1);
      CHECK(log[0] == "p:handoff: Queue::put(): the queue was shut down");
      CHECK_THROWS_AS(q.put_nowait(3), QueueShutDown);
      std::exception_ptr e = co_await error_of(q.put(3));
      CHECK(is<QueueShutDown>(e));
      const int one = co_await q.get();
      CHECK(one == 1);
      e = co_await error_of(q.get());
      CHECK(is<QueueShutDown>(e));
      CHECK_THROWS_AS(q.get_nowait(), QueueShutDown);
      CHECK(q.is_shutdown());
    }
    log.clear();
    {  // parked getters wake with QueueShutDown
      Queue<int> q;
      auto g1 = loop.create_task(logged(q.get(), log, "g1"));
      auto g2 = loop.create_task(logged(q.get(), log, "g2"));
      co_await settle();
      (void)q.shutdown();
      co_await settle();
      CHECK(log == std::vector<std::string>{"g1:handoff: Queue::get(): the queue was shut down",
                                            "g2:handoff: Queue::get(): the queue was shut down"});
    }
    log.clear();
    {  // immediate: returns the removed items and releases join()
      Queue<int> q;
      q.put_nowait(1);
      q.put_nowait(2);
      q.put_nowait(3);
      (void)q.get_nowait();  // taken, not yet task_done
      auto j = loop.create_task(logged(q.join(), log, "join"));
      co_await settle();
      std::vector<int> removed = q.shutdown(true);
      CHECK(removed == std::vector<int>{2, 3});
      CHECK(q.empty());
      CHECK(q.unfinished_tasks() == 1);
      co_await settle();
      CHECK(log.empty());  // the item taken before still needs its task_done
      q.task_done();
      co_await j;
      CHECK(log == std::vector<std::string>{"join"});
    }
  }(log, fx.loop));
}

TEST_CASE("Queue: destroyed while getters, putters and joiners wait on it", "[queue]") {
  Fixture fx;
  std::vector<std::string> log;
  fx.run([](std::vector<std::string>& log, EventLoop& loop) -> Task<void> {
    auto q = std::make_unique<Queue<int>>(1);
    q->put_nowait(1);
    auto j = loop.create_task(logged(q->join(), log, "join"));
    auto p = loop.create_task(logged(q->put(2), log, "put"));
    co_await settle();
    auto q2 = std::make_unique<Queue<int>>();
    auto get = loop.create_task(logged(q2->get(), log, "get"));
    co_await settle();
    q.reset();
    q2.reset();
    co_await settle();
    const std::string suffix = "(): the object was destroyed while this task waited on it";
    CHECK(log == std::vector<std::string>{"put:handoff: invalid state: Queue::put" + suffix,
                                          "join:handoff: invalid state: Queue::join" + suffix,
                                          "get:handoff: invalid state: Queue::get" + suffix});
  }(log, fx.loop));
}

// ============================== stampedes ==============================
// Many short tasks on one primitive, with random cancellations (while parked, while a wake-up
// is in flight, while holding), driven by a seeded generator so a failure is reproducible.

namespace {

struct QueueLedger {
  std::vector<int> put;  // in the order the items entered the queue
  std::vector<int> got;  // in the order they left it
};

Task<void> put_op(Queue<int>& q, int v, QueueLedger& l) {
  try {
    co_await q.put(v);
    l.put.push_back(v);  // nothing runs between the insertion and this line
  } catch (const CancelledError&) {
  }
}

Task<void> get_op(Queue<int>& q, QueueLedger& l) {
  try {
    const int v = co_await q.get();
    l.got.push_back(v);
  } catch (const CancelledError&) {
  }
}

}  // namespace

TEST_CASE("Queue: stampede with random cancellations — nothing lost, duplicated or reordered",
          "[queue][cancel][stampede]") {
  for (std::uint32_t seed = 1; seed <= 12; ++seed) {
    INFO("seed " << seed);
    Fixture fx;
    Queue<int> q(3);
    QueueLedger l;
    fx.run([](Queue<int>& q, QueueLedger& l, EventLoop& loop, std::uint32_t seed) -> Task<void> {
      std::mt19937 rng(seed);
      std::vector<Future<void>> ops, puts, gets;
      int next = 0;
      for (int step = 0; step < 1500; ++step) {
        switch (rng() % 8) {
          case 0:
          case 1:
            puts.push_back(loop.create_task(put_op(q, next++, l)));
            ops.push_back(puts.back());
            break;
          case 2:
          case 3:
            gets.push_back(loop.create_task(get_op(q, l)));
            ops.push_back(gets.back());
            break;
          case 4:
            if (!ops.empty()) ops[rng() % ops.size()].cancel();
            break;
          case 5:
            if (!q.full()) {
              q.put_nowait(next);
              l.put.push_back(next++);
            }
            break;
          case 6:
            if (!q.empty()) l.got.push_back(q.get_nowait());
            break;
          default:
            co_await sleep(0ns);
        }
      }
      // Liveness: once the loop settles, no getter waits while there are items and no putter
      // while there is room (a lost wake-up leaves one parked for good). Each hand-over takes
      // an iteration, so give it as many as there were operations.
      const auto pending = [](const std::vector<Future<void>>& fs) {
        return std::count_if(fs.begin(), fs.end(), [](const Future<void>& f) { return !f.done(); });
      };
      const auto stuck = [&] {
        return (!q.empty() && pending(gets) > 0) || (!q.full() && pending(puts) > 0);
      };
      for (std::size_t i = 0; i < ops.size() + 10 && stuck(); ++i) co_await sleep(0ns);
      CHECK((q.empty() || pending(gets) == 0));
      CHECK((q.full() || pending(puts) == 0));
      for (auto& f : ops) f.cancel();
      for (auto& f : ops) {
        std::exception_ptr e = co_await error_of(f);
        (void)e;  // ops catch their own cancellation; one cancelled before it started ends cancelled
      }
      while (!q.empty()) l.got.push_back(q.get_nowait());
    }(q, l, fx.loop, seed));
    REQUIRE(l.got == l.put);
    CHECK(l.put.size() > 100);
  }
}

TEST_CASE("Lock and Semaphore: stampede with random cancellations — never over capacity, nothing leaks",
          "[lock][semaphore][cancel][stampede]") {
  for (std::uint32_t seed = 1; seed <= 12; ++seed) {
    INFO("seed " << seed);
    Fixture fx;
    Lock lock;
    Semaphore sem(3);
    int in_lock = 0, in_sem = 0, max_lock = 0, max_sem = 0, entered = 0;
    fx.run([](Lock& lock, Semaphore& sem, int& in_lock, int& in_sem, int& max_lock, int& max_sem,
              int& entered, EventLoop& loop, std::uint32_t seed) -> Task<void> {
      auto locker = [](Lock& lock, int& in, int& mx, int& entered, int hold) -> Task<void> {
        auto g = co_await lock.scoped();
        mx = std::max(mx, ++in);
        ++entered;
        bool cancelled = false;
        try {
          for (int i = 0; i < hold; ++i) co_await sleep(0ns);
        } catch (const CancelledError&) {
          cancelled = true;  // cancelled while holding: the guard releases on the way out
        }
        --in;
        if (cancelled) throw CancelledError("while holding");
      };
      auto permit = [](Semaphore& sem, int& in, int& mx, int& entered, int hold) -> Task<void> {
        co_await sem.acquire();
        mx = std::max(mx, ++in);
        ++entered;
        std::exception_ptr e = co_await error_of(settle(hold));
        --in;
        sem.release();
        if (e) std::rethrow_exception(e);
      };
      std::mt19937 rng(seed);
      std::vector<Future<void>> ops;
      for (int step = 0; step < 1500; ++step) {
        switch (rng() % 6) {
          case 0:
          case 1:
            ops.push_back(loop.create_task(locker(lock, in_lock, max_lock, entered, static_cast<int>(rng() % 3))));
            break;
          case 2:
          case 3:
            ops.push_back(loop.create_task(permit(sem, in_sem, max_sem, entered, static_cast<int>(rng() % 4))));
            break;
          case 4:
            if (!ops.empty()) ops[rng() % ops.size()].cancel();
            break;
          default:
            co_await sleep(0ns);
        }
      }
      for (auto& f : ops) {
        std::exception_ptr e = co_await error_of(f);  // let them all finish (or end cancelled)
        (void)e;
      }
    }(lock, sem, in_lock, in_sem, max_lock, max_sem, entered, fx.loop, seed));
    CHECK(max_lock == 1);
    CHECK(max_sem <= 3);
    CHECK(max_sem >= 2);
    CHECK(entered > 100);
    CHECK_FALSE(lock.locked());
    CHECK(sem.value() == 3);
    CHECK(in_lock == 0);
    CHECK(in_sem == 0);
  }
}
