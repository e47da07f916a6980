// tests/hang_watch.hpp — deadlines for tests of blocking hand-offs (channel, LoopThread):
//
//   eventually(pred)      spin (yielding) until pred() or 20 s: false means it never happened
//   HangWatch w("what")   if the scope is still running after 20 s (HANDOFF_HANG_LIMIT=<s>),
//                         print "HANG: what: ..." and end the process with exit code 1
//
// A hang is a failure reported by the test itself, not by ctest's timeout: the mutant checks
// match the "HANG: <what>" line.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <string>
#include <thread>

namespace handoff::test {

template <class Pred>
bool eventually(Pred pred, std::chrono::seconds limit = std::chrono::seconds(20)) {
  const auto until = std::chrono::steady_clock::now() + limit;
  while (!pred()) {
    if (std::chrono::steady_clock::now() > until) return false;
    std::this_thread::yield();
  }
  return true;
}

// A deadline for a step that must finish: if it does not, a waiter was left claimed (or
// something else hangs). Ends the process: a hung thread cannot be joined, and destroying the
// object under it would be a use-after-free.
class HangWatch {
 public:
  explicit HangWatch(std::string what, std::chrono::seconds limit = default_limit())
      : what_(std::move(what)), thread_([this, limit] {
          std::unique_lock<std::mutex> lock(mu_);
          if (!cv_.wait_for(lock, limit, [this] { return done_; })) {
            std::fprintf(stderr, "HANG: %s: not finished after %lld s\n", what_.c_str(),
                         static_cast<long long>(limit.count()));
            std::fflush(stderr);
            std::_Exit(1);
          }
        }) {}
  // 20 s; HANDOFF_HANG_LIMIT=<seconds> (the mutant checks, which expect the hang, use 5).
  static std::chrono::seconds default_limit() {
    const char* env = std::getenv("HANDOFF_HANG_LIMIT");
    return std::chrono::seconds(env != nullptr ? std::atoi(env) : 20);
  }
  ~HangWatch() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      done_ = true;
    }
    cv_.notify_all();
    thread_.join();
  }

 private:
  std::string what_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool done_ = false;
  std::thread thread_;  // last: starts after the other members exist
};

}  // namespace handoff::test
