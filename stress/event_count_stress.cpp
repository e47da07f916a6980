// handoff/stress/event_count_stress.cpp — idle workers parking on an event count, submitters
// waking them: no lost wakeup, every job run exactly once, one wake per job (not a stampede).
//
// SETUP (each run: W worker threads, P submitter threads, a seed; W from --workers 1,2,4,8, P
// from --producers 1,2,4). The job queue is a mutex deque plus a seq_cst counter of published,
// unclaimed jobs (`avail`): the counter is the work source the Dekker pair runs on (submit:
// push, then avail.fetch_add seq_cst, then notify_one; re-check: avail.load seq_cst), a worker
// claims a job with a CAS on it and then pops under the mutex. Workers run exactly the header's
// protocol:
//     if (try_take()) run;  else { k = prepare_wait(); if (avail || stop) cancel_wait(); else wait(k); }
// A quarter of the runs (--keepalive-share) use wait_for(k, 0.2-5 ms) instead of wait(k): the
// executor's keep-alive, with timeouts racing notifies (a timed-out worker loops back to the
// queue, as the header requires).
//
// PHASES
//   trickle  Each submitter submits 1-2 jobs, waits until they have run, then pauses (nothing,
//            a few yields, until all W workers sleep, or 20-200 µs), so workers are asleep at
//            most submissions: every job needs a wake. LATENCY WATCHDOG: if a job stays queued
//            while all W workers are inside wait() for --latency seconds (default 2), the run
//            prints which job, how long, the waiter counts and the event count's stats, and
//            ends with "VERDICT event_count_stress: HANG" (exit 3): a lost wakeup.
//   flood    Submitters push all their jobs without waiting; workers drain.
// CHECKS (every run): each job ran exactly once (LOST / DUPLICATE name the job); the stats
// ledger balances (prepared = cancelled + committed, committed = woken + timeouts, nobody still
// announced); notify syscalls <= notify calls. FAIRNESS (trickle, per W, summed over runs):
// returns from wait per job, reported; FAIL only on the gross bound > W per job (a notify_one
// that woke every sleeper every time would sit at W; correct runs sit near 1).
//
// LIFETIME: the main thread, the owner, destroys the event count as soon as it has joined every
// submitter and worker, before the checks (which use a stats snapshot).
// REPLAY: threads are sync::threads started in a fixed order and the run loop asks
// Harness::another_run, so the REPLAY line of a failure (or of the latency watchdog's HANG)
// replays the same runs with the same perturbation decisions.
//
// --impl mutex runs the same test on MutexEventCount: the cross-check that the test is right.
// --impl counted runs it on CountedMutexEventCount (the mutex baseline whose notify() reads an
// atomic waiter count before locking: its own Dekker pair, so its own lost-wakeup trap; the
// mutant HANDOFF_MUTANT_CMEC_LATE_COUNT, counting the waiter only after its re-check, must HANG).
// MUTANT (stress/CMakeLists.txt): HANDOFF_MUTANT_EC_NO_RECHECK, read by worker() below: the
// worker looks at the queue only before prepare_wait(); the latency watchdog must report HANG
// with the stranded job.
#include <atomic>
#include <cinttypes>
#include <cstdio>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <handoff/primitives/counted_mutex_event_count.hpp>
#include <handoff/primitives/event_count.hpp>
#include <handoff/primitives/mutex_event_count.hpp>

#include "harness.hpp"

using namespace handoff;
using namespace handoff::stress;

