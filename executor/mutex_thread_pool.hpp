// handoff/executor/mutex_thread_pool.hpp — the baseline the work-stealing pool is measured
// against: one std::mutex + std::condition_variable + std::deque, as Python's
// ThreadPoolExecutor is built (a SimpleQueue and an idle semaphore), with the same interface
// (submit, map, shutdown, stats) so one test or benchmark template runs both.
//
// Threads start lazily while no worker is idle, up to max_workers, and never retire. A job
// waiting inside a job (get()) blocks its worker: there is no per-worker deque to help from,
// which is exactly what the benchmarks' fork-join tree shows.
#pragma once

#include <pthread.h>

#include <algorithm>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "../future/errors.hpp"
#include "executor_base.hpp"
#include "executor_stats.hpp"
#include "job.hpp"

namespace handoff {

class MutexThreadPool : public ExecutorBase<MutexThreadPool> {
 public:
  explicit MutexThreadPool(int max_workers = default_max_workers()) : max_workers_(max_workers) {
    if (max_workers <= 0) {
      throw std::invalid_argument("MutexThreadPool: max_workers must be greater than 0 (got " +
                                  std::to_string(max_workers) + ")");
    }
  }
  MutexThreadPool(const MutexThreadPool&) = delete;
  MutexThreadPool& operator=(const MutexThreadPool&) = delete;
  ~MutexThreadPool() { shutdown(true); }

  static int default_max_workers() noexcept {
    const unsigned cores = std::max(1u, std::thread::hardware_concurrency());
    return static_cast<int>(std::min(32u, cores + 4));
  }
  int max_workers() const noexcept { return max_workers_; }

  void shutdown(bool wait = true, bool cancel_futures = false) {
    std::vector<detail::Job*> cancelled;
    std::vector<std::thread> joining;
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (wait && is_worker_locked()) {
        throw InvalidStateError(
            "MutexThreadPool::shutdown(wait=true) from one of its own jobs would wait for "
            "itself; call shutdown(false) there");
      }
      shutdown_ = true;
      if (cancel_futures) {
        cancelled.assign(queue_.begin(), queue_.end());
        queue_.clear();
      }
      if (wait) joining = std::move(threads_);
    }
    cv_.notify_all();
    for (detail::Job* j : cancelled) {
      j->cancel();
      j->execute();  // cancelled: only drops the queue's reference
    }
    for (auto& t : joining) t.join();
  }

  bool is_shutdown() const {
    std::lock_guard<std::mutex> lock(mu_);
    return shutdown_;
  }

  ExecutorStats stats() const {
    std::lock_guard<std::mutex> lock(mu_);
    ExecutorStats s = stats_;
    s.cancelled = ledger_.cancelled.load(std::memory_order_relaxed);  // statistic
    return s;
  }

  // ---- ExecutorBase's hooks ----------------------------------------------------------------
  detail::JobLedger& job_ledger() noexcept { return ledger_; }

  void enqueue(detail::Job* job) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      ++stats_.submitted;
      if (shutdown_) {
        ++stats_.refused;
        job->refuse(std::make_exception_ptr(ExecutorShutdownError("submit() after shutdown()")));
        throw ExecutorShutdownError("submit() after shutdown()");
      }
      queue_.push_back(job);
      if (idle_ > 0) {
        --idle_;  // an idle worker is counted for this job (Python's idle semaphore)
      } else if (static_cast<int>(threads_.size()) < max_workers_) {
        ++stats_.threads_started;
        ++stats_.threads_alive;
        threads_.emplace_back([this, n = threads_.size()] { worker_main(n); });
      }
    }
    cv_.notify_one();
  }

 private:
  bool is_worker_locked() const {
    const auto me = std::this_thread::get_id();
    return std::any_of(threads_.begin(), threads_.end(),
                       [me](const std::thread& t) { return t.get_id() == me; });
  }

  void worker_main(std::size_t index) {
    std::string name = "handoff-mpool_" + std::to_string(index);
    if (name.size() > 15) name.resize(15);
    pthread_setname_np(pthread_self(), name.c_str());
    std::unique_lock<std::mutex> lock(mu_);
    for (;;) {
      if (queue_.empty()) {
        if (shutdown_) break;
        ++idle_;
        cv_.wait(lock, [this] { return !queue_.empty() || shutdown_; });
        if (idle_ > 0) --idle_;  // our token, unless a submit already counted on us
        continue;
      }
      detail::Job* j = queue_.front();
      queue_.pop_front();
      lock.unlock();
      const bool ran = j->execute();
      lock.lock();
      if (ran) ++stats_.run;
    }
    ++stats_.threads_exited;
    --stats_.threads_alive;
  }

  const int max_workers_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<detail::Job*> queue_;
  std::vector<std::thread> threads_;
  int idle_ = 0;
  bool shutdown_ = false;
  ExecutorStats stats_;
  detail::JobLedger ledger_;
};

}  // namespace handoff
