// tests/loop_failure_test.cpp — the loop under injected failures: an allocation that fails
// inside a post (a counting global operator new, which is why this is a binary of its own),
// the sleep's syscall failing (EventLoop::set_poll_function_for_test), a WakeGate whose block
// throws, and close() of one loop from a callback of another loop on the same thread while a
// task of the closed loop waits on a running executor job.
//
// Each case ends with the ledger balanced and nothing left waiting. The mutant checks in
// tests/loop_core_tests.cmake run this file with each rollback path removed
// (HANDOFF_MUTANT_LOOP_*), and expect the diagnostic the case prints.
#include <catch2/catch.hpp>

#include <sys/epoll.h>

#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <new>
#include <stdexcept>
#include <string>
#include <system_error>
#include <thread>

#include <handoff/executor/run_in_executor.hpp>
#include <handoff/executor/thread_pool_executor.hpp>
#include <handoff/loop/loop.hpp>

#include "fault_injection.hpp"  // defines the global operator new/delete: this binary only
#include "loop_test_support.hpp"

using namespace handoff;
using namespace std::chrono_literals;
using handoff::test::check_ledger;

// ---- a global operator new that fails on request: tests/fault_injection.hpp ----------------
// alloc::arm(k + 1) lets k allocations of this thread through and fails the next one (once).
namespace alloc = handoff::test::alloc;

namespace {

// Calls post() `attempts` times; the i-th call has its (i % 5)-th allocation failed (5 is prime
// to the deque's block period, 6 items, so every allocation point is hit). Returns
// how many calls threw std::bad_alloc.
template <class Post>
int post_with_failures(int attempts, Post&& post) {
  int failures = 0;
  for (int i = 0; i < attempts; ++i) {
    alloc::arm(i % 5 + 1);
    try {
      post();
    } catch (const std::bad_alloc&) {
      ++failures;
    }
    (void)alloc::disarm();
  }
  return failures;
}

}  // namespace

TEST_CASE("an allocation failure inside call_soon_threadsafe keeps the ledger balanced",
          "[event_loop][alloc][regression]") {
  // post() counted the post, then pushed: a bad_alloc in the push (a new inbox node) left a
  // post counted as neither run, refused nor dropped. Now it counts as refused (the caller
  // got the exception), and the callback's drop hook runs, as for a closed loop.
  EventLoop loop;
  int ran = 0, dropped = 0, failures = 0, attempts = 0;
  for (int i = 0; i < 30; ++i) {  // a fresh thread each time: its first post allocates
    std::thread poster([&] {
      alloc::arm(i % 3 + 1);
      try {
        loop.call_soon_threadsafe(Callback::with_drop([&] { ++ran; }, [&] { ++dropped; }));
      } catch (const std::bad_alloc&) {
        ++failures;
      }
      (void)alloc::disarm();
    });
    poster.join();
    ++attempts;
  }
  INFO("failed posts: " << failures << " of " << attempts);
  CHECK(failures > 0);  // the sweep did hit an allocation inside the post
  loop.stop();
  loop.run_forever();  // one iteration: runs what was accepted
  loop.close();
  CHECK(ran + failures == attempts);
  CHECK(dropped == failures);  // a failed post's callback never runs: its drop hook says so
  check_ledger(loop.stats());
}

TEST_CASE("an allocation failure inside call_soon or call_later keeps the ledger balanced",
          "[event_loop][alloc][regression]") {
  EventLoop loop;
  int ran = 0, dropped = 0;
  const int soon_failures = post_with_failures(60, [&] {
    loop.call_soon(Callback::with_drop([&] { ++ran; }, [&] { ++dropped; }));
  });
  const int timer_failures = post_with_failures(60, [&] {
    loop.call_later(0ns, Callback::with_drop([&] { ++ran; }, [&] { ++dropped; }));
  });
  INFO("failed call_soon: " << soon_failures << ", failed call_later: " << timer_failures);
  CHECK(soon_failures > 0);
  CHECK(timer_failures > 0);
  loop.call_later(1ms, [&] { loop.stop(); });
  loop.run_forever();
  loop.close();
  CHECK(ran + soon_failures + timer_failures == 120);
  CHECK(dropped == soon_failures + timer_failures);
  check_ledger(loop.stats());
}

// ---- the sleep's syscall fails ----------------------------------------------------------------

