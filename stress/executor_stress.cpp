// handoff/stress/executor_stress.cpp — the work-stealing pool under threads that submit,
// spawn, wait, cancel and shut down at random.
//
// PHASES (each run: a fresh ThreadPoolExecutor with 1–4 workers and a random keep-alive of
// 1–20 ms, so threads also retire and restart; S submitting threads from --producers)
//   tree     Each submitter submits root jobs; a job spawns a random number of children from
//            inside the pool (onto its own deque, stolen by the others), and either waits for
//            them with get() (the worker helps meanwhile) or leaves them. Submitters cancel a
//            random share of their root futures. Every job must run exactly once, except a
//            root whose cancel() returned true, which must never run.
//   trickle  Each submitter submits one job at a time, waits for it, and pauses, so the
//            workers park between jobs and every job must wake one: the lost-wakeup pattern
//            of shared/VERIFY.md. A job not run within the watchdog period is a HANG.
//   shutdown Submitters submit until refused while the main thread calls shutdown(wait,
//            cancel_futures) at a seeded moment — once the run's submits reach a number drawn
//            from its seed, below 256 (0 in 1/8 of the runs); it was a 0–3 ms sleep, which
//            let about as many through (~157 accepted per run under GCC-TSan) — and a
//            canceller thread cancels accepted futures at random (some carry a
//            done-callback). Every submit was refused (ExecutorShutdownError) or its future
//            completed (its value, or CancelledError).
// LIFETIME (issue 10): in every phase the owner destroys the pool as soon as it has seen all
// work done (shutdown(true) returned and the ledger was read); in the shutdown phase the
// canceller keeps cancelling (and running done-callbacks, on its own thread) while the pool
// is destroyed, so a cancel() or callback that touched the pool late is a use after free
// (TSan/ASan), and a cancellation counted late leaves the ledger short (LEDGER).
// CHECKS (all phases): exactly once per job; cancelled means never run; the ledger balances
// (submitted = run + cancelled + refused) and matches the test's own counts.
//
// REPLAY: submitters, then the canceller, are sync::threads started in a fixed order after
// perturb(run seed); the pool's workers are started through Options::start_thread as
// Harness::ordinal_thread, keyed by their creation order in the run (the pool creates them
// under its spawn lock, so the order is well defined); the run loop asks
// Harness::another_run. So the REPLAY line of a failure or a HANG replays the same runs, and
// every thread's perturbation decisions are a function of the seed and its key. What a replay
// cannot reproduce: the OS's scheduling, and with it the pool's own timing-driven choices —
// which submit finds no idle worker and starts one (so when the k-th worker starts, and what
// it then does), when an idle worker retires (keep-alive 1–20 ms, a clock) and a new one is
// started later, how long a worker spins (20 µs) before it parks; the trickle's 0–300 µs
// pauses; how many submits land while shutdown() runs.
//
// MUTANT (stress/CMakeLists.txt): HANDOFF_MUTANT_JOB_NO_CLAIM (check-then-set instead of the
// QUEUED→RUNNING CAS) must be reported as "RAN AFTER CANCEL" or as an unbalanced ledger.
#include <atomic>
#include <cinttypes>
#include <cstdio>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <handoff/executor/thread_pool_executor.hpp>

#include "harness.hpp"

using namespace handoff;
using namespace handoff::stress;

