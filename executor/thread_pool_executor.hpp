// handoff/executor/thread_pool_executor.hpp — a work-stealing thread pool for blocking jobs:
// concurrent.futures.ThreadPoolExecutor, and the executor behind run_in_executor/to_thread.
//
// WHEN TO USE: blocking calls (files, DNS, a C library without an async API), CPU work that
// must not stall the event loop, and fork-join trees of small jobs. Not for waiting on other
// threads' events: a job that blocks holds a worker (use a Channel from a coroutine instead).
//
// SHAPE. `max_workers` slots, each with a Chase–Lev deque (primitives/work_stealing_deque.hpp).
// A slot belongs to the pool and outlives its threads: a thread occupies a free slot when it
// starts and frees it when it retires. Jobs submitted from outside go to the injection queue
// (a mutex queue: TSan checks it; the lock-free peers are benchmark subjects, VERIFY.md);
// jobs submitted from one of the pool's own jobs go to that worker's deque, LIFO for the
// owner, stolen FIFO by the others.
//
// A WORKER'S LOOP: its own deque; else steal from the other slots, starting at a random one;
// else the injection queue; else it is idle: spin briefly (at most ⌈cores/2⌉ workers spin at
// once), then park on the event count (primitives/event_count.hpp): prepare, re-check every
// queue, then commit or cancel. Every push is followed by notify_one(), a load when nobody
// sleeps, so a job is never left queued while every worker sleeps, and one job wakes one.
//
// LAZY THREADS (as Python's ThreadPoolExecutor, plus retirement). No thread runs until a job
// arrives. An idle worker mints one "idle token" (a worker whose job's function has returned
// mints it before the outcome is published, if it sees no more work: a submitter woken by the
// result then finds it); every submit, from outside or inside the pool, takes a token before
// its push if there is one, and otherwise starts a thread after the push (up to max_workers).
// A token is taken at most once, and a worker that finds a job burns its own token if it is
// still there, so tokens never exceed idle (or finishing) workers (proof in
// docs/executor.md): with N ≤ max_workers blocking jobs, each either has an idle worker
// counted for it or starts one, so all N run at once; back-to-back submit().get() reuses one
// thread. A worker idle for `keep_alive` retires: it burns its token (if a push took it, it
// stays), leaves the thread count, re-checks the queues (the Dekker partner of a pusher's
// "push, then read the thread count"), and frees its slot — unless it found a job or a
// pusher found every slot busy meanwhile (`spawn_wanted_`), in which case it stays.
//
// THREAD CREATION FAILURE (EAGAIN/ENOMEM; Options::start_thread is the test seam). The slot
// and the counters are committed only once the thread exists. The submit that needed the
// thread withdraws its job (the future gets the error; a pool thread discards it later) and
// throws std::system_error, unless a worker started the job first; the next submit retries.
// shutdown() that cannot start a thread to drain a queue fails the queued jobs itself.
//
// WAITING INSIDE A JOB. future.get() on a worker runs jobs from the worker's own deque while
// the future is pending (ThreadFuture's wait helper), so a parent never strands its children.
//
// SHUTDOWN (Python 3.9 semantics): shutdown(wait=true, cancel_futures=false) refuses later
// submits (ExecutorShutdownError, counted refused), cancels the jobs that have not started
// if cancel_futures, lets the workers finish what is queued, and joins them if wait. Running
// jobs are never cancelled. The destructor is shutdown(true).
//
// LIFETIME. The owner may destroy the pool as soon as it has seen its jobs finish, even while
// the thread that submitted one is still inside submit(): a pushed job can run and complete
// before its submitter's after_push() (notify, idle token, spawn) is done with the pool. The
// destructor therefore waits, after shutdown(true), for every submit() from outside that
// entered (a per-thread "finished" count against the per-thread "submitted" count: no shared
// RMW on the submit path). Submits from inside the pool run on its workers, which shutdown
// joins. Other touches after a publication, audited (docs/executor.md): a worker's slot
// counters and done-callbacks after execute() (a worker: joined), a cancel() (touches only the
// job, job.hpp), the helping get() (workers only), MapResults (holds only futures).
//
// LEDGER (stats()): submitted = run + cancelled + refused once shut down; plus steals,
// parks, wakeups, threads started and exited, spawn failures. A cancelled job is counted by
// the pool thread that discards it (job.hpp), so the count is complete when shutdown(true)
// returns and no cancel() touches the pool after it was destroyed. Counters are per slot (single writer) or
// per thread: no shared read-modify-write is added to the job path for counting.
#pragma once

