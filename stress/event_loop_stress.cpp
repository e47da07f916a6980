// handoff/stress/event_loop_stress.cpp — threads posting to a loop that sleeps and wakes.
//
// PHASES (each run: a loop in its own thread, P poster threads, a seed; P from --producers)
//   burst  Each poster posts bursts of 1–2 callbacks and waits until the loop has run them
//          before the next burst, so the loop goes to sleep between bursts and every burst
//          must wake it: the lost-wakeup pattern of shared/VERIFY.md (bigger bursts self-heal).
//          A burst not run within the watchdog period is a LOST WAKEUP (diagnosis, exit 3).
//   flood  Posters post their whole count without waiting for any callback; the loop drains
//          in batches. A poster pauses only while it is kFloodWindow (65536) callbacks ahead
//          of the loop: the soak's unbounded flood queued millions of nodes, and freeing
//          them between runs outlasted the watchdog on a loaded VM (issue 10).
//   close  Posters post continuously; the main thread stops and closes the loop at a seeded
//          moment: once the posters' calls answered in this run reach a number drawn from the
//          run's seed, below 768 (0 in 1/8 of the runs: at once, racing the posters' start).
//          (It was a 0–3 ms sleep; under GCC-TSan the count keeps about the same posts per
//          run: ~470 answered against ~410.) Every post either ran, was refused
//          (LoopClosedError) or was dropped (its drop hook ran) — exactly one of the three.
//          A poster stops at its first refusal and checks that its next 4 posts are refused
//          too. (Before issue 10 it went on posting all its ~10^6 soak-mode posts into the
//          closed loop: that convoy of refused posts, each waiting on other posters inside
//          the inbox, was the soak's close-phase "hang".)
// LIFETIME. Each poster posts through its own LoopRef copy, as a user would. In burst and
// flood the loop is destroyed as soon as every callback has run, while posters may still be
// inside call_soon_threadsafe (past their push, in the wake); in the close phase it is
// destroyed right after close() in some runs, while posters still post to it.
// WATCHDOG. Progress is callbacks run plus posts answered (accepted or refused) plus
// callbacks dropped (close() dropping thousands of accepted callbacks through a perturbed
// inbox on a loaded VM took over 5 s with no other counter moving: seed 144, rate 300). A hang
// prints where every thread is: each poster's step (seq, inside or outside its post), its
// refusals, and from its InboxProbe whether it waits on a predecessor's verdict or a
// successor's link (and on which node); the loop thread's kernel state and wait channel
// (/proc: asleep in epoll or running), its inbox answers (Retry streak at which head/tail,
// Empty answers, sleep re-checks that saw empty / work).
// CHECKS (all phases): every accepted callback runs exactly once, in its poster's order;
// the loop's ledger balances (posted = run + cancelled + refused + dropped); wake signals
// never exceed announced sleeps (the WakeGate's coalescing).
//
// REPLAY: the loop thread and the posters are sync::threads started in a fixed order (loop
// thread, then posters by index) after perturb(run seed), and the run loop asks
// Harness::another_run, so the REPLAY line of a failure or of the watchdog's HANG replays the
// same runs with the same perturbation decision streams. What a replay cannot reproduce: the
// OS's scheduling, and what follows from it — the loop's spin phase is timed (spin_budget, 0
// or 20 µs), so how many inbox checks it makes before it sleeps, and with them where each
// thread is in its decision stream, can differ; how many posts the loop has run when the
// close phase stops it (the stop moment itself is a count of answered posts, not a time).
//
// MUTANTS (stress/CMakeLists.txt): HANDOFF_MUTANT_WAKE_NO_RECHECK must end in the watchdog's
// LOST WAKEUP diagnosis; HANDOFF_MUTANT_WAKE_UNCONDITIONAL must fail the coalescing check.
#include <atomic>
#include <cinttypes>
#include <cstdio>
#include <fstream>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <sys/syscall.h>
#include <unistd.h>

#include <handoff/loop/loop.hpp>

#include "harness.hpp"

using namespace handoff;
using namespace handoff::stress;

