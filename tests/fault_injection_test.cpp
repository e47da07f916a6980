// tests/fault_injection_test.cpp — the fault sweep: every claim-then-act path of the library
// run with a failure injected at its 1st, 2nd, ... allocation (a counting global operator
// new, tests/fault_injection.hpp) or copy/move of its value (Fragile), until the operation
// completes without an injected failure. A binary of its own (the operator new).
//
// After every injected failure the step checks what the library promises (BRIEF, issue 10):
// the ledger (stats()) balances, no waiter is stuck and every future completes — every wait is
// bounded by a HangWatch that ends the process with "HANG: <path> at N=<n>" — and nothing
// leaks or is touched after free (ASan runs this binary, label unit). An operation that threw
// left things as if it had not been called (a value not delivered is not counted), or
// completed with the exception (a future's waiters see it).
//
// A sweep ends when the N-th injection no longer fires: the path has fewer than N failure
// points. `CHECK(reached > 1)` proves the sweep hit at least one of them.
#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <coroutine>
#include <functional>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <system_error>
#include <thread>
#include <utility>
#include <vector>

#include <handoff/executor/thread_pool_executor.hpp>
#include <handoff/loop/channel.hpp>
#include <handoff/loop/loop.hpp>
#include <handoff/loop/loop_thread.hpp>
#include <handoff/loop/thread_future.hpp>
#include <handoff/primitives/mpsc_queue.hpp>
#include <handoff/primitives/mutex_queue.hpp>

#include "fault_injection.hpp"
#include "hang_watch.hpp"
#include "loop_test_support.hpp"

using namespace handoff;
using namespace std::chrono_literals;
using handoff::test::Fragile;
using handoff::test::FragileError;
using handoff::test::HangWatch;
using handoff::test::check_ledger;
namespace alloc = handoff::test::alloc;

namespace {

constexpr int kLimit = 300;  // no path here has this many failure points: reaching it is a failure

// Runs step(n) for n = 1, 2, ... while the n-th injection fires; each step under a HangWatch
// naming the path and n. Returns the first n that completed without an injection.
template <class Step>
int sweep(const std::string& path, Step&& step) {
  int n = 1;
  for (; n <= kLimit; ++n) {
    bool fired;
    {
      HangWatch watch("fault sweep: " + path + " at N=" + std::to_string(n));
      INFO(path << " at N=" << n);
      fired = step(n);
    }
    if (!fired) break;
  }
  INFO(path << ": completed without an injection at N=" << n);
  CHECK(n > 1);        // the sweep reached at least one failure point
  CHECK(n <= kLimit);  // and ended
  return n;
}

// A loop future's outcome as a string, for checks: "value <v>", "error <what>", "pending".
template <class T>
std::string outcome(ThreadFuture<T>& f) {
  if (!f.done()) return "pending";
  try {
    if constexpr (std::is_void_v<T>) {
      f.get();
      return "value";
    } else {
      return "value " + std::to_string(f.get().v);
    }
  } catch (const std::exception& e) {
    return std::string("error ") + e.what();
  }
}

}  // namespace

// ---- the event loop: post, call_soon, call_later, timers -----------------------------------------

TEST_CASE("fault sweep: EventLoop::call_soon / call_later / call_soon_threadsafe under allocation failure",
          "[fault][event_loop]") {
  enum Kind { Soon, Later, LaterCancelled, Threadsafe };
  for (Kind kind : {Soon, Later, LaterCancelled, Threadsafe}) {
    const char* names[] = {"EventLoop::call_soon", "EventLoop::call_later", "EventLoop::call_later+cancel",
                           "EventLoop::call_soon_threadsafe"};
    sweep(names[kind], [&](int n) {
      // 40 posts per step: the ready queue and the timer heap allocate only now and then.
      constexpr int kPosts = 40;
      EventLoop loop;
      int ran = 0, dropped = 0, accepted = 0;
      bool threw = false, fired = false;
      std::vector<Callback> cbs;
      for (int i = 0; i < kPosts; ++i) cbs.push_back(Callback::with_drop([&] { ++ran; }, [&] { ++dropped; }));
      auto attempt = [&] {
        alloc::arm(n);
        try {
          for (auto& cb : cbs) {
            switch (kind) {
              case Soon: loop.call_soon(std::move(cb)); break;
              case Later: loop.call_later(0ns, std::move(cb)); break;
              case LaterCancelled: loop.call_later(1h, std::move(cb)).cancel(); break;
              case Threadsafe: loop.call_soon_threadsafe(std::move(cb)); break;
            }
            ++accepted;
          }
        } catch (const std::bad_alloc&) {
          threw = true;
        }
        fired = alloc::disarm();
      };
      if (kind == Threadsafe) {
        std::thread poster(attempt);  // a fresh thread: its first post allocates its node cache
        poster.join();
      } else {
        attempt();
      }
      cbs.clear();  // the ones never posted: their drop hooks run here
      loop.call_later(1ms, [&] { loop.stop(); });
      loop.run_forever();
      loop.close();
      INFO("accepted " << accepted << ", ran " << ran << ", dropped " << dropped);
      CHECK((!threw || fired));  // only the injected failure may throw
      CHECK(threw == (accepted < kPosts));
      CHECK(ran + dropped == kPosts);  // each callback ran, or its drop hook said it never will
      CHECK(ran == (kind == LaterCancelled ? 0 : accepted));
      check_ledger(loop.stats());
      return fired;
    });
  }
}