namespace {

enum class Phase { Tree, Trickle, Shutdown };
const char* name_of(Phase p) {
  return p == Phase::Tree ? "tree" : p == Phase::Trickle ? "trickle" : "shutdown";
}

constexpr std::size_t kMaxJobs = 1 << 15;  // per run; a spawn beyond it is skipped

// Test bookkeeping, written relaxed by jobs and read after the pool's threads are joined
// (shutdown(true)), or relaxed by the watchdog.
struct Progress {
  std::unique_ptr<std::atomic<std::uint32_t>[]> runs{new std::atomic<std::uint32_t>[kMaxJobs]};
  std::atomic<std::uint64_t> next_id{0};
  std::atomic<std::uint64_t> finished{0};   // jobs that ran to their end (all runs)
  std::atomic<std::uint64_t> submitted{0};  // submit() calls that returned (all runs)
  std::atomic<int> phase{0};
};

struct Context {
  Harness& h;
  Progress pr;
  Findings findings;
  explicit Context(Harness& harness) : h(harness) {}
};

struct RunSetup {
  Phase phase;
  unsigned S;
  std::uint64_t seed;
};

std::string where(const RunSetup& r) {
  return fmt("[%s S=%u seed=%" PRIu64 "]", name_of(r.phase), r.S, r.seed);
}

// A job of the tree phase: count the run, spawn children, maybe wait for them.
struct TreeJob {
  Context* c;
  ThreadPoolExecutor* pool;
  std::uint64_t id;
  std::uint64_t seed;
  int depth;
  void operator()() const {
    c->pr.runs[id].fetch_add(1, std::memory_order_relaxed);  // test bookkeeping, read after joins
    Rng rng(seed);
    const int kids = depth > 0 ? static_cast<int>(rng.below(4)) : 0;
    std::vector<ThreadFuture<void>> waits;
    const bool wait = rng.chance(500);
    for (int k = 0; k < kids; ++k) {
      const std::uint64_t kid = c->pr.next_id.fetch_add(1, std::memory_order_relaxed);  // id allocation only
      if (kid >= kMaxJobs) break;
      // Counted before the submit, so "finished == submitted" cannot hold while a parent
      // is still spawning (the kid may finish before this line would otherwise run).
      c->pr.submitted.fetch_add(1, std::memory_order_relaxed);  // test bookkeeping
      auto f = pool->submit(TreeJob{c, pool, kid, rng.next(), depth - 1});
      if (wait) waits.push_back(std::move(f));
    }
    for (auto& f : waits) f.get();  // on a worker: runs queued children meanwhile
    c->pr.finished.fetch_add(1, std::memory_order_relaxed);  // test bookkeeping (watchdog)
  }
};

// `workers_started` numbers the run's workers in creation order (the pool calls start_thread
// under its spawn lock): each gets the perturbation key of its ordinal (REPLAY above). It must
// outlive the pool.
ThreadPoolExecutor::Options pool_options(Rng& rng, std::atomic<std::uint64_t>& workers_started) {
  ThreadPoolExecutor::Options o;
  o.max_workers = 1 + static_cast<int>(rng.below(4));
  o.keep_alive = std::chrono::milliseconds(1 + rng.below(20));
  o.spin = std::chrono::microseconds(rng.chance(500) ? 0 : 20);
  o.start_thread = [&workers_started](std::function<void()> body) {
    // relaxed: the calls are serialized by the pool's spawn lock; this only numbers them.
    return Harness::ordinal_thread(workers_started.fetch_add(1, std::memory_order_relaxed), std::move(body));  // test bookkeeping
  };
  return o;
}

bool check_ledger(Context& c, const RunSetup& r, const ExecutorStats& s, std::uint64_t submits,
                  std::uint64_t refused_seen, std::uint64_t cancelled_seen) {
  bool ok = true;
  if (!s.balanced() || s.submitted != submits || s.refused != refused_seen || s.cancelled != cancelled_seen) {
    ok = false;
    c.findings.add("LEDGER", fmt("%s ledger: submitted=%" PRIu64 " run=%" PRIu64 " cancelled=%" PRIu64
                                 " refused=%" PRIu64 "; the test submitted %" PRIu64 ", saw %" PRIu64
                                 " refused and %" PRIu64 " cancelled",
                                 where(r).c_str(), s.submitted, s.run, s.cancelled, s.refused, submits,
                                 refused_seen, cancelled_seen));
  }
  if (s.threads_started != s.threads_exited) {
    ok = false;
    c.findings.add("THREADS", fmt("%s %" PRIu64 " threads started, %" PRIu64 " exited after shutdown",
                                  where(r).c_str(), s.threads_started, s.threads_exited));
  }
  return ok;
}

bool run_tree(Context& c, const RunSetup& r, std::uint64_t roots_per_submitter) {
  c.h.perturb(r.seed);
  Rng rng(r.seed);
  std::atomic<std::uint64_t> workers_started{0};
  auto owned = std::make_unique<ThreadPoolExecutor>(pool_options(rng, workers_started));
  ThreadPoolExecutor& pool = *owned;
  c.h.note_threads(r.S + static_cast<unsigned>(pool.max_workers()));
  const std::uint64_t submitted_before = c.pr.submitted.load(std::memory_order_relaxed);  // no submitter runs yet
  const std::uint64_t finished_before = c.pr.finished.load(std::memory_order_relaxed);    // no job runs yet
  c.pr.next_id.store(0, std::memory_order_relaxed);  // test bookkeeping; no job runs yet
  for (std::size_t i = 0; i < kMaxJobs; ++i) c.pr.runs[i].store(0, std::memory_order_relaxed);  // as above
  struct Root {
    std::uint64_t id;
    ThreadFuture<void> f;
    bool cancel_won = false;
  };
  std::vector<std::vector<Root>> roots(r.S);
  std::vector<sync::thread> submitters;  // in index order: replayable keys
  for (unsigned s = 0; s < r.S; ++s) {
    submitters.push_back(c.h.thread([&, s] {
      Rng my(derive_seed(r.seed, {s, 1}));
      for (std::uint64_t k = 0; k < roots_per_submitter; ++k) {
        const std::uint64_t id = c.pr.next_id.fetch_add(1, std::memory_order_relaxed);  // id allocation only
        if (id >= kMaxJobs) break;
        c.pr.submitted.fetch_add(1, std::memory_order_relaxed);  // test bookkeeping (before: see TreeJob)
        Root root{id, pool.submit(TreeJob{&c, &pool, id, my.next(), 1 + static_cast<int>(my.below(4))})};
        if (my.chance(150)) root.cancel_won = root.f.cancel();
        roots[s].push_back(std::move(root));
      }
      c.h.account_thread();
    }));
  }
  for (auto& t : submitters) t.join();
  std::uint64_t cancel_wins = 0;
  for (auto& list : roots) {
    for (auto& root : list) {
      root.f.wait();
      cancel_wins += root.cancel_won ? 1 : 0;
    }
  }
  // Children nobody waits for may still be spawning: wait until every submitted job that was
  // not cancelled has finished (a submit after shutdown() would be refused, by design).
  while (c.pr.finished.load(std::memory_order_relaxed) - finished_before + cancel_wins <  // test bookkeeping
         c.pr.submitted.load(std::memory_order_relaxed) - submitted_before) {  // test bookkeeping
    std::this_thread::yield();  // a hang here is the watchdog's: it reports the stuck counts
  }
  pool.shutdown(true);  // joins the workers: their bookkeeping is visible now
  bool ok = true;
  std::uint64_t cancelled = 0;
  std::vector<bool> is_cancelled_root(kMaxJobs, false);
  for (auto& list : roots) {
    for (auto& root : list) {
      if (!root.cancel_won) continue;
      ++cancelled;
      is_cancelled_root[root.id] = true;
      if (!root.f.cancelled()) {
        ok = false;
        c.findings.add("CANCEL", fmt("%s root job %" PRIu64 ": cancel() returned true but the future is not cancelled",
                                     where(r).c_str(), root.id));
      }
    }
  }
  const std::uint64_t n = std::min<std::uint64_t>(c.pr.next_id.load(std::memory_order_relaxed), kMaxJobs);  // after joins
  std::uint64_t ran = 0;
  for (std::uint64_t id = 0; id < n; ++id) {
    const std::uint32_t runs = c.pr.runs[id].load(std::memory_order_relaxed);  // after joins
    ran += runs;
    if (is_cancelled_root[id] && runs != 0) {
      ok = false;
      c.findings.add("RAN AFTER CANCEL", fmt("%s job %" PRIu64 " ran %u time(s) although its cancel() returned true",
                                             where(r).c_str(), id, runs));
    } else if (!is_cancelled_root[id] && runs != 1) {
      ok = false;
      c.findings.add(runs == 0 ? "LOST" : "DUPLICATED",
                     fmt("%s job %" PRIu64 " ran %u times (expected once)", where(r).c_str(), id, runs));
    }
  }
  const ExecutorStats s = pool.stats();
  owned.reset();  // all work seen done: the pool goes at once (the futures outlive it)
  const std::uint64_t submits = c.pr.submitted.load(std::memory_order_relaxed) - submitted_before;  // after joins
  if (s.run != ran) {
    ok = false;
    c.findings.add("LEDGER", fmt("%s the pool counted %" PRIu64 " runs, the jobs counted %" PRIu64,
                                 where(r).c_str(), s.run, ran));
  }
  ok = check_ledger(c, r, s, submits, 0, cancelled) && ok;
  c.h.add_ops(s.submitted);
  return ok;
}

bool run_trickle(Context& c, const RunSetup& r, std::uint64_t jobs_per_submitter) {
  c.h.perturb(r.seed);
  Rng rng(r.seed);
  std::atomic<std::uint64_t> workers_started{0};
  ThreadPoolExecutor::Options o = pool_options(rng, workers_started);
  o.spin = std::chrono::nanoseconds(0);  // park at once: every job must wake a sleeper
  auto owned = std::make_unique<ThreadPoolExecutor>(o);
  ThreadPoolExecutor& pool = *owned;
  c.h.note_threads(r.S + static_cast<unsigned>(pool.max_workers()));
  std::atomic<std::uint64_t> ran{0};
  std::vector<sync::thread> submitters;  // in index order: replayable keys
  for (unsigned s = 0; s < r.S; ++s) {
    submitters.push_back(c.h.thread([&, s] {
      Rng my(derive_seed(r.seed, {s, 2}));
      for (std::uint64_t k = 0; k < jobs_per_submitter; ++k) {
        auto f = pool.submit([&] {
          ran.fetch_add(1, std::memory_order_relaxed);  // test bookkeeping, read after joins
          c.pr.finished.fetch_add(1, std::memory_order_relaxed);  // test bookkeeping (watchdog)
        });
        c.pr.submitted.fetch_add(1, std::memory_order_relaxed);  // test bookkeeping
        f.get();
        if (my.chance(300)) std::this_thread::sleep_for(std::chrono::microseconds(my.below(300)));
      }
      c.h.account_thread();
    }));
  }
  for (auto& t : submitters) t.join();
  pool.shutdown(true);
  const std::uint64_t expected = jobs_per_submitter * r.S;
  bool ok = true;
  if (ran.load(std::memory_order_relaxed) != expected) {  // after joins
    ok = false;
    c.findings.add("LOST", fmt("%s %" PRIu64 " of %" PRIu64 " jobs ran", where(r).c_str(),
                               ran.load(std::memory_order_relaxed), expected));  // after joins
  }
  const ExecutorStats s = pool.stats();
  owned.reset();  // all work seen done: the pool goes at once
  ok = check_ledger(c, r, s, expected, 0, 0) && ok;
  c.h.add_ops(expected);
  return ok;
}

// Futures the canceller may cancel late, shared with the submitters (copies: the job stays
// alive while a copy exists, the pool need not).
struct CancelTargets {
  std::mutex mu;
  std::vector<ThreadFuture<int>> futures;  // under mu
  std::atomic<bool> stop{false};
  std::atomic<std::uint64_t> callbacks_run{0};  // done-callbacks run (any thread)
  std::uint64_t callbacks_added = 0;            // under mu
};

bool run_shutdown(Context& c, const RunSetup& r) {
  c.h.perturb(r.seed);
  Rng rng(r.seed);
  std::atomic<std::uint64_t> workers_started{0};
  auto pool = std::make_unique<ThreadPoolExecutor>(pool_options(rng, workers_started));
  c.h.note_threads(r.S + 1 + static_cast<unsigned>(pool->max_workers()));
  const bool cancel_futures = rng.chance(500);
  // The shutdown moment: this many of the run's submits returned (a count, not a time, so a
  // replay shuts down at the same point of the submitters' streams). 0: at once.
  const std::uint64_t shutdown_after = rng.chance(125) ? 0 : rng.below(256);
  const std::uint64_t submitted_base = c.pr.submitted.load(std::memory_order_relaxed);  // no submitter runs yet
  std::atomic<std::uint64_t> ran{0};
  struct Seen {
    std::vector<ThreadFuture<int>> accepted;
    std::uint64_t refused = 0;
  };
  std::vector<Seen> seen(r.S);
  CancelTargets targets;
  std::vector<sync::thread> submitters;  // in index order, then the canceller: replayable keys
  for (unsigned s = 0; s < r.S; ++s) {
    submitters.push_back(c.h.thread([&, s] {
      Rng my(derive_seed(r.seed, {s, 3}));
      for (int k = 0;; ++k) {
        try {
          seen[s].accepted.push_back(pool->submit([&ran, k] {
            ran.fetch_add(1, std::memory_order_relaxed);  // test bookkeeping, read after joins
            return k;
          }));
          c.pr.submitted.fetch_add(1, std::memory_order_relaxed);  // test bookkeeping
        } catch (const ExecutorShutdownError&) {
          ++seen[s].refused;
          break;
        }
        if (my.chance(125)) {
          ThreadFuture<int> f = seen[s].accepted.back();
          const bool with_callback = my.chance(500);
          std::lock_guard<std::mutex> lock(targets.mu);
          if (with_callback) {
            ++targets.callbacks_added;
            // Runs on the worker, or on the thread whose cancel() completes the future —
            // perhaps after the pool is gone: it must need nothing from the pool.
            f.add_done_callback([&targets] { targets.callbacks_run.fetch_add(1, std::memory_order_relaxed); });  // test bookkeeping
          }
          targets.futures.push_back(std::move(f));
        }
        if ((k & 63) == 63) std::this_thread::yield();
      }
      c.h.account_thread();
    }));
  }
  sync::thread canceller = c.h.thread([&] {
    Rng my(derive_seed(r.seed, {99, 3}));
    while (!targets.stop.load(std::memory_order_acquire)) {  // pairs with the owner's release
      std::optional<ThreadFuture<int>> f;
      {
        std::lock_guard<std::mutex> lock(targets.mu);
        if (!targets.futures.empty()) f = targets.futures[my.below(targets.futures.size())];
      }
      if (f) (void)f->cancel();  // late: may land while the pool is being destroyed
      std::this_thread::yield();
    }
  });
  // The submitters submit until refused, so the count is reached (a hang: the watchdog's).
  while (c.pr.submitted.load(std::memory_order_relaxed) - submitted_base < shutdown_after) std::this_thread::yield();  // test bookkeeping
  pool->shutdown(true, cancel_futures);
  for (auto& t : submitters) t.join();
  const ExecutorStats stats = pool->stats();  // final: no job is queued any more, no cancel can win
  pool.reset();  // all work seen done: destroyed at once, with the canceller still cancelling
  targets.stop.store(true, std::memory_order_release);  // pairs with the canceller's acquire
  canceller.join();
  bool ok = true;
  std::uint64_t accepted = 0, refused = 0, cancelled = 0, valued = 0;
  for (unsigned s = 0; s < r.S; ++s) {
    refused += seen[s].refused;
    for (std::size_t k = 0; k < seen[s].accepted.size(); ++k) {
      auto& f = seen[s].accepted[k];
      ++accepted;
      if (!f.done()) {
        ok = false;
        c.findings.add("PENDING", fmt("%s submitter %u job %zu accepted before shutdown() returned but its "
                                      "future is still pending", where(r).c_str(), s, k));
        continue;
      }
      if (f.cancelled()) {
        ++cancelled;
      } else if (f.get() == static_cast<int>(k)) {
        ++valued;
      }
    }
  }
  if (valued != ran.load(std::memory_order_relaxed)) {  // after joins
    ok = false;
    c.findings.add("LEDGER", fmt("%s %" PRIu64 " futures have values but %" PRIu64 " jobs ran",
                                 where(r).c_str(), valued, ran.load(std::memory_order_relaxed)));  // after joins
  }
  if (targets.callbacks_run.load(std::memory_order_relaxed) != targets.callbacks_added) {  // after joins
    ok = false;
    c.findings.add("CALLBACK", fmt("%s %" PRIu64 " done-callbacks added, %" PRIu64 " ran", where(r).c_str(),
                                   targets.callbacks_added, targets.callbacks_run.load(std::memory_order_relaxed)));  // after joins
  }
  ok = check_ledger(c, r, stats, accepted + refused, refused, cancelled) && ok;
  c.h.add_ops(accepted);
  return ok;
}

}  // namespace

