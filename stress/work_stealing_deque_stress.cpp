// handoff/stress/work_stealing_deque_stress.cpp — stress test of WorkStealingDeque<T>, and the
// same test run on MutexDeque<T> as a cross-check of the test itself.
//
// One owner thread (the main thread) and P thieves (--producers P: here the number of
// THIEVES, default 1,2,4,8). The deque holds Item* pointers into a per-run array; the owner
// writes an item's fields just before pushing it and every taker reads them, so TSan checks
// the publication (push's release store of bottom_, steal's acquire loads).
//
// PHASES. Each runs for every P; every run has a fresh deque, fresh threads (sync::threads,
// started in thief order) and its own seed derived from the master seed (printed first by the
// harness). A run's work is a function of its seed; the clock only decides how many runs a
// slice gets (Harness::another_run), so the REPLAY line printed on a failure replays the same
// runs with the same perturbation decisions.
//
//   work    VERIFY.md classes 2 and 7: the owner works like an executor worker — pushes a
//           random burst (spawned jobs), pops a random number (runs them), sometimes spins a
//           little (a job's work) — while the thieves steal continuously; then it pops until
//           empty and the thieves are stopped. Initial capacity random in 2..256.
//   race    VERIFY.md class 1: the last-element race, repeatedly: the owner pushes one item
//           and immediately pops (after a random spin of 0..63 pauses) while the thieves spin
//           on steal. Counts who won each round: the owner's pop, a thief, or neither (the
//           answer a wrong CAS would give).
//   growth  VERIFY.md class 3: deques that start at capacity 2 and grow under steal: random
//           bursts up to 2^k with occasional pops; the first run of the phase is DEEP: the
//           owner pushes until capacity >= 2^16 (15 resizes; 2^21 = 20 in soak) while the
//           thieves steal (napping
//           50 us every 16 steals, so that they cannot keep the deque short).
//
// LIFETIME. The owner destroys the deque as soon as it has joined the thieves and drained it,
// before the checks run (which use only the takers' logs).
//
// CHECKS, after every run (threads joined; each taker logged what it took):
//   every element pushed was taken exactly once — "LOST: element 17 was pushed but never
//   taken", "DUPLICATED: element 17 taken twice: by owner (pop) and by thief 2 (steal)";
//   the payload a taker read is what the owner wrote (CORRUPT); each thief's takes are in push
//   order (FIFO end) and the owner's pops between two pushes in reverse push order (LIFO end)
//   (ORDER); after the owner's pop answered empty with no thief running, nothing is left
//   (STRANDED).
// The mutant checks in stress/CMakeLists.txt match the DUPLICATED line.
#include <algorithm>
#include <chrono>
#include <cinttypes>
#include <cstdint>
#include <cstdio>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <handoff/primitives/mutex_deque.hpp>
#include <handoff/primitives/work_stealing_deque.hpp>

#include "harness.hpp"

namespace {

using namespace handoff;
namespace hs = handoff::stress;
using hs::fmt;

constexpr unsigned kMaxThieves = 64;
constexpr int kOwner = -1;
constexpr int kNobody = -2;

// ---- the payload -------------------------------------------------------------------------

struct Item {
  std::uint64_t seq = 0;
  std::uint64_t check = 0;  // checksum(seq): a stale or unpublished payload fails it

  static std::uint64_t checksum(std::uint64_t s) noexcept {
    std::uint64_t x = s ^ 0x5bd1e9955bd1e995ull;
    return hs::splitmix64(x) | 1;  // never 0: a zeroed (never written) item fails
  }
};

std::string who(int taker) {
  return taker == kOwner ? std::string("owner (pop)") : fmt("thief %d (steal)", taker);
}

// ---- what the watchdog sees --------------------------------------------------------------

enum class OwnerState : int { Idle, Starting, Pushing, Popping, Spinning, Stopping, Draining, Verifying };
const char* to_string(OwnerState s) {
  switch (s) {
    case OwnerState::Idle: return "idle";
    case OwnerState::Starting: return "starting thieves";
    case OwnerState::Pushing: return "pushing";
    case OwnerState::Popping: return "popping";
    case OwnerState::Spinning: return "spinning (a job's work)";
    case OwnerState::Stopping: return "stopping and joining thieves";
    case OwnerState::Draining: return "draining after the join";
    case OwnerState::Verifying: return "verifying";
  }
  return "?";
}

// Written relaxed by the threads under test, read relaxed by the watchdog: no happens-before
// edge TSan could lean on.
struct Watch {
  std::atomic<const char*> phase{"init"};
  std::atomic<unsigned> thieves{0};
  std::atomic<std::uint64_t> run{0};
  std::atomic<std::uint64_t> run_seed{0};
  std::atomic<int> owner_state{0};
  std::atomic<std::uint64_t> pushed{0};
  std::atomic<std::uint64_t> popped{0};
  std::atomic<std::uint64_t> beat{0};
  hs::Padded<std::atomic<std::uint64_t>> stolen[kMaxThieves];
  hs::Padded<std::atomic<std::uint64_t>> attempts[kMaxThieves];