TEST_CASE("fault sweep: EventLoop::create_task under allocation failure", "[fault][task]") {
  // The coroutine's frame is allocated by the call, before arming; create_task allocates the
  // task's state and schedules its first step. Strong: a throw leaves no task (none runs
  // later, none leaks — ASan), and the frame is destroyed.
  sweep("EventLoop::create_task", [](int n) {
    EventLoop loop;
    int ran = 0, frames = 0;
    struct Frame {
      int& live;
      explicit Frame(int& l) : live(l) { ++live; }
      ~Frame() { --live; }
    };
    auto body = [](int& r, int& live) -> Task<void> {
      Frame f(live);
      ++r;
      co_return;
    };
    std::vector<Task<void>> coros;
    for (int i = 0; i < 20; ++i) coros.push_back(body(ran, frames));
    std::vector<Future<void>> futs;
    futs.reserve(coros.size());
    int accepted = 0;
    bool threw = false;
    alloc::arm(n);
    try {
      for (auto& c : coros) {
        futs.push_back(loop.create_task(std::move(c)));
        ++accepted;
      }
    } catch (const std::bad_alloc&) {
      threw = true;
    }
    const bool fired = alloc::disarm();
    coros.clear();
    test::TurnBackstop turns(loop, 20);
    loop.run_forever();
    INFO("accepted " << accepted << ", ran " << ran);
    CHECK(threw == fired);
    CHECK(ran == accepted);  // every accepted task ran, no refused one did
    for (auto& f : futs) CHECK(f.done());
    // No task of a refused create_task is left in the loop (linked but never scheduled).
    CHECK(all_tasks_of(loop).size() == futs.size());
    loop.close();
    CHECK(frames == 0);
    check_ledger(loop.stats());
    return fired;
  });
}

// Found by this sweep (issue 10): FutureBase marked the future done, then scheduled each done
// callback with its own call_soon; a bad_alloc there escaped set_result with the future done,
// and that callback (a task's wake-up among them) and every later one were lost (N = 1..8).
// Now the loop makes room for every callback before the outcome is set (all or nothing;
// EventLoop::complete_and_call_soon). Mutant future.schedule_after_done restores the old order.
TEST_CASE("fault sweep: a loop Future completed while tasks and callbacks wait on it (allocation failure)",
          "[fault][future][regression]") {
  // set_result schedules every done callback (a task's wake-up among them) with call_soon.
  // Either set_result throws and the future is still pending (retrying completes it), or it
  // completed — and then every waiter is woken: none may be lost to a failed schedule.
  sweep("Future::set_result with waiters", [](int n) {
    EventLoop loop;
    Future<int> f = create_future<int>(loop);
    int callbacks_run = 0;
    for (int i = 0; i < 40; ++i) f.add_done_callback([&] { ++callbacks_run; });  // fill the ready queue's blocks
    auto waiter = [](Future<int> g) -> Task<int> { co_return co_await g; };
    Future<int> task = loop.create_task(waiter(f));
    loop.call_soon([&] { loop.stop(); });
    loop.run_forever();  // the task is parked on f
    bool threw = false;
    alloc::arm(n);
    try {
      f.set_result(7);
    } catch (const std::bad_alloc&) {
      threw = true;
    }
    const bool fired = alloc::disarm();
    const bool pending_after_throw = threw && !f.done();
    if (pending_after_throw) f.set_result(7);  // strong: as if never called
    test::TurnBackstop turns(loop, 50);
    loop.run_forever();
    INFO("set_result threw: " << threw << ", the future was left " << (pending_after_throw ? "pending" : "done"));
    CHECK((!threw || pending_after_throw));  // a throw must leave it pending (strong)
    CHECK(task.done());                      // the waiting task was woken
    CHECK(callbacks_run == 40);              // every done callback ran
    loop.close();
    check_ledger(loop.stats());
    return fired;
  });
}