namespace {

enum class Phase { Trickle, Flood };
const char* name_of(Phase p) { return p == Phase::Trickle ? "trickle" : "flood"; }

enum JobState : std::uint8_t { kUnused = 0, kQueued = 1, kTaken = 2, kRan = 3 };

struct Options {
  enum class Impl { Ec, Mutex, Counted } impl = Impl::Ec;
  std::vector<unsigned> workers{1, 2, 4, 8};
  double latency_s = 2.0;
  std::uint32_t keepalive_share = 250;  // per mille of runs whose workers use wait_for
  std::vector<Phase> phases{Phase::Trickle, Phase::Flood};
};

bool parse_list(const std::string& s, std::vector<unsigned>& out) {
  std::vector<unsigned> v;
  std::size_t pos = 0;
  while (pos <= s.size()) {
    const std::size_t comma = s.find(',', pos);
    const std::string item = s.substr(pos, comma == std::string::npos ? std::string::npos : comma - pos);
    char* end = nullptr;
    const unsigned long n = std::strtoul(item.c_str(), &end, 10);
    if (item.empty() || *end != '\0' || n == 0 || n > 64) return false;
    v.push_back(static_cast<unsigned>(n));
    if (comma == std::string::npos) break;
    pos = comma + 1;
  }
  out = std::move(v);
  return !out.empty();
}

// Everything the watchdogs read: allocated once, atomics only, written relaxed by the threads
// under test and read relaxed (the watchdogs must add no happens-before edges).
struct Shared {
  std::atomic<bool> active{false};  // a run is in progress
  std::atomic<bool> stopping{false};
  std::atomic<int> phase{0};
  std::atomic<unsigned> W{0}, P{0};
  std::atomic<std::uint64_t> run_seed{0};
  std::atomic<unsigned> in_wait{0};  // workers inside wait()/wait_for()
  std::atomic<std::uint64_t> submitted{0}, taken{0}, ran{0};
  std::atomic<std::uint64_t> runs_done{0};
  std::atomic<const void*> ec{nullptr};  // the run's event count, for the watchdogs' snapshot
  const char* impl = "";                         // set by run_all before any watchdog starts
  std::string (*show_ec)(const void*) = nullptr;  // set by run_all before any watchdog starts
  std::uint64_t capacity = 0;
  std::atomic<std::uint64_t> per_submitter{0};  // token = submitter * per_submitter + seq (set per run)
  std::unique_ptr<std::atomic<std::uint8_t>[]> state;
  std::unique_ptr<std::atomic<std::uint8_t>[]> runs;
  std::unique_ptr<std::atomic<std::int64_t>[]> submit_ns;

  explicit Shared(std::uint64_t cap)
      : capacity(cap),
        state(new std::atomic<std::uint8_t>[cap]),
        runs(new std::atomic<std::uint8_t>[cap]),
        submit_ns(new std::atomic<std::int64_t>[cap]) {}
};

std::int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now().time_since_epoch()).count();
}

std::string stats_line(const EventCountStats& s) {
  return fmt("waiting=%" PRIu64 " prepared=%" PRIu64 " cancelled=%" PRIu64 " committed=%" PRIu64
             " woken=%" PRIu64 " immediate=%" PRIu64 " timeouts=%" PRIu64 " spurious=%" PRIu64
             " notify_syscalls=%" PRIu64,
             s.waiting, s.prepared, s.cancelled, s.committed, s.woken, s.immediate, s.timeouts,
             s.spurious, s.notify_syscalls);
}

std::string ec_snapshot(const Shared& S) {
  // acquire: pairs with publish_ec's release, so the watchdog sees the constructed object (an
  // edge from the main thread to the watchdog only, never between the threads under test).
  if (const void* e = S.ec.load(std::memory_order_acquire)) return std::string(S.impl) + " " + S.show_ec(e);  // watchdog: pairs with publish_ec
  return "(no run)";
}

// The latency watchdog: a job queued while every worker sleeps, for longer than the period.
class LatencyWatchdog {
 public:
  LatencyWatchdog(Harness& h, Shared& s, double period) : h_(h), s_(s), period_(period) {
    thread_ = std::thread([this] { loop(); });
  }
  ~LatencyWatchdog() {
    quit_.store(true, std::memory_order_relaxed);  // watchdog control
    thread_.join();
  }