  void state(OwnerState s) { owner_state.store(static_cast<int>(s), std::memory_order_relaxed); }  // display only

  std::uint64_t progress() const {
    std::uint64_t sum = beat.load(std::memory_order_relaxed) + pushed.load(std::memory_order_relaxed) +  // watchdog only
                        popped.load(std::memory_order_relaxed) +  // watchdog only
                        static_cast<std::uint64_t>(owner_state.load(std::memory_order_relaxed));  // watchdog only
    const unsigned P = thieves.load(std::memory_order_relaxed);  // watchdog only
    for (unsigned k = 0; k < P && k < kMaxThieves; ++k) sum += stolen[k].v.load(std::memory_order_relaxed);  // watchdog only
    return sum;
  }

  std::string diagnose() const {
    const unsigned P = thieves.load(std::memory_order_relaxed);  // watchdog only
    std::string s = fmt("state: phase=%s thieves=%u run=%" PRIu64 " run-seed=%" PRIu64 "\n",
                        phase.load(std::memory_order_relaxed), P, run.load(std::memory_order_relaxed),  // watchdog only
                        run_seed.load(std::memory_order_relaxed));  // watchdog only
    s += fmt("owner (main thread): %s; pushed %" PRIu64 ", popped %" PRIu64 " this run\n",
             to_string(static_cast<OwnerState>(owner_state.load(std::memory_order_relaxed))),  // watchdog only
             pushed.load(std::memory_order_relaxed), popped.load(std::memory_order_relaxed));  // watchdog only
    for (unsigned k = 0; k < P && k < kMaxThieves; ++k) {
      s += fmt("thief %u: stole %" PRIu64 " in %" PRIu64 " attempts\n", k,
               stolen[k].v.load(std::memory_order_relaxed), attempts[k].v.load(std::memory_order_relaxed));  // watchdog only
    }
    return s;
  }

  void reset_run(unsigned P) {
    pushed.store(0, std::memory_order_relaxed);  // threads not started yet
    popped.store(0, std::memory_order_relaxed);  // as above
    for (unsigned k = 0; k < P; ++k) {
      stolen[k].v.store(0, std::memory_order_relaxed);    // as above
      attempts[k].v.store(0, std::memory_order_relaxed);  // as above
    }
  }
};

// ---- one run: owner + thieves + the ledger --------------------------------------------------

struct Ctx {
  hs::Harness& h;
  Watch& w;
  const char* deque_name;
  hs::Findings findings;
  std::string failure_where;
  bool failed() const { return !findings.empty(); }
};

struct Totals {
  std::uint64_t runs = 0, items = 0, popped = 0, stolen = 0, retries = 0, empties = 0;
  std::uint64_t owner_won = 0, thief_won = 0, nobody = 0;  // race phase, per round
  std::uint64_t resizes = 0, deepest = 0;                  // growth phase
  bool by_count = false;
};

// Per-taker log, written by that thread only, read after the join. An entry is an element's
// seq, or kForeign (a pointer that was never pushed), or seq | kCorruptBit (wrong payload).
constexpr std::uint64_t kForeign = ~0ull;
constexpr std::uint64_t kCorruptBit = 1ull << 62;
struct TakerLog {
  std::vector<std::uint64_t> seqs;
  std::uint64_t retries = 0, empties = 0;
  std::string order_broken;  // thieves: the first FIFO violation, if any
};

template <class D>
class Run {
 public:
  // slow_thieves (the deep growth run): the thieves together take at most half of what the
  // owner has pushed (a throttle on progress, not on time), so the deque holds at least half of
  // the pushes and must grow deep whatever the scheduling. It was a 50 us nap per 16 steals,
  // and on a loaded machine the thieves still kept up: SHALLOW failed a fresh-clone make test.
  Run(Ctx& c, unsigned P, std::size_t capacity, std::size_t max_items, std::uint64_t run_seed,
      bool slow_thieves = false)
      : c_(c), P_(P), deque_(std::make_unique<D>(capacity)), items_(max_items), thief_logs_(P), rng_(run_seed),
        slow_thieves_(slow_thieves) {
    c_.w.reset_run(P);
    c_.h.perturb(run_seed);
    c_.w.state(OwnerState::Starting);
    threads_.reserve(P);
    // sync::thread, in thief order: each thief's perturbation key is the same in a replay.
    for (unsigned k = 0; k < P; ++k) threads_.push_back(c_.h.thread([this, k] { thief(k); }));
    c_.h.note_threads(P + 1);
  }
  Run(const Run&) = delete;
  Run& operator=(const Run&) = delete;
  ~Run() { stop(); }