// The same at a task's completion, which may not throw (its final suspend): callbacks the loop
// cannot queue are kept on the loop's intrusive deferred list and queued on a later iteration
// (TaskBase::root_finished used to swallow the failure and lose them).
TEST_CASE("fault sweep: a task finishing while a task and callbacks wait on it (allocation failure)",
          "[fault][future][regression]") {
  sweep("a task's completion with waiters", [](int n) {
    EventLoop loop;
    Future<int> gate = create_future<int>(loop);
    auto body = [](Future<int> g) -> Task<int> { co_return co_await g + 1; };
    Future<int> task = loop.create_task(body(gate));
    int callbacks_run = 0;
    for (int i = 0; i < 40; ++i) task.add_done_callback([&] { ++callbacks_run; });
    auto waiter = [](Future<int> t) -> Task<int> { co_return co_await t; };
    Future<int> awaiting = loop.create_task(waiter(task));
    loop.call_soon([&] { loop.stop(); });
    loop.run_forever();   // both tasks parked
    gate.set_result(1);   // queues the task's wake-up (not under injection)
    loop.call_soon([&] { loop.stop(); });
    alloc::arm(n);
    try {
      loop.run_forever();  // the task finishes here, while allocations fail
    } catch (const std::bad_alloc&) {
    }
    const bool fired = alloc::disarm();
    test::TurnBackstop turns(loop, 50);
    loop.run_forever();
    CHECK(task.done());
    CHECK(awaiting.done());       // the awaiting task was woken
    CHECK(callbacks_run == 40);   // every done callback ran
    if (awaiting.done() && !awaiting.exception()) CHECK(awaiting.result() == 2);
    loop.close();
    check_ledger(loop.stats());
    return fired;
  });
}

// ---- ThreadFuture and run_coroutine_threadsafe ---------------------------------------------------

TEST_CASE("fault sweep: ThreadFuture set_value with a throwing copy, waiters and callbacks", "[fault][thread_future]") {
  sweep("ThreadFuture::set_value (Fragile copy)", [](int n) {
    auto st = std::make_shared<ThreadFutureState<Fragile>>();
    ThreadFuture<Fragile> f(st);
    std::atomic<int> callbacks{0};
    f.add_done_callback([&] { callbacks.fetch_add(1); });
    std::string seen = "not run";
    std::thread waiter([&] {
      f.wait();  // bounded by the HangWatch
      seen = outcome(f);
    });
    const Fragile v(5);
    Fragile::arm(n);
    bool threw = false;
    try {
      st->set_value(v);  // copies v into the state
    } catch (const FragileError&) {
      threw = true;  // set_value must not throw: the future takes the exception
    }
    const bool fired = Fragile::disarm();
    waiter.join();
    CHECK_FALSE(threw);
    CHECK(f.done());
    CHECK(callbacks.load() == 1);
    CHECK((seen == "value 5" || seen == std::string("error ") + FragileError().what()));
    if (!fired) CHECK(seen == "value 5");
    return fired;
  });
  sweep("ThreadFuture::add_done_callback + set_value (allocation)", [](int n) {
    auto st = std::make_shared<ThreadFutureState<int>>();
    ThreadFuture<int> f(st);
    std::atomic<int> callbacks{0};
    bool cb_threw = false;
    Callback cb([&] { callbacks.fetch_add(1); });
    alloc::arm(n);
    try {
      f.add_done_callback(std::move(cb));
    } catch (const std::bad_alloc&) {
      cb_threw = true;
    }
    st->set_value(3);
    const bool fired = alloc::disarm();
    CHECK(f.done());
    CHECK(f.get() == 3);
    CHECK(callbacks.load() == (cb_threw ? 0 : 1));  // registered: runs once; refused: never
    return fired;
  });
}

TEST_CASE("fault sweep: run_coroutine_threadsafe's delivery (throwing move, allocation on the loop thread)",
          "[fault][thread_future][loop_thread]") {
  auto produce = []() -> Task<Fragile> { co_return Fragile(9); };
  sweep("run_coroutine_threadsafe delivery (Fragile move)", [&](int n) {
    LoopThread lt;
    Fragile::arm(n);
    ThreadFuture<Fragile> f = run_coroutine_threadsafe(produce(), lt.threadsafe());
    const bool done = f.wait_for(15s);  // before the HangWatch: a clearer message
    const bool fired = Fragile::disarm();
    INFO("future " << outcome(f));
    CHECK(done);
    const std::string o = outcome(f);
    CHECK((o == "value 9" || o == std::string("error ") + FragileError().what()));
    return fired;
  });
  sweep("run_coroutine_threadsafe start (allocation on the loop thread)", [&](int n) {
    LoopThread lt;
    // Arm the loop thread itself: the start callback, posted right behind, creates the task
    // and hooks the delivery there.
    lt.threadsafe().call_soon_threadsafe([n] { alloc::arm(n); });
    ThreadFuture<Fragile> f = run_coroutine_threadsafe(produce(), lt.threadsafe());
    const bool done = f.wait_for(5s);
    // Disarm on the loop thread (a plain callback: running it allocates nothing).
    std::atomic<int> fired{-1};
    lt.threadsafe().call_soon_threadsafe([&fired] { fired.store(alloc::disarm() ? 1 : 0); });
    CHECK(test::eventually([&] { return fired.load() != -1; }));
    INFO("future " << outcome(f));
    CHECK(done);
    return fired.load() == 1;
  });
}

