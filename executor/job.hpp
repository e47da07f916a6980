// handoff/executor/job.hpp — one unit of blocking work and its completion/cancellation
// state machine: what an executor queues, and the future its submitter holds.
//
// A job and its ThreadFuture are one object (one allocation): the queue holds a raw Job*
// that owns a reference to the object until a worker has run or discarded it.
//
// STATES (one atomic word; each arrow is one CAS, so exactly one side wins each race):
//
//     QUEUED --worker: try_start--> RUNNING --fn returns or throws--> (future DONE)
//        |
//        +--future.cancel() / shutdown(cancel_futures)--> CANCELLED (future: CancelledError)
//
//  * A job leaves QUEUED exactly once: the worker's start and a cancellation race on the same
//    CAS, so a job is either run (its result or exception published once) or cancelled (the
//    future completes with CancelledError), never both and never neither.
//  * A RUNNING job is never cancelled (concurrent.futures semantics): cancel() then returns
//    false and the future completes with the job's outcome.
//  * A CANCELLED job stays in its queue until a worker pops it and discards it (execute()
//    returns false): the queues are lock-free and cannot remove from the middle.
//
// LEDGER. Each job counts once as run or cancelled, and always on the executor's thread that
// executes it (a worker, or shutdown() draining the queues): run by the worker that started
// it, cancelled by the thread that discards it — never by the thread whose cancel() won. The
// canceller may still be inside cancel() when the executor has joined its workers and been
// destroyed: it touches only the job (its own future keeps the job alive), never the
// executor (issue 10: the old count after the CAS wrote freed memory). So when shutdown(true)
// has joined the workers, submitted = run + cancelled + refused exactly.
#pragma once

#include <cstdint>
#include <exception>
#include <memory>
#include <optional>
#include <type_traits>
#include <utility>

#include "../future/errors.hpp"
#include "../future/thread_future.hpp"
#include "../primitives/sync.hpp"
#if defined(HANDOFF_MUTANT_JOB_NO_CLAIM) && !defined(HANDOFF_SYNC_RELACY)
#include <chrono>
#include <thread>
#endif

namespace handoff::detail {

// TEST SEAM (null in production; thread-local, so it affects only the thread that sets it):
// Job::cancel() calls it on the thread whose CAS won, right after the CAS, so a test can hold
// a cancellation there while the pool discards the job, shuts down and is destroyed
// (tests/executor_test.cpp, "a cancel() held after its claim ...").
inline thread_local void (*t_cancel_claimed_hook)() = nullptr;

// What a job reports to the executor that queued it (the cancellation half of the ledger),
// from the executor's own thread that discards it (execute()).
struct JobLedger {
  // relaxed RMW: a statistic; read after the executor joined the threads that discard jobs.
  void count_cancelled() noexcept { cancelled.fetch_add(1, std::memory_order_relaxed); }  // statistic only
  sync::atomic<std::uint64_t> cancelled{0};
};

// Called by Job::execute() on the executing thread between the job's function returning (or
// throwing) and the publication of its outcome to the future: the pool counts the worker idle
// there, so a submitter woken by the result already finds it counted (docs/executor.md,
// "Reusing the idle thread"). Empty: nothing is called.
struct BeforePublish {
  void (*fn)(void*) noexcept = nullptr;
  void* arg = nullptr;
};

class Job {
 public:
  enum : std::uint32_t { kQueued = 0, kRunning = 1, kCancelled = 2 };

  Job(const Job&) = delete;
  Job& operator=(const Job&) = delete;

  // Worker thread (or the executor's shutdown), once per job: run it unless it was cancelled
  // first — then count it cancelled here, on the executor's own thread — and drop the queue's
  // reference (the job may be destroyed here). True if it ran.
  bool execute(BeforePublish before = {}) noexcept {
    const bool won = try_start();
    if (won) {
      invoke(before);
    } else {
#if !defined(HANDOFF_MUTANT_JOB_CANCEL_COUNTS_LATE)
      if (ledger_ != nullptr) ledger_->count_cancelled();
#endif
    }
    release();
    return won;
  }

  // Any thread: cancel the job if it has not started. True if this call cancelled it.
  bool cancel() noexcept {
    if (!claim_cancel()) return false;
    complete_with(std::make_exception_ptr(CancelledError("the job was cancelled before it started")));
    return true;
  }

  // The executor's submit path, when it could not start a thread the job needed: cancel the
  // job as cancel() does, but complete its future with `why` (the error submit() throws).
  // False if a worker started it first (then it runs, and submit() returns normally).
  bool withdraw(std::exception_ptr why) noexcept {
    if (!claim_cancel()) return false;
    complete_with(std::move(why));
    return true;
  }

  // The executor's submit path, when it refuses the job (shut down): the job never was
  // queued; its future (which nobody holds yet) gets the error and the reference is dropped.
  void refuse(std::exception_ptr why) noexcept {
    state_.store(kCancelled, std::memory_order_seq_cst);  // not shared yet: no race; seq_cst for uniformity
    complete_with(std::move(why));
    release();
  }