 private:
  void loop() {
    Harness::observer_thread();  // it reads the event count's stats through the facade
    Clock::time_point since{};
    bool stranded = false;
    while (!quit_.load(std::memory_order_relaxed)) {  // watchdog control
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
      const bool active = s_.active.load(std::memory_order_relaxed);  // test bookkeeping, read relaxed by the watchdog
      const unsigned W = s_.W.load(std::memory_order_relaxed);  // test bookkeeping, read relaxed by the watchdog
      const unsigned sleeping = s_.in_wait.load(std::memory_order_relaxed);  // test bookkeeping, read relaxed by the watchdog
      const std::uint64_t sub = s_.submitted.load(std::memory_order_relaxed);  // test bookkeeping, read relaxed by the watchdog
      const std::uint64_t tak = s_.taken.load(std::memory_order_relaxed);  // test bookkeeping, read relaxed by the watchdog
      const bool now_stranded = active && W > 0 && sleeping == W && sub > tak;
      if (!now_stranded) {
        stranded = false;
        continue;
      }
      if (!stranded) {
        stranded = true;
        since = Clock::now();
        continue;
      }
      const double held = std::chrono::duration<double>(Clock::now() - since).count();
      if (held >= period_) report(held, W, sleeping, sub, tak);
    }
  }

  [[noreturn]] void report(double held, unsigned W, unsigned sleeping, std::uint64_t sub, std::uint64_t tak) {
    // The oldest job still queued.
    std::uint64_t oldest = ~0ull;
    std::int64_t oldest_ns = INT64_MAX;
    std::uint64_t queued = 0;
    for (std::uint64_t t = 0; t < s_.capacity; ++t) {
      if (s_.state[t].load(std::memory_order_relaxed) != kQueued) continue;  // test bookkeeping
      ++queued;
      const std::int64_t ns = s_.submit_ns[t].load(std::memory_order_relaxed);  // test bookkeeping
      if (ns < oldest_ns) {
        oldest_ns = ns;
        oldest = t;
      }
    }
    const std::uint64_t ps = s_.per_submitter.load(std::memory_order_relaxed);  // test bookkeeping
    const std::uint64_t per = ps == 0 ? 1 : ps;
    std::string r = fmt(
        "HANG: job %" PRIu64 " (submitter %" PRIu64 " seq %" PRIu64 ") queued for %.2f s while all %u "
        "workers sleep (%.2f s with every worker in wait and a job queued): LOST WAKEUP\n"
        "  phase %s W=%u P=%u run seed=%" PRIu64 "; jobs submitted %" PRIu64 ", taken %" PRIu64
        ", still queued %" PRIu64 "; workers inside wait %u of %u\n  waiter counts: %s\n",
        oldest, oldest / per, oldest % per, oldest == ~0ull ? 0.0 : double(now_ns() - oldest_ns) / 1e9, W,
        held, name_of(static_cast<Phase>(s_.phase.load(std::memory_order_relaxed))),  // test bookkeeping
        W, s_.P.load(std::memory_order_relaxed), s_.run_seed.load(std::memory_order_relaxed), sub, tak,  // test bookkeeping
        queued, sleeping, W, ec_snapshot(s_).c_str());
    r += h_.replay_lines();
    r += fmt("VERDICT event_count_stress: HANG lost wakeup: job %" PRIu64 " stranded | seed=%" PRIu64
             " time=%.1fs\n", oldest, h_.seed(), h_.elapsed());
    std::fwrite(r.data(), 1, r.size(), stdout);
    std::fflush(stdout);
    std::_Exit(3);
  }

  Harness& h_;
  Shared& s_;
  double period_;
  std::atomic<bool> quit_{false};
  std::thread thread_;
};

