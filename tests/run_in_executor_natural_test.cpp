// The forms a Python user writes for loop.run_in_executor(pool, fn, *args), run for real:
//  * the natural form, a lambda with owning captures written inside the co_await —
//      co_await loop.run_in_executor(pool, [b = std::move(batch)] { ... })
//    compiled and run where the compiler handles it (Clang, GCC >= 14). GCC < 14 destroys its
//    captures twice (PR c++/100611); there run_in_executor rejects it at compile time
//    (tests/run_in_executor_natural_reject.cpp checks the message), and the mutant build of
//    this file (HANDOFF_GCC_PROMOTED_CAPTURES=0: the check off) shows the double destruction;
//  * Python's form, run_in_executor(pool, fn, args...), and a named lambda passed as an lvalue:
//    accepted by every compiler.
// Every capture and argument is checked for what it owns: a Counted object must be destroyed
// exactly once per construction (an address destroyed while not live = destroyed twice, or a
// bitwise copy that was never constructed — what GCC's bug produces); a shared_ptr's count
// must come back to 1; the vector and string contents must arrive intact. Run it under ASan.
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <numeric>
#include <set>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include <catch2/catch.hpp>

#include <handoff/executor/run_in_executor.hpp>
#include <handoff/loop/loop.hpp>

using namespace handoff;

namespace {

// Which Counted objects are alive, by address. Any thread (the job is destroyed on a worker).
class Registry {
 public:
  void constructed(const void* p) {
    std::lock_guard<std::mutex> lock(m_);
    ++constructed_;
    if (!live_.insert(p).second) errors_.push_back(describe(p, "constructed over a live object"));
  }
  void destroyed(const void* p, int id) {
    std::lock_guard<std::mutex> lock(m_);
    ++destroyed_;
    if (live_.erase(p) == 0) {
      errors_.push_back(describe(p, "destroyed twice (or never constructed: a bitwise copy), id " +
                                        std::to_string(id)));
    }
  }
  // Every object constructed was destroyed exactly once; nothing else was destroyed.
  void check_balanced() {
    std::lock_guard<std::mutex> lock(m_);
    std::ostringstream all;
    for (const auto& e : errors_) all << "\n  " << e;
    INFO("constructed " << constructed_ << ", destroyed " << destroyed_ << ", still live "
                        << live_.size() << all.str());
    CHECK(errors_.empty());
    CHECK(live_.empty());
    CHECK(constructed_ == destroyed_);
    CHECK(constructed_ > 0);  // the check saw the objects at all
    live_.clear();
    errors_.clear();
    constructed_ = destroyed_ = 0;
  }

 private:
  static std::string describe(const void* p, const std::string& what) {
    std::ostringstream o;
    o << "Counted at " << p << ": " << what;
    return o.str();
  }
  std::mutex m_;
  std::set<const void*> live_;
  std::vector<std::string> errors_;
  std::int64_t constructed_ = 0;
  std::int64_t destroyed_ = 0;
};
Registry registry;

struct Counted {
  explicit Counted(int v) : id(v) { registry.constructed(this); }
  Counted(const Counted& o) : id(o.id) { registry.constructed(this); }
  Counted(Counted&& o) noexcept : id(o.id) { registry.constructed(this); }
  Counted& operator=(const Counted&) = default;
  ~Counted() { registry.destroyed(this, id); }
  int id;
};

long sum_of(const std::vector<int>& v) { return std::accumulate(v.begin(), v.end(), 0L); }
std::vector<int> batch_of(int n) { return std::vector<int>(static_cast<std::size_t>(n), 3); }
const std::string kLong(200, 'x');  // beyond the small-string buffer: the text is on the heap

}  // namespace

#if !HANDOFF_GCC_PROMOTED_CAPTURES

TEST_CASE("natural form: an inline lambda that owns only a counted object", "[natural][counted]") {
  ThreadPoolExecutor pool(2);
  const int v = run([&]() -> Task<int> {
    co_return co_await get_running_loop().run_in_executor(pool, [c = Counted(7)] { return c.id; });
  }());
  CHECK(v == 7);
  pool.shutdown(true);
  registry.check_balanced();
}

TEST_CASE("natural form: an inline lambda capturing a std::vector by move", "[natural][vector]") {
  ThreadPoolExecutor pool(2);
  const long sum = run([&]() -> Task<long> {
    std::vector<int> batch = batch_of(1000);
    co_return co_await get_running_loop().run_in_executor(
        pool, [b = std::move(batch), c = Counted(1)] { return sum_of(b) + c.id; });
  }());
  CHECK(sum == 3001);
  pool.shutdown(true);
  registry.check_balanced();
}

TEST_CASE("natural form: an inline lambda capturing a std::string by move", "[natural][string]") {
  ThreadPoolExecutor pool(2);
  const std::string out = run([&]() -> Task<std::string> {
    std::string text = kLong;
    std::string small = "ab";  // in the small-string buffer: its pointer points into the object
    co_return co_await get_running_loop().run_in_executor(
        pool, [t = std::move(text), s = std::move(small), c = Counted(2)] { return s + t; });
  }());
  CHECK(out == "ab" + kLong);
  pool.shutdown(true);
  registry.check_balanced();
}