#include <pthread.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <system_error>
#include <thread>
#include <vector>

#include "../future/errors.hpp"
#include "../future/thread_future.hpp"
#include "../primitives/event_count.hpp"
#include "../primitives/mutex_queue.hpp"
#include "../primitives/per_thread_counter.hpp"
#include "../primitives/sync.hpp"
#include "../primitives/work_stealing_deque.hpp"
#include "executor_base.hpp"
#include "executor_stats.hpp"
#include "job.hpp"

namespace handoff {

class ThreadPoolExecutor : public ExecutorBase<ThreadPoolExecutor> {
 public:
  struct Options {
    int max_workers = default_max_workers();
    // An idle thread exits after this long without a job; its slot stays for the next one.
    std::chrono::nanoseconds keep_alive = std::chrono::seconds(30);
    // How long an idle worker spins (watching the queues) before it parks: about one wake's
    // cost on a VM (13–27 µs), so a job that follows shortly costs no futex round trip.
    std::chrono::nanoseconds spin = std::chrono::microseconds(20);
    // At most this many workers spin at once; 0 = ⌈hardware_concurrency / 2⌉.
    int max_spinning = 0;
    // Threads are named "<prefix>_<slot>" (Python: ThreadPoolExecutor-0_0); 15 chars max.
    std::string thread_name_prefix = "handoff-pool";
    // TEST SEAM (and escape hatch): how a worker thread is created. Empty (the default):
    // sync::thread(std::move(body)) (a std::thread whose perturbation key is fixed at creation;
    // a custom factory should start a sync::thread too, or its threads are not replayable). Tests make it throw std::system_error(EAGAIN) to check
    // that a failed creation strands nothing (docs/executor.md, "Thread creation failure");
    // it may also set a stack size or an affinity. It must run `body` on the new thread.
    std::function<std::thread(std::function<void()> body)> start_thread;
  };

  // asyncio's default executor size: min(32, cores + 4).
  static int default_max_workers() noexcept {
    const unsigned cores = std::max(1u, std::thread::hardware_concurrency());
    return static_cast<int>(std::min(32u, cores + 4));
  }

  ThreadPoolExecutor() : ThreadPoolExecutor(Options{}) {}
  explicit ThreadPoolExecutor(int max_workers) : ThreadPoolExecutor(with_workers(max_workers)) {}
  explicit ThreadPoolExecutor(Options opts) : opts_(validate(std::move(opts))) {
    slots_.reserve(static_cast<std::size_t>(opts_.max_workers));
    for (int i = 0; i < opts_.max_workers; ++i) slots_.push_back(std::make_unique<Slot>(i));
    const unsigned cores = std::max(1u, std::thread::hardware_concurrency());
    max_spinning_ = opts_.max_spinning > 0 ? opts_.max_spinning : static_cast<int>((cores + 1) / 2);
  }
  ThreadPoolExecutor(const ThreadPoolExecutor&) = delete;
  ThreadPoolExecutor& operator=(const ThreadPoolExecutor&) = delete;
  // shutdown(true), then wait for the submit() calls still in flight (LIFETIME above).
  ~ThreadPoolExecutor() {
    shutdown(true);
#if !defined(HANDOFF_MUTANT_POOL_NO_SUBMIT_WAIT)
    detail::wait_for_submitters(submitted_outside_, finished_outside_);
#endif
  }

  int max_workers() const noexcept { return opts_.max_workers; }

