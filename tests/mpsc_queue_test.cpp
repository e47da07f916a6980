// Unit tests of the value-typed MPSC queues, one suite for all of them (STYLE.md habit 6):
// MpscQueue<T> (primitives/mpsc_queue.hpp) and its mutex baselines MutexQueue<T> and
// BlockingMutexQueue<T> (primitives/mutex_queue.hpp) run through the SAME TEMPLATE_TEST_CASEs.
// Differences are stated where they exist (only MpscQueue may answer Retry; only
// BlockingMutexQueue has pop()/pop_for(); only MpscQueue recycles its nodes).
//
// This binary counts allocations (the recycling test): see "counting allocations" below.
#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <memory>
#include <new>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <handoff/primitives/mpsc_queue.hpp>
#include <handoff/primitives/mutex_queue.hpp>

// ---- counting allocations (whole binary) ---------------------------------------------------
//
// Plain builds: the global operator new is replaced by a counting one. Sanitizer builds
// cannot do that (Clang links its TSan/ASan runtime's operator new statically: a second
// definition does not link), so there the sanitizer allocator's own hook counts every
// allocation instead, malloc included, which is stricter still.

#if defined(__SANITIZE_THREAD__) || defined(__SANITIZE_ADDRESS__)
#define HANDOFF_TEST_SANITIZER_HOOKS 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer) || __has_feature(address_sanitizer)
#define HANDOFF_TEST_SANITIZER_HOOKS 1
#endif
#endif

namespace {
// Relaxed: a statistic; the test reads it on the thread that did the work, or after a join.
std::atomic<std::uint64_t> g_news{0};
}  // namespace

#if defined(HANDOFF_TEST_SANITIZER_HOOKS)

// From <sanitizer/allocator_interface.h> (shipped with clang, not with gcc; both runtimes export it).
extern "C" int __sanitizer_install_malloc_and_free_hooks(void (*malloc_hook)(const volatile void*, std::size_t),
                                                         void (*free_hook)(const volatile void*));
namespace {
void count_malloc(const volatile void*, std::size_t) { g_news.fetch_add(1, std::memory_order_relaxed); }  // statistic
void ignore_free(const volatile void*) {}
const bool g_hooks_installed = __sanitizer_install_malloc_and_free_hooks(count_malloc, ignore_free) != 0;
}  // namespace

#else

namespace {
constexpr bool g_hooks_installed = true;

void* counted_alloc(std::size_t n) {
  g_news.fetch_add(1, std::memory_order_relaxed);  // statistic only
  if (n == 0) n = 1;
  if (void* p = std::malloc(n)) return p;
  throw std::bad_alloc();
}
void* counted_alloc_aligned(std::size_t n, std::align_val_t al) {
  g_news.fetch_add(1, std::memory_order_relaxed);  // statistic only
  const std::size_t a = static_cast<std::size_t>(al) < sizeof(void*) ? sizeof(void*) : static_cast<std::size_t>(al);
  void* p = nullptr;
  if (::posix_memalign(&p, a, n == 0 ? 1 : n) != 0) throw std::bad_alloc();
  return p;
}
}  // namespace

void* operator new(std::size_t n) { return counted_alloc(n); }
void* operator new[](std::size_t n) { return counted_alloc(n); }
void* operator new(std::size_t n, std::align_val_t al) { return counted_alloc_aligned(n, al); }
void* operator new[](std::size_t n, std::align_val_t al) { return counted_alloc_aligned(n, al); }
void* operator new(std::size_t n, const std::nothrow_t&) noexcept {
  try {
    return counted_alloc(n);
  } catch (...) {
    return nullptr;
  }
}
void* operator new[](std::size_t n, const std::nothrow_t&) noexcept {
  try {
    return counted_alloc(n);
  } catch (...) {
    return nullptr;
  }
}
void operator delete(void* p) noexcept { std::free(p); }
void operator delete[](void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t) noexcept { std::free(p); }
void operator delete(void* p, std::align_val_t) noexcept { std::free(p); }
void operator delete[](void* p, std::align_val_t) noexcept { std::free(p); }
void operator delete(void* p, std::size_t, std::align_val_t) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t, std::align_val_t) noexcept { std::free(p); }
void operator delete(void* p, const std::nothrow_t&) noexcept { std::free(p); }
void operator delete[](void* p, const std::nothrow_t&) noexcept { std::free(p); }

#endif