// ---- Channel ---------------------------------------------------------------------------------

TEST_CASE("fault sweep: Channel push to a parked pop waiter, pop, give-back (throwing copy/move)",
          "[fault][channel]") {
  for (bool coroutine_popper : {false, true}) {
    sweep(coroutine_popper ? "Channel push -> async_pop waiter (Fragile)" : "Channel push -> pop() waiter (Fragile)",
          [&](int n) {
            Channel<Fragile> ch(1);
            int got = -1;  // the popped value; the test itself never moves a Fragile
            std::string popper_error;
            std::unique_ptr<LoopThread> lt;
            ThreadFuture<void> popped;
            std::thread popper;
            if (coroutine_popper) {
              lt = std::make_unique<LoopThread>();
              popped = run_coroutine_threadsafe(
                  [](Channel<Fragile>& c, int& out, std::string& err) -> Task<void> {
                    try {
                      std::optional<Fragile> r = co_await c.async_pop();  // initialized: no move
                      out = r ? r->v : -2;
                    } catch (const std::exception& e) {
                      err = e.what();
                    }
                  }(ch, got, popper_error),
                  lt->threadsafe());
            } else {
              popper = std::thread([&] {
                try {
                  std::optional<Fragile> r = ch.pop();
                  got = r ? r->v : -2;
                } catch (const std::exception& e) {
                  popper_error = e.what();
                }
              });
            }
            REQUIRE(test::eventually([&] { return ch.stats().pop_waits == 1; }));  // parked
            const Fragile v(4);
            Fragile::arm(n);
            bool push_threw = false;
            try {
              ch.push(v);
            } catch (const FragileError&) {
              push_threw = true;
            }
            const bool fired = Fragile::disarm();
            if (push_threw) ch.push(Fragile(6));  // the waiter must still wait: it gets this one
            if (popper.joinable()) popper.join();
            if (popped) REQUIRE(popped.wait_for(15s));  // then `got` is final
            lt.reset();
            if (coroutine_popper && popper_error == FragileError().what()) {
              // The task's own move out of the awaiter (await_resume, on the loop thread) ran
              // before the disarm and threw: the value went back to the channel.
              std::optional<Fragile> back = ch.try_pop();
              REQUIRE(back);
              CHECK(back->v == (push_threw ? 6 : 4));
            } else {
              CHECK(popper_error.empty());
              CHECK(got == (push_threw ? 6 : 4));
            }
            const ChannelStats s = ch.stats();
            CHECK(s.balanced());
            CHECK(s.size == 0);
            return fired;
          });
  }
  sweep("Channel async_push waiter admitted by a pop (Fragile)", [](int n) {
    Channel<Fragile> ch(1);
    ch.push(Fragile(1));  // full
    std::string pusher_error = "not done";
    LoopThread lt;
    ThreadFuture<void> pushed = run_coroutine_threadsafe(
        [](Channel<Fragile>& c, std::string& err) -> Task<void> {
          try {
            co_await c.async_push(Fragile(2));
            err.clear();
          } catch (const std::exception& e) {
            err = e.what();
          }
        }(ch, pusher_error),
        lt.threadsafe());
    REQUIRE(test::eventually([&] { return ch.stats().push_waits == 1; }));  // parked on the full channel
    Fragile::arm(n);
    bool first = false, pop_threw = false;
    try {
      std::optional<Fragile> r = ch.pop();  // initialized: no move of the test's own
      first = r.has_value();
    } catch (const FragileError&) {
      pop_threw = true;
    }
    const bool fired = Fragile::disarm();
    // A push waiter that was admitted (its value counted in) must be resumed by that pop even
    // if the pop threw afterwards: no further channel operation may be needed to wake it.
    const bool admitted = ch.stats().pushed == 2;
    if (admitted) CHECK(pushed.wait_for(15s));
    std::vector<int> rest;
    while (auto x = ch.try_pop()) rest.push_back(x->v);
    CHECK(pushed.wait_for(15s));  // it was not admitted: the pops above made room
    INFO("pop threw: " << pop_threw << ", admitted at once: " << admitted << ", pusher: '" << pusher_error
                        << "', left: " << rest.size());
    // Nothing lost, nothing duplicated: 1 and (unless its push failed) 2, each popped once.
    int popped = (first ? 1 : 0) + static_cast<int>(rest.size());
    CHECK(popped == (pusher_error.empty() ? 2 : 1));
    const ChannelStats s = ch.stats();
    CHECK(s.balanced());
    return fired;
  });
  sweep("Channel push into the buffer (allocation)", [](int n) {
    Channel<int> ch;  // unbounded: every push may grow the buffer
    for (int i = 0; i < 100; ++i) ch.push(i);
    alloc::arm(n);
    bool threw = false;
    try {
      for (int i = 100; i < 200; ++i) ch.push(i);
    } catch (const std::bad_alloc&) {
      threw = true;
    }
    const bool fired = alloc::disarm();
    ch.close();
    int expect = 0;
    bool in_order = true;
    while (auto x = ch.pop()) in_order = in_order && *x == expect++;
    CHECK(in_order);
    CHECK((threw ? expect < 200 : expect == 200));
    CHECK(ch.stats().balanced());
    return fired;
  });
}