  // Any thread (not one of this pool's workers when wait is true). Idempotent; a later call
  // with wait=true still waits, and with cancel_futures=true still cancels. A wait=true call
  // returns only once every concurrent shutdown() call has finished its cancellations and
  // joins (so the ledger is complete and every accepted future is done when it returns).
  // Never throws for a failed thread creation: the queued jobs' futures get the error.
  void shutdown(bool wait = true, bool cancel_futures = false) {
    if (wait && current_slot() != nullptr) {
      throw InvalidStateError(
          "ThreadPoolExecutor::shutdown(wait=true) from one of its own jobs would wait for "
          "itself; call shutdown(false) there");
    }
    ShutdownCall call(*this);  // counted busy until its cancellations and joins are done
    std::exception_ptr no_thread;
    {
      std::lock_guard<std::mutex> lock(spawn_mu_);
      // Close first: a worker that sees the flag below and then finds the injection queue
      // empty under its lock (its last look before leaving) has seen every accepted submit.
      injection_.close();
      // seq_cst: a worker that reads it in its re-check before parking either sees it or is
      // woken by the notify_all below (the event count's Dekker pair).
      shutdown_.store(1, std::memory_order_seq_cst);  // pairs with the workers' re-check
      // A submit accepted just before the close may have been refused its thread (its
      // spawn() saw the flag): with no worker alive to drain the queue, start one. Found by
      // stress/executor_stress.cpp's shutdown phase (a future left pending, no thread).
      if (alive_.load(std::memory_order_seq_cst) == 0 && !injection_.consumer_sees_empty()) {  // under the lock
        try {
          spawn_locked("ThreadPoolExecutor::shutdown()");
        } catch (...) {
          no_thread = std::current_exception();  // no thread can drain the queue: fail its jobs below
        }
      }
    }
    if (no_thread) fail_queued(no_thread);
    if (cancel_futures) cancel_queued();
    parking_.notify_all();
    if (!wait) return;
    std::vector<std::thread> joining;
    {
      std::lock_guard<std::mutex> lock(spawn_mu_);
      for (auto& s : slots_) {
        if (s->thread.joinable()) joining.push_back(std::move(s->thread));
      }
    }
    for (auto& t : joining) t.join();
    call.finish_and_wait_for_others();
  }

  bool is_shutdown() const noexcept { return shutdown_.load(std::memory_order_seq_cst) != 0; }  // pairs with shutdown()

  ExecutorStats stats() const {
    ExecutorStats s;
    s.submitted = submitted_outside_.read();
    s.refused = refused_.load(std::memory_order_relaxed);  // statistic
    s.cancelled = ledger_.cancelled.load(std::memory_order_relaxed);  // statistic
    for (const auto& slot : slots_) {
      s.submitted += slot->submitted.load(std::memory_order_relaxed);  // single-writer statistic
      s.run += slot->run.load(std::memory_order_relaxed);              // single-writer statistic
      s.steals += slot->steals.load(std::memory_order_relaxed);        // single-writer statistic
      s.parks += slot->parks.load(std::memory_order_relaxed);          // single-writer statistic
      s.wakeups += slot->wakeups.load(std::memory_order_relaxed);      // single-writer statistic
    }
    std::lock_guard<std::mutex> lock(spawn_mu_);
    s.threads_started = threads_started_;
    s.threads_exited = threads_exited_;
    s.threads_alive = static_cast<std::uint64_t>(alive_.load(std::memory_order_seq_cst));  // under the lock
    s.spawn_failures = spawn_failures_;
    return s;
  }

  // ---- ExecutorBase's hooks ----------------------------------------------------------------
  detail::JobLedger& job_ledger() noexcept { return ledger_; }

  void enqueue(detail::Job* job) {
    // Take an idle token BEFORE the push: a worker that found the job first would otherwise
    // burn that token, and this submit would start a thread it did not need (back-to-back
    // submit().get() started every allowed thread). If the push is then refused, the token is
    // not given back: tokens may undercount idle workers, never overcount them.
    const bool counted = take_idle_token();
    Slot* mine = current_slot();
    if (mine != nullptr) {
      bump(mine->submitted);
    } else {
      try {
        finished_outside_.add(0);  // registers this thread's slot now: SubmitInFlight must not allocate
        submitted_outside_.add();  // may allocate this thread's counter slot
      } catch (...) {
        job->refuse(std::current_exception());  // not counted at all: the ledger is unchanged
        throw;
      }
    }
    // From here until it returns (or throws) an outside submit is in flight: the destructor
    // waits for it (its job may finish and its owner destroy the pool before after_push is done).
    const detail::SubmitInFlight in_flight(mine == nullptr ? &finished_outside_ : nullptr);
    try {
      if (mine != nullptr) {
        if (is_shutdown()) return refuse(job, "submit() from a job after shutdown()");
        mine->deque.push(job);  // seq_cst inside: the Dekker partner of a parking worker's re-check
      } else {
        if (injection_.push(job) != PushResult::Pushed) return refuse(job, "submit() after shutdown()");
        // seq_cst: after the push; the parking worker's re-check reads it after its announcement.
        injection_size_.fetch_add(1, std::memory_order_seq_cst);  // pairs with has_injected()
      }
    } catch (const ExecutorShutdownError&) {
      throw;  // refuse() counted and released the job
    } catch (...) {
      // The push itself failed (bad_alloc growing a queue): the job was never queued.
      refuse_with(job, std::current_exception());
      throw;
    }
    if (detail::t_submit_pushed_hook != nullptr) detail::t_submit_pushed_hook();  // test seam (thread-local)
    after_push(job, counted);
  }