namespace {

using handoff::PopStatus;
using handoff::PushResult;

// ---- the queues under test, as families over the element type --------------------------------

struct Mpsc {
  template <class T>
  using queue = handoff::MpscQueue<T>;
  static constexpr bool kMayRetry = true;  // a producer between exchange and link
  static constexpr const char* kName = "MpscQueue";
};
struct Mutex {
  template <class T>
  using queue = handoff::MutexQueue<T>;
  static constexpr bool kMayRetry = false;  // a lock makes every push all-or-nothing
  static constexpr const char* kName = "MutexQueue";
};
struct BlockingMutex {
  template <class T>
  using queue = handoff::BlockingMutexQueue<T>;
  static constexpr bool kMayRetry = false;
  static constexpr const char* kName = "BlockingMutexQueue";
};

#define QUEUES Mpsc, Mutex, BlockingMutex

// ---- a value that counts its lives -----------------------------------------------------------

// Every constructed object is destroyed exactly once: constructed == destroyed at the end.
// `live` values (not moved from) are tracked separately, to see which ones a destructor drops.
struct Counted {
  static inline std::atomic<long> constructed{0};  // relaxed: statistics, read after joins
  static inline std::atomic<long> destroyed{0};
  static inline std::atomic<long> live_destroyed{0};

  int id = -1;
  bool live = false;

  Counted() { constructed.fetch_add(1, std::memory_order_relaxed); }  // test bookkeeping; the primitive under test provides the ordering
  explicit Counted(int i) : id(i), live(true) { constructed.fetch_add(1, std::memory_order_relaxed); }  // test bookkeeping; the primitive under test provides the ordering
  Counted(const Counted& o) : id(o.id), live(o.live) { constructed.fetch_add(1, std::memory_order_relaxed); }  // test bookkeeping; the primitive under test provides the ordering
  Counted(Counted&& o) noexcept : id(o.id), live(std::exchange(o.live, false)) {
    constructed.fetch_add(1, std::memory_order_relaxed);  // test bookkeeping; the primitive under test provides the ordering
  }
  Counted& operator=(const Counted& o) {
    if (live) live_destroyed.fetch_add(1, std::memory_order_relaxed);  // the old value dies
    id = o.id;
    live = o.live;
    return *this;
  }
  Counted& operator=(Counted&& o) noexcept {
    if (this != &o) {
      if (live) live_destroyed.fetch_add(1, std::memory_order_relaxed);  // the old value dies
      id = o.id;
      live = std::exchange(o.live, false);
    }
    return *this;
  }
  ~Counted() {
    destroyed.fetch_add(1, std::memory_order_relaxed);  // test bookkeeping; the primitive under test provides the ordering
    if (live) live_destroyed.fetch_add(1, std::memory_order_relaxed);  // test bookkeeping; the primitive under test provides the ordering
  }

  static void reset() {
    constructed = 0;
    destroyed = 0;
    live_destroyed = 0;
  }
};

template <class Q, class T>
std::vector<T> drain_all(Q& q) {
  std::vector<T> out;
  q.drain(~std::size_t{0}, [&](T&& v) { out.push_back(std::move(v)); });
  return out;
}

}  // namespace

// ---- basics ----------------------------------------------------------------------------------

TEMPLATE_TEST_CASE("queue: a new queue is Empty", "[queue]", QUEUES) {
  typename TestType::template queue<int> q;
  int out = -1;
  CHECK(q.try_pop(out) == PopStatus::Empty);
  CHECK(out == -1);  // untouched
  CHECK_FALSE(q.try_pop().has_value());
  CHECK_FALSE(q.is_closed());
  CHECK(q.stats().popped == 0);
}

TEMPLATE_TEST_CASE("queue: one producer is FIFO", "[queue]", QUEUES) {
  typename TestType::template queue<int> q;
  for (int i = 0; i < 1000; ++i) REQUIRE(q.push(i) == PushResult::Pushed);
  for (int i = 0; i < 1000; ++i) {
    int out = -1;
    REQUIRE(q.try_pop(out) == PopStatus::Item);
    REQUIRE(out == i);
  }
  int out = -1;
  CHECK(q.try_pop(out) == PopStatus::Empty);
  CHECK(q.stats().popped == 1000);

  // The optional-returning overload, interleaved.
  for (int i = 0; i < 10; ++i) {
    REQUIRE(q.push(i) == PushResult::Pushed);
    std::optional<int> v = q.try_pop();
    REQUIRE(v.has_value());
    CHECK(*v == i);
  }
  CHECK_FALSE(q.try_pop().has_value());
}

TEMPLATE_TEST_CASE("queue: push of an lvalue copies it", "[queue]", QUEUES) {
  typename TestType::template queue<std::string> q;
  const std::string s = "hello";
  REQUIRE(q.push(s) == PushResult::Pushed);
  CHECK(s == "hello");
  std::string out;
  REQUIRE(q.try_pop(out) == PopStatus::Item);
  CHECK(out == "hello");
}

