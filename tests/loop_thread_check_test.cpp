// tests/loop_thread_check_test.cpp — the loop's debug thread check (HANDOFF_LOOP_THREAD_CHECKS):
// loop-thread-only methods called from another thread while the loop runs throw
// WrongThreadError, in every build without NDEBUG and in every sanitizer build.
//
// A binary of its own so that build/tsan-clang, which builds only the stress folder, runs it
// too (label "threadcheck", registered from stress/CMakeLists.txt there): Clang 14 does not
// define __SANITIZE_THREAD__, and that build had the checks off [regression, issue 10].
// HANDOFF_TEST_SANITIZER_BUILD is set by CMake in every HANDOFF_SANITIZE build, independently
// of how event_loop.hpp detects a sanitizer, so the detection itself is under test.
#include <catch2/catch.hpp>

#include <cstdint>
#include <string>
#include <thread>
#include <vector>

#include <handoff/loop/loop.hpp>

#include "loop_test_support.hpp"

using namespace handoff;
using namespace std::chrono_literals;
using handoff::test::check_ledger;

namespace {
#if defined(HANDOFF_TEST_SANITIZER_BUILD) || !defined(NDEBUG)
constexpr bool kChecksExpected = true;
#else
constexpr bool kChecksExpected = false;
#endif
}  // namespace

TEST_CASE("the thread checks are on in every sanitizer build and every build without NDEBUG",
          "[event_loop][threads][regression]") {
  INFO("HANDOFF_LOOP_THREAD_CHECKS=" << HANDOFF_LOOP_THREAD_CHECKS);
  CHECK((HANDOFF_LOOP_THREAD_CHECKS == 1) == kChecksExpected);
}

TEST_CASE("thread check: loop-thread-only methods from another thread throw WrongThreadError",
          "[event_loop][threads]") {
#if !HANDOFF_LOOP_THREAD_CHECKS
  if (kChecksExpected) FAIL("the loop thread checks are off in a build that docs/loop.md says has them");
  WARN("SKIPPED: loop thread checks are compiled out in this build (NDEBUG without a "
       "sanitizer); build without NDEBUG or with -fsanitize to run this test");
#else
  EventLoop loop;
  TimerHandle timer = loop.call_later(1h, [] {});
  std::vector<std::string> errors;
  bool threadsafe_ok = false;
  std::uint64_t posted_before = 0;
  loop.call_soon([&] {
    posted_before = loop.stats().posted;
    std::thread other([&] {
      auto attempt = [&](auto&& fn) {
        try {
          fn();
          errors.push_back("no error");
        } catch (const WrongThreadError& e) {
          errors.push_back(e.what());
        }
      };
      attempt([&] { loop.call_soon([] {}); });
      attempt([&] { loop.call_later(1ms, [] {}); });
      attempt([&] { loop.call_at(loop.time(), [] {}); });
      attempt([&] { loop.add_reader(0, [] {}); });
      attempt([&] { loop.remove_writer(0); });
      attempt([&] { timer.cancel(); });
      loop.call_soon_threadsafe([&] { threadsafe_ok = true; });  // the thread-safe way works
    });
    other.join();  // the loop is running (blocked in this callback) the whole time
    CHECK(loop.stats().posted == posted_before + 1);  // refused calls were not counted
    loop.call_soon([&] { loop.stop(); });
  });
  loop.run_forever();
  if (!threadsafe_ok) {
    loop.stop();
    loop.run_forever();
  }
  CHECK(threadsafe_ok);
  REQUIRE(errors.size() == 6);
  for (const auto& e : errors) {
    CHECK_THAT(e, Catch::Contains("not the loop's thread") &&
                      Catch::Contains("call_soon_threadsafe()"));
  }
  CHECK_THAT(errors[0], Catch::Contains("EventLoop::call_soon called"));
  CHECK_FALSE(timer.cancelled());
  // Not running: any thread may prepare the loop (it is handed over with the thread start).
  std::thread before([&] { loop.call_soon([] {}); });
  before.join();
  loop.close();
  check_ledger(loop.stats());
#endif
}