 private:
  struct alignas(64) Slot {
    explicit Slot(int i) : index(i), rng(0x9E3779B97F4A7C15ull * static_cast<std::uint64_t>(i + 1)) {}
    const int index;
    WorkStealingDeque<detail::Job*> deque;
    std::thread thread;   // the current (or last, until joined) thread in this slot
    bool occupied = false;  // under spawn_mu_
    std::uint64_t rng;    // the owner's victim choice (xorshift)
    // Single-writer statistics (the slot's current thread; threads hand a slot over under
    // spawn_mu_, which orders one writer's last store before the next one's first load).
    sync::atomic<std::uint64_t> submitted{0}, run{0}, steals{0}, parks{0}, wakeups{0};
  };

  static Options with_workers(int n) {
    Options o;
    o.max_workers = n;
    return o;
  }
  static Options validate(Options o) {
    if (o.max_workers <= 0) {
      throw std::invalid_argument("ThreadPoolExecutor: max_workers must be greater than 0 (got " +
                                  std::to_string(o.max_workers) + ")");
    }
    if (o.keep_alive <= std::chrono::nanoseconds::zero()) {
      throw std::invalid_argument("ThreadPoolExecutor: keep_alive must be positive");
    }
    return o;
  }

  static void bump(sync::atomic<std::uint64_t>& c) noexcept {
    c.store(c.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);  // single writer; a statistic
  }

  struct Current {
    ThreadPoolExecutor* pool = nullptr;
    Slot* slot = nullptr;
  };
  static Current& current() noexcept {
    thread_local Current c;
    return c;
  }
  Slot* current_slot() const noexcept {
    const Current& c = current();
    return c.pool == this ? c.slot : nullptr;
  }

  void refuse(detail::Job* job, const char* what) {
    refuse_with(job, std::make_exception_ptr(ExecutorShutdownError(what)));
    throw ExecutorShutdownError(what);
  }
  // A job that was never queued: counted refused (so the ledger balances), its future fails.
  void refuse_with(detail::Job* job, std::exception_ptr why) noexcept {
    refused_.fetch_add(1, std::memory_order_relaxed);  // statistic; rare (shutdown, bad_alloc)
    job->refuse(std::move(why));
  }

  // ---- waking and growing ------------------------------------------------------------------

  // After a push: wake a sleeper if there is one (a load when nobody sleeps), and start a
  // thread if no idle worker was counted for this job (`counted`: enqueue took a token).
  void after_push(detail::Job* job, bool counted) {
    // A spinning worker will find the job (its scans are seq_cst loads, and it re-checks
    // after leaving the spin, below); waking a sleeper too would cost a futex syscall per
    // job. Dekker with spin_for_job's seq_cst decrement: either this load sees the spinner
    // gone, or the spinner's re-check sees the job (Go's scheduler does the same).
    if (spinning_.load(std::memory_order_seq_cst) == 0) parking_.notify_one();  // pairs with spin_for_job
    if (counted) return;
    if (alive_.load(std::memory_order_seq_cst) >= opts_.max_workers) return;  // pairs with retire()'s decrement
    try {
      spawn();
    } catch (...) {  // std::system_error; or whatever a custom Options::start_thread threw
      // No thread could be started (docs/executor.md, "Thread creation failure"). Withdraw
      // the job (its future gets the error; a worker discards and counts it later) and tell
      // the submitter. If a worker started the job first, a thread existed for it: it runs,
      // and submit() returns normally.
      if (job->withdraw(std::current_exception())) throw;
    }
  }

