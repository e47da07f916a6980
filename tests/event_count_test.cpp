// tests/event_count_test.cpp — EventCount (primitives/event_count.hpp) and its baselines
// MutexEventCount (primitives/mutex_event_count.hpp, the naive one: locks in every notify) and
// CountedMutexEventCount (counted_mutex_event_count.hpp: an atomic waiter count checked before
// the lock), one templated suite for all three.
//
// No timing assertions. "Asleep" is observed, not guessed: a sleeper thread publishes its
// kernel tid and the test waits until /proc/self/task/<tid>/stat says 'S' (sleeping) after the
// thread has called wait() — between that call and the futex/condvar sleep a thread is running
// ('R'), so 'S' means it is inside the kernel wait. Every such wait is bounded (kHang) and fails
// with a message instead of hanging; the wait_for timeouts of sleepers are long hang guards.
//
// Catch2 assertions are not thread-safe: threads record, the main thread checks after joins.
#include <catch2/catch.hpp>

#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <handoff/primitives/counted_mutex_event_count.hpp>
#include <handoff/primitives/event_count.hpp>
#include <handoff/primitives/mutex_event_count.hpp>

using handoff::CountedMutexEventCount;
using handoff::EventCount;
using handoff::EventCountStats;
using handoff::MutexEventCount;
using namespace std::chrono_literals;

namespace {

constexpr auto kHang = 20s;                   // a bounded wait that would otherwise hang
constexpr std::int64_t kGuardNs = 30'000'000'000;  // sleepers' wait_for: a hang guard, never hit

long gettid_now() { return static_cast<long>(::syscall(SYS_gettid)); }

// The scheduler state letter of one of this process's threads ('R', 'S', 'D', ...).
char thread_state(long tid) {
  std::ifstream f("/proc/self/task/" + std::to_string(tid) + "/stat");
  std::string s;
  std::getline(f, s);
  const auto close = s.rfind(')');  // the comm field may contain spaces
  if (close == std::string::npos || close + 2 >= s.size()) return '?';
  return s[close + 2];
}

// Spin (yielding) until cond() holds; false after kHang.
template <class F>
bool eventually(F&& cond) {
  const auto deadline = std::chrono::steady_clock::now() + kHang;
  while (!cond()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(100us);
  }
  return true;
}

std::string show(const EventCountStats& s) {
  std::ostringstream o;
  o << "prepared=" << s.prepared << " cancelled=" << s.cancelled << " committed=" << s.committed
    << " woken=" << s.woken << " immediate=" << s.immediate << " timeouts=" << s.timeouts
    << " spurious=" << s.spurious << " notify_syscalls=" << s.notify_syscalls
    << " waiting=" << s.waiting;
  return o.str();
}

void check_ledger(const EventCountStats& s) {
  INFO(show(s));
  CHECK(s.waiting == 0);
  CHECK(s.prepared == s.cancelled + s.committed);
  CHECK(s.committed == s.woken + s.timeouts);
  CHECK(s.immediate <= s.woken);
  CHECK(s.balanced());
}

// A pool of sleeper threads running the header's protocol over a job counter: take a job if
// there is one; else prepare, re-check, cancel or commit. They exit on `stop`.
template <class EC>
struct Sleepers {
  EC& ec;
  std::atomic<int> jobs{0};      // published, not taken (the work source; seq_cst both sides)
  std::atomic<bool> stop{false};
  std::atomic<int> taken{0};
  std::atomic<int> guard_timeouts{0};  // hang-guard wait_for returned false: a test failure
  std::vector<std::atomic<long>> tids;
  std::vector<std::atomic<int>> commits;  // per thread: wait calls made
  std::vector<std::thread> threads;

  Sleepers(EC& e, int n) : ec(e), tids(n), commits(n) {
    for (int i = 0; i < n; ++i) {
      tids[i].store(0);
      commits[i].store(0);
    }
    for (int i = 0; i < n; ++i) threads.emplace_back([this, i] { run(i); });
  }

  bool try_take() {
    int n = jobs.load(std::memory_order_seq_cst);
    while (n > 0) {
      if (jobs.compare_exchange_weak(n, n - 1, std::memory_order_seq_cst)) return true;
    }
    return false;
  }