// The job queue: a mutex deque and the seq_cst count of published, unclaimed jobs.
class Board {
 public:
  void push(std::uint32_t token) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      q_.push_back(token);
    }
    // seq_cst: the publish half of the notifier's Dekker pair (then notify_one's seq_cst load).
    avail_.fetch_add(1, std::memory_order_seq_cst);  // pairs with the worker's seq_cst re-check load
  }
  // The re-check: seq_cst, after prepare_wait's seq_cst announcement.
  bool has_work() const { return avail_.load(std::memory_order_seq_cst) != 0; }  // pairs with push's seq_cst RMW
  // Claim one published job, then pop it. False: none published. `broken`: claimed, queue empty.
  bool try_take(std::uint32_t& token, bool& broken) {
    std::uint64_t n = avail_.load(std::memory_order_seq_cst);  // the work source (as the re-check)
    while (n != 0) {
      // seq_cst (acquire would do): reading push's RMW makes its queued token visible to the pop.
      if (avail_.compare_exchange_weak(n, n - 1, std::memory_order_seq_cst, std::memory_order_seq_cst)) {  // claim
        std::lock_guard<std::mutex> lock(mu_);
        if (q_.empty()) {
          broken = true;
          return false;
        }
        token = q_.front();
        q_.pop_front();
        return true;
      }
    }
    return false;
  }

 private:
  std::mutex mu_;
  std::deque<std::uint32_t> q_;
  sync::atomic<std::uint64_t> avail_{0};
};

struct Totals {
  // Per W (index into Options::workers), trickle phase: jobs and wait returns.
  std::vector<std::uint64_t> trickle_jobs, trickle_woken, trickle_syscalls;
  std::uint64_t jobs = 0, prepared = 0, cancelled = 0, committed = 0, woken = 0, immediate = 0,
                timeouts = 0, spurious = 0, syscalls = 0, keepalive_runs = 0;
};

template <class EC>
void publish_ec(Shared& S, EC* ec) {
  S.ec.store(ec, std::memory_order_release);  // watchdog only: pairs with ec_snapshot's acquire
}