  std::uint32_t state() const noexcept {
    return state_.load(std::memory_order_seq_cst);  // pairs with the CASes above; tests and stats only
  }

 protected:
  explicit Job(JobLedger* ledger) noexcept : ledger_(ledger) {}
  virtual ~Job() = default;

  virtual void invoke(BeforePublish before) noexcept = 0;  // run the function, publish its outcome
  virtual void complete_with(std::exception_ptr e) noexcept = 0;  // publish an error
  virtual void release() noexcept = 0;             // drop the queue's reference

 private:
  // QUEUED -> CANCELLED, once. Touches nothing but the job: the executor may be gone as soon
  // as a worker has discarded the job (see LEDGER above).
  bool claim_cancel() noexcept {
    std::uint32_t expected = kQueued;
    // seq_cst: the other side of try_start's CAS on the same word (one of them wins).
    if (!state_.compare_exchange_strong(expected, kCancelled, std::memory_order_seq_cst,  // races try_start
                                        std::memory_order_seq_cst)) {  // failure: it started or was cancelled
      return false;
    }
    if (t_cancel_claimed_hook != nullptr) t_cancel_claimed_hook();
#if defined(HANDOFF_MUTANT_JOB_CANCEL_COUNTS_LATE)
    // MUTANT: the pre-issue-10 count, by the canceller after its CAS: the job may already be
    // discarded and the executor destroyed (a write to freed memory; the ledger short after
    // shutdown(true) returned).
    if (ledger_ != nullptr) ledger_->count_cancelled();  // mutant
#endif
    return true;
  }

  bool try_start() noexcept {
#if defined(HANDOFF_MUTANT_JOB_NO_CLAIM)
    // MUTANT: check-then-set instead of the CAS: a cancel between the load and the store is
    // lost, so the job both runs and counts as cancelled (the ledger over-counts).
    // The window is widened (a 1 ms sleep) so the stress test's check is not a matter of
    // luck on a loaded machine: the check must catch the bug whenever a cancel lands in it.
    if (state_.load(std::memory_order_seq_cst) != kQueued) return false;  // mutant
#if !defined(HANDOFF_SYNC_RELACY)  // Relacy explores the window without help
    std::this_thread::sleep_for(std::chrono::milliseconds(1));            // mutant: the window
#endif
    state_.store(kRunning, std::memory_order_seq_cst);                    // mutant
    return true;
#else
    std::uint32_t expected = kQueued;
    // seq_cst: the other side of cancel()'s CAS; acquire half: the worker sees the job's
    // setup, published by the queue's push/pop pairing before it.
    return state_.compare_exchange_strong(expected, kRunning, std::memory_order_seq_cst,  // races cancel()
                                          std::memory_order_seq_cst);  // failure: it was cancelled
#endif
  }

  sync::atomic<std::uint32_t> state_{kQueued};
  JobLedger* ledger_;
};

// The job for `fn()` returning T: the job, the future's state and the function in one object.
template <class T, class F>
class JobFor final : public Job, public ThreadFutureState<T> {
 public:
  // Returns the queue's raw pointer (holding one reference) and the submitter's future.
  static std::pair<Job*, ThreadFuture<T>> make(F fn, JobLedger* ledger) {
    auto job = std::make_shared<JobFor>(Private{}, std::move(fn), ledger);
    job->self_ = job;
    JobFor* raw = job.get();
    // The future's cancel() reaches the job; a raw pointer: the hook lives inside the job.
    // True also when another canceller won (CANCELLED, its completion maybe still on the
    // way): concurrent.futures' cancel() of a cancelled future is True.
    raw->set_cancel_hook([raw] { return raw->Job::cancel() || raw->state() == kCancelled; });  // Job's, not the future's
    raw->set_runs_on_a_thread();  // close() must not free a frame this job may still use
    return {raw, ThreadFuture<T>(std::shared_ptr<ThreadFutureState<T>>(std::move(job)))};
  }

  struct Private {};
  JobFor(Private, F fn, JobLedger* ledger) : Job(ledger), fn_(std::move(fn)) {}

 private:
  void invoke(BeforePublish before) noexcept override {
    bool told = false;  // `before` runs once, whichever way the function ends
    auto tell = [&]() noexcept {
      if (!told && before.fn != nullptr) before.fn(before.arg);
      told = true;
    };
    try {
      if constexpr (std::is_void_v<T>) {
        (*fn_)();
        tell();
        this->set_value();
      } else {
        T result = (*fn_)();  // guaranteed elision: as many moves as set_value((*fn_)())
        tell();
        this->set_value(static_cast<T&&>(result));
      }
    } catch (...) {
      tell();
      this->set_exception(std::current_exception());
    }
    fn_.reset();  // what the function captured is released now, not when the last future goes
  }
  void complete_with(std::exception_ptr e) noexcept override { this->set_exception(std::move(e)); }
  void release() noexcept override {
    fn_.reset();  // a discarded job's captures go now too (on the worker thread)
    std::shared_ptr<JobFor> last = std::move(self_);
  }

  std::optional<F> fn_;
  std::shared_ptr<JobFor> self_;  // the queue's reference, dropped by release()
};

}  // namespace handoff::detail