  void run(int i) {
    tids[i].store(gettid_now());
    for (;;) {
      if (try_take()) {
        taken.fetch_add(1);
        continue;
      }
      if (stop.load(std::memory_order_seq_cst)) return;
      auto k = ec.prepare_wait();
      if (jobs.load(std::memory_order_seq_cst) > 0 || stop.load(std::memory_order_seq_cst)) {
        ec.cancel_wait();
        continue;
      }
      commits[i].fetch_add(1);
      if (!ec.wait_for(k, kGuardNs)) guard_timeouts.fetch_add(1);
    }
  }

  void publish() {
    jobs.fetch_add(1, std::memory_order_seq_cst);
    ec.notify_one();
  }

  // True once thread i has made `n` commits and sleeps in the kernel.
  bool asleep(int i, int n) {
    const long tid = tids[i].load();
    return tid != 0 && commits[i].load() >= n && thread_state(tid) == 'S';
  }

  int total_commits() {
    int s = 0;
    for (auto& c : commits) s += c.load();
    return s;
  }

  void shutdown() {
    stop.store(true, std::memory_order_seq_cst);
    ec.notify_all();
    for (auto& t : threads) t.join();
  }
};

}  // namespace

TEMPLATE_TEST_CASE("prepare then cancel withdraws the announcement; no waiter, no syscall",
                   "[event_count]", EventCount, MutexEventCount, CountedMutexEventCount) {
  TestType ec;
  ec.notify_one();  // nobody announced: the fast path
  ec.notify_all();
  CHECK(ec.stats().notify_syscalls == 0);

  auto k = ec.prepare_wait();
  (void)k;
  CHECK(ec.stats().waiting == 1);
  ec.cancel_wait();
  CHECK(ec.stats().waiting == 0);
  ec.notify_one();  // the waiter withdrew: still the fast path
  CHECK(ec.stats().notify_syscalls == 0);

  // Two announced at once (one thread may hold two keys in a test), then both withdraw.
  auto k1 = ec.prepare_wait();
  auto k2 = ec.prepare_wait();
  (void)k1;
  (void)k2;
  CHECK(ec.stats().waiting == 2);
  ec.cancel_wait();
  ec.cancel_wait();
  const EventCountStats s = ec.stats();
  CHECK(s.prepared == 3);
  CHECK(s.cancelled == 3);
  CHECK(s.committed == 0);
  check_ledger(s);
}

TEMPLATE_TEST_CASE("a notify between prepare and wait makes wait return at once", "[event_count]",
                   EventCount, MutexEventCount, CountedMutexEventCount) {
  TestType ec;
  auto k = ec.prepare_wait();
  ec.notify_one();  // counted the waiter: a syscall (nobody asleep yet)
  ec.wait(k);       // must not sleep: the notify came after prepare_wait
  auto k2 = ec.prepare_wait();
  ec.notify_all();
  CHECK(ec.wait_for(k2, kGuardNs));  // true: woken, not a timeout
  const EventCountStats s = ec.stats();
  INFO(show(s));
  CHECK(s.woken == 2);
  CHECK(s.immediate == 2);
  CHECK(s.notify_syscalls == 2);
  check_ledger(s);
}

TEMPLATE_TEST_CASE("a notify before prepare_wait does not count for it", "[event_count]", EventCount,
                   MutexEventCount, CountedMutexEventCount) {
  TestType ec;
  auto k0 = ec.prepare_wait();
  ec.notify_one();  // for k0
  auto k1 = ec.prepare_wait();  // after the notify: its key is the new epoch
  ec.wait(k0);
  CHECK_FALSE(ec.wait_for(k1, 1'000'000));  // nothing came after k1: it times out
  const EventCountStats s = ec.stats();
  CHECK(s.woken == 1);
  CHECK(s.timeouts == 1);
  check_ledger(s);
}

TEMPLATE_TEST_CASE("wait_for times out and returns false", "[event_count]", EventCount, MutexEventCount, CountedMutexEventCount) {
  TestType ec;
  auto k = ec.prepare_wait();
  CHECK_FALSE(ec.wait_for(k, 2'000'000));  // 2 ms, nobody notifies
  auto k2 = ec.prepare_wait();
  CHECK_FALSE(ec.wait_for(k2, 0));  // zero: checks once, does not sleep
  auto k3 = ec.prepare_wait();
  CHECK_FALSE(ec.wait_for(k3, -5));  // negative is treated as zero
  const EventCountStats s = ec.stats();
  CHECK(s.timeouts == 3);
  CHECK(s.woken == 0);
  CHECK(s.notify_syscalls == 0);
  check_ledger(s);
}

