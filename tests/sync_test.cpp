// Unit tests of the atomic facade (primitives/sync.hpp) and its perturbation backend
// (primitives/sync_perturb.hpp).
//
// Built twice (tests/CMakeLists.txt): `sync_test` with the build's own setting (perturbation
// compiled in only when HANDOFF_PERTURB=ON) and `sync_perturbed_test` with
// HANDOFF_SYNC_PERTURB=1 forced, so both the compiled-out and the compiled-in behaviour are
// tested in every build.
#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <thread>
#include <type_traits>
#include <vector>

#include <handoff/primitives/sync.hpp>

namespace hsync = handoff::sync;  // not `sync`: unistd.h declares ::sync()
using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

namespace {

double ms_since(Clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
}

}  // namespace

// ---- the facade's atomic behaves as std::atomic ------------------------------------------------

TEST_CASE("hsync::atomic: operations return what std::atomic returns", "[sync]") {
  static_assert(sizeof(hsync::atomic<std::uint32_t>) == sizeof(std::atomic<std::uint32_t>),
                "the facade adds no state to an atomic");
  static_assert(sizeof(hsync::atomic<void*>) == sizeof(void*));
  static_assert(!std::is_copy_constructible_v<hsync::atomic<int>>);

  hsync::atomic<std::uint32_t> a{5};
  CHECK(a.load(std::memory_order_relaxed) == 5);  // exercising the facade itself
  a.store(7, std::memory_order_release);  // exercising the facade itself
  CHECK(a.load(std::memory_order_acquire) == 7);  // exercising the facade itself
  CHECK(a.exchange(9, std::memory_order_acq_rel) == 7);  // exercising the facade itself
  CHECK(a.fetch_add(3, std::memory_order_relaxed) == 9);  // exercising the facade itself
  CHECK(a.fetch_sub(2, std::memory_order_relaxed) == 12);  // exercising the facade itself
  CHECK(a.fetch_or(0x100, std::memory_order_relaxed) == 10);  // exercising the facade itself
  CHECK(a.load(std::memory_order_seq_cst) == 0x10a);

  std::uint32_t expected = 1;
  CHECK_FALSE(a.compare_exchange_strong(expected, 2, std::memory_order_seq_cst, std::memory_order_seq_cst));
  CHECK(expected == 0x10a);  // failure reports the current value
  CHECK(a.compare_exchange_strong(expected, 2, std::memory_order_seq_cst, std::memory_order_seq_cst));
  CHECK(a.load(std::memory_order_relaxed) == 2);  // exercising the facade itself
  expected = 2;
  while (!a.compare_exchange_weak(expected, 3, std::memory_order_acq_rel, std::memory_order_relaxed)) {  // exercising the facade itself
    REQUIRE(expected == 2);  // weak may fail spuriously, never with a different value here
  }
  CHECK(a.load(std::memory_order_relaxed) == 3);  // exercising the facade itself
  CHECK(a.underlying().load() == 3);  // the word the futex calls hand to the kernel

  hsync::spin_pause();  // callable; no observable effect
  hsync::yield();
}

TEST_CASE("hsync::atomic: a counter shared by threads counts exactly", "[sync][threads]") {
  hsync::atomic<std::uint64_t> n{0};
  std::vector<std::thread> ts;
  for (int t = 0; t < 4; ++t) {
    ts.emplace_back([&] {
      for (int i = 0; i < 20000; ++i) n.fetch_add(1, std::memory_order_relaxed);  // exercising the facade itself
    });
  }
  for (auto& t : ts) t.join();
  CHECK(n.load(std::memory_order_relaxed) == 80000);  // exercising the facade itself
}

// ---- futex wait / wake ------------------------------------------------------------------------