namespace {

enum class Phase { Burst, Flood, Close };
const char* name_of(Phase p) { return p == Phase::Burst ? "burst" : p == Phase::Flood ? "flood" : "close"; }

// What the watchdog and the checks read: written by the loop thread (run counts) or by the
// posters (posted counts), relaxed; read relaxed after joins or by the watchdog.
struct Progress {
  std::vector<Padded<std::atomic<std::uint64_t>>> ran;     // per poster: callbacks run
  std::vector<Padded<std::atomic<std::uint64_t>>> posted;  // per poster: posts accepted
  std::vector<Padded<std::atomic<std::uint64_t>>> refused;  // per poster: posts refused
  std::vector<Padded<std::atomic<std::uint64_t>>> step;    // per poster: 2*seq+1 inside post(seq), 2*seq+2 after
  std::vector<Padded<std::atomic<long>>> tid;              // per poster: its kernel thread id
  std::unique_ptr<InboxProbe[]> probes;                    // per poster, then the loop thread's
  std::atomic<long> loop_tid{0};
  std::atomic<std::uint64_t> total_ran{0};
  std::atomic<std::uint64_t> answered{0};  // posts that returned (accepted or refused)
  std::atomic<std::uint64_t> dropped{0};   // drop hooks run (close() dropping, refusals)
  std::atomic<int> phase{0};
  std::atomic<unsigned> posters{0};
  std::atomic<int> main_at{0};  // what the main thread does (MainAt)
  std::atomic<std::int64_t> main_since{0};  // since when (steady clock, ns)
  // The current run's loop, for the watchdog's look at its wake gate (a LoopRef keeps the
  // gate alive past the loop); swapped by the main thread under the mutex.
  std::mutex current_mu;
  LoopRef current;
};
enum MainAt { kStarting, kWaitingForRuns, kStopping, kClosing, kJoiningPosters, kChecking, kFreeing };
const char* name_of(int m) {
  static const char* n[] = {"starting", "waiting for every callback to run", "stopping + joining the loop thread",
                            "closing the loop", "joining the posters", "checking",
                            "freeing the loop's shared core (its inbox nodes)"};
  return m >= 0 && m <= kFreeing ? n[m] : "?";
}
std::int64_t now_ns() { return std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now().time_since_epoch()).count(); }
void main_at(Progress& pr, MainAt m) {
  pr.main_since.store(now_ns(), std::memory_order_relaxed);  // test bookkeeping, read by the watchdog
  pr.main_at.store(m, std::memory_order_relaxed);            // test bookkeeping, read by the watchdog
}

// Flood: a poster waits while it is this many callbacks ahead of the loop on its own stream.
// It still never waits for a particular callback, but the inbox's high-water mark (and so the
// nodes MpscQueue keeps for reuse until the loop dies) stays bounded: with 8 x 10^6 posts
// unbounded, the soak queued millions of nodes and freeing them took seconds.
constexpr std::uint64_t kFloodWindow = 1u << 16;

long this_tid() { return static_cast<long>(::syscall(SYS_gettid)); }

// "R (running)" / "S do_epoll_wait": a thread's kernel state and wait channel, from /proc.
std::string kernel_state(long tid) {
  if (tid <= 0) return "not started";
  std::ifstream stat("/proc/self/task/" + std::to_string(tid) + "/stat");
  std::string line;
  if (!std::getline(stat, line)) return "exited";
  const auto rp = line.rfind(')');
  const char st = rp != std::string::npos && rp + 2 < line.size() ? line[rp + 2] : '?';
  std::ifstream wchan("/proc/self/task/" + std::to_string(tid) + "/wchan");
  std::string w;
  std::getline(wchan, w);
  return fmt("%c%s%s", st, w.empty() || w == "0" ? "" : " in ", w == "0" ? "" : w.c_str());
}