  // Take one idle token if any (decrement if positive).
  bool take_idle_token() noexcept {
    int t = idle_tokens_.load(std::memory_order_seq_cst);  // the CAS re-checks it
    while (t > 0) {
      // seq_cst: tokens are counted against the thread count read after them (after_push).
      if (idle_tokens_.compare_exchange_weak(t, t - 1, std::memory_order_seq_cst,  // one taker per token
                                             std::memory_order_seq_cst)) {  // failure: re-read
        return true;
      }
    }
    return false;
  }
  void mint_idle_token() noexcept {
    idle_tokens_.fetch_add(1, std::memory_order_seq_cst);  // pairs with take_idle_token()
  }

  void spawn() {
    std::lock_guard<std::mutex> lock(spawn_mu_);
    if (shutdown_.load(std::memory_order_seq_cst) != 0) return;  // written under this lock
    spawn_locked("ThreadPoolExecutor::submit()");
  }
  // Under spawn_mu_: start a thread in a free slot, if the pool is below max_workers. If the
  // thread cannot be created, throws std::system_error naming `call`, and nothing has changed
  // but spawn_failures_: the slot and the counters are committed only once the thread
  // exists, so no submitter ever reads a thread count that includes a thread that failed
  // (one that reads the count meanwhile reads the old value and waits here in spawn()).
  void spawn_locked(const char* call) {
    if (alive_.load(std::memory_order_seq_cst) >= opts_.max_workers) return;  // written under this lock
    Slot* free_slot = nullptr;
    for (auto& s : slots_) {
      if (!s->occupied) {
        free_slot = s.get();
        break;
      }
    }
    if (free_slot == nullptr) {
      // Every slot is held, one of them by a thread that is retiring: it must stay.
      spawn_wanted_ = true;
      return;
    }
    if (free_slot->thread.joinable()) free_slot->thread.join();  // it has freed the slot: exiting
#if defined(HANDOFF_MUTANT_POOL_SPAWN_NO_ROLLBACK)
    commit_spawn(*free_slot);  // MUTANT: counted before the creation and never undone
#endif
    std::thread t;
    try {
      t = start_thread(*free_slot);
    } catch (const std::system_error& e) {
      ++spawn_failures_;
      throw std::system_error(e.code(), std::string(call) + ": could not start a worker thread: " + e.what());
    } catch (const std::bad_alloc&) {
      ++spawn_failures_;
      throw std::system_error(std::make_error_code(std::errc::not_enough_memory),
                              std::string(call) + ": could not start a worker thread (out of memory)");
    } catch (...) {  // a custom Options::start_thread's own error: passed on as it is
      ++spawn_failures_;
      throw;
    }
#if !defined(HANDOFF_MUTANT_POOL_SPAWN_NO_ROLLBACK)
    commit_spawn(*free_slot);
#endif
    free_slot->thread = std::move(t);  // the worker never touches its handle
  }
  // Under spawn_mu_ (the new worker takes it before it reads any of these).
  void commit_spawn(Slot& s) {
    s.occupied = true;
    alive_.store(alive_.load(std::memory_order_seq_cst) + 1, std::memory_order_seq_cst);  // under the lock; read by after_push
    ++threads_started_;
  }
  std::thread start_thread(Slot& s) {
    std::function<void()> body = [this, &s] { worker_main(s); };
    // sync::thread: its perturbation key is fixed here, by this (spawning) thread, in spawn
    // order — replayable, not first-touch (sync_perturb.hpp, REPLAY); std::thread otherwise.
    if (!opts_.start_thread) return sync::thread(std::move(body));
    std::thread t = opts_.start_thread(std::move(body));
    if (!t.joinable()) {
      throw std::system_error(std::make_error_code(std::errc::invalid_argument),
                              "ThreadPoolExecutor::Options::start_thread returned no thread");
    }
    return t;
  }

  // ---- the worker ----------------------------------------------------------------------------

  // A worker's own state, reached by the BeforePublish hook of the job it runs.
  struct Worker {
    ThreadPoolExecutor* pool;
    Slot* slot;
    bool token = false;  // this worker has minted an idle token it has not burnt yet
    bool spun = false;   // it spun or parked since its last job (it passes the baton)
  };

