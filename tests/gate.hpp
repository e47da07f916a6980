// tests/gate.hpp — a one-shot gate the executor and channel tests share: jobs wait on it until
// the test opens it, with a deadline, so a bug fails the test instead of hanging it.
#pragma once

#include <chrono>
#include <condition_variable>
#include <mutex>

namespace handoff::test {

class Gate {
 public:
  bool wait(std::chrono::seconds limit = std::chrono::seconds(20)) {
    std::unique_lock<std::mutex> lock(mu_);
    return cv_.wait_for(lock, limit, [this] { return open_; });
  }
  void open() {
    // Notify under the lock: a waiter that returns may destroy the gate at once.
    std::lock_guard<std::mutex> lock(mu_);
    open_ = true;
    cv_.notify_all();
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool open_ = false;
};

}  // namespace handoff::test