TEMPLATE_TEST_CASE("queue: drain(max) takes exactly max, in order, and says why it stopped", "[queue]", QUEUES) {
  typename TestType::template queue<int> q;
  for (int i = 0; i < 10; ++i) REQUIRE(q.push(i) == PushResult::Pushed);
  std::vector<int> got;
  auto take = [&](int&& v) { got.push_back(v); };

  auto d = q.drain(3, take);
  CHECK(d.count == 3);
  CHECK(d.stop == PopStatus::Item);  // hit max; more are queued
  CHECK(got == std::vector<int>{0, 1, 2});

  d = q.drain(0, take);
  CHECK(d.count == 0);
  CHECK(d.stop == PopStatus::Item);

  d = q.drain(7, take);  // exactly what is left
  CHECK(d.count == 7);
  CHECK(d.stop == PopStatus::Item);

  d = q.drain(7, take);
  CHECK(d.count == 0);
  CHECK(d.stop == PopStatus::Empty);
  CHECK(got == std::vector<int>{0, 1, 2, 3, 4, 5, 6, 7, 8, 9});
  CHECK(q.stats().popped == 10);

  REQUIRE(q.push(10) == PushResult::Pushed);
  REQUIRE(q.push(11) == PushResult::Pushed);
  q.close();
  d = q.drain(100, take);
  CHECK(d.count == 2);
  CHECK(d.stop == PopStatus::Closed);
  CHECK(got.back() == 11);
}

// ---- close -----------------------------------------------------------------------------------

TEMPLATE_TEST_CASE("queue: items pushed before close are popped, then Closed; close is idempotent", "[queue][close]",
                   QUEUES) {
  typename TestType::template queue<int> q;
  REQUIRE(q.push(1) == PushResult::Pushed);
  REQUIRE(q.push(2) == PushResult::Pushed);
  q.close();
  CHECK(q.is_closed());
  q.close();  // idempotent
  CHECK(q.is_closed());
  CHECK(q.push(3) == PushResult::Closed);
  int out = 0;
  REQUIRE(q.try_pop(out) == PopStatus::Item);
  CHECK(out == 1);
  q.close();
  REQUIRE(q.try_pop(out) == PopStatus::Item);
  CHECK(out == 2);
  out = -1;
  CHECK(q.try_pop(out) == PopStatus::Closed);
  CHECK(out == -1);
  CHECK(q.try_pop(out) == PopStatus::Closed);  // final
  CHECK_FALSE(q.try_pop().has_value());
  CHECK(q.stats().popped == 2);
}

TEMPLATE_TEST_CASE("queue: push after close returns Closed and leaves the caller's value untouched", "[queue][close]",
                   QUEUES) {
  SECTION("move-only rvalue") {
    typename TestType::template queue<std::unique_ptr<int>> q;
    q.close();
    auto p = std::make_unique<int>(7);
    int* raw = p.get();
    REQUIRE(q.push(std::move(p)) == PushResult::Closed);
    REQUIRE(p != nullptr);  // not moved from
    CHECK(p.get() == raw);
    CHECK(*p == 7);
  }
  SECTION("copyable rvalue") {
    typename TestType::template queue<std::string> q;
    q.close();
    std::string s(100, 'x');  // not SSO: a move would empty it
    REQUIRE(q.push(std::move(s)) == PushResult::Closed);
    CHECK(s == std::string(100, 'x'));
  }
  SECTION("no value is leaked or destroyed twice by a refused push") {
    Counted::reset();
    {
      typename TestType::template queue<Counted> q;
      q.close();
      Counted c(5);
      REQUIRE(q.push(std::move(c)) == PushResult::Closed);
      CHECK(c.live);
      CHECK(c.id == 5);
      CHECK(Counted::live_destroyed.load() == 0);  // a refused rvalue is handed back, not destroyed
      REQUIRE(q.push(c) == PushResult::Closed);  // an lvalue: a copy may be made and destroyed
      CHECK(c.live);
      CHECK(c.id == 5);
    }
    CHECK(Counted::constructed.load() == Counted::destroyed.load());
  }
}

TEMPLATE_TEST_CASE("queue: close on an empty queue answers Closed, not Empty", "[queue][close]", QUEUES) {
  typename TestType::template queue<int> q;
  REQUIRE(q.push(1) == PushResult::Pushed);
  int out = 0;
  REQUIRE(q.try_pop(out) == PopStatus::Item);
  CHECK(q.try_pop(out) == PopStatus::Empty);
  q.close();
  CHECK(q.try_pop(out) == PopStatus::Closed);
  auto d = q.drain(5, [](int&&) {});
  CHECK(d.count == 0);
  CHECK(d.stop == PopStatus::Closed);
}

// ---- move-only values and destructors ----------------------------------------------------------