std::string probe_line(const InboxProbe& p) {
  const int where = p.where.load(std::memory_order_relaxed);  // debug bookkeeping, read relaxed
  std::string s = where == InboxProbe::kVerdict ? fmt("WAITS for the verdict of predecessor node %p",
                                                      p.node.load(std::memory_order_relaxed))  // debug
                  : where == InboxProbe::kLink ? fmt("WAITS for its successor's link to its node %p",
                                                     p.node.load(std::memory_order_relaxed))  // debug
                                               : std::string("no inbox wait");
  return s + fmt(" (slow paths %" PRIu64 ", wait turns %" PRIu64 ")",
                 p.slow_paths.load(std::memory_order_relaxed), p.waits.load(std::memory_order_relaxed));  // debug
}

struct Context {
  Harness& h;
  Progress pr;
  Findings findings;
  std::uint64_t sleeps_seen = 0, signals_seen = 0;
  std::uint64_t pr_base = 0;  // total_ran before this run (main thread only)
  std::uint64_t destroyed_early = 0;  // close-phase runs whose loop died right after close()
  // Sized once: the watchdog may read these while runs come and go.
  explicit Context(Harness& harness) : h(harness) {
    const unsigned n = harness.max_producers();
    pr.ran = std::vector<Padded<std::atomic<std::uint64_t>>>(n);
    pr.posted = std::vector<Padded<std::atomic<std::uint64_t>>>(n);
    pr.refused = std::vector<Padded<std::atomic<std::uint64_t>>>(n);
    pr.step = std::vector<Padded<std::atomic<std::uint64_t>>>(n);
    pr.tid = std::vector<Padded<std::atomic<long>>>(n);
    pr.probes = std::make_unique<InboxProbe[]>(n + 1);
  }
};