  D& deque() { return *deque_; }
  hs::Rng& rng() { return rng_; }
  std::uint64_t pushed() const { return pushed_; }
  std::size_t room() const { return items_.size() - pushed_; }

  // Owner: push the next item (its fields written just before, published by the push).
  void push() {
    Item& it = items_[pushed_];
    it.seq = pushed_;
    it.check = Item::checksum(pushed_);
    deque_->push(&it);
    ++pushed_;
    last_pop_ = kNoPop;
    c_.w.pushed.store(pushed_, std::memory_order_relaxed);  // watchdog only
  }

  // Owner: one pop; the seq taken, or nullopt.
  std::optional<std::uint64_t> pop() {
    const std::optional<Item*> v = deque_->pop();
    if (!v) return std::nullopt;
    const std::uint64_t s = record(*v, owner_log_);
    if (s != kForeign) {
      if (last_pop_ != kNoPop && s >= last_pop_ && c_.findings.count("ORDER") < 20) {
        c_.findings.add("ORDER", fmt("ORDER: owner popped element %" PRIu64 " after element %" PRIu64
                                     " with no push in between (LIFO end)", s, last_pop_));
      }
      last_pop_ = s;
    }
    c_.w.popped.fetch_add(1, std::memory_order_relaxed);  // watchdog only
    return s;
  }

  void spin(unsigned pauses) {
    for (unsigned i = 0; i < pauses; ++i) sync::spin_pause();
  }

  // Stops the thieves, joins them, drains what is left (must be nothing after the owner's pop
  // answered empty), verifies exactly-once and accumulates the totals.
  void finish(Totals& tot) {
    c_.w.state(OwnerState::Stopping);
    stop();
    c_.w.state(OwnerState::Draining);
    // The owner's last pop answered empty while thieves ran; a thief may have won the last
    // element since, but nothing may be left for anybody.
    while (const std::optional<Item*> v = deque_->pop()) {
      const std::uint64_t s = record(*v, owner_log_);
      c_.findings.add("STRANDED", fmt("STRANDED: element %" PRIu64 " was still in the deque after the owner's pop "
                                      "had answered empty (popped after the join)", s));
    }
    Item* out = nullptr;
    for (;;) {
      const StealStatus st = deque_->steal(out);
      if (st == StealStatus::Empty) break;
      if (st == StealStatus::Retry) {
        c_.findings.add("RETRY ALONE", "RETRY ALONE: steal answered Retry with no other thread running");
        break;
      }
      const std::uint64_t s = record(out, owner_log_);
      c_.findings.add("STRANDED", fmt("STRANDED: element %" PRIu64 " was stealable after pop answered empty "
                                      "with no thief running", s));
    }
    // LIFETIME: the owner has joined every thief and its pop answered empty: all work is
    // finished, so the deque dies now, before the checks (a late access by anyone is then a
    // use after free for ASan, a race with the free for TSan).
    deque_.reset();
    c_.w.state(OwnerState::Verifying);
    verify(tot);
    c_.h.account_thread();
    c_.h.add_ops(pushed_ + tot_taken_);
  }

  // The owner's pops until it answers empty.
  void pop_all() {
    c_.w.state(OwnerState::Popping);
    while (pop()) {
    }
  }

 private:
  static constexpr std::uint64_t kNoPop = ~0ull;