TEMPLATE_TEST_CASE("queue: move-only values (std::unique_ptr)", "[queue]", QUEUES) {
  typename TestType::template queue<std::unique_ptr<int>> q;
  for (int i = 0; i < 100; ++i) REQUIRE(q.push(std::make_unique<int>(i)) == PushResult::Pushed);
  std::unique_ptr<int> out;
  REQUIRE(q.try_pop(out) == PopStatus::Item);
  REQUIRE(out);
  CHECK(*out == 0);
  std::optional<std::unique_ptr<int>> o = q.try_pop();
  REQUIRE(o.has_value());
  CHECK(**o == 1);
  auto rest = drain_all<decltype(q), std::unique_ptr<int>>(q);
  REQUIRE(rest.size() == 98);
  for (int i = 0; i < 98; ++i) CHECK(*rest[i] == i + 2);
  // Items left in the queue at destruction are freed (ASan/LSan would report a leak).
  for (int i = 0; i < 10; ++i) REQUIRE(q.push(std::make_unique<int>(i)) == PushResult::Pushed);
}

TEMPLATE_TEST_CASE("queue: destruction with items left destroys each value exactly once", "[queue][destructors]",
                   QUEUES) {
  Counted::reset();
  {
    typename TestType::template queue<Counted> q;
    for (int i = 0; i < 50; ++i) REQUIRE(q.push(Counted(i)) == PushResult::Pushed);
    for (int i = 0; i < 20; ++i) {
      Counted out;
      REQUIRE(q.try_pop(out) == PopStatus::Item);
      CHECK(out.id == i);
    }
    CHECK(q.stats().popped == 20);
    CHECK(q.stats().dropped == 0);  // counted only by the destructor
    CHECK(Counted::live_destroyed.load() == 20);  // the 20 popped values, gone with `out`
    SECTION("open") {}
    SECTION("closed") { q.close(); }
  }
  // 30 values were still queued: the destructor must have destroyed them, once each.
  CHECK(Counted::live_destroyed.load() == 50);
  CHECK(Counted::constructed.load() == Counted::destroyed.load());
  // stats().dropped (the destructor's count of those 30) cannot be read here: the queue is
  // gone once it is final. See the report: the API gives no way to observe it.
}

// ---- Retry and threads ---------------------------------------------------------------------------

TEMPLATE_TEST_CASE("queue: multi-producer smoke: nothing lost, per-producer FIFO, Retry only while pushing",
                   "[queue][threads]", QUEUES) {
  constexpr int kProducers = 4;
  constexpr int kPerProducer = 20000;
  typename TestType::template queue<std::pair<int, int>> q;
  std::atomic<int> running{kProducers};
  std::vector<std::thread> producers;
  for (int p = 0; p < kProducers; ++p) {
    producers.emplace_back([&, p] {
      for (int s = 0; s < kPerProducer; ++s) {
        if (q.push(std::make_pair(p, s)) != PushResult::Pushed) std::abort();
      }
      running.fetch_sub(1, std::memory_order_relaxed);  // a hint; the join orders the rest
    });
  }
  std::vector<int> next(kProducers, 0);
  long total = 0, retries = 0, bad = 0;
  std::pair<int, int> v;
  for (;;) {
    const PopStatus st = q.try_pop(v);
    if (st == PopStatus::Item) {
      if (v.first < 0 || v.first >= kProducers || v.second != next[v.first]) ++bad;
      else ++next[v.first];
      ++total;
    } else if (st == PopStatus::Retry) {
      ++retries;
      std::this_thread::yield();
    } else if (st == PopStatus::Closed) {
      FAIL("Closed although nobody closed the queue");
    } else if (running.load(std::memory_order_relaxed) == 0) {  // test bookkeeping; the primitive under test provides the ordering
      break;  // every producer done, queue Empty: the join below confirms
    } else {
      std::this_thread::yield();
    }
  }
  for (auto& t : producers) t.join();
  for (;;) {
    const PopStatus st = q.try_pop(v);
    REQUIRE(st != PopStatus::Retry);  // nobody is mid-push after the join
    if (st != PopStatus::Item) break;
    if (v.second != next[v.first]) ++bad;
    ++next[v.first];
    ++total;
  }
  INFO(TestType::kName << ": Retry answers while producers ran: " << retries);
  if (!TestType::kMayRetry) CHECK(retries == 0);
  CHECK(bad == 0);
  CHECK(total == long{kProducers} * kPerProducer);
  CHECK(q.stats().popped == static_cast<std::uint64_t>(total));
}