TEST_CASE("hsync::wait returns at once when the word does not hold the expected value", "[sync][futex]") {
  hsync::atomic<std::uint32_t> word{1};
  const auto t0 = Clock::now();
  hsync::wait(word, 0, 10'000'000'000);  // 10 s timeout, but 1 != 0: no sleep at all
  CHECK(ms_since(t0) < 2000);
}

TEST_CASE("hsync::wait with a timeout sleeps about that long when nobody wakes it", "[sync][futex]") {
  hsync::atomic<std::uint32_t> word{0};
  const auto t0 = Clock::now();
  hsync::wait(word, 0, 50'000'000);  // 50 ms
  const double ms = ms_since(t0);
  CHECK(ms >= 40);    // slept (kernel timer slack only makes it later)
  CHECK(ms < 5000);   // and the timeout ended it
  CHECK(word.load(std::memory_order_relaxed) == 0);  // exercising the facade itself

  // Zero timeout: a poll, returns at once.
  const auto t1 = Clock::now();
  hsync::wait(word, 0, 0);
  CHECK(ms_since(t1) < 2000);
}

TEST_CASE("hsync::wake_one wakes a sleeper without the word changing", "[sync][futex]") {
  // The waiter sleeps with a 10 s timeout; the main thread wakes it (repeatedly, in case the
  // first wake came before the waiter went to sleep). A wake that does not reach the sleeper
  // leaves it asleep for the full 10 s, and the elapsed time shows it.
  hsync::atomic<std::uint32_t> word{0};
  std::atomic<bool> returned{false};
  double slept_ms = 0;
  std::thread waiter([&] {
    const auto t0 = Clock::now();
    hsync::wait(word, 0, 10'000'000'000);
    slept_ms = ms_since(t0);
    returned.store(true, std::memory_order_release);  // exercising the facade itself
  });
  std::this_thread::sleep_for(50ms);
  const auto t0 = Clock::now();
  while (!returned.load(std::memory_order_acquire) && ms_since(t0) < 20000) {  // exercising the facade itself
    hsync::wake_one(word);
    std::this_thread::sleep_for(20ms);
  }
  waiter.join();
  CHECK(slept_ms < 5000);
  CHECK(word.load(std::memory_order_relaxed) == 0);  // exercising the facade itself
}

TEST_CASE("hsync::wake_all wakes every sleeper", "[sync][futex]") {
  constexpr int kWaiters = 4;
  hsync::atomic<std::uint32_t> word{0};
  std::atomic<int> returned{0};
  std::vector<double> slept(kWaiters, 0);
  std::vector<std::thread> ts;
  for (int i = 0; i < kWaiters; ++i) {
    ts.emplace_back([&, i] {
      const auto t0 = Clock::now();
      hsync::wait(word, 0, 10'000'000'000);
      slept[i] = ms_since(t0);
      returned.fetch_add(1, std::memory_order_release);  // exercising the facade itself
    });
  }
  std::this_thread::sleep_for(50ms);
  const auto t0 = Clock::now();
  while (returned.load(std::memory_order_acquire) < kWaiters && ms_since(t0) < 20000) {  // exercising the facade itself
    hsync::wake_all(word);
    std::this_thread::sleep_for(20ms);
  }
  for (auto& t : ts) t.join();
  for (int i = 0; i < kWaiters; ++i) {
    INFO("waiter " << i);
    CHECK(slept[i] < 5000);
  }
}

TEST_CASE("hsync::wait/wake: the flag protocol hands over a value", "[sync][futex][threads]") {
  // The pattern the primitives use: store the new value, then wake; the waiter re-checks in a loop.
  for (int round = 0; round < 200; ++round) {
    hsync::atomic<std::uint32_t> flag{0};
    int payload = 0;
    std::thread waiter([&] {
      while (flag.load(std::memory_order_acquire) == 0) {  // pairs with the release store below
        hsync::wait(flag, 0, 1'000'000'000);                  // 1 s cap: a lost wake shows as a slow test
      }
      CHECK(payload == round + 1);
    });
    payload = round + 1;
    flag.store(1, std::memory_order_release);  // publishes payload
    hsync::wake_one(flag);
    waiter.join();
  }
}

// ---- perturbation: compiled out, or compiled in ------------------------------------------------

#if defined(HANDOFF_SYNC_PERTURB) && HANDOFF_SYNC_PERTURB

namespace perturb = handoff::sync::perturb;

TEST_CASE("perturbation compiled in: kPerturbed says so", "[sync][perturb]") {
  STATIC_REQUIRE(hsync::kPerturbed);
  STATIC_REQUIRE_FALSE(hsync::kModelChecked);
}

namespace {
// Runs `steps` facade operations on a fresh sync::thread; returns that thread's counters.
perturb::ThreadState steps_on_new_thread(int steps) {
  perturb::ThreadState out;
  hsync::thread t([&] {
    hsync::atomic<int> a{0};
    for (int i = 0; i < steps; ++i) a.fetch_add(1, std::memory_order_relaxed);  // exercising the facade itself
    out = perturb::thread_state();
  });
  t.join();
  return out;
}

// The decision stream a thread with this (seed, key) must follow (sync_perturb.hpp).
std::uint64_t expected_perturbed(std::uint64_t seed, std::uint64_t key, std::uint32_t rate, int steps) {
  std::uint64_t n = 0;
  for (int i = 0; i < steps; ++i) n += (perturb::decide(seed, key, static_cast<std::uint64_t>(i)) % 1000) < rate;
  return n;
}
}  // namespace

TEST_CASE("perturbation compiled in: off until configured, then at the configured rate", "[sync][perturb]") {
  SECTION("rate 0: no step is even counted") {
    perturb::configure(1, 0);
    const perturb::ThreadState t = steps_on_new_thread(10000);
    CHECK(t.steps == 0);
    CHECK(t.perturbed == 0);
  }
  SECTION("rate 1000: every step is perturbed") {
    perturb::configure(2, 1000);
    const perturb::ThreadState t = steps_on_new_thread(2000);
    CHECK(t.steps == 2000);
    CHECK(t.perturbed == 2000);
    perturb::configure(2, 0);
  }
  SECTION("rate 250: about a quarter of the steps") {
    perturb::configure(3, 250);
    const perturb::ThreadState t = steps_on_new_thread(100000);
    perturb::configure(3, 0);
    CHECK(t.steps == 100000);
    CHECK(t.perturbed > 22000);
    CHECK(t.perturbed < 28000);
  }
  SECTION("rate set back to 0 switches it off for running threads too") {
    perturb::configure(4, 500);
    std::uint64_t steps_on = 0, steps_off = 0;
    std::thread th([&] {
      hsync::atomic<int> a{0};
      for (int i = 0; i < 1000; ++i) a.load(std::memory_order_relaxed);  // exercising the facade itself
      steps_on = perturb::thread_state().steps;
      perturb::configure(4, 0);
      for (int i = 0; i < 1000; ++i) a.load(std::memory_order_relaxed);  // exercising the facade itself
      steps_off = perturb::thread_state().steps - steps_on;
    });
    th.join();
    CHECK(steps_on == 1000);
    CHECK(steps_off == 0);
  }
}

TEST_CASE("perturbation compiled in: a thread's decisions are a function of (seed, key, step)",
          "[sync][perturb]") {
  // What makes a printed seed replay a run: each thread's stream depends only on the seed, its
  // key and its step count, and a sync::thread's key is fixed by its creator.
  for (std::uint64_t seed : {11ull, 12ull, 0xdeadbeefull}) {
    perturb::configure(seed, 300);
    const perturb::ThreadState t = steps_on_new_thread(5000);
    perturb::configure(seed, 0);
    INFO("seed " << seed << " key " << t.key);
    CHECK(t.registered);
    CHECK(t.steps == 5000);
    CHECK(t.perturbed == expected_perturbed(seed, t.key, 300, 5000));
  }
}

TEST_CASE("perturbation compiled in: keys come from creation order, not from first touch", "[sync][perturb]") {
  const std::uint64_t seed = 77;
  // Round 1: two sync::threads, started in order.
  perturb::configure(seed, 300);
  const perturb::ThreadState a1 = steps_on_new_thread(3000);
  const perturb::ThreadState b1 = steps_on_new_thread(3000);
  // Round 2: the same, but an unregistered std::thread touches the facade first.
  perturb::configure(seed, 300);
  const std::uint64_t unregistered_before = perturb::unregistered();
  std::thread stranger([] {
    hsync::atomic<int> x{0};
    for (int i = 0; i < 100; ++i) x.load(std::memory_order_relaxed);  // exercising the facade itself
  });
  stranger.join();
  const perturb::ThreadState a2 = steps_on_new_thread(3000);
  const perturb::ThreadState b2 = steps_on_new_thread(3000);
  perturb::configure(seed, 0);
  CHECK(perturb::unregistered() == unregistered_before + 1);  // the stranger, counted
  CHECK(a1.key != b1.key);
  CHECK(a1.key == a2.key);
  CHECK(b1.key == b2.key);
  CHECK(a1.perturbed == a2.perturbed);
  CHECK(b1.perturbed == b2.perturbed);
}

TEST_CASE("perturbation compiled in: correctness is unchanged under heavy perturbation", "[sync][perturb][threads]") {
  perturb::configure(42, 500);
  hsync::atomic<std::uint64_t> n{0};
  std::vector<std::thread> ts;
  for (int t = 0; t < 4; ++t) {
    ts.emplace_back([&] {
      for (int i = 0; i < 5000; ++i) {
        std::uint64_t cur = n.load(std::memory_order_relaxed);  // exercising the facade itself
        while (!n.compare_exchange_weak(cur, cur + 1, std::memory_order_relaxed, std::memory_order_relaxed)) {  // exercising the facade itself
        }
      }
    });
  }
  for (auto& t : ts) t.join();
  perturb::configure(42, 0);
  CHECK(n.load(std::memory_order_relaxed) == 20000);  // exercising the facade itself
}

#else

TEST_CASE("perturbation compiled out: kPerturbed says so, and a step costs nothing", "[sync][perturb]") {
  STATIC_REQUIRE_FALSE(hsync::kPerturbed);
  STATIC_REQUIRE_FALSE(hsync::kModelChecked);
  // step() is an empty inline function: nothing to observe but that it exists and returns.
  hsync::step();
  hsync::atomic<int> a{0};
  for (int i = 0; i < 1000; ++i) a.fetch_add(1, std::memory_order_relaxed);  // exercising the facade itself
  CHECK(a.load(std::memory_order_relaxed) == 1000);  // exercising the facade itself
}

#endif
