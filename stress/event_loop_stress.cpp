// handoff/stress/event_loop_stress.cpp — threads posting to a loop that sleeps and wakes.
//
// PHASES (each run: a loop in its own thread, P poster threads, a seed; P from --producers)
//   burst  Each poster posts bursts of 1–2 callbacks and waits until the loop has run them
//          before the next burst, so the loop goes to sleep between bursts and every burst
//          must wake it: the lost-wakeup pattern of shared/VERIFY.md (bigger bursts self-heal).
//          A burst not run within the watchdog period is a LOST WAKEUP (diagnosis, exit 3).
//   flood  Posters post their whole count without waiting; the loop drains in batches.
//   close  Posters post continuously; the main thread stops and closes the loop at a random
//          moment. Every post either ran, was refused (LoopClosedError) or was dropped (its
//          drop hook ran) — exactly one of the three.
// CHECKS (all phases): every accepted callback runs exactly once, in its poster's order;
// the loop's ledger balances (posted = run + cancelled + refused + dropped); wake signals
// never exceed announced sleeps (the WakeGate's coalescing).
//
// MUTANTS (stress/CMakeLists.txt): HANDOFF_MUTANT_WAKE_NO_RECHECK must end in the watchdog's
// LOST WAKEUP diagnosis; HANDOFF_MUTANT_WAKE_UNCONDITIONAL must fail the coalescing check.
#include <atomic>
#include <cinttypes>
#include <cstdio>
#include <string>
#include <thread>
#include <vector>

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
  std::atomic<std::uint64_t> total_ran{0};
  std::atomic<int> phase{0};
  std::atomic<unsigned> posters{0};
};