TEMPLATE_TEST_CASE("queue: close racing producers: accepted popped once, refused returned, linearizable per producer",
                   "[queue][threads][close]", QUEUES) {
  constexpr int kProducers = 3;
  for (int round = 0; round < 20; ++round) {
    typename TestType::template queue<std::unique_ptr<int>> q;
    std::vector<std::vector<PushResult>> results(kProducers);
    std::vector<int> intact_refusals(kProducers, 0);
    std::vector<std::thread> producers;
    for (int p = 0; p < kProducers; ++p) {
      producers.emplace_back([&, p] {
        for (int s = 0; s < 100000; ++s) {
          auto v = std::make_unique<int>(p * 1000000 + s);
          results[p].push_back(q.push(std::move(v)));
          if (results[p].back() == PushResult::Closed) {
            if (v && *v == p * 1000000 + s) ++intact_refusals[p];
            if (intact_refusals[p] >= 2) break;
          }
        }
      });
    }
    std::vector<std::vector<int>> popped(kProducers, std::vector<int>(100000, 0));
    long n = 0;
    std::unique_ptr<int> v;
    for (;;) {
      if (n == 150 * (round % 5)) q.close();
      const PopStatus st = q.try_pop(v);
      if (st == PopStatus::Closed) break;
      if (st == PopStatus::Item) {
        ++popped[*v / 1000000][*v % 1000000];
        ++n;
      } else {
        std::this_thread::yield();
      }
    }
    for (auto& t : producers) t.join();
    CHECK(q.try_pop(v) == PopStatus::Closed);
    long pushed = 0, bad = 0;
    for (int p = 0; p < kProducers; ++p) {
      bool seen_closed = false;
      long refused = 0;
      for (std::size_t s = 0; s < results[p].size(); ++s) {
        if (results[p][s] == PushResult::Pushed) {
          ++pushed;
          if (popped[p][s] != 1 || seen_closed) ++bad;
        } else {
          ++refused;
          if (popped[p][s] != 0) ++bad;
          seen_closed = true;
        }
      }
      CHECK(refused == intact_refusals[p]);  // every refused value came back intact
    }
    INFO(TestType::kName << " round " << round);
    CHECK(bad == 0);
    CHECK(pushed == n);  // ledger: drained to Closed, so nothing is left to drop
  }
}

// ---- recycling (MpscQueue only: the mutex baselines' deque allocates by design) ----------------

// ---- reservations (issue 10) --------------------------------------------------------------

TEMPLATE_TEST_CASE("queue: a push with a reservation is a push: FIFO with the others, refused at once after close "
                   "(value untouched), the reservation consumed",
                   "[queue][reservation]", QUEUES) {
  using Q = typename TestType::template queue<std::unique_ptr<int>>;
  Q q;
  typename Q::Reservation r1 = q.reserve(), r2 = q.reserve(), r3 = q.reserve();
  REQUIRE(r1);
  REQUIRE(q.push(std::make_unique<int>(1)) == PushResult::Pushed);
  REQUIRE(q.push(std::move(r1), std::make_unique<int>(2)) == PushResult::Pushed);
  CHECK_FALSE(r1);  // consumed
  REQUIRE(q.push(std::make_unique<int>(3)) == PushResult::Pushed);
  for (int want : {1, 2, 3}) {
    std::unique_ptr<int> out;
    REQUIRE(q.try_pop(out) == PopStatus::Item);
    CHECK(*out == want);
  }
  // An empty reservation (moved from, used, default): a misuse error, the value untouched.
  auto v = std::make_unique<int>(5);
  CHECK_THROWS_AS(q.push(std::move(r1), std::move(v)), std::invalid_argument);
  CHECK_THROWS_WITH(q.push(typename Q::Reservation{}, std::move(v)), Catch::Contains("the reservation is empty"));
  REQUIRE(v);
  CHECK(*v == 5);
  q.close();
  auto p = std::make_unique<int>(7);
  int* raw = p.get();
  REQUIRE(q.push(std::move(r2), std::move(p)) == PushResult::Closed);  // refused at once
  CHECK(p.get() == raw);  // not moved from
  CHECK_FALSE(r2);        // consumed all the same
  REQUIRE(q.push(std::move(r3), std::make_unique<int>(8)) == PushResult::Closed);
  std::unique_ptr<int> out;
  CHECK(q.try_pop(out) == PopStatus::Closed);
}

// LIFETIME (the headers' rule): a reservation holds a free node and nothing of the queue, so
// it may outlive it; destroyed unused, it gives the node back (ASan/LSan: no leak, no UAF).
TEMPLATE_TEST_CASE("queue: a reservation may outlive its queue; unused, it gives its node back", "[queue][reservation][lifetime]",
                   QUEUES) {
  using Q = typename TestType::template queue<int>;
  typename Q::Reservation kept, into_other;
  {
    Q q;
    kept = q.reserve();
    into_other = q.reserve();
    typename Q::Reservation unused = q.reserve();
    REQUIRE(unused);
  }  // q destroyed with two reservations outstanding
  REQUIRE(kept);
  kept.reset();  // gives the node back now
  CHECK_FALSE(kept);
  Q other;  // a node is not tied to the queue that reserved it
  REQUIRE(other.push(std::move(into_other), 4) == PushResult::Pushed);
  int out = 0;
  REQUIRE(other.try_pop(out) == PopStatus::Item);
  CHECK(out == 4);
}