// async_pop hands the value to the task with one more move (await_resume): if it throws, the
// task gets the exception and the value goes back to the channel's front (issue 10: it was
// destroyed with the awaiter). Single-threaded, so every move is counted deterministically.
TEST_CASE("fault sweep: async_pop's move of the value to the task throws: the value goes back",
          "[fault][channel][regression]") {
  sweep("Channel async_pop -> the task (Fragile move)", [](int n) {
    EventLoop loop;
    Channel<Fragile> ch(2);
    ch.push(Fragile(4));
    int got = -1;
    std::string error;
    auto popper = [](Channel<Fragile>& c, int& out, std::string& err) -> Task<void> {
      try {
        std::optional<Fragile> r = co_await c.async_pop();  // initialized from the prvalue: no move here
        out = r ? r->v : -2;
      } catch (const FragileError& e) {
        err = e.what();
      }
    };
    Fragile::arm(n);
    loop.run_until_complete(popper(ch, got, error));
    const bool fired = Fragile::disarm();
    INFO("task got " << got << ", error '" << error << "'");
    if (got != 4) {
      CHECK(error == FragileError().what());
      std::optional<Fragile> back = ch.try_pop();  // given back, not lost
      REQUIRE(back);
      CHECK(back->v == 4);
    }
    const ChannelStats s = ch.stats();
    CHECK(s.balanced());
    CHECK(s.size == 0);
    loop.close();
    return fired;
  });
}

namespace {
// The loop's two inbox kinds: the reserved posts of both are swept (the mutex baseline's
// reservation is an overflow node: primitives/mutex_queue.hpp).
EventLoop::Options options(InboxKind kind) {
  EventLoop::Options o;
  o.inbox = kind;
  return o;
}
const char* kind_suffix(InboxKind kind) { return kind == InboxKind::LockFree ? "" : " [mutex inbox]"; }
}  // namespace

// Issue 10, found by this sweep: a pusher that claimed a parked async_pop waiter (the value
// already handed over) then posted the task's resumption with call_soon_threadsafe, which may
// allocate an inbox node: the bad_alloc escaped to the pusher, whose value WAS accepted, and
// the task was never resumed (N = 2 on the old code). Now the waiter reserves the node when it
// parks (on its loop thread, where a bad_alloc fails the co_await instead), and the post cannot
// fail. Mutant channel.no_reserve restores the plain post.
TEST_CASE("fault sweep: a plain thread's push resumes the parked async_pop tasks (allocation failure on the pusher)",
          "[fault][channel][regression]") {
  for (InboxKind kind : {InboxKind::LockFree, InboxKind::Mutex}) {
    sweep(std::string("Channel push from a thread -> async_pop tasks (allocation)") + kind_suffix(kind), [&](int n) {
      EventLoop loop(options(kind));
      Channel<std::string> ch;  // unbounded; the values go straight to the waiters
      // Long strings: copying one into a waiter allocates, a failure point before the claim's act.
      const std::vector<std::string> values = {std::string(100, 'a'), std::string(100, 'b')};
      std::string got[2] = {"pending", "pending"};
      auto popper = [](Channel<std::string>& c, std::string& out) -> Task<void> {
        std::optional<std::string> r = co_await c.async_pop();
        out = r ? *r : "end of stream";
      };
      Future<void> tasks[2] = {loop.create_task(popper(ch, got[0])), loop.create_task(popper(ch, got[1]))};
      loop.call_soon([&] { loop.stop(); });
      loop.run_forever();  // both tasks parked, in this order
      REQUIRE(ch.stats().pop_waits == 2);
      int returned = 0;  // pushes that returned normally
      bool threw = false, fired = false;
      std::thread pusher([&] {  // a fresh thread: no inbox node cache, no ledger slot yet
        alloc::arm(n);
        try {
          for (const std::string& v : values) {
            ch.push(v);
            ++returned;
          }
        } catch (const std::bad_alloc&) {
          threw = true;
        }
        fired = alloc::disarm();
      });
      pusher.join();
      const std::uint64_t accepted = ch.stats().pushed;
      // The rest, unarmed: a push that threw accepted nothing, so each task still waits for one.
      for (std::size_t i = static_cast<std::size_t>(returned); i < values.size(); ++i) ch.push(values[i]);
      test::TurnBackstop turns(loop, 50);
      loop.run_forever();
      INFO("pushes returned " << returned << ", threw " << threw << ", accepted by the channel " << accepted
                              << ", task 0 " << (tasks[0].done() ? "done" : "NOT RESUMED") << ", task 1 "
                              << (tasks[1].done() ? "done" : "NOT RESUMED"));
      CHECK((!threw || fired));                                     // only the injected failure may throw
      CHECK(accepted == static_cast<std::uint64_t>(returned));      // a push that threw accepted nothing
      CHECK(tasks[0].done());                                       // each task resumed ...
      CHECK(tasks[1].done());
      CHECK(got[0] == values[0]);                                   // ... with its value, in FIFO order
      CHECK(got[1] == values[1]);
      const ChannelStats s = ch.stats();
      CHECK(s.balanced());
      CHECK(s.size == 0);
      loop.close();
      check_ledger(loop.stats());
      return fired;
    });
  }
}