// One run. Returns false on a finding.
bool run_once(Context& c, Phase phase, unsigned P, std::uint64_t per_poster, std::uint64_t run_seed) {
  c.h.perturb(run_seed);
  c.h.note_threads(P + 1);
  Rng rng(run_seed);
  EventLoop::Options opts;
  opts.spin_budget = rng.chance(500) ? std::chrono::nanoseconds(0) : std::chrono::microseconds(20);
  opts.inbox_batch = 1 + rng.below(64);
  // Close phase: in some runs the loop is destroyed right after close(), posters still posting.
  const bool destroy_early = phase == Phase::Close && rng.chance(500);
  auto loop = std::make_unique<EventLoop>(opts);
  LoopRef ref = loop->threadsafe();
  struct ShowToWatchdog {
    Progress& pr;
    ShowToWatchdog(Progress& p, const LoopRef& r) : pr(p) {
      std::lock_guard<std::mutex> g(pr.current_mu);
      pr.current = r;
    }
    ~ShowToWatchdog() {
      std::lock_guard<std::mutex> g(pr.current_mu);
      pr.current = LoopRef();
    }
  } show_to_watchdog(c.pr, ref);

  for (unsigned p = 0; p < P; ++p) {
    c.pr.ran[p].v.store(0, std::memory_order_relaxed);      // progress word, read relaxed
    c.pr.posted[p].v.store(0, std::memory_order_relaxed);   // progress word, read relaxed
    c.pr.refused[p].v.store(0, std::memory_order_relaxed);  // progress word, read relaxed
    c.pr.step[p].v.store(0, std::memory_order_relaxed);     // progress word, read relaxed
    c.pr.tid[p].v.store(0, std::memory_order_relaxed);      // progress word, read relaxed
  }
  c.pr.loop_tid.store(0, std::memory_order_relaxed);  // test bookkeeping, read by the watchdog
  main_at(c.pr, kStarting);
  c.pr.posters.store(P, std::memory_order_relaxed);  // test bookkeeping, read after joins or by the watchdog
  c.pr.phase.store(static_cast<int>(phase), std::memory_order_relaxed);  // test bookkeeping, read after joins or by the watchdog

  // The close phase's moment: this many of the run's posts answered (a count, not a time, so
  // a replay closes at the same point of the posters' streams). 0: close at once.
  const std::uint64_t close_after = rng.chance(125) ? 0 : rng.below(std::min<std::uint64_t>(P * per_poster, 768));
  const std::uint64_t answered_base = c.pr.answered.load(std::memory_order_relaxed);  // no poster runs yet

  // Loop-thread-only order check: next expected sequence number per poster.
  std::vector<std::uint64_t> expect(P, 0);
  std::vector<std::string> order_errors;                   // loop thread only
  std::vector<std::vector<std::string>> poster_errors(P);  // each poster its own
  std::vector<std::uint64_t> refused_hooked(P, 0), refused_plain(P, 0);
  std::atomic<std::uint64_t> drops{0};

  // sync::threads, the loop thread then the posters in index order: the same perturbation keys
  // in a replay (harness.hpp, RULES FOR TESTS).
  sync::thread loop_thread = c.h.thread([&c, P, l = loop.get()] {
    c.pr.loop_tid.store(this_tid(), std::memory_order_relaxed);  // test bookkeeping, read by the watchdog
    InboxProbe::Install probe(c.pr.probes[P]);
    l->run_forever();
    c.h.account_thread();
  });

  std::vector<sync::thread> posters;
  for (unsigned p = 0; p < P; ++p) {
    posters.push_back(c.h.thread([&, p, my_ref = ref] {  // its own LoopRef: it may outlive the loop
      c.pr.tid[p].v.store(this_tid(), std::memory_order_relaxed);  // test bookkeeping, read by the watchdog
      InboxProbe::Install probe(c.pr.probes[p]);
      auto& step = c.pr.step[p].v;
      Rng r(derive_seed(run_seed, {p}));
      std::uint64_t seq = 0;
      bool closed = false;
      while (seq < per_poster && !closed) {
        const std::uint64_t burst = phase == Phase::Burst   ? 1 + r.below(2)
                                    : phase == Phase::Flood ? std::min<std::uint64_t>(per_poster - seq, 4096)
                                                            : per_poster - seq;
        const std::uint64_t end = std::min(per_poster, seq + burst);
        for (; seq < end; ++seq) {
          const std::uint64_t s = seq;
          step.store(2 * s + 1, std::memory_order_relaxed);  // test bookkeeping, read by the watchdog
          try {
            my_ref.call_soon_threadsafe(Callback::with_drop(
                [&, p, s] {
                  if (s != expect[p] && order_errors.size() < 10) {
                    order_errors.push_back(fmt("REORDERED/DUPLICATED/LOST: poster %u seq %" PRIu64
                                               " ran when %" PRIu64 " was expected", p, s, expect[p]));
                  }
                  expect[p] = s + 1;
                  c.pr.ran[p].v.store(s + 1, std::memory_order_relaxed);  // test bookkeeping, read after joins or by the watchdog
                  c.pr.total_ran.fetch_add(1, std::memory_order_relaxed);  // test bookkeeping, read after joins or by the watchdog
                },
                [&drops, &c] {
                  drops.fetch_add(1, std::memory_order_relaxed);         // test bookkeeping, read after joins
                  c.pr.dropped.fetch_add(1, std::memory_order_relaxed);  // test bookkeeping, read by the watchdog
                }));
            c.pr.posted[p].v.store(s + 1, std::memory_order_relaxed);  // test bookkeeping, read after joins or by the watchdog
          } catch (const LoopClosedError&) {
            ++refused_hooked[p];  // its drop hook ran too (post() drops what it refuses)
            closed = true;
          }
          step.store(2 * s + 2, std::memory_order_relaxed);  // test bookkeeping, read by the watchdog
          c.pr.answered.fetch_add(1, std::memory_order_relaxed);  // test bookkeeping, read by the watchdog
          if (closed) {
            ++seq;
            break;  // refused: stop posting (issue 10: posting on made a convoy of refusals)
          }
        }
        if (closed) {
          // Once refused, every later post must be refused too (close is final).
          for (std::uint64_t extra = 0; extra < 4; ++extra, ++seq) {
            step.store(2 * seq + 1, std::memory_order_relaxed);  // test bookkeeping, read by the watchdog
            try {
              my_ref.call_soon_threadsafe([] {});
              poster_errors[p].push_back(fmt("ACCEPTED AFTER REFUSAL: poster %u seq %" PRIu64, p, seq));
            } catch (const LoopClosedError&) {
              ++refused_plain[p];
            }
            step.store(2 * seq + 2, std::memory_order_relaxed);  // test bookkeeping, read by the watchdog
            c.pr.answered.fetch_add(1, std::memory_order_relaxed);  // test bookkeeping, read by the watchdog
          }
          c.pr.refused[p].v.store(refused_hooked[p] + refused_plain[p], std::memory_order_relaxed);  // test bookkeeping
          break;
        }
        if (phase == Phase::Flood) {
          while (seq >= c.pr.ran[p].v.load(std::memory_order_relaxed) + kFloodWindow) std::this_thread::yield();  // progress word
        }
        if (phase == Phase::Burst) {
          // Wait until the loop has run this burst: a lost wakeup stalls here (watchdog).
          while (c.pr.ran[p].v.load(std::memory_order_relaxed) < seq) std::this_thread::yield();  // progress word
        }
      }
      c.h.account_thread();
    }));
  }

  LoopStats s{};
  bool have_stats = false;
  if (phase == Phase::Close) {
    // Close while the posters are still posting: stop, join the loop thread, close. The wait
    // ends: every post is answered (accepted) until the close, and close_after < P * per_poster.
    while (c.pr.answered.load(std::memory_order_relaxed) - answered_base < close_after) std::this_thread::yield();  // test bookkeeping
    main_at(c.pr, kStopping);
    loop->stop();
    loop_thread.join();
    main_at(c.pr, kClosing);
    loop->close();  // refuses later posts, drops what was accepted and not run
    if (destroy_early) loop.reset();  // posters keep posting to it through their LoopRefs
    main_at(c.pr, kJoiningPosters);
    for (auto& t : posters) t.join();
    if (loop) {
      s = loop->stats();
      have_stats = true;
    }
  } else {
    // Every post is accepted (nobody closes): wait until all have run, then stop, close and
    // destroy the loop at once — posters may still be inside call_soon_threadsafe, past their
    // push (in the wake). (A lost wakeup hangs here: watchdog.)
    main_at(c.pr, kWaitingForRuns);
    const std::uint64_t want = per_poster * P;
    while (c.pr.total_ran.load(std::memory_order_relaxed) < c.pr_base + want) std::this_thread::yield();  // test bookkeeping
    main_at(c.pr, kStopping);
    loop->stop();
    loop_thread.join();
    main_at(c.pr, kClosing);
    loop->close();
    s = loop->stats();
    have_stats = true;
    loop.reset();
    main_at(c.pr, kJoiningPosters);
    for (auto& t : posters) t.join();
  }
  main_at(c.pr, kChecking);
  c.pr_base = c.pr.total_ran.load(std::memory_order_relaxed);  // test bookkeeping, after joins

  for (auto& v : poster_errors) order_errors.insert(order_errors.end(), v.begin(), v.end());
  bool ok = order_errors.empty();
  for (auto& e : order_errors) c.findings.add("ORDER", fmt("[%s P=%u] %s", name_of(phase), P, e.c_str()));
  std::uint64_t accepted = 0, ran = 0, ref_total = 0, ref_hooked = 0;
  for (unsigned p = 0; p < P; ++p) {
    accepted += c.pr.posted[p].v.load(std::memory_order_relaxed);  // test bookkeeping, read after joins or by the watchdog
    ran += c.pr.ran[p].v.load(std::memory_order_relaxed);  // test bookkeeping, read after joins or by the watchdog
    ref_total += refused_hooked[p] + refused_plain[p];
    ref_hooked += refused_hooked[p];
  }
  // Drop hooks ran for callbacks close() dropped and for refused posts: separate them.
  const std::uint64_t drop_total = drops.load(std::memory_order_relaxed) - ref_hooked;  // test bookkeeping, read after joins or by the watchdog
  if (ran + drop_total != accepted) {
    ok = false;
    c.findings.add("LOST", fmt("[%s P=%u seed=%" PRIu64 "] accepted %" PRIu64 " but ran %" PRIu64
                               " + dropped %" PRIu64, name_of(phase), P, run_seed, accepted, ran, drop_total));
  }
  if (have_stats && (!s.balanced() || s.dropped != drop_total || s.refused != ref_total)) {
    ok = false;
    c.findings.add("LEDGER", fmt("[%s P=%u seed=%" PRIu64 "] posted %" PRIu64 " run %" PRIu64
                                 " cancelled %" PRIu64 " refused %" PRIu64 " dropped %" PRIu64
                                 " (test saw refused %" PRIu64 " dropped %" PRIu64 ")",
                                 name_of(phase), P, run_seed, s.posted, s.run, s.cancelled,
                                 s.refused, s.dropped, ref_total, drop_total));
  }
  if (have_stats && s.wake_signals > s.sleeps) {
    ok = false;
    c.findings.add("COALESCING", fmt("[%s P=%u seed=%" PRIu64 "] coalescing broken: %" PRIu64
                                     " wake signals > %" PRIu64 " announced sleeps",
                                     name_of(phase), P, run_seed, s.wake_signals, s.sleeps));
  }
  if (!have_stats) ++c.destroyed_early;
  c.h.add_ops(accepted + ref_total);
  c.sleeps_seen += s.sleeps;
  c.signals_seen += s.wake_signals;
  loop.reset();
  main_at(c.pr, kFreeing);
  ref = LoopRef();  // the last reference: the LoopCore and its inbox die here
  return ok;
}

}  // namespace