TEST_CASE("MpscQueue: a push with a reservation calls no operator new; an unused reservation's node is reused",
          "[queue][reservation]") {
  REQUIRE(g_hooks_installed);
  handoff::MpscQueue<int> q;
  std::uint64_t push_news = ~0ull, reserve_news = ~0ull;
  std::thread t([&] {  // a fresh thread: an empty node cache of its own
    auto r = q.reserve();  // allocates here, on the reserving side
    std::uint64_t before = g_news.load(std::memory_order_relaxed);  // test bookkeeping, same thread
    q.push(std::move(r), 1);
    push_news = g_news.load(std::memory_order_relaxed) - before;  // test bookkeeping, same thread
    { auto unused = q.reserve(); }  // its node goes to this thread's cache
    before = g_news.load(std::memory_order_relaxed);  // test bookkeeping, same thread
    auto again = q.reserve();
    reserve_news = g_news.load(std::memory_order_relaxed) - before;  // test bookkeeping, same thread
    q.push(std::move(again), 2);
  });
  t.join();
  if (push_news != 0) FAIL("RESERVED PUSH ALLOCATED: push(Reservation&&, v) called operator new " << push_news << " time(s)");
  if (reserve_news != 0) FAIL("RESERVATION LEAKED: an unused reservation's node did not go back to the thread's cache");
  int out = 0;
  REQUIRE(q.try_pop(out) == PopStatus::Item);
  CHECK(out == 1);
  REQUIRE(q.try_pop(out) == PopStatus::Item);
  CHECK(out == 2);
  CHECK(q.try_pop(out) == PopStatus::Empty);
}

TEST_CASE("MpscQueue: steady-state push/pop does not call operator new", "[queue][recycling]") {
  REQUIRE(g_hooks_installed);
  {  // the counter counts (through a volatile sink: an unused new-expression may be elided)
    static int* volatile sink = nullptr;
    const std::uint64_t before = g_news.load(std::memory_order_relaxed);  // test bookkeeping; the primitive under test provides the ordering
    sink = new int(1);
    REQUIRE(g_news.load(std::memory_order_relaxed) > before);  // test bookkeeping; the primitive under test provides the ordering
    delete sink;
  }
  handoff::MpscQueue<int> q;
  int out = 0;
  SECTION("one thread, push/pop pairs") {
    for (int i = 0; i < 1000; ++i) {  // warm-up: fill the thread's cache and the return stack
      q.push(i);
      q.try_pop(out);
    }
    const std::uint64_t before = g_news.load(std::memory_order_relaxed);  // test bookkeeping; the primitive under test provides the ordering
    long bad = 0;
    for (int i = 0; i < 200000; ++i) {
      if (q.push(i) != PushResult::Pushed) ++bad;
      if (q.try_pop(out) != PopStatus::Item || out != i) ++bad;
    }
    const std::uint64_t news = g_news.load(std::memory_order_relaxed) - before;  // test bookkeeping; the primitive under test provides the ordering
    CHECK(bad == 0);
    CHECK(news == 0);
  }
  SECTION("one thread, bursts of 100") {
    for (int round = 0; round < 50; ++round) {  // warm-up: the high-water mark plus one batch
      for (int i = 0; i < 100; ++i) q.push(i);
      for (int i = 0; i < 100; ++i) q.try_pop(out);
    }
    const std::uint64_t before = g_news.load(std::memory_order_relaxed);  // test bookkeeping; the primitive under test provides the ordering
    long bad = 0;
    for (int round = 0; round < 2000; ++round) {
      for (int i = 0; i < 100; ++i) bad += q.push(i) != PushResult::Pushed;
      for (int i = 0; i < 100; ++i) bad += q.try_pop(out) != PopStatus::Item || out != i;
    }
    const std::uint64_t news = g_news.load(std::memory_order_relaxed) - before;  // test bookkeeping; the primitive under test provides the ordering
    CHECK(bad == 0);
    CHECK(news == 0);
  }
  SECTION("a producer thread and the consumer, at most 64 in flight") {
    // Nodes needed at any moment: <= 64 queued + <= 31 in the consumer's unpublished return
    // batch. A warm-up burst of 128 pushed before the consumer starts makes 128 nodes exist, so
    // after it no push may need operator new, whatever the interleaving.
    constexpr long kBurst = 128, kWindow = 64, kTotal = 200000;
    std::atomic<long> consumed{0};        // consumer -> producer: flow control
    std::atomic<bool> burst_done{false};  // producer -> consumer: the 128 nodes exist
    std::atomic<std::uint64_t> news_after_burst{0};
    std::thread producer([&] {
      for (long i = 0; i < kTotal; ++i) {
        while (i >= kBurst && i - consumed.load(std::memory_order_acquire) >= kWindow) std::this_thread::yield();  // test bookkeeping; the primitive under test provides the ordering
        if (q.push(static_cast<int>(i)) != PushResult::Pushed) std::abort();
        if (i == kBurst - 1) {
          news_after_burst.store(g_news.load(std::memory_order_relaxed), std::memory_order_relaxed);  // test bookkeeping; the primitive under test provides the ordering
          burst_done.store(true, std::memory_order_release);  // pairs with the consumer's acquire
        }
      }
    });
    while (!burst_done.load(std::memory_order_acquire)) std::this_thread::yield();  // test bookkeeping; the primitive under test provides the ordering
    long bad = 0;
    for (long i = 0; i < kTotal;) {
      const PopStatus st = q.try_pop(out);
      if (st == PopStatus::Item) {
        if (out != static_cast<int>(i)) ++bad;
        ++i;
        consumed.store(i, std::memory_order_release);  // pairs with the producer's acquire
      } else {
        std::this_thread::yield();
      }
    }
    producer.join();
    const std::uint64_t news = g_news.load(std::memory_order_relaxed) - news_after_burst.load(std::memory_order_relaxed);  // test bookkeeping; the primitive under test provides the ordering
    CHECK(bad == 0);
    CHECK(news == 0);
  }
}