namespace {
// Arms the allocation failure around an awaiter's await_suspend only (the loop thread's other
// allocations — the loop's own queues — are not part of the path under test).
template <class A>
struct ArmedAwait {
  A inner;
  int n;
  bool& fired;
  bool await_ready() { return false; }
  bool await_suspend(std::coroutine_handle<> h) {
    alloc::arm(n);
    try {
      const bool suspended = inner.await_suspend(h);
      fired = alloc::disarm();
      return suspended;
    } catch (...) {
      fired = alloc::disarm();
      throw;
    }
  }
  decltype(auto) await_resume() { return inner.await_resume(); }
};
}  // namespace

// Issue 10, found by this sweep: the done callback of an awaited ThreadFuture runs on the
// completing thread and posted the task's resumption with call_soon_threadsafe; a bad_alloc
// there (a new inbox node) was swallowed by the future's callback runner and the task stayed
// suspended forever (N = 2 on the old code). Now the awaiter reserves the node in
// await_suspend. Mutant thread_future.no_reserve restores the plain post.
TEST_CASE("fault sweep: a ThreadFuture completed on a plain thread resumes the awaiting task (allocation failure)",
          "[fault][thread_future][regression]") {
  for (InboxKind kind : {InboxKind::LockFree, InboxKind::Mutex}) {
    sweep(std::string("ThreadFuture completed on a thread -> the awaiting task (allocation)") + kind_suffix(kind), [&](int n) {
      EventLoop loop(options(kind));
      auto st = std::make_shared<ThreadFutureState<std::string>>();
      ThreadFuture<std::string> tf(st);
      std::string got = "pending";
      auto waiter = [](ThreadFuture<std::string> f, std::string& out) -> Task<void> {
        try {
          out = co_await f;
        } catch (const std::bad_alloc&) {
          out = "bad_alloc";  // the completer's copy of the value failed: the future holds that
        }
      };
      Future<void> task = loop.create_task(waiter(tf, got));
      loop.call_soon([&] { loop.stop(); });
      loop.run_forever();  // parked on tf
      const std::string value(100, 'v');  // copying it allocates: a failure point before the callbacks
      bool fired = false;
      std::thread completer([&] {  // a fresh thread, as a pool worker that completes a job
        alloc::arm(n);
        st->set_value(value);
        fired = alloc::disarm();
      });
      completer.join();
      test::TurnBackstop turns(loop, 50);
      loop.run_forever();
      INFO("the task " << (task.done() ? "resumed" : "was NOT RESUMED") << ", got '" << got.substr(0, 12) << "'");
      CHECK(tf.done());
      CHECK(task.done());
      CHECK((got == value || got == "bad_alloc"));
      loop.close();
      check_ledger(loop.stats());
      return fired;
    });
  }
  // The waiting side: a bad_alloc in await_suspend (the reservation, the callback's
  // registration) fails the co_await with nothing registered — strong. The task then cancels
  // itself: a stale registration of the failed await would forward that cancel to the future
  // at once (it reached a destroyed awaiter); a clean one leaves it for the next await.
  sweep("co_await ThreadFuture (allocation on the loop thread)", [](int n) {
    EventLoop loop;
    auto st = std::make_shared<ThreadFutureState<int>>();
    ThreadFuture<int> tf(st);
    struct Seen {
      bool fired = false, threw = false, forwarded_at_once = false;
      std::string outcome = "pending";
    } seen;
    Future<void> self;
    auto body = [](ThreadFuture<int> f, int k, Seen& s, Future<void>& me) -> Task<void> {
      try {
        // A named awaiter: GCC 12 destroys the members of an aggregate built inside the
        // co_await expression twice (PR c++/100611; executor/run_in_executor.hpp).
        ArmedAwait<ThreadFutureAwaiter<int>> armed{operator co_await(f), k, s.fired};
        const int v = co_await armed;
        s.outcome = "value " + std::to_string(v);
        co_return;
      } catch (const std::bad_alloc&) {
        s.threw = true;
      }
      me.cancel();  // from inside the running task: delivered at its next await
      s.forwarded_at_once = f.state()->cancel_requested();
      try {
        (void)co_await f;
        s.outcome = "value after the cancel";
      } catch (const CancelledError&) {
        s.outcome = "cancelled";
      }
    };
    self = loop.create_task(body(tf, n, seen, self));
    loop.call_soon([&] { loop.stop(); });
    loop.run_forever();  // the task's first await ran (armed)
    st->set_value(5);
    test::TurnBackstop turns(loop, 50);
    loop.run_forever();
    INFO("await threw " << seen.threw << ", outcome " << seen.outcome);
    CHECK(self.done());
    CHECK(seen.threw == seen.fired);
    CHECK(seen.outcome == (seen.threw ? "cancelled" : "value 5"));
    CHECK_FALSE(seen.forwarded_at_once);
    loop.close();
    check_ledger(loop.stats());
    return seen.fired;
  });
}

