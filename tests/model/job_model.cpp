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

}  // namespace

int main(int argc, char** argv) {
  model::Runner run("job_model", argc, argv);
  run.scenario<RunVsCancel>("run_vs_cancel",
                            "execute() | future.cancel() | wait()+get(): run xor cancelled, outcome published");
  run.scenario<TwoCancellers>("two_cancellers",
                              "execute() | cancel() | cancel(): one cancellation wins (both cancel() true), never with a run");
  return run.finish();
}