// ---- BlockingMutexQueue only ----------------------------------------------------------------------

TEST_CASE("BlockingMutexQueue: pop sleeps until an item arrives; nullopt at end of stream", "[queue][blocking]") {
  handoff::BlockingMutexQueue<int> q;
  std::thread producer([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    q.push(42);
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    q.push(43);
    q.close();
  });
  std::optional<int> a = q.pop();
  REQUIRE(a.has_value());
  CHECK(*a == 42);
  std::optional<int> b = q.pop();
  REQUIRE(b.has_value());
  CHECK(*b == 43);
  CHECK_FALSE(q.pop().has_value());  // closed and empty: returns, never hangs
  producer.join();
}

TEST_CASE("BlockingMutexQueue: pop_for times out, and close wakes a sleeper", "[queue][blocking]") {
  handoff::BlockingMutexQueue<int> q;
  const auto t0 = std::chrono::steady_clock::now();
  CHECK_FALSE(q.pop_for(std::chrono::milliseconds(30)).has_value());
  CHECK(std::chrono::steady_clock::now() - t0 >= std::chrono::milliseconds(25));
  CHECK_FALSE(q.is_closed());  // a timeout, not end of stream

  std::thread closer([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    q.close();
  });
  const auto t1 = std::chrono::steady_clock::now();
  CHECK_FALSE(q.pop_for(std::chrono::seconds(30)).has_value());
  CHECK(std::chrono::steady_clock::now() - t1 < std::chrono::seconds(10));  // woken by close
  CHECK(q.is_closed());
  closer.join();
}

// ---- issue 10: exceptions and thread-exit order (MpscQueue only) ----------------------------
// Each test uses an element type of its own, so its thread-local node cache is its own too.

namespace {
// A value whose copy / move throws while armed (the Nth copy or move: arm with N).
struct Bomb {
  static inline thread_local int copies_left = -1;  // throw when it reaches 0; -1 never
  static inline thread_local int moves_left = -1;
  int v = 0;
  explicit Bomb(int x) : v(x) {}
  static void tick(int& left, const char* what) {
    if (left < 0) return;
    if (left-- == 0) throw std::runtime_error(what);
  }
  Bomb(const Bomb& o) : v(o.v) { tick(copies_left, "Bomb: copy"); }
  Bomb(Bomb&& o) : v(o.v) { tick(moves_left, "Bomb: move"); }
  Bomb& operator=(const Bomb& o) {
    tick(copies_left, "Bomb: copy-assign");
    v = o.v;
    return *this;
  }
  Bomb& operator=(Bomb&& o) {
    tick(moves_left, "Bomb: move-assign");
    v = o.v;
    return *this;
  }
};
struct Bomb2 : Bomb {
  using Bomb::Bomb;
};
}  // namespace

TEST_CASE("MpscQueue: push whose value's constructor throws leaks no node (strong)", "[queue][exceptions]") {
  REQUIRE(g_hooks_installed);
  handoff::MpscQueue<Bomb> q;
  std::uint64_t news = ~0ull;
  bool threw = false;
  std::thread t([&] {  // a fresh thread: an empty node cache of its own
    const Bomb bad(7);
    Bomb::copies_left = 0;  // the next copy throws: the one into the node
    try {
      q.push(bad);
    } catch (const std::runtime_error&) {
      threw = true;
    }
    Bomb::copies_left = -1;
    // The node of the failed push must be back in this thread's cache: no allocation now.
    const std::uint64_t before = g_news.load(std::memory_order_relaxed);  // test bookkeeping, same thread
    q.push(Bomb(8));
    news = g_news.load(std::memory_order_relaxed) - before;  // test bookkeeping, same thread
  });
  t.join();
  REQUIRE(threw);
  if (news != 0) FAIL("NODE LEAKED: push's node was not returned after T's constructor threw (the next push allocated)");
  Bomb out(0);
  REQUIRE(q.try_pop(out) == PopStatus::Item);
  CHECK(out.v == 8);  // the failed push pushed nothing
  CHECK(q.try_pop(out) == PopStatus::Empty);
}

