// handoff/tests/model/job_model.cpp — Relacy model tests of the REAL job state machine
// (executor/job.hpp): a job's QUEUED→RUNNING claim against QUEUED→CANCELLED, and the
// publication of its outcome through its ThreadFuture (future/thread_future.hpp), through the
// facade's Relacy backend. No copy of the protocol lives here.
//
// What the tests see:
//   * the job's function writes an rl::var that the waiting thread reads after the future is
//     done: a missing release/acquire chain from the worker to the waiter is a DATA RACE;
//   * the contract, with HANDOFF_MODEL_CHECK: the job runs at most once; it runs iff no
//     cancel() returned true; exactly one of {run, cancelled} happens (ledger: the job's
//     JobLedger counts the one cancellation that won); a cancelled job's every cancel()
//     returned true (concurrent.futures: cancelling a cancelled future is True); the future's
//     outcome is the run's value or CancelledError accordingly; the job object is released
//     exactly once (Relacy's allocator reports a leak or a double free).
//
// Scenarios:
//   run_vs_cancel   worker: execute() | user: future.cancel() | waiter: wait() + get()
//   two_cancellers  worker: execute() | user: cancel() | a second canceller (as shutdown's)
//   cancel_vs_teardown  worker: execute(), then exits | user: future.cancel() | owner: joins
//                   the worker (shutdown(true)), checks the ledger, then poisons and frees the
//                   executor's state (its destructor): a cancel() that touches the executor
//                   after winning its CAS is an access to freed memory, and a cancellation
//                   not yet counted when the join returned is "ledger short" (issue 10)
//
// MUTANT: HANDOFF_MUTANT_JOB_NO_CLAIM (check-then-set in place of the CAS) must be reported
// as "ran although a cancel() returned true" (tests/model/CMakeLists.txt).
#include "relacy_main.hpp"  // first: selects the Relacy backend, includes relacy.hpp

#include <handoff/executor/job.hpp>

namespace {

using handoff::CancelledError;
using handoff::ThreadFuture;
namespace model = handoff::model;
namespace detail = handoff::detail;

enum { kCovRan = 0, kCovCancelled = 1, kCovCancelLost = 2 };

template <class Derived, unsigned kThreads>
struct JobModel : rl::test_suite<Derived, kThreads> {
  // The job's function: writes the payload (an rl::var: its publication is checked), counts.
  struct Fn {
    JobModel* m;
    int operator()() const {
      m->payload(RL_INFO) = 42;
      ++m->runs;
      return 42;
    }
  };

  detail::JobLedger ledger;
  detail::Job* job = nullptr;
  ThreadFuture<int> fut;
  rl::var<int> payload;
  int runs = 0;  // written by the worker only; read in after()
  int cancel_wins = 0;   // cancel() calls that returned true
  int cancel_calls = 0;  // cancel() calls
  bool executed = false;

  char failure[160] = "";
  const char* msg(const char* what) {
    std::snprintf(failure, sizeof failure, "%s %s", Derived::kTag, what);
    return failure;
  }

  void before() {
    payload(RL_INFO) = 0;
    auto made = detail::JobFor<int, Fn>::make(Fn{this}, &ledger);
    job = made.first;
    fut = std::move(made.second);
  }

  // A thread that waits for the outcome and checks it (its reads are checked by Relacy).
  void wait_and_check() {
    fut.wait();
    HANDOFF_MODEL_CHECK(fut.done(), msg("wait() returned before the future was done"));
    if (fut.cancelled()) {
      bool threw = false;
      try {
        (void)fut.get();
      } catch (const CancelledError&) {
        threw = true;
      }
      HANDOFF_MODEL_CHECK(threw, msg("a cancelled future's get() did not throw CancelledError"));
    } else {
      HANDOFF_MODEL_CHECK(fut.get() == 42, msg("the future's value is not the job's"));
      HANDOFF_MODEL_CHECK(payload(RL_INFO) == 42, msg("the job's write is not visible to the waiter"));
    }
  }