int main(int argc, char** argv) {
  Defaults d;
  d.producers = {1, 2, 4, 8};
  std::string only;  // --phase tree|trickle|shutdown: run one phase (the mutant check uses tree)
  std::vector<ExtraOption> extra{{"--phase", "run only this phase: tree, trickle or shutdown", true,
                                  [&only](const std::string& v) {
                                    only = v;
                                    return v == "tree" || v == "trickle" || v == "shutdown";
                                  }}};
  Harness h("executor_stress", argc, argv, d, extra);
  Context c(h);
  h.watch(
      [&c] {
        return c.pr.finished.load(std::memory_order_relaxed) +   // test bookkeeping (watchdog)
               c.pr.submitted.load(std::memory_order_relaxed);  // test bookkeeping (watchdog)
      },
      [&c] {
        return fmt("HANG in phase %s: %" PRIu64 " submits returned, %" PRIu64
                   " jobs finished, and no progress: a job is queued while every worker sleeps "
                   "(lost wakeup), or a get() waits for a job that never runs",
                   name_of(static_cast<Phase>(c.pr.phase.load(std::memory_order_relaxed))),  // watchdog
                   c.pr.submitted.load(std::memory_order_relaxed),                            // watchdog
                   c.pr.finished.load(std::memory_order_relaxed));                            // watchdog
      });
  std::vector<Phase> phases;
  for (Phase p : {Phase::Tree, Phase::Trickle, Phase::Shutdown}) {
    if (only.empty() || only == name_of(p)) phases.push_back(p);
  }
  const double slices = static_cast<double>(phases.size() * h.producers().size());
  double left = slices;
  std::uint64_t round = 0;
  bool ok = true;
  for (Phase ph : phases) {
    c.pr.phase.store(static_cast<int>(ph), std::memory_order_relaxed);  // watchdog
    for (unsigned S : h.producers()) {
      const auto deadline = h.slice_deadline(1.0, left);
      left -= 1.0;
      const std::uint64_t max_runs = h.count(1000000, 200);
      for (std::uint64_t k = 0; k < max_runs && h.another_run(deadline, k); ++k) {
        const RunSetup r{ph, S, derive_seed(h.seed(), {static_cast<std::uint64_t>(ph), S, ++round})};
        bool run_ok = false;
        switch (ph) {
          case Phase::Tree: run_ok = run_tree(c, r, h.count(20, 200)); break;
          case Phase::Trickle: run_ok = run_trickle(c, r, h.count(20, 500)); break;
          case Phase::Shutdown: run_ok = run_shutdown(c, r); break;
        }
        if (!run_ok) {
          ok = false;
          break;
        }
      }
      if (!ok) break;
    }
    if (!ok) break;
  }
  std::printf("executor_stress: %s\n", h.perturbation_summary().c_str());
  if (!ok) {
    c.findings.print();
    return h.finish(false, c.findings.summary());
  }
  return h.finish(true, "every job ran exactly once (cancelled ones never); ledgers balanced; no hang");
}