struct Context {
  Harness& h;
  Progress pr;
  Findings findings;
  std::uint64_t sleeps_seen = 0, signals_seen = 0;
  // Sized once: the watchdog may read these while runs come and go.
  explicit Context(Harness& harness) : h(harness) {
    pr.ran = std::vector<Padded<std::atomic<std::uint64_t>>>(harness.max_producers());
    pr.posted = std::vector<Padded<std::atomic<std::uint64_t>>>(harness.max_producers());
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
  EventLoop loop(opts);
  LoopRef ref = loop.threadsafe();

  for (unsigned p = 0; p < P; ++p) {
    c.pr.ran[p].v.store(0, std::memory_order_relaxed);     // progress word, read relaxed
    c.pr.posted[p].v.store(0, std::memory_order_relaxed);  // progress word, read relaxed
  }
  c.pr.posters.store(P, std::memory_order_relaxed);  // test bookkeeping, read after joins or by the watchdog
  c.pr.phase.store(static_cast<int>(phase), std::memory_order_relaxed);  // test bookkeeping, read after joins or by the watchdog

  // Loop-thread-only order check: next expected sequence number per poster.
  std::vector<std::uint64_t> expect(P, 0);
  std::vector<std::string> order_errors;                   // loop thread only
  std::vector<std::vector<std::string>> poster_errors(P);  // each poster its own
  std::vector<std::uint64_t> refused_hooked(P, 0), refused_plain(P, 0);
  std::atomic<std::uint64_t> drops{0};

  std::thread loop_thread([&] {
    loop.run_forever();
    c.h.account_thread();
  });

  std::vector<std::thread> posters;
  for (unsigned p = 0; p < P; ++p) {
    posters.emplace_back([&, p] {
      Rng r(derive_seed(run_seed, {p}));
      std::uint64_t seq = 0;
      while (seq < per_poster) {
        const std::uint64_t burst = phase == Phase::Burst ? 1 + r.below(2) : per_poster - seq;
        const std::uint64_t end = std::min(per_poster, seq + burst);
        bool closed = false;
        for (; seq < end; ++seq) {
          const std::uint64_t s = seq;
          try {
            ref.call_soon_threadsafe(Callback::with_drop(
                [&, p, s] {
                  if (s != expect[p] && order_errors.size() < 10) {
                    order_errors.push_back(fmt("REORDERED/DUPLICATED/LOST: poster %u seq %" PRIu64
                                               " ran when %" PRIu64 " was expected", p, s, expect[p]));
                  }
                  expect[p] = s + 1;
                  c.pr.ran[p].v.store(s + 1, std::memory_order_relaxed);  // test bookkeeping, read after joins or by the watchdog
                  c.pr.total_ran.fetch_add(1, std::memory_order_relaxed);  // test bookkeeping, read after joins or by the watchdog
                },
                [&drops] { drops.fetch_add(1, std::memory_order_relaxed); }));  // test bookkeeping, read after joins or by the watchdog
            c.pr.posted[p].v.store(s + 1, std::memory_order_relaxed);  // test bookkeeping, read after joins or by the watchdog
          } catch (const LoopClosedError&) {
            ++refused_hooked[p];  // its drop hook ran too (post() drops what it refuses)
            closed = true;
          }
        }
        if (closed) {
          // Once refused, every later post must be refused too (close is final).
          for (; seq < per_poster && seq < end + 4; ++seq) {
            try {
              ref.call_soon_threadsafe([] {});
              poster_errors[p].push_back(fmt("ACCEPTED AFTER REFUSAL: poster %u seq %" PRIu64, p, seq));
            } catch (const LoopClosedError&) {
              ++refused_plain[p];
            }
          }
          break;
        }
        if (phase == Phase::Burst) {
          // Wait until the loop has run this burst: a lost wakeup stalls here (watchdog).
          while (c.pr.ran[p].v.load(std::memory_order_relaxed) < seq) std::this_thread::yield();  // progress word
        }
      }
      c.h.account_thread();
    });
  }

  if (phase == Phase::Close) {
    // Close while the posters are still posting: stop, join the loop thread, close.
    std::this_thread::sleep_for(std::chrono::microseconds(rng.below(3000)));
    loop.stop();
    loop_thread.join();
    loop.close();  // refuses later posts, drops what was accepted and not run
    for (auto& t : posters) t.join();
  } else {
    for (auto& t : posters) t.join();
    // Everything accepted must run; then stop. (A lost wakeup hangs here: watchdog.)
    std::uint64_t want = 0;
    for (unsigned p = 0; p < P; ++p) want += c.pr.posted[p].v.load(std::memory_order_relaxed);  // test bookkeeping, read after joins or by the watchdog
    while (c.pr.total_ran.load(std::memory_order_relaxed) < want) std::this_thread::yield();  // test bookkeeping, read after joins or by the watchdog
    loop.stop();
    loop_thread.join();
    loop.close();
  }

  for (auto& v : poster_errors) order_errors.insert(order_errors.end(), v.begin(), v.end());
  bool ok = order_errors.empty();
  for (auto& e : order_errors) c.findings.add("ORDER", fmt("[%s P=%u] %s", name_of(phase), P, e.c_str()));
  const LoopStats s = loop.stats();
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
  if (!s.balanced() || s.dropped != drop_total || s.refused != ref_total) {
    ok = false;
    c.findings.add("LEDGER", fmt("[%s P=%u seed=%" PRIu64 "] posted %" PRIu64 " run %" PRIu64
                                 " cancelled %" PRIu64 " refused %" PRIu64 " dropped %" PRIu64
                                 " (test saw refused %" PRIu64 " dropped %" PRIu64 ")",
                                 name_of(phase), P, run_seed, s.posted, s.run, s.cancelled,
                                 s.refused, s.dropped, ref_total, drop_total));
  }
  if (s.wake_signals > s.sleeps) {
    ok = false;
    c.findings.add("COALESCING", fmt("[%s P=%u seed=%" PRIu64 "] coalescing broken: %" PRIu64
                                     " wake signals > %" PRIu64 " announced sleeps",
                                     name_of(phase), P, run_seed, s.wake_signals, s.sleeps));
  }
  c.h.add_ops(accepted + ref_total);
  c.sleeps_seen += s.sleeps;
  c.signals_seen += s.wake_signals;
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
  h.watch([&c] { return c.pr.total_ran.load(std::memory_order_relaxed); },  // test bookkeeping, read after joins or by the watchdog
          [&c] {
            std::string s = fmt("LOST WAKEUP or hang in phase %s: the loop has run %" PRIu64
                                " callbacks and makes no progress;",
                                name_of(static_cast<Phase>(c.pr.phase.load(std::memory_order_relaxed))),  // test bookkeeping, read after joins or by the watchdog
                                c.pr.total_ran.load(std::memory_order_relaxed));  // test bookkeeping, read after joins or by the watchdog
            const unsigned P = c.pr.posters.load(std::memory_order_relaxed);  // test bookkeeping, read after joins or by the watchdog
            for (unsigned p = 0; p < P && p < c.pr.posted.size(); ++p) {
              const auto posted = c.pr.posted[p].v.load(std::memory_order_relaxed);  // test bookkeeping, read after joins or by the watchdog
              const auto ran = c.pr.ran[p].v.load(std::memory_order_relaxed);  // test bookkeeping, read after joins or by the watchdog
              if (posted != ran) s += fmt(" poster %u: posted %" PRIu64 ", ran %" PRIu64 ";", p, posted, ran);
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
      for (std::uint64_t r = 0; r < max_runs && Clock::now() < deadline; ++r) {
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
              " announced sleeps, %" PRIu64 " wake signals; %s\n",
              c.sleeps_seen, c.signals_seen, h.perturbation_summary().c_str());
  if (!ok) {
    c.findings.print();
    return h.finish(false, c.findings.summary());
  }
  return h.finish(true, "every accepted callback ran once in order; ledger balanced; signals <= sleeps");
}