  void after() {
    const std::uint64_t counted = ledger.cancelled.load(std::memory_order_relaxed);  // all threads done
    HANDOFF_MODEL_CHECK(runs <= 1, msg("the job ran twice"));
    HANDOFF_MODEL_CHECK(!(runs == 1 && cancel_wins > 0), msg("ran although a cancel() returned true"));
    HANDOFF_MODEL_CHECK(runs + (cancel_wins > 0 ? 1 : 0) == 1, msg("the job neither ran nor was cancelled"));
    HANDOFF_MODEL_CHECK(counted == (cancel_wins > 0 ? 1u : 0u),
                        msg("the ledger does not count exactly the one cancellation that won"));
    HANDOFF_MODEL_CHECK(cancel_wins == 0 || cancel_wins == cancel_calls,
                        msg("a cancel() of a cancelled job returned false (concurrent.futures: True)"));
    HANDOFF_MODEL_CHECK(executed == (runs == 1), msg("execute() misreported whether it ran"));
    HANDOFF_MODEL_CHECK(fut.done(), msg("the future is not done after every thread finished"));
    HANDOFF_MODEL_CHECK(fut.cancelled() == (cancel_wins > 0), msg("the future's outcome disagrees"));
    model::cover(runs == 1 ? kCovRan : kCovCancelled, runs == 1 ? "job ran" : "job cancelled");
    fut = ThreadFuture<int>();  // the last reference: the job object is freed here
  }
};

struct RunVsCancel : JobModel<RunVsCancel, 3> {
  static constexpr const char* kTag = "[run_vs_cancel]";
  void thread(unsigned t) {
    if (t == 0) {
      executed = job->execute();  // the worker; drops the queue's reference
    } else if (t == 1) {
      ++cancel_calls;
      const bool won = fut.cancel();
      if (won) ++cancel_wins;
      else model::cover(kCovCancelLost, "cancel() too late");
    } else {
      wait_and_check();
    }
  }
};

struct TwoCancellers : JobModel<TwoCancellers, 3> {
  static constexpr const char* kTag = "[two_cancellers]";
  int shutdown_wins = 0;
  int shutdown_calls = 0;
  void thread(unsigned t) {
    if (t == 0) {
      executed = job->execute();
    } else if (t == 1) {
      ++cancel_calls;
      if (fut.cancel()) ++cancel_wins;
    } else {
      // The second canceller: shutdown(cancel_futures) calls Job::cancel() on a job it took
      // from a queue; future.cancel() reaches the same Job::cancel() through the cancel hook
      // (the job and the future's state are one object), so the race on the state word is the
      // same. (The model cannot take the job from a queue: the worker's execute() owns it.)
      ++shutdown_calls;
      if (fut.cancel()) ++shutdown_wins;
    }
  }
  void after() {
    cancel_wins += shutdown_wins;
    cancel_calls += shutdown_calls;
    JobModel<TwoCancellers, 3>::after();
  }
};

// The executor's state a job may reach (its ledger), in Relacy's heap: poisoned and freed by
// the owner as soon as it has joined the worker, as ~ThreadPoolExecutor frees it.
struct ExecutorState {
  detail::JobLedger ledger;
};

struct CancelVsTeardown : rl::test_suite<CancelVsTeardown, 3> {
  static constexpr const char* kTag = "[cancel_vs_teardown]";
  static constexpr int kPollLimit = 64;
  struct Fn {
    CancelVsTeardown* m;
    int operator()() const {
      ++m->runs;
      return 42;
    }
  };

  ExecutorState* exec = nullptr;
  detail::Job* job = nullptr;
  ThreadFuture<int> fut;
  handoff::sync::atomic<int> worker_exited{0};  // the join: the worker's last act
  bool executed = false;  // the worker's; read by the owner after the join
  bool cancel_won = false;
  int runs = 0;

  void before() {
    exec = std::construct_at(static_cast<ExecutorState*>(rl::rl_malloc(sizeof(ExecutorState), RL_INFO)));
    auto made = detail::JobFor<int, Fn>::make(Fn{this}, &exec->ledger);
    job = made.first;
    fut = std::move(made.second);
  }

  void thread(unsigned t) {
    if (t == 0) {
      executed = job->execute();  // runs it, or discards it if cancelled first
      worker_exited.store(1, std::memory_order_release);  // test's join: pairs with the owner's acquire
    } else if (t == 1) {
      cancel_won = fut.cancel();
    } else {
      // shutdown(true): wait until the worker has exited (the join).
      model::Poller poller(kPollLimit, "[cancel_vs_teardown] the owner's join never returned");
      while (worker_exited.load(std::memory_order_acquire) == 0) poller.again(RL_INFO);  // test's join
      const std::uint64_t counted = exec->ledger.cancelled.load(std::memory_order_relaxed);  // after the join
      HANDOFF_MODEL_CHECK(counted == (executed ? 0u : 1u),
                          "[cancel_vs_teardown] ledger short when shutdown(true) returned: a discarded "
                          "job was not yet counted cancelled");
      // ~ThreadPoolExecutor: the state is gone. Poisoned first (see relacy_main.hpp): a late
      // touch through a job's pointer is reported as an access to freed memory.
      std::destroy_at(exec);
      std::memset(static_cast<void*>(exec), 0xdd, sizeof(ExecutorState));
      rl::rl_free(exec, RL_INFO);
    }
  }

  void after() {
    HANDOFF_MODEL_CHECK(runs == (executed ? 1 : 0), "[cancel_vs_teardown] execute() misreported whether it ran");
    HANDOFF_MODEL_CHECK(cancel_won == !executed, "[cancel_vs_teardown] the job neither ran nor was cancelled");
    HANDOFF_MODEL_CHECK(fut.done() && fut.cancelled() == cancel_won,
                        "[cancel_vs_teardown] the future's outcome disagrees with the cancel()");
    model::cover(cancel_won ? kCovCancelled : kCovRan, cancel_won ? "job cancelled" : "job ran");
    fut = ThreadFuture<int>();
  }
};

}  // namespace

int main(int argc, char** argv) {
  model::Runner run("job_model", argc, argv);
  run.scenario<RunVsCancel>("run_vs_cancel",
                            "execute() | future.cancel() | wait()+get(): run xor cancelled, outcome published");
  run.scenario<TwoCancellers>("two_cancellers",
                              "execute() | cancel() | cancel(): one cancellation wins (both cancel() true), never with a run");
  run.scenario<CancelVsTeardown>("cancel_vs_teardown",
                                 "execute()+exit | future.cancel() | join, ledger check, free: no late touch");
  return run.finish();
}