int main(int argc, char** argv) {
  Defaults d;
  d.producers = {1, 2, 4, 8, 16};
  std::vector<Phase> phases{Phase::Burst, Phase::Flood, Phase::Close};
  std::vector<ExtraOption> extra{
      {"--phase", "phases to run, comma-separated: burst,flood,close (default all)", true,
       [&](const std::string& v) {
         phases.clear();
         std::size_t pos = 0;
         while (pos <= v.size()) {
           const std::size_t comma = v.find(',', pos);
           const std::string ph = v.substr(pos, comma == std::string::npos ? std::string::npos : comma - pos);
           if (ph == "burst") phases.push_back(Phase::Burst);
           else if (ph == "flood") phases.push_back(Phase::Flood);
           else if (ph == "close") phases.push_back(Phase::Close);
           else return false;
           if (comma == std::string::npos) break;
           pos = comma + 1;
         }
         return !phases.empty();
       }},
  };
  Harness h("event_loop_stress", argc, argv, d, std::move(extra));
  Context c(h);
  // Progress: callbacks run plus posts answered, so posters being refused count as moving.
  h.watch([&c] {
            return c.pr.total_ran.load(std::memory_order_relaxed) +  // test bookkeeping, read by the watchdog
                   c.pr.answered.load(std::memory_order_relaxed) +   // test bookkeeping, read by the watchdog
                   c.pr.dropped.load(std::memory_order_relaxed);     // close() dropping counts as progress
          },
          [&c] {
            // Everything read here is a relaxed atomic (harness rule): no sync with the threads.
            std::string s = fmt("LOST WAKEUP or hang in phase %s: the loop has run %" PRIu64
                                " callbacks, posters' calls answered %" PRIu64 ", and nothing moves;\n",
                                name_of(static_cast<Phase>(c.pr.phase.load(std::memory_order_relaxed))),  // watchdog read
                                c.pr.total_ran.load(std::memory_order_relaxed),   // watchdog read
                                c.pr.answered.load(std::memory_order_relaxed));   // watchdog read
            s += fmt("  main thread: %s, for %.1fs\n", name_of(c.pr.main_at.load(std::memory_order_relaxed)),  // watchdog read
                     static_cast<double>(now_ns() - c.pr.main_since.load(std::memory_order_relaxed)) / 1e9);  // watchdog read
            const unsigned P = c.pr.posters.load(std::memory_order_relaxed);  // watchdog read
            const InboxProbe& lp = c.pr.probes[P < c.pr.posted.size() ? P : c.pr.posted.size()];
            LoopRef current;
            {
              std::lock_guard<std::mutex> g(c.pr.current_mu);
              current = c.pr.current;
            }
            s += fmt("  wake gate: %s\n",
                     !current ? "no loop in this run yet"
                     : current.sleeping_hint()
                         ? "SLEEPING (the loop announced a sleep and no poster claimed it: with posts "
                           "unrun and the loop blocked in epoll_wait, a lost wakeup)"
                         : "AWAKE (the loop is running, spinning, or a poster claimed its sleep and "
                           "owes it a signal)");
            s += fmt("  loop thread: kernel %s; inbox answers: Retry streak %" PRIu64 " at head %p (tail %p), "
                     "Empty %" PRIu64 "; sleep re-checks saw empty %" PRIu64 ", saw work %" PRIu64
                     " (saw empty + asleep in epoll while posts are unrun = a lost wakeup)\n",
                     kernel_state(c.pr.loop_tid.load(std::memory_order_relaxed)).c_str(),   // watchdog read
                     lp.retry_streak.load(std::memory_order_relaxed),                        // watchdog read
                     lp.retry_head.load(std::memory_order_relaxed),                          // watchdog read
                     lp.retry_tail.load(std::memory_order_relaxed),                          // watchdog read
                     lp.empties.load(std::memory_order_relaxed),                             // watchdog read
                     lp.saw_empty.load(std::memory_order_relaxed),                           // watchdog read
                     lp.saw_work.load(std::memory_order_relaxed));                           // watchdog read
            for (unsigned p = 0; p < P && p < c.pr.posted.size(); ++p) {
              const auto posted = c.pr.posted[p].v.load(std::memory_order_relaxed);  // watchdog read
              const auto ran = c.pr.ran[p].v.load(std::memory_order_relaxed);        // watchdog read
              const auto st = c.pr.step[p].v.load(std::memory_order_relaxed);        // watchdog read
              const std::string where = st == 0 ? std::string("not started")
                                        : (st & 1) ? fmt("INSIDE call_soon_threadsafe of seq %" PRIu64, (st - 1) / 2)
                                                   : fmt("after its post of seq %" PRIu64, (st - 2) / 2);
              s += fmt("  poster %u: %s; posted %" PRIu64 ", ran %" PRIu64 ", refused %" PRIu64 "; kernel %s; %s\n",
                       p, where.c_str(), posted, ran, c.pr.refused[p].v.load(std::memory_order_relaxed),  // watchdog read
                       kernel_state(c.pr.tid[p].v.load(std::memory_order_relaxed)).c_str(),            // watchdog read
                       probe_line(c.pr.probes[p]).c_str());
            }
            return s;
          });
  const double slices = static_cast<double>(phases.size() * h.producers().size());
  double left = slices;
  std::uint64_t round = 0;
  bool ok = true;
  for (Phase ph : phases) {
    for (unsigned P : h.producers()) {
      const auto deadline = h.slice_deadline(1.0, left);
      left -= 1.0;
      const std::uint64_t per = ph == Phase::Burst ? h.count(200, 20000) : h.count(2000, 1000000);
      const std::uint64_t max_runs = h.count(1000000, 20);
      for (std::uint64_t r = 0; r < max_runs && h.another_run(deadline, r); ++r) {
        if (!run_once(c, ph, P, per, derive_seed(h.seed(), {static_cast<std::uint64_t>(ph), P, ++round}))) {
          ok = false;
          break;
        }
      }
      if (!ok) break;
    }
    if (!ok) break;
  }
  std::printf("event_loop_stress: sleep/wake transitions exercised: %" PRIu64
              " announced sleeps, %" PRIu64 " wake signals; %" PRIu64 " close runs destroyed the loop right after close(); %s\n",
              c.sleeps_seen, c.signals_seen, c.destroyed_early, h.perturbation_summary().c_str());
  if (!ok) {
    c.findings.print();
    return h.finish(false, c.findings.summary());
  }
  return h.finish(true, "every accepted callback ran once in order; ledger balanced; signals <= sleeps");
}