  void worker_main(Slot& s) {
    name_thread(s.index);
    current() = Current{this, &s};
    detail::t_wait_helper = &help_while_waiting;
    detail::t_wait_helper_arg = this;
    Worker w{this, &s};
    for (;;) {
      detail::Job* job = find_job(s);
      if (job == nullptr) {
        if (!w.token) {
          w.token = true;
          mint_idle_token();
        }
        w.spun = true;
        job = spin_for_job(s);
      }
      if (job == nullptr) {
        const EventCount::Key key = parking_.prepare_wait();
        job = find_job(s);  // the re-check: a push before our announcement is seen here
        if (job == nullptr && is_shutdown()) {
          parking_.cancel_wait();
          // Leaving for good: the injection queue's size hint may lag a submit accepted just
          // before shutdown() closed the queue (the submitter bumps it after its push, and
          // no later notify or spawn will come), so look under the queue's lock. Found by
          // stress/executor_stress.cpp's shutdown phase (a future left pending).
          if ((job = pop_injected_exact()) == nullptr) break;
          // Found one: run it. The wait is cancelled already — cancelling it again would take
          // a second waiter off the count for one prepare_wait(), so a later notify could
          // miss a real sleeper (tla/ThreadPool.tla, the doublecancel variant).
        } else if (job != nullptr) {
          parking_.cancel_wait();
        } else {
          bump(s.parks);
          if (parking_.wait_for(key, opts_.keep_alive.count())) {
            bump(s.wakeups);
            continue;
          }
          if (retire(w)) return;
          continue;
        }
      }
      if (w.token) {
        w.token = false;
        take_idle_token();  // burn mine if a push has not taken it
      }
      if (w.spun) {
        w.spun = false;
        // Pass the baton: pushes that skipped their notify because a worker was spinning
        // (after_push) may have left more jobs queued, and this worker is about to be busy
        // (perhaps blocked for seconds). If nobody spins now, wake one sleeper to look; it
        // does the same when it finds work, so a burst of N jobs wakes N workers, one by one.
        // Dekker with after_push: our seq_cst loads come after our spin's decrement.
        if (spinning_.load(std::memory_order_seq_cst) == 0 && work_visible()) parking_.notify_one();  // pairs with after_push
      }
      run_job(s, job, &w);
    }
    std::lock_guard<std::mutex> lock(spawn_mu_);  // shut down: leave
    leave_locked(s);
  }

  // `w`: the worker's main loop (not a wait inside a job), which counts itself idle before
  // the job's outcome is published if it sees no more work (see on_finishing).
  void run_job(Slot& s, detail::Job* job, Worker* w) {
    const detail::BeforePublish before =
        w != nullptr ? detail::BeforePublish{&on_finishing, w} : detail::BeforePublish{};
    if (job->execute(before)) bump(s.run);
  }

  // The job's function has returned; its outcome is about to be published (and its submitter
  // woken). If this worker sees no more work in its own deque or the injection queue, it
  // mints its idle token now, so a submitter that reacts to the result at once (submit,
  // get, submit...) finds it counted instead of starting a thread. Its done-callbacks still
  // run before it looks for the next job (docs/executor.md: the deviation this costs).
  static void on_finishing(void* arg) noexcept {
    auto* w = static_cast<Worker*>(arg);
    if (w->token || !w->slot->deque.empty_hint()) return;
    if (w->pool->injection_size_.load(std::memory_order_seq_cst) > 0) return;  // pairs with enqueue(); a hint
    w->token = true;
    w->pool->mint_idle_token();
  }

  detail::Job* find_job(Slot& s) {
    for (;;) {
      if (auto j = s.deque.pop()) return *j;
      bool contended = false;
      const std::size_t n = slots_.size();
      s.rng ^= s.rng << 13;
      s.rng ^= s.rng >> 7;
      s.rng ^= s.rng << 17;
      const std::size_t start = static_cast<std::size_t>(s.rng % n);
      for (std::size_t i = 0; i < n; ++i) {
        Slot& victim = *slots_[(start + i) % n];
        if (&victim == &s) continue;
        detail::Job* out = nullptr;
        const StealStatus st = victim.deque.steal(out);
        if (st == StealStatus::Success) {
          bump(s.steals);
          return out;
        }
        if (st == StealStatus::Retry) contended = true;
      }
      if (detail::Job* j = pop_injected()) return j;
      // A Retry means a deque may still hold jobs: look again rather than report "none"
      // (the re-check before parking must not miss a job behind a lost race).
      if (!contended) return nullptr;
    }
  }