  void thief(unsigned k) {
    TakerLog& log = thief_logs_[k];
    std::atomic<std::uint64_t>& stolen = c_.w.stolen[k].v;
    std::atomic<std::uint64_t>& attempts = c_.w.attempts[k].v;
    std::uint64_t last = kNoPop;
    unsigned empty_streak = 0;
    std::uint64_t n = 0;
    // relaxed: the stop flag orders nothing; the join does.
    while (!stop_.load(std::memory_order_relaxed)) {  // test bookkeeping; the join orders the logs
      if (slow_thieves_ && stolen_all_.load(std::memory_order_relaxed) * 2 >=  // test bookkeeping (throttle)
                               c_.w.pushed.load(std::memory_order_relaxed)) {  // test bookkeeping (throttle)
        std::this_thread::yield();
        continue;
      }
      Item* out = nullptr;
      const StealStatus st = deque_->steal(out);
      attempts.store(++n, std::memory_order_relaxed);  // watchdog only
      if (st == StealStatus::Success) {
        empty_streak = 0;
        const std::uint64_t s = record(out, log);
        if (s != kForeign) {
          if (last != kNoPop && s <= last && log.order_broken.empty()) {
            log.order_broken = fmt("ORDER: thief %u stole element %" PRIu64 " after element %" PRIu64 " (FIFO end)",
                                   k, s, last);
          }
          if (last == kNoPop || s > last) last = s;
        }
        stolen.fetch_add(1, std::memory_order_relaxed);  // watchdog only
        stolen_all_.fetch_add(1, std::memory_order_relaxed);  // test bookkeeping (throttle)
      } else if (st == StealStatus::Retry) {
        ++log.retries;
      } else {
        ++log.empties;
        if (++empty_streak % 16 == 0) {
          std::this_thread::yield();  // 2 cores, up to 9 threads: let the owner run
        } else {
          sync::spin_pause();
        }
      }
    }
    c_.h.account_thread();
  }

  // Any taker: logs the take (checking the payload it reads) and returns the element's seq,
  // or kForeign. Findings are made after the join, from the logs.
  std::uint64_t record(Item* it, TakerLog& log) {
    if (it < items_.data() || it >= items_.data() + items_.size()) {
      log.seqs.push_back(kForeign);
      return kForeign;
    }
    const std::uint64_t idx = static_cast<std::uint64_t>(it - items_.data());
    const bool intact = it->seq == idx && it->check == Item::checksum(idx);
    log.seqs.push_back(intact ? idx : (idx | kCorruptBit));
    return idx;
  }

  void stop() {
    stop_.store(true, std::memory_order_relaxed);  // test bookkeeping; the join orders the logs
    for (auto& t : threads_) {
      if (t.joinable()) t.join();
    }
  }

  void verify(Totals& tot) {
    std::vector<int> taker(pushed_, kNobody);
    auto account = [&](const TakerLog& log, int who_id) {
      for (std::uint64_t e : log.seqs) {
        if (e == kForeign) {
          c_.findings.add("CORRUPT", fmt("CORRUPT: %s got a pointer that was never pushed", who(who_id).c_str()));
          continue;
        }
        const std::uint64_t s = e & ~kCorruptBit;
        if (e & kCorruptBit) {
          c_.findings.add("CORRUPT", fmt("CORRUPT: element %" PRIu64 " taken by %s with a payload other than the "
                                         "owner wrote (unpublished or stale)", s, who(who_id).c_str()));
        }
        if (s >= pushed_) {
          c_.findings.add("CORRUPT", fmt("CORRUPT: element %" PRIu64 " taken by %s was never pushed", s,
                                         who(who_id).c_str()));
          continue;
        }
        if (taker[s] != kNobody) {
          c_.findings.add("DUPLICATED", fmt("DUPLICATED: element %" PRIu64 " taken twice: by %s and by %s", s,
                                            who(taker[s]).c_str(), who(who_id).c_str()));
        } else {
          taker[s] = who_id;
        }
      }
    };
    account(owner_log_, kOwner);
    std::uint64_t stolen = 0;
    for (unsigned k = 0; k < P_; ++k) {
      account(thief_logs_[k], static_cast<int>(k));
      stolen += thief_logs_[k].seqs.size();
      if (!thief_logs_[k].order_broken.empty()) c_.findings.add("ORDER", thief_logs_[k].order_broken);
      tot.retries += thief_logs_[k].retries;
      tot.empties += thief_logs_[k].empties;
    }
    for (std::uint64_t s = 0; s < pushed_; ++s) {
      if (taker[s] == kNobody) {
        c_.findings.add("LOST", fmt("LOST: element %" PRIu64 " was pushed but never taken", s));
      }
    }
    tot_taken_ = owner_log_.seqs.size() + stolen;
    tot.items += pushed_;
    tot.popped += owner_log_.seqs.size();
    tot.stolen += stolen;
    ++tot.runs;
  }