// One run. Returns false on a finding.
template <class EC>
bool run_once(Harness& h, Shared& S, Findings& findings, Totals& tot, std::size_t wi, unsigned W, unsigned P,
              Phase phase, std::uint64_t per, std::uint32_t keepalive_share, std::uint64_t run_seed) {
  h.perturb(run_seed);
  h.note_threads(W + P + 1);
  Rng rng(run_seed);
  const std::int64_t keepalive_ns =
      rng.chance(keepalive_share) ? static_cast<std::int64_t>(200'000 + rng.below(4'800'000)) : -1;
  const std::uint64_t total = per * P;

  auto ec = std::make_unique<EC>();
  Board board;
  std::atomic<bool> stop_flag{false};  // seq_cst both sides: the shutdown's Dekker pair
  std::atomic<bool> broken{false};
  std::atomic<std::uint64_t> notify_calls{0};

  for (std::uint64_t t = 0; t < total; ++t) {
    S.state[t].store(kUnused, std::memory_order_relaxed);   // test bookkeeping
    S.runs[t].store(0, std::memory_order_relaxed);          // test bookkeeping
    S.submit_ns[t].store(0, std::memory_order_relaxed);     // test bookkeeping
  }
  S.per_submitter.store(per, std::memory_order_relaxed);   // test bookkeeping
  S.in_wait.store(0, std::memory_order_relaxed);            // test bookkeeping
  S.submitted.store(0, std::memory_order_relaxed);          // test bookkeeping
  S.taken.store(0, std::memory_order_relaxed);              // test bookkeeping
  S.ran.store(0, std::memory_order_relaxed);                // test bookkeeping
  S.W.store(W, std::memory_order_relaxed);                  // test bookkeeping
  S.P.store(P, std::memory_order_relaxed);                  // test bookkeeping
  S.phase.store(static_cast<int>(phase), std::memory_order_relaxed);  // test bookkeeping
  S.run_seed.store(run_seed, std::memory_order_relaxed);    // test bookkeeping
  S.stopping.store(false, std::memory_order_relaxed);       // test bookkeeping
  publish_ec<EC>(S, ec.get());
  S.active.store(true, std::memory_order_relaxed);          // test bookkeeping

  // sync::threads, workers then submitters, in index order: the same perturbation keys in a replay.
  std::vector<sync::thread> workers;
  for (unsigned w = 0; w < W; ++w) {
    workers.push_back(h.thread([&] {
      for (;;) {
        std::uint32_t tok = 0;
        bool b = false;
        if (board.try_take(tok, b)) {
          S.taken.fetch_add(1, std::memory_order_relaxed);  // test bookkeeping
          S.state[tok].store(kTaken, std::memory_order_relaxed);  // test bookkeeping
          S.runs[tok].fetch_add(1, std::memory_order_relaxed);  // test bookkeeping: exactly-once check after joins
          S.state[tok].store(kRan, std::memory_order_relaxed);  // test bookkeeping
          S.ran.fetch_add(1, std::memory_order_relaxed);  // test bookkeeping
          continue;
        }
        if (b) broken.store(true, std::memory_order_relaxed);  // test bookkeeping
        if (stop_flag.load(std::memory_order_seq_cst)) break;  // pairs with the shutdown's seq_cst store
        const typename EC::Key k = ec->prepare_wait();
#if !defined(HANDOFF_MUTANT_EC_NO_RECHECK)
        // The re-check (seq_cst loads after the seq_cst announcement).
        if (board.has_work() || stop_flag.load(std::memory_order_seq_cst)) {  // pairs with push / shutdown
          ec->cancel_wait();
          continue;
        }
#endif
        S.in_wait.fetch_add(1, std::memory_order_relaxed);  // test bookkeeping, read by the watchdog
        if (keepalive_ns >= 0) {
          (void)ec->wait_for(k, keepalive_ns);  // either way: back to the queue (the header's rule)
        } else {
          ec->wait(k);
        }
        S.in_wait.fetch_sub(1, std::memory_order_relaxed);  // test bookkeeping, read by the watchdog
      }
      h.account_thread();
    }));
  }

  auto submit = [&](std::uint32_t tok) {
    S.submit_ns[tok].store(now_ns(), std::memory_order_relaxed);  // test bookkeeping
    S.state[tok].store(kQueued, std::memory_order_relaxed);       // test bookkeeping
    S.submitted.fetch_add(1, std::memory_order_relaxed);          // test bookkeeping
    board.push(tok);
    notify_calls.fetch_add(1, std::memory_order_relaxed);         // test bookkeeping
    ec->notify_one();
  };

  std::vector<sync::thread> submitters;
  for (unsigned p = 0; p < P; ++p) {
    submitters.push_back(h.thread([&, p] {
      Rng r(derive_seed(run_seed, {p}));
      std::uint64_t seq = 0;
      while (seq < per) {
        if (phase == Phase::Flood) {
          submit(static_cast<std::uint32_t>(p * per + seq++));
          if (r.chance(5)) std::this_thread::yield();
          continue;
        }
        const std::uint64_t first = seq;
        const std::uint64_t end = std::min(per, seq + 1 + r.below(2));
        for (; seq < end; ++seq) submit(static_cast<std::uint32_t>(p * per + seq));
        // Wait until this burst ran (a lost wakeup stalls here: the latency watchdog reports it).
        for (std::uint64_t s = first; s < end; ++s) {
          while (S.runs[p * per + s].load(std::memory_order_relaxed) == 0) std::this_thread::yield();  // test bookkeeping
        }
        switch (r.below(4)) {
          case 0:
            break;  // submit again at once: races the worker going back to sleep
          case 1:
            for (std::uint64_t i = 1 + r.below(20); i > 0; --i) std::this_thread::yield();
            break;
          case 2:  // until every worker sleeps (bounded: other submitters' jobs may keep one busy)
            for (int i = 0; i < 2000 && S.in_wait.load(std::memory_order_relaxed) < W; ++i) {  // test bookkeeping
              std::this_thread::yield();
            }
            break;
          default:
            std::this_thread::sleep_for(std::chrono::microseconds(20 + r.below(180)));
        }
      }
      h.account_thread();
    }));
  }
  for (auto& t : submitters) t.join();
  while (S.ran.load(std::memory_order_relaxed) < total) std::this_thread::yield();  // test bookkeeping; hangs: watchdogs

  S.stopping.store(true, std::memory_order_relaxed);  // test bookkeeping
  stop_flag.store(true, std::memory_order_seq_cst);   // the shutdown's publish (Dekker with the re-check)
  notify_calls.fetch_add(1, std::memory_order_relaxed);  // test bookkeeping
  ec->notify_all();
  for (auto& t : workers) t.join();
  // LIFETIME: every submitter and worker is joined: all work is finished, so the event count
  // dies now (the watchdogs stop looking first), before the checks, which use the snapshot.
  S.ec.store(nullptr, std::memory_order_relaxed);  // test bookkeeping
  const EventCountStats s = ec->stats();
  ec.reset();
  S.active.store(false, std::memory_order_relaxed);  // test bookkeeping
  S.runs_done.fetch_add(1, std::memory_order_relaxed);  // test bookkeeping

  bool ok = true;
  const char* ph = name_of(phase);
  if (broken.load(std::memory_order_relaxed)) {  // after joins
    ok = false;
    findings.add("QUEUE", fmt("[%s W=%u P=%u seed=%" PRIu64 "] a claimed job was not in the queue", ph, W, P, run_seed));
  }
  for (std::uint64_t t = 0; t < total; ++t) {
    const unsigned n = S.runs[t].load(std::memory_order_relaxed);  // after joins
    if (n == 1) continue;
    ok = false;
    findings.add(n == 0 ? "LOST" : "DUPLICATE",
                 fmt("[%s W=%u P=%u seed=%" PRIu64 "] job %" PRIu64 " (submitter %" PRIu64 " seq %" PRIu64
                     ") ran %u times", ph, W, P, run_seed, t, t / per, t % per, n));
  }
  if (s.waiting != 0 || s.prepared != s.cancelled + s.committed || s.committed != s.woken + s.timeouts ||
      !s.balanced() || (keepalive_ns < 0 && s.timeouts != 0)) {
    ok = false;
    findings.add("LEDGER", fmt("[%s W=%u P=%u seed=%" PRIu64 "] %s", ph, W, P, run_seed, stats_line(s).c_str()));
  }
  const std::uint64_t calls = notify_calls.load(std::memory_order_relaxed);  // after joins
  if (s.notify_syscalls > calls) {
    ok = false;
    findings.add("SYSCALLS", fmt("[%s W=%u P=%u seed=%" PRIu64 "] %" PRIu64 " notify syscalls > %" PRIu64
                                 " notify calls", ph, W, P, run_seed, s.notify_syscalls, calls));
  }
  if (phase == Phase::Trickle) {
    tot.trickle_jobs[wi] += total;
    // Returns caused by this run's jobs: the shutdown's notify_all returns every sleeper (<= W).
    tot.trickle_woken[wi] += s.woken;
    tot.trickle_syscalls[wi] += s.notify_syscalls;
  }
  tot.jobs += total;
  tot.prepared += s.prepared;
  tot.cancelled += s.cancelled;
  tot.committed += s.committed;
  tot.woken += s.woken;
  tot.immediate += s.immediate;
  tot.timeouts += s.timeouts;
  tot.spurious += s.spurious;
  tot.syscalls += s.notify_syscalls;
  tot.keepalive_runs += keepalive_ns >= 0 ? 1 : 0;
  h.add_ops(total);
  return ok;
}

template <class EC>
int run_all(Harness& h, const Options& o, const char* impl) {
  const std::uint64_t per_trickle = h.count(40, 5000);
  const std::uint64_t per_flood = h.count(2000, 200000);
  const std::uint64_t cap = std::max(per_trickle, per_flood) * h.max_producers();
  Shared S(cap);
  S.impl = impl;
  S.show_ec = [](const void* e) { return stats_line(static_cast<const EC*>(e)->stats()); };
  Findings findings;
  Totals tot;
  tot.trickle_jobs.assign(o.workers.size(), 0);
  tot.trickle_woken.assign(o.workers.size(), 0);
  tot.trickle_syscalls.assign(o.workers.size(), 0);
  std::printf("event_count_stress: impl=%s workers=%s latency watchdog=%.1fs keepalive runs=%u/1000%s\n", impl,
              [&] {
                std::string s;
                for (unsigned w : o.workers) {
                  if (!s.empty()) s += ',';
                  s += std::to_string(w);
                }
                return s;
              }().c_str(),
              o.latency_s, o.keepalive_share,
#if defined(HANDOFF_MUTANT_EC_NO_RECHECK)
              " MUTANT=NO_RECHECK"
#elif defined(HANDOFF_MUTANT_CMEC_LATE_COUNT)
              " MUTANT=CMEC_LATE_COUNT"
#else
              ""
#endif
  );
  std::fflush(stdout);
  h.watch([&S] { return S.ran.load(std::memory_order_relaxed) + S.runs_done.load(std::memory_order_relaxed); },  // test bookkeeping
          [&S] {
            return fmt("no progress in phase %s W=%u P=%u run seed=%" PRIu64 "%s: submitted %" PRIu64
                       ", taken %" PRIu64 ", ran %" PRIu64 ", workers inside wait %u; %s\n",
                       name_of(static_cast<Phase>(S.phase.load(std::memory_order_relaxed))),  // test bookkeeping
                       S.W.load(std::memory_order_relaxed), S.P.load(std::memory_order_relaxed),  // test bookkeeping
                       S.run_seed.load(std::memory_order_relaxed),  // test bookkeeping
                       S.stopping.load(std::memory_order_relaxed) ? " (shutting down: a lost notify_all?)" : "",  // test bookkeeping
                       S.submitted.load(std::memory_order_relaxed), S.taken.load(std::memory_order_relaxed),  // test bookkeeping
                       S.ran.load(std::memory_order_relaxed), S.in_wait.load(std::memory_order_relaxed),  // test bookkeeping
                       ec_snapshot(S).c_str());
          });
  LatencyWatchdog latency(h, S, o.latency_s);

  const double slices = static_cast<double>(o.phases.size() * o.workers.size() * h.producers().size());
  double left = slices;
  std::uint64_t round = 0;
  bool ok = true;
  for (Phase ph : o.phases) {
    for (std::size_t wi = 0; wi < o.workers.size() && ok; ++wi) {
      for (unsigned P : h.producers()) {
        const auto deadline = h.slice_deadline(1.0, left);
        left -= 1.0;
        const std::uint64_t per = ph == Phase::Trickle ? per_trickle : per_flood;
        const std::uint64_t max_runs = h.count(1000000, 3);
        for (std::uint64_t r = 0; r < max_runs && h.another_run(deadline, r, 1); ++r) {
          const std::uint64_t rs = derive_seed(h.seed(), {static_cast<std::uint64_t>(ph), o.workers[wi], P, ++round});
          if (!run_once<EC>(h, S, findings, tot, wi, o.workers[wi], P, ph, per, o.keepalive_share, rs)) {
            ok = false;
            break;
          }
        }
        if (!ok) break;
      }
    }
    if (!ok) break;
  }

  // Fairness: wait returns per trickle job, per W.
  std::string fair;
  for (std::size_t wi = 0; wi < o.workers.size(); ++wi) {
    if (tot.trickle_jobs[wi] == 0) continue;
    const double per_job = double(tot.trickle_woken[wi]) / double(tot.trickle_jobs[wi]);
    const double sys_per_job = double(tot.trickle_syscalls[wi]) / double(tot.trickle_jobs[wi]);
    fair += fmt(" W=%u: %.2f returns/job, %.2f notify syscalls/job (%" PRIu64 " jobs);", o.workers[wi], per_job,
                sys_per_job, tot.trickle_jobs[wi]);
    if (per_job > double(o.workers[wi])) {
      ok = false;
      findings.add("FAIRNESS", fmt("notify_one stampede: W=%u trickle averaged %.2f wait returns per job > W",
                                   o.workers[wi], per_job));
    }
  }
  std::printf("event_count_stress: trickle fairness (wait returns per job, incl. the shutdown's):%s\n", fair.c_str());
  std::printf("event_count_stress: sleep/wake transitions: prepared %s, cancelled %s, committed %s, woken %s "
              "(at once %s), timeouts %s (keep-alive runs %" PRIu64 "), spurious %s, notify syscalls %s; %s\n",
              human(double(tot.prepared)).c_str(), human(double(tot.cancelled)).c_str(),
              human(double(tot.committed)).c_str(), human(double(tot.woken)).c_str(),
              human(double(tot.immediate)).c_str(), human(double(tot.timeouts)).c_str(), tot.keepalive_runs,
              human(double(tot.spurious)).c_str(), human(double(tot.syscalls)).c_str(),
              h.perturbation_summary().c_str());
  if (!ok) {
    findings.print();
    return h.finish(false, findings.summary());
  }
  return h.finish(true, fmt("impl=%s every job ran exactly once; ledger balanced; syscalls <= notifies; "
                            "no stranded job", impl));
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  std::vector<ExtraOption> extra{
      {"--impl",
       "ec (EventCount, default) | mutex (MutexEventCount: the naive cross-check) | counted "
       "(CountedMutexEventCount: the baseline with an atomic waiter count)",
       true,
       [&](const std::string& v) {
         if (v == "ec") o.impl = Options::Impl::Ec;
         else if (v == "mutex") o.impl = Options::Impl::Mutex;
         else if (v == "counted") o.impl = Options::Impl::Counted;
         else return false;
         return true;
       }},
      {"--workers", "worker counts, comma-separated (default 1,2,4,8)", true,
       [&](const std::string& v) { return parse_list(v, o.workers); }},
      {"--latency", "seconds a job may stay queued while every worker sleeps (default 2)", true,
       [&](const std::string& v) {
         char* end = nullptr;
         o.latency_s = std::strtod(v.c_str(), &end);
         return *end == '\0' && o.latency_s > 0;
       }},
      {"--keepalive-share", "per mille of runs whose workers use wait_for (default 250)", true,
       [&](const std::string& v) {
         char* end = nullptr;
         const unsigned long n = std::strtoul(v.c_str(), &end, 10);
         o.keepalive_share = static_cast<std::uint32_t>(n);
         return *end == '\0' && n <= 1000;
       }},
      {"--phase", "trickle | flood | all (default all)", true,
       [&](const std::string& v) {
         if (v == "trickle") o.phases = {Phase::Trickle};
         else if (v == "flood") o.phases = {Phase::Flood};
         else if (v == "all") o.phases = {Phase::Trickle, Phase::Flood};
         else return false;
         return true;
       }},
  };
  Defaults d;
  d.producers = {1, 2, 4};
  Harness h("event_count_stress", argc, argv, d, extra);
  switch (o.impl) {
    case Options::Impl::Mutex: return run_all<MutexEventCount>(h, o, "MutexEventCount");
    case Options::Impl::Counted: return run_all<CountedMutexEventCount>(h, o, "CountedMutexEventCount");
    case Options::Impl::Ec: break;
  }
  return run_all<EventCount>(h, o, "EventCount");
}