  // The injection queue, skipped without taking its lock while the size hint says empty.
  detail::Job* pop_injected() {
    if (injection_size_.load(std::memory_order_seq_cst) <= 0) return nullptr;  // pairs with enqueue()
    return pop_injected_exact();
  }

  // The injection queue without the hint: the lock orders this after every accepted push.
  detail::Job* pop_injected_exact() {
    detail::Job* j = nullptr;
    if (injection_.try_pop(j) != PopStatus::Item) return nullptr;
    injection_size_.fetch_sub(1, std::memory_order_seq_cst);  // may go below 0 until the pusher's add
    return j;
  }

  // Spin (at most max_spinning_ workers at once) watching every queue; yields the CPU every
  // 16 turns, so that on 2 vCPUs a spinner never holds the core the thread it waits for
  // needs (bench/README.md: the after-idle round trip went from ~49 to ~10 us).
  detail::Job* spin_for_job(Slot& s) {
    int n = spinning_.load(std::memory_order_relaxed);  // the CAS re-checks it
    do {
      if (n >= max_spinning_) return nullptr;
      // seq_cst: pushers that read spinning_ > 0 skip the notify (after_push); from here on
      // this worker's scans must see their jobs.
    } while (!spinning_.compare_exchange_weak(n, n + 1, std::memory_order_seq_cst,  // pairs with after_push's load
                                              std::memory_order_relaxed));  // failure: re-read
    detail::Job* job = nullptr;
    const auto until = std::chrono::steady_clock::now() + opts_.spin;
    for (unsigned i = 0; !is_shutdown(); ++i) {
      if ((job = find_job(s)) != nullptr) break;
      sync::spin_pause();
      if ((i & 15) == 15) {
        if (std::chrono::steady_clock::now() >= until) break;
        sync::yield();
      }
    }
    // seq_cst: the Dekker pair with after_push (push, then load spinning_): a push whose
    // load saw this spinner is seen by the re-check below or by the caller's re-check.
    spinning_.fetch_sub(1, std::memory_order_seq_cst);  // pairs with after_push's load
    return job;  // none: the caller re-checks after prepare_wait; one: worker_main passes the baton
  }

  // Any queue may hold a job (hints: size_hint and the injection counter).
  bool work_visible() const noexcept {
    if (injection_size_.load(std::memory_order_seq_cst) > 0) return true;  // pairs with enqueue()
    for (const auto& slot : slots_) {
      if (!slot->deque.empty_hint()) return true;
    }
    return false;
  }

  // The keep-alive expired. True: the thread leaves (its slot is free). False: it stays (a
  // push counted on it, or work appeared while it was leaving).
  bool retire(Worker& w) {
    Slot& s = *w.slot;
    if (!take_idle_token()) return false;  // a push took our token: it counts on us
    w.token = false;
    {
      std::lock_guard<std::mutex> lock(spawn_mu_);
      // seq_cst: the Dekker partner of after_push() (push, then read alive_): either that
      // pusher sees us gone and spawns, or our re-check below sees its job.
      alive_.store(alive_.load(std::memory_order_seq_cst) - 1, std::memory_order_seq_cst);  // under the lock
    }
    detail::Job* job = find_job(s);
    std::unique_lock<std::mutex> lock(spawn_mu_);
    if (job != nullptr || spawn_wanted_ || is_shutdown()) {
      spawn_wanted_ = false;
      alive_.store(alive_.load(std::memory_order_seq_cst) + 1, std::memory_order_seq_cst);  // under the lock
      lock.unlock();
      if (job != nullptr) run_job(s, job, &w);
      return false;
    }
    s.occupied = false;
    ++threads_exited_;
    // The std::thread handle stays in the slot; the next spawn into it (or shutdown) joins it.
    return true;
  }

  void leave_locked(Slot& s) {
    alive_.store(alive_.load(std::memory_order_seq_cst) - 1, std::memory_order_seq_cst);  // under the lock
    s.occupied = false;
    ++threads_exited_;
  }