TEST_CASE("MpscQueue: a throwing move out of the node leaves the item first in line (strong)", "[queue][exceptions]") {
  handoff::MpscQueue<Bomb2> q;
  for (int i = 1; i <= 3; ++i) REQUIRE(q.push(Bomb2(i)) == PushResult::Pushed);
  auto expect_next = [&](int want, const char* after) {
    Bomb2 out(0);
    REQUIRE(q.try_pop(out) == PopStatus::Item);
    if (out.v != want) {
      FAIL("ITEM LOST: after a throwing move in " << after << " the next pop gave item " << out.v
                                                   << ", expected " << want);
    }
  };
  SECTION("try_pop(T&)") {
    Bomb2 out(0);
    Bomb2::moves_left = 0;
    CHECK_THROWS_AS(q.try_pop(out), std::runtime_error);
    Bomb2::moves_left = -1;
    CHECK_FALSE(q.consumer_sees_empty());  // the held item is work
    expect_next(1, "try_pop(T&)");
  }
  SECTION("try_pop()") {
    Bomb2::moves_left = 0;
    CHECK_THROWS_AS(q.try_pop(), std::runtime_error);
    Bomb2::moves_left = -1;
    expect_next(1, "try_pop()");
  }
  SECTION("drain") {
    Bomb2::moves_left = 0;
    int seen = 0;
    CHECK_THROWS_AS(q.drain(10, [&](Bomb2&&) { ++seen; }), std::runtime_error);
    Bomb2::moves_left = -1;
    CHECK(seen == 0);
    expect_next(1, "drain");
  }
  expect_next(2, "(second)");
  expect_next(3, "(third)");
  CHECK(q.stats().popped == 3);
  q.close();
  Bomb2 out(0);
  CHECK(q.try_pop(out) == PopStatus::Closed);
}

TEST_CASE("MpscQueue: a held-back item is dropped (not leaked) by drop_all and the destructor", "[queue][exceptions]") {
  auto q = std::make_unique<handoff::MpscQueue<Bomb2>>();
  REQUIRE(q->push(Bomb2(1)) == PushResult::Pushed);
  Bomb2::moves_left = 0;
  CHECK_THROWS_AS(q->try_pop(), std::runtime_error);
  Bomb2::moves_left = -1;
  q->close();
  CHECK(q->drop_all() == 1);
  CHECK(q->stats().dropped == 1);
  q.reset();  // ASan/LSan: no leak, no double free
}

namespace {
// A push from a thread_local destructor that runs after the queue's thread-local node cache
// has been destroyed (thread_locals die in reverse order of construction).
struct Late {
  int v = 0;
};
handoff::MpscQueue<Late>* g_late_open = nullptr;
std::atomic<std::uint64_t> g_late_news{~0ull};
struct LatePusher {
  ~LatePusher() {
    const std::uint64_t before = g_news.load(std::memory_order_relaxed);  // test bookkeeping, same thread
    g_late_open->push(Late{42});
    g_late_open->push(Late{43});
    g_late_news.store(g_news.load(std::memory_order_relaxed) - before, std::memory_order_relaxed);  // read after join
  }
};
}  // namespace

TEST_CASE("MpscQueue: a push from a later thread_local destructor does not reuse freed nodes", "[queue][lifetime]") {
  REQUIRE(g_hooks_installed);
  handoff::MpscQueue<Late> open_q, closed_q;
  closed_q.close();
  g_late_open = &open_q;
  std::thread t([&] {
    thread_local LatePusher pusher;  // constructed first, so destroyed after the node cache
    (void)&pusher;
    // Refused pushes put their nodes into this thread's cache: it holds two at thread exit.
    REQUIRE(closed_q.push(Late{1}) == PushResult::Closed);
    REQUIRE(closed_q.push(Late{2}) == PushResult::Closed);
  });
  t.join();
  // The cache had freed its two nodes: the two late pushes must have allocated fresh ones.
  if (g_late_news.load(std::memory_order_relaxed) < 2) {  // after join(): ordered by the join
    FAIL("REUSED FREED NODE: a push from a thread_local destructor took nodes the thread's cache had already freed");
  }
  Late out;
  REQUIRE(open_q.try_pop(out) == PopStatus::Item);
  CHECK(out.v == 42);
  REQUIRE(open_q.try_pop(out) == PopStatus::Item);
  CHECK(out.v == 43);
  CHECK(open_q.try_pop(out) == PopStatus::Empty);
}