namespace {
int failing_poll(int, epoll_event*, int, const timespec*) {
  errno = ENOMEM;  // epoll_pwait2 can fail so; the loop must not treat it as EINTR
  return -1;
}
}  // namespace

TEST_CASE("a failing sleep syscall leaves the wake gate awake; the loop runs again afterwards",
          "[event_loop][wake][regression]") {
  // The loop polled inside WakeGate::sleep; when the poll threw, the gate stayed "sleeping"
  // and the next cross-thread post paid a wake signal for a loop that was not asleep.
  EventLoop::Options opts;
  opts.spin_budget = 0ns;  // nothing ready: the first iteration goes straight to the sleep
  EventLoop loop(opts);
  loop.set_poll_function_for_test(&failing_poll);
  CHECK_THROWS_WITH(loop.run_forever(), Catch::Contains("epoll_pwait2"));
  CHECK(loop.stats().sleeps == 1);
  CHECK_FALSE(loop.is_running());
  std::thread poster([&] { loop.call_soon_threadsafe([&] { loop.stop(); }); });
  poster.join();
  if (loop.stats().wake_signals != 0) {
    FAIL_CHECK("the wake gate still said sleeping after the sleep threw: a post paid a wake signal");
  }
  loop.set_poll_function_for_test(nullptr);
  loop.run_forever();  // runs the post, which stops it
  loop.close();
  check_ledger(loop.stats());
}

TEST_CASE("WakeGate::sleep: a block() that throws leaves the gate awake", "[wake][regression]") {
  WakeGate gate;
  CHECK_THROWS_AS(gate.sleep([] { return false; }, []() -> bool { throw std::runtime_error("poll failed"); }),
                  std::runtime_error);
  if (gate.sleeping()) FAIL_CHECK("the wake gate still said sleeping after block() threw");
  CHECK_FALSE(gate.claim_wake());  // no producer signals a loop that is awake
}

// ---- close() of a loop from another loop's callback ---------------------------------------------

TEST_CASE("close() of loop B from a callback of loop A waits for B's running job before freeing the frame",
          "[event_loop][close][regression]") {
  // close() abandons B's task, which waits on an executor job that is running: the frame may
  // be borrowed by the job, so close() waits for it (ThreadFutureAwaiter::on_abandon). Called
  // from A's callback, that wait threw (a thread running a loop must not block on a future),
  // the error was swallowed, and the frame was freed while the job still ran.
  struct Probe {
    std::atomic<bool> started{false}, finished{false}, gate{false};
    bool frame_freed = false, freed_while_running = false;
  } p;
  struct FrameSentinel {
    Probe* p;
    ~FrameSentinel() {
      p->frame_freed = true;
      if (!p->finished.load()) {
        p->freed_while_running = true;
        p->gate.store(true);  // let the job end, so the failing run does not hang
      }
    }
  };
  ThreadPoolExecutor pool(1);
  EventLoop b;
  auto body = [](EventLoop& loop, ThreadPoolExecutor& ex, Probe& pr) -> Task<void> {
    FrameSentinel s{&pr};
    co_await loop.run_in_executor(ex, [&pr] {
      pr.started.store(true);
      while (!pr.gate.load()) std::this_thread::yield();
      pr.finished.store(true);
    });
  };
  b.create_task(body(b, pool, p));
  b.call_soon([&] { b.stop(); });  // after the task's first step: it is suspended on the job
  b.run_forever();
  while (!p.started.load()) std::this_thread::yield();  // the job runs: close() must wait for it

  EventLoop a;
  a.call_soon([&] {
    // close()'s wait for the job calls this thread's wait helper first: it opens the gate, so
    // the job finishes only once close() is really waiting for it (no timing involved).
    detail::t_wait_helper = [](void* arg) {
      static_cast<Probe*>(arg)->gate.store(true);
      return false;
    };
    detail::t_wait_helper_arg = &p;
    b.close();
    detail::t_wait_helper = nullptr;
    detail::t_wait_helper_arg = nullptr;
    a.stop();
  });
  a.run_forever();
  CHECK(p.frame_freed);
  CHECK(p.finished.load());
  if (p.freed_while_running) FAIL_CHECK("B's task frame was freed while its executor job still ran");
  a.close();
  check_ledger(a.stats());
  check_ledger(b.stats());
}