  // ThreadFuture::get() on a worker: run a job from this worker's own deque. False if none.
  static bool help_while_waiting(void* arg) {
    auto* pool = static_cast<ThreadPoolExecutor*>(arg);
    Slot* s = pool->current_slot();
    if (s == nullptr) return false;
    auto j = s->deque.pop();
    if (!j) return false;
    pool->run_job(*s, *j, nullptr);  // still waiting inside a job: not idle after it
    return true;
  }

  void cancel_queued() {
    discard_queued([](detail::Job* j) { j->cancel(); });
  }
  // shutdown() found no thread alive and could not start one: fail every queued job with
  // `why` (its future gets the std::system_error; counted cancelled, as a discarded job).
  void fail_queued(const std::exception_ptr& why) {
    discard_queued([&why](detail::Job* j) { j->withdraw(why); });
  }
  // On the calling thread: take every queued job, `end` it (cancel it unless a worker started
  // it first), then execute() it, which discards it and counts it cancelled here.
  template <class End>
  void discard_queued(End end) {
    detail::Job* j = nullptr;
    while (injection_.try_pop(j) == PopStatus::Item) {
      injection_size_.fetch_sub(1, std::memory_order_seq_cst);  // pairs with enqueue()
      end(j);
      j->execute();  // cancelled: only drops the queue's reference (and counts it)
    }
    for (auto& s : slots_) {
      for (;;) {
        const StealStatus st = s->deque.steal(j);
        if (st == StealStatus::Empty) break;
        if (st == StealStatus::Retry) continue;
        end(j);
        j->execute();
      }
    }
  }

  // One shutdown() call in progress: counted under spawn_mu_ until it has done its
  // cancellations and joins; a wait=true call then waits until no call is in progress.
  class ShutdownCall {
   public:
    explicit ShutdownCall(ThreadPoolExecutor& p) : p_(p) {
      std::lock_guard<std::mutex> lock(p_.spawn_mu_);
      ++p_.shutdown_calls_;
    }
    ShutdownCall(const ShutdownCall&) = delete;
    ShutdownCall& operator=(const ShutdownCall&) = delete;
    ~ShutdownCall() {
      if (!finished_) leave(false);
    }
    void finish_and_wait_for_others() { leave(true); }

   private:
    void leave(bool wait) {
      finished_ = true;
      std::unique_lock<std::mutex> lock(p_.spawn_mu_);
      if (--p_.shutdown_calls_ == 0) p_.shutdown_done_.notify_all();
      if (wait) p_.shutdown_done_.wait(lock, [this] { return p_.shutdown_calls_ == 0; });
    }
    ThreadPoolExecutor& p_;
    bool finished_ = false;
  };

  void name_thread(int index) const {
    std::string name = opts_.thread_name_prefix + "_" + std::to_string(index);
    if (name.size() > 15) name.resize(15);  // the kernel's limit (16 with the NUL)
    pthread_setname_np(pthread_self(), name.c_str());
  }

  const Options opts_;
  int max_spinning_ = 1;
  std::vector<std::unique_ptr<Slot>> slots_;
  MutexQueue<detail::Job*> injection_;
  sync::atomic<std::int64_t> injection_size_{0};  // a hint: > 0 when the injection queue may hold jobs
  EventCount parking_;
  sync::atomic<int> idle_tokens_{0};
  sync::atomic<int> spinning_{0};
  sync::atomic<int> alive_{0};  // threads holding a slot and not retiring; written under spawn_mu_
  sync::atomic<std::uint32_t> shutdown_{0};
  mutable std::mutex spawn_mu_;
  std::condition_variable shutdown_done_;  // shutdown_calls_ reached 0 (with spawn_mu_)
  int shutdown_calls_ = 0;                 // shutdown() calls in progress; under spawn_mu_
  bool spawn_wanted_ = false;  // under spawn_mu_
  std::uint64_t threads_started_ = 0, threads_exited_ = 0, spawn_failures_ = 0;  // under spawn_mu_
  PerThreadCounter submitted_outside_;  // outside submits that entered enqueue() (and were counted)
  PerThreadCounter finished_outside_;   // ... that have left it (SubmitInFlight); the destructor waits
  sync::atomic<std::uint64_t> refused_{0};
  detail::JobLedger ledger_;
};

}  // namespace handoff