TEMPLATE_TEST_CASE("wait_for(INT64_MAX ns) sleeps until a notify, never returns at once",
                   "[event_count][timeout][misuse][regression]", EventCount, MutexEventCount, CountedMutexEventCount) {
  // `now + INT64_MAX ns` overflowed the steady_clock: the deadline lay in the past and the
  // wait timed out at once. Deterministic both ways: the old code returned without sleeping,
  // the fixed one is seen asleep in the kernel before the notify.
  TestType ec;
  std::atomic<long> tid{0};
  std::atomic<int> result{-1};  // -1: not returned; 0: timed out; 1: woken
  std::thread waiter([&] {
    tid.store(gettid_now());
    auto k = ec.prepare_wait();
    result.store(ec.wait_for(k, INT64_MAX) ? 1 : 0);
  });
  const bool slept_or_returned =
      eventually([&] { return result.load() != -1 || (tid.load() != 0 && ec.stats().waiting == 1 &&
                                                       thread_state(tid.load()) == 'S'); });
  const int early = result.load();
  ec.notify_one();  // wakes the sleeper (or, after an early return, nobody)
  waiter.join();
  CHECK(slept_or_returned);
  INFO("the wait returned before any notify with " << early << " (0 = timed out)");
  CHECK(early == -1);
  CHECK(result.load() == 1);
  const EventCountStats s = ec.stats();
  CHECK(s.timeouts == 0);
  check_ledger(s);
}

TEMPLATE_TEST_CASE("notify_one wakes exactly one of two sleepers; the other sleeps until a second notify",
                   "[event_count]", EventCount, MutexEventCount, CountedMutexEventCount) {
  TestType ec;
  Sleepers<TestType> pool(ec, 2);
  // Both committed and asleep in the kernel.
  REQUIRE(eventually([&] { return pool.asleep(0, 1) && pool.asleep(1, 1); }));
  REQUIRE(ec.stats().waiting == 2);

  pool.publish();  // one job, one notify_one
  REQUIRE(eventually([&] { return pool.taken.load() == 1; }));
  // The woken one took the job and went back to sleep (a third commit); the other never woke.
  REQUIRE(eventually([&] {
    return pool.total_commits() == 3 && pool.asleep(0, 1) && pool.asleep(1, 1) && ec.stats().waiting == 2;
  }));
  EventCountStats s = ec.stats();
  INFO(show(s));
  CHECK(s.woken == 1);  // exactly one return for one notify_one
  CHECK(s.notify_syscalls == 1);
  const int first_commits0 = pool.commits[0].load();
  const int first_commits1 = pool.commits[1].load();
  CHECK(first_commits0 + first_commits1 == 3);  // one thread committed twice, the other once

  pool.publish();  // the second notify: one more return (either thread: both keys are stale)
  REQUIRE(eventually([&] { return pool.taken.load() == 2; }));
  REQUIRE(eventually([&] { return pool.total_commits() == 4 && pool.asleep(0, 1) && pool.asleep(1, 1); }));
  s = ec.stats();
  CHECK(s.woken == 2);
  CHECK(s.notify_syscalls == 2);

  pool.shutdown();
  s = ec.stats();
  INFO(show(s));
  CHECK(s.woken == 4);  // shutdown's notify_all returned both
  CHECK(pool.guard_timeouts.load() == 0);
  CHECK(s.timeouts == 0);
  check_ledger(s);
}

TEMPLATE_TEST_CASE("notify_all wakes every sleeper with one call", "[event_count]", EventCount,
                   MutexEventCount, CountedMutexEventCount) {
  TestType ec;
  constexpr int kN = 4;
  Sleepers<TestType> pool(ec, kN);
  REQUIRE(eventually([&] {
    for (int i = 0; i < kN; ++i) {
      if (!pool.asleep(i, 1)) return false;
    }
    return true;
  }));
  pool.shutdown();  // stop + one notify_all
  const EventCountStats s = ec.stats();
  INFO(show(s));
  CHECK(s.notify_syscalls == 1);
  CHECK(s.woken == kN);
  CHECK(s.committed == kN);
  CHECK(pool.guard_timeouts.load() == 0);
  check_ledger(s);
}