// The same for a loop Future (FutureAwaiter): a bad_alloc registering the wake-up used to leave
// the task suspended on the destroyed awaiter, so the task's own cancel() reached it and
// cancelled the future at once. Mutant future.await_no_undo_suspend.
TEST_CASE("fault sweep: co_await of a loop Future whose wake-up registration fails (allocation)",
          "[fault][future][regression]") {
  sweep("co_await Future (allocation on the loop thread)", [](int n) {
    EventLoop loop;
    Future<int> fut = create_future<int>(loop);
    struct Seen {
      bool fired = false, threw = false, forwarded_at_once = false;
      std::string outcome = "pending";
    } seen;
    Future<void> self;
    auto body = [](Future<int> f, int k, Seen& s, Future<void>& me) -> Task<void> {
      try {
        ArmedAwait<FutureAwaiter<int>> armed{operator co_await(f), k, s.fired};  // named: PR c++/100611
        const int v = co_await armed;
        s.outcome = "value " + std::to_string(v);
        co_return;
      } catch (const std::bad_alloc&) {
        s.threw = true;
      }
      me.cancel();  // from inside the running task: delivered at its next await
      s.forwarded_at_once = f.cancelled();
      try {
        (void)co_await f;
        s.outcome = "value after the cancel";
      } catch (const CancelledError&) {
        s.outcome = "cancelled";
      }
    };
    self = loop.create_task(body(fut, n, seen, self));
    loop.call_soon([&] { loop.stop(); });
    loop.run_forever();  // the task's first await ran (armed)
    if (!fut.done()) fut.set_result(5);
    test::TurnBackstop turns(loop, 50);
    loop.run_forever();
    INFO("await threw " << seen.threw << ", outcome " << seen.outcome);
    CHECK(self.done());
    CHECK(seen.threw == seen.fired);
    CHECK(seen.outcome == (seen.threw ? "cancelled" : "value 5"));
    CHECK_FALSE(seen.forwarded_at_once);
    loop.close();
    check_ledger(loop.stats());
    return seen.fired;
  });
}

// ---- MpscQueue ------------------------------------------------------------------------------------

TEST_CASE("fault sweep: MpscQueue push / take, MutexQueue reserved push (throwing copy and move, allocation)",
          "[fault][mpsc_queue]") {
  sweep("MpscQueue push+pop (Fragile)", [](int n) {
    MpscQueue<Fragile> q;
    const Fragile a(1), b(2);
    int pushed = 0;
    Fragile::arm(n);
    for (const Fragile* v : {&a, &b}) {
      try {
        if (q.push(*v) == PushResult::Pushed) ++pushed;
      } catch (const FragileError&) {
      }
    }
    std::vector<int> out;
    int take_errors = 0;
    for (int tries = 0; tries < 10 && static_cast<int>(out.size()) < pushed; ++tries) {
      try {
        if (auto x = q.try_pop()) out.push_back(x->v);
      } catch (const FragileError&) {
        ++take_errors;  // strong: the item stays first in line
      }
    }
    const bool fired = Fragile::disarm();
    INFO("pushed " << pushed << ", popped " << out.size() << ", take errors " << take_errors);
    CHECK(static_cast<int>(out.size()) == pushed);  // nothing lost
    for (std::size_t i = 1; i < out.size(); ++i) CHECK(out[i - 1] < out[i]);  // FIFO
    CHECK(q.stats().popped == out.size());
    return fired;
  });
  // The mutex baseline's reservation (the loop's Mutex inbox posts resumptions through it): a
  // reserved push never fails for want of memory — when the deque cannot grow, the value
  // goes into the reserved overflow node, and FIFO holds with the plain pushes after it.
  sweep("MutexQueue reserved pushes (allocation)", [](int n) {
    MutexQueue<int> q;
    constexpr int kReserved = 300;  // int: 128 per deque block, so the deque grows here
    std::vector<MutexQueue<int>::Reservation> rs;
    for (int i = 0; i < kReserved; ++i) rs.push_back(q.reserve());
    int pushed = 0;
    bool reserved_threw = false, plain_threw = false;
    alloc::arm(n);
    try {
      for (int i = 0; i < kReserved; ++i) pushed += q.push(std::move(rs[static_cast<std::size_t>(i)]), i) == PushResult::Pushed;
    } catch (...) {
      reserved_threw = true;
    }
    try {
      for (int i = kReserved; i < kReserved + 10; ++i) pushed += q.push(i) == PushResult::Pushed;  // behind the overflow
    } catch (const std::bad_alloc&) {
      plain_threw = true;  // a plain push may fail (strong): nothing pushed
    }
    const bool fired = alloc::disarm();
    std::vector<int> out;
    while (auto x = q.try_pop()) out.push_back(*x);
    INFO("pushed " << pushed << ", popped " << out.size() << ", a plain push threw: " << plain_threw);
    CHECK_FALSE(reserved_threw);
    CHECK(pushed >= kReserved);
    CHECK(static_cast<int>(out.size()) == pushed);
    bool in_order = true;
    for (std::size_t i = 0; i < out.size(); ++i) in_order = in_order && out[i] == static_cast<int>(i);
    CHECK(in_order);
    return fired;
  });
  sweep("MpscQueue push from a fresh thread (allocation)", [](int n) {
    MpscQueue<int> q;
    bool threw = false, fired = false;
    std::thread producer([&] {
      alloc::arm(n);
      try {
        for (int i = 0; i < 3; ++i) (void)q.push(i);
      } catch (const std::bad_alloc&) {
        threw = true;
      }
      fired = alloc::disarm();
    });
    producer.join();
    std::vector<int> out;
    while (auto x = q.try_pop()) out.push_back(*x);
    for (std::size_t i = 0; i < out.size(); ++i) CHECK(out[i] == static_cast<int>(i));  // a prefix, in order
    CHECK((threw ? out.size() < 3 : out.size() == 3));
    return fired;
  });
}

