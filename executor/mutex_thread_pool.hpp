// handoff/executor/mutex_thread_pool.hpp — the baseline the work-stealing pool is measured
// against: one std::mutex + std::condition_variable + std::deque, as Python's
// ThreadPoolExecutor is built (a SimpleQueue and an idle semaphore), with the same interface
// (submit, map, shutdown, stats) so one test or benchmark template runs both.
//
// Threads start lazily while no worker is idle, up to max_workers, and never retire; they are
// sync::threads (replayable perturbation keys, sync.hpp). A failed thread creation strands
// nothing (enqueue). The owner may destroy the pool as soon as its jobs are done, even while a
// submitter is still inside submit() (its notify comes after the unlock): the destructor
// waits for submits in flight, as ThreadPoolExecutor's does (executor_base.hpp). A job
// waiting inside a job (get()) blocks its worker: there is no per-worker deque to help from,
// which is exactly what the benchmarks' fork-join tree shows.
#pragma once

#include <pthread.h>

#include <algorithm>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <exception>
#include <functional>
#include <mutex>
#include <stdexcept>
#include <string>
#include <system_error>
#include <thread>
#include <vector>

#include "../future/errors.hpp"
#include "../primitives/sync.hpp"
#include "executor_base.hpp"
#include "executor_stats.hpp"
#include "job.hpp"

namespace handoff {

class MutexThreadPool : public ExecutorBase<MutexThreadPool> {
 public:
  struct Options {
    int max_workers = default_max_workers();
    // TEST SEAM, as ThreadPoolExecutor::Options::start_thread: how a worker thread is created
    // (empty: a sync::thread). Tests make it throw std::system_error(EAGAIN).
    std::function<std::thread(std::function<void()> body)> start_thread;
  };

  explicit MutexThreadPool(int max_workers = default_max_workers()) : MutexThreadPool(with_workers(max_workers)) {}
  explicit MutexThreadPool(Options opts) : max_workers_(opts.max_workers), start_thread_(std::move(opts.start_thread)) {
    if (max_workers_ <= 0) {
      throw std::invalid_argument("MutexThreadPool: max_workers must be greater than 0 (got " +
                                  std::to_string(max_workers_) + ")");
    }
  }
  MutexThreadPool(const MutexThreadPool&) = delete;
  MutexThreadPool& operator=(const MutexThreadPool&) = delete;
  // shutdown(true), then wait for the submit() calls still in flight: one whose job already
  // ran (its owner saw it and destroys the pool) may not have issued its notify yet.
  ~MutexThreadPool() {
    shutdown(true);
#if !defined(HANDOFF_MUTANT_MPOOL_NO_SUBMIT_WAIT)
    detail::wait_for_submitters(entered_, finished_);
#endif
  }

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

  // THREAD CREATION FAILURE (as ThreadPoolExecutor, docs/executor.md): the counters are
  // committed only once the thread exists; the job that needed it is withdrawn (taken back
  // out of the queue under the lock, so no worker started it; its future gets the error, it
  // is counted cancelled) and submit() throws std::system_error; the next submit retries.
  void enqueue(detail::Job* job) {
    try {
      finished_.add(0);  // registers this thread's slot now: SubmitInFlight must not allocate
      entered_.add();
    } catch (...) {
      job->refuse(std::current_exception());  // bad_alloc; not counted at all: the ledger is unchanged
      throw;
    }
    const detail::SubmitInFlight in_flight(&finished_);  // until we return or throw
    std::exception_ptr no_thread;
    {
      std::lock_guard<std::mutex> lock(mu_);
      ++stats_.submitted;
      if (shutdown_) {
        ++stats_.refused;
        job->refuse(std::make_exception_ptr(ExecutorShutdownError("submit() after shutdown()")));
        throw ExecutorShutdownError("submit() after shutdown()");
      }
      try {
        queue_.push_back(job);
      } catch (...) {  // bad_alloc: nothing queued; counted refused, so the ledger balances
        ++stats_.refused;
        job->refuse(std::current_exception());
        throw;
      }
      if (idle_ > 0) {
        --idle_;  // an idle worker is counted for this job (Python's idle semaphore)
      } else if (static_cast<int>(threads_.size()) < max_workers_) {
        try {
          start_worker_locked();
        } catch (...) {
          ++stats_.spawn_failures;
          queue_.pop_back();  // ours, at the back: we held the lock since the push
          no_thread = spawn_error(std::current_exception());
          (void)job->withdraw(no_thread);  // cannot lose: no worker saw it
        }
      }
    }
    if (detail::t_submit_pushed_hook != nullptr) detail::t_submit_pushed_hook();  // test seam (thread-local)
    // Outside the lock (the woken worker does not block on our mutex). A worker may already
    // have run the job and its owner be destroying the pool: the destructor waits for us.
    cv_.notify_one();
    if (no_thread) {
      job->execute();  // withdrawn: counts it cancelled (in our ledger) and drops the queue's reference
      std::rethrow_exception(no_thread);
    }
  }

 private:
  static Options with_workers(int n) {
    Options o;
    o.max_workers = n;
    return o;
  }

  // Under mu_: create the thread first, then commit it (the slot in threads_ is reserved
  // before the creation, so nothing can fail after it).
  void start_worker_locked() {
#if defined(HANDOFF_MUTANT_MPOOL_SPAWN_NO_ROLLBACK)
    ++stats_.threads_started;  // MUTANT: counted before the creation and never undone
    ++stats_.threads_alive;
#endif
    threads_.reserve(threads_.size() + 1);
    std::function<void()> body = [this, n = threads_.size()] { worker_main(n); };
    std::thread t = start_thread_ ? start_thread_(std::move(body)) : sync::thread(std::move(body));
    if (!t.joinable()) {
      throw std::system_error(std::make_error_code(std::errc::invalid_argument),
                              "MutexThreadPool::Options::start_thread returned no thread");
    }
    threads_.push_back(std::move(t));  // no allocation: reserved
#if !defined(HANDOFF_MUTANT_MPOOL_SPAWN_NO_ROLLBACK)
    ++stats_.threads_started;
    ++stats_.threads_alive;
#endif
  }

  // The error submit() throws when no thread could be started (the same words as
  // ThreadPoolExecutor's): a system_error naming the call; another exception as it is.
  static std::exception_ptr spawn_error(std::exception_ptr e) {
    try {
      std::rethrow_exception(e);
    } catch (const std::system_error& se) {
      return std::make_exception_ptr(std::system_error(
          se.code(), std::string("MutexThreadPool::submit(): could not start a worker thread: ") + se.what()));
    } catch (const std::bad_alloc&) {
      return std::make_exception_ptr(
          std::system_error(std::make_error_code(std::errc::not_enough_memory),
                            "MutexThreadPool::submit(): could not start a worker thread (out of memory)"));
    } catch (...) {
      return e;
    }
  }

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
  const std::function<std::thread(std::function<void()>)> start_thread_;
  PerThreadCounter entered_;   // submits that entered enqueue() (per thread: no shared RMW)
  PerThreadCounter finished_;  // ... that have left it (SubmitInFlight)
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