TEMPLATE_TEST_CASE("many jobs through sleepers: every job taken once, the ledger balances",
                   "[event_count]", EventCount, MutexEventCount, CountedMutexEventCount) {
  TestType ec;
  constexpr int kWorkers = 3;
  constexpr int kPublishers = 2;
  constexpr int kJobs = 2000;
  Sleepers<TestType> pool(ec, kWorkers);
  std::vector<std::thread> pubs;
  for (int p = 0; p < kPublishers; ++p) {
    pubs.emplace_back([&, p] {
      for (int j = 0; j < kJobs; ++j) {
        pool.publish();
        if ((j + p) % 7 == 0) std::this_thread::yield();  // let workers fall asleep sometimes
      }
    });
  }
  for (auto& t : pubs) t.join();
  REQUIRE(eventually([&] { return pool.taken.load() == kPublishers * kJobs; }));
  pool.shutdown();
  const EventCountStats s = ec.stats();
  INFO(show(s));
  CHECK(pool.taken.load() == kPublishers * kJobs);
  CHECK(pool.guard_timeouts.load() == 0);
  CHECK(s.notify_syscalls <= static_cast<std::uint64_t>(kPublishers * kJobs + 1));
  check_ledger(s);
}

TEMPLATE_TEST_CASE("wait_for racing notifies: every return is a wake or a timeout", "[event_count]",
                   EventCount, MutexEventCount, CountedMutexEventCount) {
  TestType ec;
  std::atomic<bool> stop{false};
  std::atomic<std::uint64_t> trues{0}, falses{0};
  std::vector<std::thread> ts;
  for (int i = 0; i < 3; ++i) {
    ts.emplace_back([&, i] {
      std::uint64_t t = 0, f = 0, round = 0;
      while (!stop.load()) {
        auto k = ec.prepare_wait();
        if (i == 0 && ++round % 3 == 0) {
          ec.cancel_wait();
          continue;
        }
        (ec.wait_for(k, 50'000 * (i + 1)) ? t : f) += 1;  // 50-150 µs
      }
      trues += t;
      falses += f;
    });
  }
  for (int n = 0; n < 3000; ++n) {
    ec.notify_one();
    if (n % 5 == 0) std::this_thread::sleep_for(20us);
  }
  stop.store(true);
  for (auto& t : ts) t.join();
  const EventCountStats s = ec.stats();
  INFO(show(s));
  CHECK(s.woken == trues.load());
  CHECK(s.timeouts == falses.load());
  check_ledger(s);
}

// LIFETIME (issue 10): a waiter whose wait() returned because of a notify may destroy the
// event count at once, while the notifier that woke it is still inside notify_one(). The
// seam t_ec_released_hook holds the notifier right after the step that releases the waiter
// (EventCount: the epoch bump; MutexEventCount: the unlock); the waiter, which prepared
// before the notify, returns from wait() and deletes the event count; then the notifier
// finishes. Before the fix the rest of notify touched the object (EventCount: the futex wake
// through the object and the statistic after the bump; MutexEventCount: notify_one() on the
// condvar after the unlock): ASan's heap-use-after-free. Deterministic: the order is forced.
namespace {
std::atomic<int>* g_release_step = nullptr;  // the test's handshake with the seam
void hold_notifier_until_destroyed() {
  std::atomic<int>& step = *g_release_step;
  step.store(1);  // the waiter may go: the notify has released it
  while (step.load() != 2) std::this_thread::yield();  // the waiter destroyed the event count
}
}  // namespace

TEMPLATE_TEST_CASE("a waiter may destroy the event count as soon as its wait returns, while the "
                   "notifier is still inside notify_one",
                   "[event_count][lifetime]", EventCount, MutexEventCount, CountedMutexEventCount) {
  for (int round = 0; round < 2; ++round) {  // notify_one, then notify_all
    auto* ec = new TestType;
    std::atomic<int> step{0};
    g_release_step = &step;
    std::thread waiter([&] {
      const auto key = ec->prepare_wait();  // announced before the notify: the notify counts us
      step.store(-1);
      while (step.load() != 1) std::this_thread::yield();
      ec->wait(key);  // the notify already came: returns at once
      delete ec;      // the owner: the event it waited for happened
      step.store(2);
    });
    std::thread notifier([&] {
      while (step.load() != -1) std::this_thread::yield();  // the waiter has announced
      handoff::detail::t_ec_released_hook = &hold_notifier_until_destroyed;
      if (round == 0) {
        ec->notify_one();
      } else {
        ec->notify_all();
      }
      handoff::detail::t_ec_released_hook = nullptr;
    });
    notifier.join();
    waiter.join();
    CHECK(step.load() == 2);
    g_release_step = nullptr;
  }
}