TEST_CASE("natural form: an inline lambda capturing a std::shared_ptr by move", "[natural][shared_ptr]") {
  ThreadPoolExecutor pool(2);
  auto owner = std::make_shared<int>(41);
  std::weak_ptr<int> watch = owner;
  const int v = run([&]() -> Task<int> {
    std::shared_ptr<int> p = owner;  // use_count 2: owner + p
    co_return co_await get_running_loop().run_in_executor(
        pool, [q = std::move(p), c = Counted(3)] { return *q + 1; });
  }());
  CHECK(v == 42);
  pool.shutdown(true);
  CHECK(owner.use_count() == 1);  // each reference released exactly once
  owner.reset();
  CHECK(watch.expired());
  registry.check_balanced();
}

TEST_CASE("natural form: to_thread and run_in_executor_detached with an inline owning lambda",
          "[natural][to_thread]") {
  ThreadPoolExecutor pool(2);
  const long v = run([&]() -> Task<long> {
    std::vector<int> a = batch_of(10);
    std::vector<int> b = batch_of(20);
    const long x = co_await to_thread([a = std::move(a), c = Counted(4)] { return sum_of(a); });
    const long y = co_await run_in_executor_detached(pool, [b = std::move(b), c = Counted(5)] { return sum_of(b); });
    co_return x + y;
  }());
  CHECK(v == 90);
  pool.shutdown(true);
  registry.check_balanced();
}

#endif  // !HANDOFF_GCC_PROMOTED_CAPTURES

// ---- accepted by every compiler -------------------------------------------------------------

TEST_CASE("Python's form: run_in_executor(pool, fn, args...) moves rvalue arguments into the job",
          "[args]") {
  ThreadPoolExecutor pool(2);
  auto owner = std::make_shared<int>(5);
  const long v = run([&]() -> Task<long> {
    auto& loop = get_running_loop();
    std::vector<int> batch = batch_of(100);
    std::string text = kLong;
    std::shared_ptr<int> p = owner;
    const long a = co_await loop.run_in_executor(pool, sum_of, std::move(batch));
    CHECK(batch.empty());  // moved into the job, not copied
    const long b = co_await loop.run_in_executor(
        pool, [](const std::string& t, const std::shared_ptr<int>& q, const Counted& c) {
          return static_cast<long>(t.size()) + *q + c.id;
        },
        std::move(text), std::move(p), Counted(6));
    CHECK(text.empty());
    CHECK(p == nullptr);
    co_return a + b;
  }());
  CHECK(v == 300 + 200 + 5 + 6);
  pool.shutdown(true);
  CHECK(owner.use_count() == 1);
  registry.check_balanced();
}

TEST_CASE("Python's form: lvalue arguments are copied; std::ref passes a reference", "[args]") {
  ThreadPoolExecutor pool(2);
  run([&]() -> Task<void> {
    auto& loop = get_running_loop();
    std::vector<int> batch = batch_of(4);
    const long a = co_await loop.run_in_executor(pool, sum_of, batch);
    CHECK(a == 12);
    CHECK(batch.size() == 4);  // copied: the caller's vector is untouched
    int hits = 0;
    co_await loop.run_in_executor(pool, [](int& h, int by) { h += by; }, std::ref(hits), 3);
    CHECK(hits == 3);  // the job wrote through the reference
    const int d = co_await to_thread([](const Counted& c, int k) { return c.id * k; }, Counted(7), 6);
    CHECK(d == 42);
  }());
  pool.shutdown(true);
  registry.check_balanced();
}

TEST_CASE("a named lambda passed as an lvalue is copied into the job", "[named]") {
  ThreadPoolExecutor pool(2);
  const long v = run([&]() -> Task<long> {
    auto job = [b = batch_of(10), t = kLong, c = Counted(8)] { return sum_of(b) + static_cast<long>(t.size()); };
    const long x = co_await get_running_loop().run_in_executor(pool, job);
    const long y = co_await get_running_loop().run_in_executor(pool, job);  // still intact
    co_return x + y;
  }());
  CHECK(v == 2 * (30 + 200));
  pool.shutdown(true);
  registry.check_balanced();
}

// The closure test reads GCC's spelling of the type; other compilers never need it.
#if defined(__GNUC__) && !defined(__clang__)
constexpr bool kGccNamesClosures = true;
#else
constexpr bool kGccNamesClosures = false;
#endif

TEST_CASE("the GCC PR 100611 check knows closures and aggregates from other types", "[check]") {
  struct Agg {
    std::string s;
  };
  std::string s;
  auto owning = [s] { return s; };
  auto by_ref = [&s] { return s; };
  auto generic = [s](auto x) { return x; };
  CHECK(detail::gcc_may_destroy_twice<decltype(owning)>() == kGccNamesClosures);
  CHECK(detail::gcc_may_destroy_twice<decltype(generic)>() == kGccNamesClosures);
  CHECK(detail::gcc_may_destroy_twice<Agg>());                     // an aggregate: any compiler
  CHECK_FALSE(detail::gcc_may_destroy_twice<decltype(owning)&>());  // an lvalue: copied
  CHECK_FALSE(detail::gcc_may_destroy_twice<decltype(by_ref)>());   // trivially destructible
  CHECK_FALSE(detail::gcc_may_destroy_twice<std::string>());        // a plain class temporary
  CHECK_FALSE(detail::gcc_may_destroy_twice<std::function<void()>>());
  CHECK_FALSE(detail::gcc_names_a_closure("W<f()::<lambda()> >"));  // a template of a closure
  CHECK(detail::gcc_names_a_closure("f()::<lambda(std::vector<int>, auto:1)>"));
  CHECK(detail::gcc_names_a_closure("<lambda()>"));                 // at namespace scope
}