  Ctx& c_;
  unsigned P_;
  std::unique_ptr<D> deque_;
  std::vector<Item> items_;
  std::vector<TakerLog> thief_logs_;
  TakerLog owner_log_;
  hs::Rng rng_;
  bool slow_thieves_;
  std::vector<sync::thread> threads_;
  std::atomic<bool> stop_{false};
  std::atomic<std::uint64_t> stolen_all_{0};  // slow_thieves' throttle: every thief's steals
  std::uint64_t pushed_ = 0;
  std::uint64_t last_pop_ = kNoPop;
  std::uint64_t tot_taken_ = 0;
};

// ---- phases --------------------------------------------------------------------------------

// Per-run sizes (ctest, soak): in ctest small enough that a 10 s slice still holds several runs
// under TSan, so the clock only decides how many runs there are (replayable with --runs), never
// their content; soak has no clock and runs the pre-replay sizes.
constexpr std::uint64_t kWorkRunItems[2] = {5'000, 200'000};
constexpr std::uint64_t kRaceRunRounds[2] = {2'500, 100'000};

template <class D>
void work_run(Ctx& c, unsigned P, std::uint64_t n, std::uint64_t run_seed, Totals& tot) {
  hs::Rng pick(run_seed ^ 0x77);
  const std::size_t capacity = std::size_t{2} << pick.below(8);  // 2..256
  Run<D> r(c, P, capacity, n, run_seed);
  hs::Rng& rng = r.rng();
  while (r.room() > 0) {
    c.w.state(OwnerState::Pushing);
    const std::uint64_t burst = std::min<std::uint64_t>(r.room(), 1 + rng.below(rng.chance(100) ? 256 : 16));
    for (std::uint64_t i = 0; i < burst; ++i) r.push();
    c.w.state(OwnerState::Popping);
    const std::uint64_t pops = rng.below(burst + 8);
    for (std::uint64_t i = 0; i < pops && r.pop(); ++i) {
    }
    if (rng.chance(200)) {
      c.w.state(OwnerState::Spinning);
      r.spin(static_cast<unsigned>(rng.below(256)));
    }
  }
  r.pop_all();
  r.finish(tot);
}

template <class D>
void race_run(Ctx& c, unsigned P, std::uint64_t rounds, std::uint64_t run_seed, Totals& tot) {
  Run<D> r(c, P, 2, rounds, run_seed);
  hs::Rng& rng = r.rng();
  std::uint64_t round = 0;
  for (; round < rounds; ++round) {
    c.w.state(OwnerState::Pushing);
    r.push();
    const std::uint64_t mine = r.pushed() - 1;
    r.spin(static_cast<unsigned>(rng.below(64)));
    c.w.state(OwnerState::Popping);
    const std::optional<std::uint64_t> got = r.pop();
    if (got && *got == mine) {
      ++tot.owner_won;
    } else if (!got) {
      ++tot.thief_won;  // or nobody: told apart after the join (LOST)
    }
    if (r.deque().capacity() != 2 && c.findings.count("GREW") == 0) {
      c.findings.add("GREW", fmt("GREW: a deque that never held more than one element grew to capacity %zu",
                                 r.deque().capacity()));
    }
  }
  r.finish(tot);
}

template <class D>
void growth_run(Ctx& c, unsigned P, bool deep, std::uint64_t run_seed, Totals& tot) {
  // 2 -> 2^21 (20 resizes) in soak; 2 -> 2^16 (15) in ctest, where under TSan a 2^21 run
  // alone takes ~13 s. The unit test's growth case does the 20 resizes in every build (ASan).
  const std::size_t kDeepCapacity = std::size_t{1} << (c.h.soak() ? 21 : 16);
  hs::Rng pick(run_seed ^ 0x99);
  const std::uint64_t n = deep ? 2 * kDeepCapacity : (std::uint64_t{16} << pick.below(10));  // 16 .. 8k
  Run<D> r(c, P, 2, n, run_seed, /*slow_thieves=*/deep);
  hs::Rng& rng = r.rng();
  std::size_t cap = r.deque().capacity();
  std::uint64_t resizes = 0;
  auto note_capacity = [&] {
    const std::size_t now = r.deque().capacity();
    while (cap < now) {
      cap *= 2;
      ++resizes;
    }
  };
  if (deep) {
    c.w.state(OwnerState::Pushing);
    while (r.room() > 0 && r.deque().capacity() < kDeepCapacity) r.push();
  }
  while (!deep && r.room() > 0) {
    c.w.state(OwnerState::Pushing);
    const std::uint64_t burst = std::min<std::uint64_t>(r.room(), 1 + rng.below(std::uint64_t{2} << rng.below(12)));
    for (std::uint64_t i = 0; i < burst; ++i) r.push();
    note_capacity();
    c.w.state(OwnerState::Popping);
    const std::uint64_t pops = rng.below(burst / 4 + 2);
    for (std::uint64_t i = 0; i < pops && r.pop(); ++i) {
    }
  }
  note_capacity();
  r.pop_all();
  r.finish(tot);
  tot.resizes += resizes;
  tot.deepest = std::max(tot.deepest, resizes);
  if (deep && std::is_same_v<D, WorkStealingDeque<Item*>> && cap < kDeepCapacity) {
    c.findings.add("SHALLOW", fmt("SHALLOW: the deep growth run pushed %" PRIu64 " items but reached capacity %zu "
                                  "only (< %zu): the thieves kept up", r.pushed(), cap, kDeepCapacity));
  }
}

template <class D>
void phase(Ctx& c, const std::string& name, unsigned P, hs::Clock::time_point deadline, bool first_growth) {
  Totals tot;
  const auto t0 = hs::Clock::now();
  c.w.phase.store(name == "work" ? "work" : name == "race" ? "race" : "growth", std::memory_order_relaxed);  // display only
  // ctest counts are time-bounded slices of these; soak runs them in full.
  const std::uint64_t target = name == "work"   ? c.h.count(2'000'000, 20'000'000)   // items per P
                               : name == "race" ? c.h.count(1'000'000, 1'000'000)    // rounds per P (class 1)
                                                : c.h.count(400, 4'000);             // runs per P
  std::uint64_t done = 0;
  while (!c.failed()) {
    if (done >= target) {
      tot.by_count = true;
      break;
    }
    // The clock decides how many runs a slice gets, at least one (so every phase and thief
    // count is covered, and the first growth run is the DEEP one); a replay (--runs) gets the
    // same number.
    if (!c.h.another_run(deadline, tot.runs, 1)) break;
    const std::uint64_t run_seed = hs::derive_seed(c.h.seed(), {name == "work" ? 1u : name == "race" ? 2u : 3u, P, tot.runs});
    c.w.run.store(tot.runs, std::memory_order_relaxed);       // display only
    c.w.run_seed.store(run_seed, std::memory_order_relaxed);  // display only
    c.w.beat.fetch_add(1, std::memory_order_relaxed);         // progress
    const std::uint64_t before = name == "race" ? tot.owner_won + tot.thief_won : tot.items;
    // Runs are short and never cut by the clock: a run's work is a function of its seed.
    const int soak = c.h.soak() ? 1 : 0;
    if (name == "work") work_run<D>(c, P, std::min(kWorkRunItems[soak], target - done), run_seed, tot);
    if (name == "race") race_run<D>(c, P, std::min(kRaceRunRounds[soak], target - done), run_seed, tot);
    if (name == "growth") growth_run<D>(c, P, first_growth && tot.runs == 0, run_seed, tot);
    done += name == "growth" ? 1 : (name == "race" ? tot.owner_won + tot.thief_won : tot.items) - before;
    if (c.failed()) {
      c.failure_where = fmt("phase=%s deque=%s thieves=%u run=%" PRIu64 " run-seed=%" PRIu64, name.c_str(),
                            c.deque_name, P, tot.runs - 1, run_seed);
    }
  }
  const double secs = std::chrono::duration<double>(hs::Clock::now() - t0).count();
  std::string extra;
  if (name == "race") {
    extra = fmt(" rounds=%" PRIu64 " owner-won=%" PRIu64 " thief-won=%" PRIu64, tot.owner_won + tot.thief_won,
                tot.owner_won, tot.thief_won);
  }
  if (name == "growth") extra = fmt(" resizes=%" PRIu64 " deepest=%" PRIu64, tot.resizes, tot.deepest);
  std::printf("[%-6s thieves=%-2u] runs=%" PRIu64 " (%s) items=%s popped=%s stolen=%s retry=%s empty=%s%s; %.2fs\n",
              name.c_str(), P, tot.runs, tot.by_count ? "count reached" : "time bound", hs::human(double(tot.items)).c_str(),
              hs::human(double(tot.popped)).c_str(), hs::human(double(tot.stolen)).c_str(),
              hs::human(double(tot.retries)).c_str(), hs::human(double(tot.empties)).c_str(), extra.c_str(), secs);
  std::fflush(stdout);
}

template <class D>
int run_all(hs::Harness& h, Watch& w, const char* deque_name, const std::vector<std::string>& phases) {
  Ctx c{h, w, deque_name, hs::Findings(20), {}};
  h.watch([&w] { return w.progress(); }, [&w] { return w.diagnose(); });
  struct Slice {
    std::string phase;
    unsigned P;
  };
  std::vector<Slice> slices;
  for (const std::string& ph : phases) {
    for (unsigned P : h.producers()) slices.push_back({ph, P});
  }
  double weight_left = static_cast<double>(slices.size());
  bool first_growth = true;
  for (const Slice& s : slices) {
    if (c.failed()) break;
    const auto deadline = h.slice_deadline(1.0, weight_left);
    weight_left -= 1.0;
    w.thieves.store(s.P, std::memory_order_relaxed);  // display only
    phase<D>(c, s.phase, s.P, deadline, s.phase == "growth" && first_growth);
    if (s.phase == "growth") first_growth = false;
  }
  w.state(OwnerState::Idle);
  if (c.failed()) {
    std::printf("FAILURE in %s (the REPLAY line below replays it):\n", c.failure_where.c_str());
    c.findings.print();
    return h.finish(false, fmt("deque=%s %s", deque_name, c.findings.summary().c_str()));
  }
  return h.finish(true, fmt("deque=%s %zu slices, every element taken exactly once, both ends in order",
                            deque_name, slices.size()));
}

}  // namespace

int main(int argc, char** argv) {
  std::string deque = "ws";
  std::vector<std::string> phases{"work", "race", "growth"};
  std::vector<hs::ExtraOption> extra{
      {"--deque", "ws (WorkStealingDeque, default) | mutex (MutexDeque: a cross-check of this test)", true,
       [&](const std::string& v) {
         deque = v;
         return v == "ws" || v == "mutex";
       }},
      {"--phase", "phases to run, comma-separated: work,race,growth (default all)", true,
       [&](const std::string& v) {
         phases.clear();
         std::size_t pos = 0;
         while (pos <= v.size()) {
           const std::size_t comma = v.find(',', pos);
           std::string ph = v.substr(pos, comma == std::string::npos ? std::string::npos : comma - pos);
           if (ph != "work" && ph != "race" && ph != "growth") return false;
           phases.push_back(ph);
           if (comma == std::string::npos) break;
           pos = comma + 1;
         }
         return !phases.empty();
       }},
  };
  hs::Defaults d;
  d.producers = {1, 2, 4, 8};  // thieves
  hs::Harness h("work_stealing_deque_stress", argc, argv, d, std::move(extra));
  std::printf("work_stealing_deque_stress: --producers is the number of THIEVES (one owner besides)\n");
  if (h.max_producers() > kMaxThieves) {
    std::printf("work_stealing_deque_stress: at most %u thieves\n", kMaxThieves);
    return h.finish(false, "usage");
  }
#if defined(HANDOFF_MUTANT_DEQUE_NO_LAST_CAS)
  std::printf("work_stealing_deque_stress: MUTANT build (HANDOFF_MUTANT_DEQUE_NO_LAST_CAS): this run is expected to FAIL\n");
#endif
#if defined(HANDOFF_MUTANT_DEQUE_RELAXED)
  std::printf("work_stealing_deque_stress: MUTANT build (HANDOFF_MUTANT_DEQUE_RELAXED)\n");
#endif
  static Watch w;  // outlives the watchdog's last look
  if (deque == "mutex") return run_all<handoff::MutexDeque<Item*>>(h, w, "MutexDeque", phases);
  return run_all<handoff::WorkStealingDeque<Item*>>(h, w, "WorkStealingDeque", phases);
}