// ---- the pool: submit, growth, results -------------------------------------------------------------

TEST_CASE("fault sweep: ThreadPoolExecutor submit and growth (allocation, thread spawn, throwing result)",
          "[fault][executor]") {
  sweep("ThreadPoolExecutor::submit (allocation)", [](int n) {
    ThreadPoolExecutor pool(2);
    std::vector<ThreadFuture<int>> futs;
    futs.reserve(4);  // no allocation of the test's own while armed
    int refused = 0;
    alloc::arm(n);
    for (int i = 0; i < 4; ++i) {
      try {
        futs.push_back(pool.submit([i] { return i; }));
      } catch (const std::bad_alloc&) {
        ++refused;
      } catch (const std::system_error&) {
        ++refused;  // a thread that could not start (its allocation failed)
      }
    }
    const bool fired = alloc::disarm();
    for (auto& f : futs) {
      CHECK(f.wait_for(15s));
    }
    pool.shutdown(true);
    const ExecutorStats s = pool.stats();
    INFO("refused submits " << refused << ", futures " << futs.size());
    CHECK(s.balanced());
    return fired;
  });
  sweep("ThreadPoolExecutor growth (start_thread fails)", [](int n) {
    std::atomic<int> spawns{0};
    ThreadPoolExecutor::Options opts;
    opts.max_workers = 3;
    opts.start_thread = [&spawns, n](std::function<void()> body) {
      if (spawns.fetch_add(1) + 1 == n) throw std::system_error(std::make_error_code(std::errc::resource_unavailable_try_again), "injected");
      return std::thread(std::move(body));
    };
    ThreadPoolExecutor pool(opts);
    std::vector<ThreadFuture<int>> futs;
    int failed_submits = 0;
    std::atomic<bool> gate{false};
    for (int i = 0; i < 4; ++i) {  // blocking jobs: each submit may need a new thread
      try {
        futs.push_back(pool.submit([i, &gate] {
          while (!gate.load()) std::this_thread::yield();
          return i;
        }));
      } catch (const std::system_error&) {
        ++failed_submits;
      }
    }
    gate.store(true);
    int values = 0;
    for (auto& f : futs) {
      REQUIRE(f.wait_for(15s));
      try {
        (void)f.get();
        ++values;
      } catch (const std::exception&) {
      }
    }
    // A later submit retries the growth and runs.
    CHECK(pool.submit([] { return 1; }).get(15s) == 1);
    pool.shutdown(true);
    const ExecutorStats s = pool.stats();
    INFO("spawn attempts " << spawns.load() << ", failed submits " << failed_submits << ", values " << values);
    CHECK(s.balanced());
    CHECK(s.threads_alive == 0);
    return spawns.load() >= n;
  });
  sweep("ThreadPoolExecutor result (Fragile move)", [](int n) {
    ThreadPoolExecutor pool(1);
    Fragile::arm(n);
    ThreadFuture<Fragile> f = pool.submit([] { return Fragile(8); });
    const bool done = f.wait_for(15s);
    const bool fired = Fragile::disarm();
    CHECK(done);
    const std::string o = outcome(f);
    CHECK((o == "value 8" || o == std::string("error ") + FragileError().what()));
    pool.shutdown(true);
    CHECK(pool.stats().balanced());
    return fired;
  });
}
