// handoff/stress/mpsc_inbox_stress.cpp — stress test of the MPSC inbox, through MpscQueue<T>,
// and the same test run on MutexQueue<T> as a cross-check of the test itself.
//
// PHASES. Each runs for every P in --producers; every run has a fresh queue, fresh threads
// and its own seed derived from the master seed (printed first by the harness).
//
//   seq    VERIFY.md class 7. P producers push (producer, seq) items while one consumer pops:
//          nothing lost, nothing duplicated, per-producer FIFO, payload intact (checksum),
//          stats().popped agrees; after the producers are joined no Retry may be answered.
//   close  close() at a random moment while producers push. The closer is a thread, the
//          consumer, a producer, or two threads at once; sometimes the consumer abandons the
//          queue and its destructor drops the rest. Checks: every Pushed item is popped or
//          dropped exactly once; no Closed item is ever popped; per producer, once a push
//          returned Closed every later push does (close is linearizable); a push that began
//          after close() returned is refused; a refused value comes back untouched; Closed is
//          final; ledger pushed = popped + dropped, refused counted. The queue is destroyed
//          as soon as every producer's last push and every closer's close() has returned,
//          before any thread is joined (ASan/TSan builds see a late access as an error).
//          Producers reuse nodes: a refused node goes straight back to the producer's cache
//          and its next push takes it again.
//   burst  VERIFY.md classes 5 and 6. Rounds of 1–2-item bursts per producer (some skip a
//          round); the consumer checks every answer against the producers' progress words:
//          Empty only when no completed push is unpopped, Retry only while some producer is
//          inside push. A producer stalled between its exchange and its link (perturbation
//          makes the window long) must make the consumer answer Retry, never spin forever
//          (watchdog) and never reorder (FIFO check).
//
// Diagnostics name the item: "LOST: producer 3 seq 1207 was Pushed but never popped". The
// mutant check in stress/CMakeLists.txt matches that line.
//
// REPLAY: the consumer is the main thread (it calls perturb(run seed): key 0); producers, then
// closer threads, are sync::threads started in a fixed order; each phase's run loop asks
// Harness::another_run, and no run is cut by the clock (a seq run pushes its full count, a
// burst run all its rounds; the close moments are counts of pushes or pops). So the REPLAY
// line of a failure or of the watchdog's HANG replays the same runs with the same
// perturbation decision streams. What a replay cannot reproduce: the OS's scheduling, and
// what follows from it — how often the consumer is answered Empty or Retry (each try_pop is
// steps of its decision stream, so the consumer's later decisions shift), how far ahead of
// the consumer the close phase's producers get, which items are in flight at the close.
#include <cinttypes>
#include <cstdint>
#include <cstdio>
#include <memory>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <handoff/primitives/mpsc_queue.hpp>
#include <handoff/primitives/mutex_queue.hpp>

#include "harness.hpp"

namespace {

using namespace handoff;
namespace hs = handoff::stress;
using hs::fmt;

constexpr unsigned kMaxProducers = 64;
constexpr std::uint64_t kNoSeq = ~0ull;

// ---- the payload -------------------------------------------------------------------------

// While the consumer destroys a queue, values that die live are recorded here (main thread).
thread_local std::vector<std::pair<std::uint32_t, std::uint64_t>>* tl_drops = nullptr;

struct Item {
  std::uint32_t producer = 0;
  std::uint32_t check = 0;  // checksum(producer, seq): a torn or unpublished payload fails it
  std::uint64_t seq = 0;
  bool live = false;        // false when default-constructed or moved from

  static std::uint32_t checksum(std::uint32_t p, std::uint64_t s) noexcept {
    std::uint64_t x = (static_cast<std::uint64_t>(p) << 48) ^ s ^ 0x5bd1e9955bd1e995ull;
    return static_cast<std::uint32_t>(hs::splitmix64(x));
  }

  Item() = default;
  Item(std::uint32_t p, std::uint64_t s) noexcept : producer(p), check(checksum(p, s)), seq(s), live(true) {}
  Item(Item&& o) noexcept : producer(o.producer), check(o.check), seq(o.seq), live(std::exchange(o.live, false)) {}
  Item& operator=(Item&& o) noexcept {
    if (this != &o) {
      died();
      producer = o.producer;
      check = o.check;
      seq = o.seq;
      live = std::exchange(o.live, false);
    }
    return *this;
  }
  Item(const Item&) = delete;
  Item& operator=(const Item&) = delete;
  ~Item() { died(); }

  bool intact(std::uint32_t p, std::uint64_t s) const noexcept {
    return live && producer == p && seq == s && check == checksum(p, s);
  }

 private:
  void died() noexcept {
    if (live && tl_drops != nullptr) tl_drops->emplace_back(producer, seq);
  }
};

// ---- what the watchdog sees --------------------------------------------------------------

enum class MainState : int { Idle, Starting, Consuming, Closing, Joining, Draining, Destroying, Verifying };
const char* to_string(MainState s) {
  switch (s) {
    case MainState::Idle: return "idle";
    case MainState::Starting: return "starting threads";
    case MainState::Consuming: return "consuming";
    case MainState::Closing: return "calling close()";
    case MainState::Joining: return "joining producers";
    case MainState::Draining: return "draining after join";
    case MainState::Destroying: return "destroying the queue";
    case MainState::Verifying: return "verifying";
  }
  return "?";
}

enum class Closer : int { Thread, Consumer, Producer, TwoThreads };
const char* to_string(Closer c) {
  switch (c) {
    case Closer::Thread: return "thread";
    case Closer::Consumer: return "consumer";
    case Closer::Producer: return "producer0";
    case Closer::TwoThreads: return "two-threads";
  }
  return "?";
}

// Everything here is written relaxed (or release) by the threads under test and read relaxed
// by the watchdog and the checks: it adds no happens-before edge TSan could lean on.
struct Watch {
  std::atomic<const char*> phase{"init"};
  std::atomic<unsigned> producers{0};
  std::atomic<std::uint64_t> run{0};
  std::atomic<std::uint64_t> run_seed{0};
  std::atomic<std::uint64_t> round{kNoSeq};  // burst phase: the round being consumed
  std::atomic<int> closer{-1};
  std::atomic<std::uint64_t> close_target{0};
  std::atomic<bool> abandon{false};

  // Producer p's progress word: 2k+1 while inside its push of seq k, 2k after k pushes.
  hs::Padded<std::atomic<std::uint64_t>> word[kMaxProducers];
  hs::Padded<std::atomic<int>> last_result[kMaxProducers];  // -1 none, 0 Pushed, 1 Closed

  // Close protocol flags (close phase).
  alignas(64) std::atomic<bool> close_called{false};
  std::atomic<bool> close_returned{false};
  std::atomic<bool> consumer_done{false};

  // The consumer (main thread).
  alignas(64) std::atomic<int> main_state{0};
  std::atomic<std::uint64_t> popped{0};
  std::atomic<int> last_status{-1};
  std::atomic<std::uint64_t> retry_streak{0};
  std::atomic<std::uint64_t> last_item{kNoSeq};  // producer << 48 | seq
  std::atomic<std::uint64_t> beat{0};            // bumped between runs and per burst round

  void reset_run(unsigned P) {
    for (unsigned p = 0; p < P; ++p) {
      word[p].v.store(0, std::memory_order_relaxed);           // threads not started yet
      last_result[p].v.store(-1, std::memory_order_relaxed);   // as above
    }
    close_called.store(false, std::memory_order_relaxed);      // as above
    close_returned.store(false, std::memory_order_relaxed);    // as above
    consumer_done.store(false, std::memory_order_relaxed);     // as above
    popped.store(0, std::memory_order_relaxed);                // watchdog display only
    retry_streak.store(0, std::memory_order_relaxed);          // watchdog display only
    last_status.store(-1, std::memory_order_relaxed);          // watchdog display only
    last_item.store(kNoSeq, std::memory_order_relaxed);        // watchdog display only
  }
  void state(MainState s) { main_state.store(static_cast<int>(s), std::memory_order_relaxed); }  // display only

  std::uint64_t progress() const {
    std::uint64_t sum = beat.load(std::memory_order_relaxed) + popped.load(std::memory_order_relaxed) * 3 +  // test bookkeeping, read after joins or by the watchdog
                        static_cast<std::uint64_t>(main_state.load(std::memory_order_relaxed));  // test bookkeeping, read after joins or by the watchdog
    const unsigned P = producers.load(std::memory_order_relaxed);  // test bookkeeping, read after joins or by the watchdog
    for (unsigned p = 0; p < P && p < kMaxProducers; ++p) sum += word[p].v.load(std::memory_order_relaxed);  // test bookkeeping, read after joins or by the watchdog
    return sum;
  }

  std::string diagnose() const {
    const unsigned P = producers.load(std::memory_order_relaxed);  // test bookkeeping, read after joins or by the watchdog
    const std::uint64_t rd = round.load(std::memory_order_relaxed);  // test bookkeeping, read after joins or by the watchdog
    std::string s = fmt("state: phase=%s P=%u run=%" PRIu64 " run-seed=%" PRIu64 "%s\n",
                        phase.load(std::memory_order_relaxed), P, run.load(std::memory_order_relaxed),  // test bookkeeping, read after joins or by the watchdog
                        run_seed.load(std::memory_order_relaxed),  // test bookkeeping, read after joins or by the watchdog
                        rd == kNoSeq ? "" : fmt(" round=%" PRIu64, rd).c_str());
    const int c = closer.load(std::memory_order_relaxed);  // test bookkeeping, read after joins or by the watchdog
    if (c >= 0) {
      s += fmt("close: closer=%s target=%" PRIu64 " abandon=%s called=%s returned=%s consumer-done=%s\n",
               to_string(static_cast<Closer>(c)), close_target.load(std::memory_order_relaxed),  // test bookkeeping, read after joins or by the watchdog
               abandon.load(std::memory_order_relaxed) ? "yes" : "no",  // test bookkeeping, read after joins or by the watchdog
               close_called.load(std::memory_order_relaxed) ? "yes" : "no",  // test bookkeeping, read after joins or by the watchdog
               close_returned.load(std::memory_order_relaxed) ? "yes" : "no",  // test bookkeeping, read after joins or by the watchdog
               consumer_done.load(std::memory_order_relaxed) ? "yes" : "no");  // test bookkeeping, read after joins or by the watchdog
    }
    const int ls = last_status.load(std::memory_order_relaxed);  // test bookkeeping, read after joins or by the watchdog
    const std::uint64_t li = last_item.load(std::memory_order_relaxed);  // test bookkeeping, read after joins or by the watchdog
    std::uint64_t completed = 0;
    for (unsigned p = 0; p < P && p < kMaxProducers; ++p) completed += word[p].v.load(std::memory_order_relaxed) / 2;  // test bookkeeping, read after joins or by the watchdog
    const std::uint64_t popped_now = popped.load(std::memory_order_relaxed);  // test bookkeeping, read after joins or by the watchdog
    s += fmt("consumer (main thread): %s; popped %" PRIu64 " this run; last answer %s; current Retry streak %" PRIu64
             "; last item %s\n",
             to_string(static_cast<MainState>(main_state.load(std::memory_order_relaxed))), popped_now,  // test bookkeeping, read after joins or by the watchdog
             ls < 0 ? "none" : handoff::to_string(static_cast<PopStatus>(ls)), retry_streak.load(std::memory_order_relaxed),  // test bookkeeping, read after joins or by the watchdog
             li == kNoSeq ? "none" : fmt("producer %" PRIu64 " seq %" PRIu64, static_cast<std::uint64_t>(li >> 48),
                                             static_cast<std::uint64_t>(li & ((std::uint64_t{1} << 48) - 1))).c_str());
    s += fmt("queue: %" PRIu64 " pushes completed, %" PRIu64 " popped -> about %" PRId64 " in flight\n", completed,
             popped_now, static_cast<std::int64_t>(completed - popped_now));
    for (unsigned p = 0; p < P && p < kMaxProducers; ++p) {
      const std::uint64_t w = word[p].v.load(std::memory_order_relaxed);  // test bookkeeping, read after joins or by the watchdog
      const int r = last_result[p].v.load(std::memory_order_relaxed);  // test bookkeeping, read after joins or by the watchdog
      const char* last = r < 0 ? "none" : r == 0 ? "Pushed" : "Closed";
      if (w & 1) {
        s += fmt("producer %u: STUCK INSIDE push of seq %" PRIu64 " (%" PRIu64 " pushes done; last result %s)\n", p,
                 w / 2, w / 2, last);
      } else {
        s += fmt("producer %u: not in push; %" PRIu64 " pushes done (next seq %" PRIu64 "); last result %s\n", p, w / 2,
                 w / 2, last);
      }
    }
    return s;
  }
};

// ---- the ledger: what was pushed, refused, popped, dropped -------------------------------

constexpr std::uint8_t kNotPushed = 0, kPushed = 1, kRefused = 2;

// Per-producer notes written by the producer thread, read after join.
struct ProducerLog {
  std::vector<std::uint8_t> outcome;            // by seq: kPushed / kRefused
  std::vector<std::uint64_t> pushed_after_close;  // seqs that began after close() returned, yet Pushed
  std::vector<std::uint64_t> refused_changed;     // seqs refused whose value came back changed
  bool close_overlapped = false;  // the close() that had returned ran concurrently with another close()
};

class Ledger {
 public:
  explicit Ledger(unsigned producers) : per_(producers) {}

  // Consumer thread.
  void on_pop(const Item& it, hs::Findings& f) {
    if (!valid(it, f, "popped")) return;
    Per& x = per_[it.producer];
    if (it.seq >= x.popped.size()) x.popped.resize(std::max<std::size_t>(it.seq + 1, x.popped.size() * 2), 0);
    std::uint8_t& c = x.popped[it.seq];
    if (c < 255) ++c;
    ++x.popped_total;
    ++popped_;
    if (x.any && it.seq <= x.hi) {
      if (c == 1) {
        f.add("REORDERED", fmt("REORDERED: producer %u seq %" PRIu64 " popped after seq %" PRIu64
                               " of the same producer", it.producer, it.seq, x.hi));
      }
    } else {
      x.hi = it.seq;
      x.any = true;
    }
  }

  // Main thread, while the queue is destroyed.
  void on_drop(std::uint32_t p, std::uint64_t s, hs::Findings& f) {
    if (p >= per_.size() || s >= (1ull << 40)) {
      f.add("CORRUPT", fmt("CORRUPT: dropped payload producer=%u seq=%" PRIu64, p, s));
      return;
    }
    Per& x = per_[p];
    if (s >= x.dropped.size()) x.dropped.resize(std::max<std::size_t>(s + 1, x.dropped.size() * 2), 0);
    if (x.dropped[s] < 255) ++x.dropped[s];
    ++dropped_;
  }

  std::uint64_t popped_from(unsigned p) const { return per_[p].popped_total; }
  std::uint64_t popped() const { return popped_; }
  std::uint64_t dropped() const { return dropped_; }
  std::uint64_t pushed() const { return pushed_; }
  std::uint64_t refused() const { return refused_; }

  // After join. `close_phase`: refusals are expected (else each one is a finding);
  // `drops_allowed`: the queue was destroyed with items in it on purpose.
  void verify(const std::vector<ProducerLog>& logs, bool close_phase, bool drops_allowed, hs::Findings& f) {
    pushed_ = refused_ = 0;
    for (unsigned p = 0; p < per_.size(); ++p) {
      const Per& x = per_[p];
      const ProducerLog& log = logs[p];
      const std::size_t n = std::max({log.outcome.size(), x.popped.size(), x.dropped.size()});
      std::uint64_t first_refused = kNoSeq;
      for (std::size_t s = 0; s < n; ++s) {
        const std::uint8_t o = s < log.outcome.size() ? log.outcome[s] : kNotPushed;
        const unsigned pc = s < x.popped.size() ? x.popped[s] : 0;
        const unsigned dc = s < x.dropped.size() ? x.dropped[s] : 0;
        if (o == kPushed) {
          ++pushed_;
          if (pc + dc == 0) {
            f.add("LOST", fmt("LOST: producer %u seq %zu was Pushed but never popped%s", p, s,
                              drops_allowed ? " nor dropped" : ""));
          } else if (pc + dc > 1) {
            f.add("DUPLICATED", fmt("DUPLICATED: producer %u seq %zu was popped %u times and dropped %u times", p, s,
                                    pc, dc));
          } else if (dc > 0 && !drops_allowed) {
            f.add("DROPPED", fmt("DROPPED: producer %u seq %zu was dropped by the destructor although the consumer "
                                 "had drained the queue to Closed", p, s));
          }
          if (first_refused != kNoSeq) {
            f.add("CLOSE NOT LINEARIZABLE",
                  fmt("CLOSE NOT LINEARIZABLE: producer %u seq %zu returned Pushed after its seq %" PRIu64
                      " had returned Closed", p, s, first_refused));
          }
        } else if (o == kRefused) {
          ++refused_;
          if (first_refused == kNoSeq) first_refused = s;
          if (!close_phase) {
            f.add("UNEXPECTED REFUSAL", fmt("UNEXPECTED REFUSAL: producer %u seq %zu returned Closed but nobody "
                                            "closed the queue", p, s));
          }
          if (pc + dc > 0) {
            f.add("POPPED REFUSED", fmt("POPPED REFUSED: producer %u seq %zu was %s although its push returned "
                                        "Closed", p, s, pc > 0 ? "popped" : "dropped"));
          }
        } else if (pc + dc > 0) {
          f.add("PHANTOM", fmt("PHANTOM: producer %u seq %zu was %s but never pushed", p, s,
                               pc > 0 ? "popped" : "dropped"));
        }
      }
      for (std::uint64_t s : log.pushed_after_close) {
        f.add("PUSHED AFTER CLOSE", fmt("PUSHED AFTER CLOSE: producer %u seq %" PRIu64 " began after close() had "
                                        "returned, yet returned Pushed%s", p, s,
                                        log.close_overlapped ? " (that close() call overlapped another close() call "
                                                               "and returned before the close took effect)" : ""));
      }
      for (std::uint64_t s : log.refused_changed) {
        f.add("REFUSED VALUE CHANGED", fmt("REFUSED VALUE CHANGED: producer %u seq %" PRIu64 " push returned Closed "
                                           "but the caller's value did not come back intact", p, s));
      }
    }
    if (pushed_ != popped_ + dropped_) {
      f.add("LEDGER", fmt("LEDGER: pushed=%" PRIu64 " != popped=%" PRIu64 " + dropped=%" PRIu64 " (refused=%" PRIu64
                          ")", pushed_, popped_, dropped_, refused_));
    }
  }

 private:
  struct Per {
    std::vector<std::uint8_t> popped;   // by seq: times popped
    std::vector<std::uint8_t> dropped;  // by seq: times dropped by the destructor
    std::uint64_t popped_total = 0;
    std::uint64_t hi = 0;               // highest seq popped so far
    bool any = false;
  };

  bool valid(const Item& it, hs::Findings& f, const char* how) const {
    if (!it.live || it.producer >= per_.size() || it.seq >= (1ull << 40) ||
        it.check != Item::checksum(it.producer, it.seq)) {
      f.add("CORRUPT", fmt("CORRUPT: %s payload producer=%u seq=%" PRIu64 " check=%08x live=%d (expected check %08x)",
                           how, it.producer, it.seq, it.check, it.live ? 1 : 0,
                           Item::checksum(it.producer, it.seq)));
      return false;
    }
    return true;
  }

  std::vector<Per> per_;
  std::uint64_t popped_ = 0, dropped_ = 0, pushed_ = 0, refused_ = 0;
};

// ---- shared per-test context ---------------------------------------------------------------

struct Answers {
  std::uint64_t item = 0, empty = 0, retry = 0, closed = 0;
  std::uint64_t max_streak = 0;   // longest run of consecutive Retry answers
  double max_streak_us = 0;       // and its duration
  std::uint64_t streak = 0;
  hs::Clock::time_point streak_start{};

  void note(PopStatus st) {
    switch (st) {
      case PopStatus::Item: ++item; break;
      case PopStatus::Empty: ++empty; break;
      case PopStatus::Retry: ++retry; break;
      case PopStatus::Closed: ++closed; break;
    }
    if (st == PopStatus::Retry) {
      if (streak++ == 0) streak_start = hs::Clock::now();
    } else if (streak > 0) {
      max_streak = std::max(max_streak, streak);
      max_streak_us = std::max(max_streak_us,
                               std::chrono::duration<double, std::micro>(hs::Clock::now() - streak_start).count());
      streak = 0;
    }
  }
  void add(const Answers& o) {
    item += o.item;
    empty += o.empty;
    retry += o.retry;
    closed += o.closed;
    max_streak = std::max(max_streak, o.max_streak);
    max_streak_us = std::max(max_streak_us, o.max_streak_us);
  }
  std::string str() const {
    return fmt("answers: item=%s empty=%s retry=%s closed=%s longest-retry-streak=%" PRIu64 " (%.0fus)",
               hs::human(double(item)).c_str(), hs::human(double(empty)).c_str(), hs::human(double(retry)).c_str(),
               hs::human(double(closed)).c_str(), max_streak, max_streak_us);
  }
};

struct Ctx {
  hs::Harness& h;
  Watch& w;
  const char* queue_name;
  int only_closer;   // -1: drawn per run; else a Closer
  bool inject_hang;  // harness self-test: producer 0 stalls forever in burst round 100
  hs::Findings findings;
  std::string failure_where;  // the run that failed
  bool failed() const { return !findings.empty(); }
};

// The consumer's bookkeeping after each answer (main thread; relaxed, display only).
void note_answer(Watch& w, Answers& a, PopStatus st, const Item* it) {
  a.note(st);
  w.last_status.store(static_cast<int>(st), std::memory_order_relaxed);  // display only
  w.retry_streak.store(a.streak, std::memory_order_relaxed);             // display only
  if (it != nullptr) {
    w.popped.fetch_add(1, std::memory_order_relaxed);  // single writer; display and progress only
    w.last_item.store((static_cast<std::uint64_t>(it->producer) << 48) | it->seq, std::memory_order_relaxed);  // display
  }
}

// Destroy the queue on the main thread, recording every value that dies live in it.
template <class Q>
void destroy_counting_drops(std::unique_ptr<Q>& q, Ledger& ledger, hs::Findings& f) {
  std::vector<std::pair<std::uint32_t, std::uint64_t>> drops;
  tl_drops = &drops;
  q.reset();
  tl_drops = nullptr;
  for (const auto& d : drops) ledger.on_drop(d.first, d.second, f);
}

// ---- phase: seq -------------------------------------------------------------------------------

template <class Q>
struct SeqTotals {
  std::uint64_t runs = 0, items = 0;
  Answers answers;
  bool by_count = false;
};

template <class Q>
void seq_run(Ctx& c, unsigned P, std::uint64_t per_producer, std::uint64_t run_seed, SeqTotals<Q>& tot) {
  Watch& w = c.w;
  w.reset_run(P);
  c.h.perturb(run_seed);
  auto q = std::make_unique<Q>();
  std::vector<ProducerLog> logs(P);
  std::atomic<unsigned> done{0};   // producers -> consumer: finished (relaxed: a hint; join orders)
  Ledger ledger(P);
  Answers ans;

  w.state(MainState::Starting);
  std::vector<handoff::sync::thread> threads;  // started in index order: replayable keys
  threads.reserve(P);
  for (unsigned p = 0; p < P; ++p) {
    logs[p].outcome.reserve(per_producer);
    threads.push_back(c.h.thread([&, p] {
      std::atomic<std::uint64_t>& word = w.word[p].v;
      ProducerLog& log = logs[p];
      for (std::uint64_t s = 0; s < per_producer; ++s) {
        word.store(2 * s + 1, std::memory_order_release);  // progress word; release keeps it before the push
        const PushResult r = q->push(Item(p, static_cast<std::uint64_t>(s)));
        word.store(2 * s + 2, std::memory_order_release);  // progress word; release keeps the push before it
        w.last_result[p].v.store(r == PushResult::Pushed ? 0 : 1, std::memory_order_relaxed);  // display only
        log.outcome.push_back(r == PushResult::Pushed ? kPushed : kRefused);
      }
      c.h.account_thread();
      done.fetch_add(1, std::memory_order_relaxed);  // a hint; the join orders the logs
    }));
  }
  c.h.note_threads(P + 1);

  w.state(MainState::Consuming);
  Item it;
  for (;;) {
    const PopStatus st = q->try_pop(it);
    note_answer(w, ans, st, st == PopStatus::Item ? &it : nullptr);
    if (st == PopStatus::Item) {
      ledger.on_pop(it, c.findings);
      continue;
    }
    if (st == PopStatus::Closed) {
      c.findings.add("UNEXPECTED CLOSED", "UNEXPECTED CLOSED: pop answered Closed but nobody closed the queue");
      break;
    }
    if (st == PopStatus::Empty && done.load(std::memory_order_relaxed) == P) break;  // hint; re-checked after join
    std::this_thread::yield();  // Retry: the producer in its window needs the CPU (2 cores)
  }
  w.state(MainState::Joining);
  for (auto& t : threads) t.join();

  // No producer is inside push now: the rest must come out without a single Retry.
  w.state(MainState::Draining);
  for (std::uint64_t retries = 0;;) {
    const PopStatus st = q->try_pop(it);
    note_answer(w, ans, st, st == PopStatus::Item ? &it : nullptr);
    if (st == PopStatus::Item) {
      ledger.on_pop(it, c.findings);
    } else if (st == PopStatus::Retry) {
      if (++retries == 1) {
        c.findings.add("RETRY WITHOUT PRODUCER", "RETRY WITHOUT PRODUCER: pop answered Retry after every producer "
                                                 "had been joined (no push can be in its window)");
      }
      if (retries > 100000) break;
      std::this_thread::yield();
    } else {
      break;
    }
  }
  w.state(MainState::Verifying);
  if (q->stats().popped != ledger.popped()) {
    c.findings.add("STATS", fmt("STATS: stats().popped=%" PRIu64 " but the consumer took %" PRIu64 " items",
                                static_cast<std::uint64_t>(q->stats().popped), ledger.popped()));
  }
  w.state(MainState::Destroying);
  destroy_counting_drops(q, ledger, c.findings);
  ledger.verify(logs, /*close_phase=*/false, /*drops_allowed=*/false, c.findings);
  c.h.account_thread();
  c.h.add_ops(ledger.pushed() + ledger.popped());
  tot.items += ledger.pushed();
  tot.answers.add(ans);
  ++tot.runs;
  if (c.failed()) c.failure_where = fmt("phase=seq queue=%s P=%u run=%" PRIu64 " run-seed=%" PRIu64, c.queue_name, P,
                                        tot.runs - 1, run_seed);
}

template <class Q>
void seq_phase(Ctx& c, unsigned P, hs::Clock::time_point deadline) {
  const std::uint64_t target = c.h.count(1u << 20, 20'000'000);  // items per P (class 7: 10^8 in a soak)
  // Items per run: a run is never cut by the clock (replay), so in ctest mode it is short
  // enough (~0.1 s under GCC-TSan) for the slices to keep their time bound.
  const std::uint64_t per_run = c.h.count(1u << 14, 1u << 20);
  SeqTotals<Q> tot;
  const auto t0 = hs::Clock::now();
  c.w.phase.store("seq", std::memory_order_relaxed);  // display only
  while (!c.failed()) {
    if (tot.items >= target) {
      tot.by_count = true;
      break;
    }
    if (!c.h.another_run(deadline, tot.runs)) break;
    const std::uint64_t n = std::min(per_run, target - tot.items);
    const std::uint64_t run_seed = hs::derive_seed(c.h.seed(), {1, P, tot.runs});
    c.w.run.store(tot.runs, std::memory_order_relaxed);       // display only
    c.w.run_seed.store(run_seed, std::memory_order_relaxed);  // display only
    c.w.beat.fetch_add(1, std::memory_order_relaxed);         // progress
    seq_run<Q>(c, P, std::max<std::uint64_t>(1, n / P), run_seed, tot);
  }
  const double secs = std::chrono::duration<double>(hs::Clock::now() - t0).count();
  std::printf("[seq   P=%-2u] runs=%" PRIu64 " items=%s (%s) %s; %s ops/s; %.2fs\n", P, tot.runs,
              hs::human(double(tot.items)).c_str(), tot.by_count ? "count reached" : "time bound",
              tot.answers.str().c_str(), hs::human(2.0 * double(tot.items) / std::max(secs, 1e-9)).c_str(), secs);
  std::fflush(stdout);
}

// ---- phase: close ------------------------------------------------------------------------------

struct CloseTotals {
  std::uint64_t runs = 0, pushed = 0, refused = 0, popped = 0, dropped = 0, abandoned = 0;
  std::uint64_t by_closer[4] = {0, 0, 0, 0};
  Answers answers;
  bool by_count = false;
};

template <class Q>
void close_run(Ctx& c, unsigned P, std::uint64_t run_seed, CloseTotals& tot) {
  Watch& w = c.w;
  hs::Rng rng(run_seed);
  const auto drawn = static_cast<Closer>(rng.below(4));  // drawn even when forced: same stream
  const Closer closer = c.only_closer >= 0 ? static_cast<Closer>(c.only_closer) : drawn;
  // Often early (a handful of pushes), sometimes at once, sometimes late.
  const std::uint64_t target = rng.chance(100) ? 0 : rng.chance(500) ? rng.below(32) : rng.below(1024);
  const bool abandon = rng.chance(200);
  const std::uint64_t abandon_at = rng.below(target + 64);
  const std::uint64_t cap = 1u << 16;  // pushes per producer per run: a bound should close() be broken
  constexpr std::uint64_t kAhead = 64;

  w.reset_run(P);
  // LIFETIME: each producer says when its last push has returned, each closer thread when its
  // close() has; the owner destroys the queue at that moment, before joining any thread
  // (their epilogues may still run), as an owner that believes all work is done would.
  std::vector<hs::Padded<std::atomic<bool>>> finished(P);
  std::atomic<unsigned> closers_finished{0};
  w.closer.store(static_cast<int>(closer), std::memory_order_relaxed);  // display only
  w.close_target.store(target, std::memory_order_relaxed);             // display only
  w.abandon.store(abandon, std::memory_order_relaxed);                 // display only
  c.h.perturb(run_seed);
  auto q = std::make_unique<Q>();
  std::vector<ProducerLog> logs(P);
  Ledger ledger(P);
  Answers ans;

  // Whether the close() that returned first overlapped another close() call: a concurrent
  // close() must not return before the close has taken effect either.
  std::atomic<int> closes_running{0};
  std::atomic<bool> returned_while_other_running{false};
  auto do_close = [&] {
    w.close_called.store(true, std::memory_order_relaxed);  // display only
    closes_running.fetch_add(1, std::memory_order_relaxed);  // relaxed: a diagnostic, adds no sync
    q->close();
    const bool other = closes_running.fetch_sub(1, std::memory_order_relaxed) > 1;  // as above
    if (!w.close_returned.load(std::memory_order_relaxed)) {                       // as above
      returned_while_other_running.store(other, std::memory_order_relaxed);        // as above
    }
    w.close_returned.store(true, std::memory_order_release);  // producers read it relaxed: adds no sync
  };

  w.state(MainState::Starting);
  // Producers by index, then the closer threads: the same perturbation keys in a replay.
  std::vector<handoff::sync::thread> threads;
  threads.reserve(P + 2);
  for (unsigned p = 0; p < P; ++p) {
    threads.push_back(c.h.thread([&, p] {
      std::atomic<std::uint64_t>& word = w.word[p].v;
      ProducerLog& log = logs[p];
      log.outcome.reserve(256);
      unsigned closed_seen = 0, after_done = 0;
      const std::uint64_t my_target = target / P;
      for (std::uint64_t s = 0; s < cap; ++s) {
        // Flow control, so a run is spent racing close() rather than filling the queue: stay
        // within kAhead items of the consumer's average per producer. Some producer is always
        // at or below the average, so this cannot stall while the consumer pops.
        while (s >= w.popped.load(std::memory_order_relaxed) / P + kAhead &&  // relaxed: a throttle only
               !w.consumer_done.load(std::memory_order_relaxed)) {          // a hint, as above
          std::this_thread::yield();
        }
        if (closer == Closer::Producer && p == 0 && s == my_target) do_close();
        // Read before the push begins: if close() had returned by then, the push must be refused.
        const bool close_was_returned = w.close_returned.load(std::memory_order_relaxed);  // no sync on purpose
        hs::compiler_barrier();
        word.store(2 * s + 1, std::memory_order_release);  // progress word; release keeps it before the push
        Item v(p, s);
        const PushResult r = q->push(std::move(v));
        word.store(2 * s + 2, std::memory_order_release);  // progress word; release keeps the push before it
        w.last_result[p].v.store(r == PushResult::Pushed ? 0 : 1, std::memory_order_relaxed);  // display only
        log.outcome.push_back(r == PushResult::Pushed ? kPushed : kRefused);
        if (r == PushResult::Closed) {
          if (!v.intact(p, s)) log.refused_changed.push_back(s);
          if (++closed_seen >= 3) break;  // seen Closed three times: later pushes are checked to stay Closed
        } else if (close_was_returned && hs::kTsoChecks) {
          log.pushed_after_close.push_back(s);
          log.close_overlapped |= returned_while_other_running.load(std::memory_order_relaxed);  // diagnostic
        }
        // A bound should close() never take effect for this producer (a broken close).
        if (w.consumer_done.load(std::memory_order_relaxed) && ++after_done > 64) break;  // a hint
      }
      // Its last push has returned: from here on the owner may destroy the queue (LIFETIME).
      finished[p].v.store(true, std::memory_order_release);  // pairs with the owner's acquire wait
      c.h.account_thread();
    }));
  }
  auto closer_thread = [&] {
    // Wait for `target` completed pushes (relaxed reads of the progress words: no sync).
    for (;;) {
      std::uint64_t completed = 0;
      for (unsigned p = 0; p < P; ++p) completed += w.word[p].v.load(std::memory_order_relaxed) / 2;  // test bookkeeping, read after joins or by the watchdog
      if (completed >= target || w.consumer_done.load(std::memory_order_relaxed)) break;  // test bookkeeping, read after joins or by the watchdog
      std::this_thread::yield();
    }
    do_close();
    closers_finished.fetch_add(1, std::memory_order_release);  // pairs with the owner's acquire wait
    c.h.account_thread();
  };
  unsigned closer_threads = 0;
  if (closer == Closer::Thread || closer == Closer::TwoThreads) {
    threads.push_back(c.h.thread(closer_thread));
    ++closer_threads;
  }
  if (closer == Closer::TwoThreads) {
    threads.push_back(c.h.thread(closer_thread));
    ++closer_threads;
  }
  c.h.note_threads(static_cast<unsigned>(threads.size()) + 1);

  w.state(MainState::Consuming);
  bool saw_closed = false, closed_by_me = false;
  Item it;
  for (;;) {
    if (closer == Closer::Consumer && !closed_by_me && ledger.popped() >= target) {
      w.state(MainState::Closing);
      do_close();
      closed_by_me = true;
      w.state(MainState::Consuming);
    }
    if (abandon && ledger.popped() >= abandon_at) break;
    const PopStatus st = q->try_pop(it);
    note_answer(w, ans, st, st == PopStatus::Item ? &it : nullptr);
    if (st == PopStatus::Item) {
      ledger.on_pop(it, c.findings);
    } else if (st == PopStatus::Closed) {
      saw_closed = true;
      break;
    } else {
      std::this_thread::yield();
    }
  }
  w.consumer_done.store(true, std::memory_order_relaxed);  // a hint that bounds the producers
  if (!saw_closed) {
    // Abandoned: make sure the queue gets closed (idempotent), so the producers stop.
    w.state(MainState::Closing);
    do_close();
  } else {
    // Closed is final, even while producers keep pushing.
    for (int i = 0; i < 3; ++i) {
      const PopStatus st = q->try_pop(it);
      if (st != PopStatus::Closed) {
        c.findings.add("CLOSED NOT FINAL", fmt("CLOSED NOT FINAL: pop answered %s after it had answered Closed%s",
                                               handoff::to_string(st),
                                               st == PopStatus::Item ? fmt(" (producer %u seq %" PRIu64 ")",
                                                                           it.producer, it.seq).c_str() : ""));
        if (st == PopStatus::Item) ledger.on_pop(it, c.findings);
      }
    }
  }
  w.state(MainState::Joining);
  for (unsigned p = 0; p < P; ++p) {
    while (!finished[p].v.load(std::memory_order_acquire)) std::this_thread::yield();  // pairs with the producer's release
  }
  while (closers_finished.load(std::memory_order_acquire) < closer_threads) std::this_thread::yield();  // as above
  if (saw_closed) {
    const PopStatus st = q->try_pop(it);
    if (st != PopStatus::Closed) {
      c.findings.add("CLOSED NOT FINAL", fmt("CLOSED NOT FINAL: after the producers finished pop answered %s",
                                             handoff::to_string(st)));
      if (st == PopStatus::Item) ledger.on_pop(it, c.findings);
    }
  }
  w.state(MainState::Verifying);
  if (q->stats().popped != ledger.popped()) {
    c.findings.add("STATS", fmt("STATS: stats().popped=%" PRIu64 " but the consumer took %" PRIu64 " items",
                                static_cast<std::uint64_t>(q->stats().popped), ledger.popped()));
  }
  w.state(MainState::Destroying);
  destroy_counting_drops(q, ledger, c.findings);  // threads not joined yet: see LIFETIME above
  for (auto& t : threads) t.join();
  ledger.verify(logs, /*close_phase=*/true, /*drops_allowed=*/!saw_closed, c.findings);
  c.h.account_thread();
  c.h.add_ops(ledger.pushed() + ledger.refused() + ledger.popped());
  tot.pushed += ledger.pushed();
  tot.refused += ledger.refused();
  tot.popped += ledger.popped();
  tot.dropped += ledger.dropped();
  tot.abandoned += saw_closed ? 0 : 1;
  ++tot.by_closer[static_cast<int>(closer)];
  tot.answers.add(ans);
  ++tot.runs;
  if (c.failed()) {
    c.failure_where = fmt("phase=close queue=%s P=%u run=%" PRIu64 " run-seed=%" PRIu64
                          " closer=%s target=%" PRIu64 " abandon=%s",
                          c.queue_name, P, tot.runs - 1, run_seed, to_string(closer), target,
                          abandon ? fmt("at %" PRIu64 " pops", abandon_at).c_str() : "no");
  }
}

template <class Q>
void close_phase(Ctx& c, unsigned P, hs::Clock::time_point deadline) {
  const std::uint64_t target = c.h.count(2000, 100'000);  // runs per P
  CloseTotals tot;
  const auto t0 = hs::Clock::now();
  c.w.phase.store("close", std::memory_order_relaxed);  // display only
  while (!c.failed()) {
    if (tot.runs >= target) {
      tot.by_count = true;
      break;
    }
    if (!c.h.another_run(deadline, tot.runs)) break;
    const std::uint64_t run_seed = hs::derive_seed(c.h.seed(), {2, P, tot.runs});
    c.w.run.store(tot.runs, std::memory_order_relaxed);       // display only
    c.w.run_seed.store(run_seed, std::memory_order_relaxed);  // display only
    c.w.beat.fetch_add(1, std::memory_order_relaxed);         // progress
    close_run<Q>(c, P, run_seed, tot);
  }
  c.w.closer.store(-1, std::memory_order_relaxed);  // display only
  const double secs = std::chrono::duration<double>(hs::Clock::now() - t0).count();
  std::printf("[close P=%-2u] runs=%" PRIu64 " (%s) pushed=%s refused=%s popped=%s dropped=%s abandoned=%" PRIu64
              " closers: thread=%" PRIu64 " consumer=%" PRIu64 " producer=%" PRIu64 " two=%" PRIu64 "; %s; %.2fs\n",
              P, tot.runs, tot.by_count ? "count reached" : "time bound", hs::human(double(tot.pushed)).c_str(),
              hs::human(double(tot.refused)).c_str(), hs::human(double(tot.popped)).c_str(),
              hs::human(double(tot.dropped)).c_str(), tot.abandoned, tot.by_closer[0], tot.by_closer[1],
              tot.by_closer[2], tot.by_closer[3], tot.answers.str().c_str(), secs);
  std::fflush(stdout);
}

// ---- phase: burst ------------------------------------------------------------------------------

// How many items producer p pushes in round r: 0, 1 or 2; at least one producer pushes.
unsigned burst_size(std::uint64_t run_seed, std::uint64_t r, unsigned p) {
  hs::Rng rng(hs::derive_seed(run_seed, {r, p}));
  const std::uint64_t x = rng.below(4);  // 0: skip, 1: one, 2-3: two
  if (p == 0 && x == 0) {
    // Producer 0 skips only if someone else pushes; decided the same way on both sides.
    return 1;
  }
  return x == 0 ? 0 : x == 1 ? 1 : 2;
}

struct BurstTotals {
  std::uint64_t rounds = 0, items = 0, runs = 0;
  std::uint64_t checked_empty = 0, checked_retry = 0;
  Answers answers;
  bool by_count = false;
};

template <class Q>
void burst_run(Ctx& c, unsigned P, std::uint64_t rounds, std::uint64_t run_seed, BurstTotals& tot) {
  Watch& w = c.w;
  w.reset_run(P);
  c.h.perturb(run_seed);
  auto q = std::make_unique<Q>();
  std::vector<ProducerLog> logs(P);
  Ledger ledger(P);
  Answers ans;
  constexpr std::uint64_t kQuit = ~0ull;
  // Rounds released to the producers. Consumer -> producers only (acquire/release is fine:
  // it orders nothing the consumer reads from the producers).
  std::atomic<std::uint64_t> go{0};

  w.state(MainState::Starting);
  std::vector<handoff::sync::thread> threads;  // started in index order: replayable keys
  threads.reserve(P);
  for (unsigned p = 0; p < P; ++p) {
    threads.push_back(c.h.thread([&, p] {
      std::atomic<std::uint64_t>& word = w.word[p].v;
      ProducerLog& log = logs[p];
      std::uint64_t s = 0;
      for (std::uint64_t r = 0;; ++r) {
        std::uint64_t g = go.load(std::memory_order_acquire);  // pairs with the consumer's release of round r
        while (g <= r) {
          go.wait(g, std::memory_order_acquire);  // test bookkeeping, read after joins or by the watchdog
          g = go.load(std::memory_order_acquire);  // as above
        }
        if (g == kQuit) break;
        const unsigned b = burst_size(run_seed, r, p);
        if (c.inject_hang && p == 0 && r == 100) {
          // Self-test of the watchdog: look like a producer stuck inside push, forever.
          word.store(2 * s + 1, std::memory_order_release);  // test bookkeeping, read after joins or by the watchdog
          for (;;) std::this_thread::sleep_for(std::chrono::seconds(1));
        }
        for (unsigned i = 0; i < b; ++i, ++s) {
          word.store(2 * s + 1, std::memory_order_release);  // progress word; release keeps it before the push
          const PushResult res = q->push(Item(p, s));
          word.store(2 * s + 2, std::memory_order_release);  // progress word; release keeps the push before it
          w.last_result[p].v.store(res == PushResult::Pushed ? 0 : 1, std::memory_order_relaxed);  // display only
          log.outcome.push_back(res == PushResult::Pushed ? kPushed : kRefused);
        }
      }
      c.h.account_thread();
    }));
  }
  c.h.note_threads(P + 1);

  w.state(MainState::Consuming);
  std::uint64_t before[kMaxProducers];
  std::uint64_t after[kMaxProducers];
  std::uint64_t r = 0;
  Item it;
  for (; r < rounds && !c.failed(); ++r) {
    std::uint64_t expected = 0;
    for (unsigned p = 0; p < P; ++p) expected += burst_size(run_seed, r, p);
    go.store(r + 1, std::memory_order_release);  // pairs with the producers' acquire: round r may start
    go.notify_all();
    w.beat.fetch_add(1, std::memory_order_relaxed);  // progress
    w.round.store(r, std::memory_order_relaxed);     // display only
    for (std::uint64_t got = 0; got < expected && !c.failed();) {
      if constexpr (hs::kTsoChecks) {
        for (unsigned p = 0; p < P; ++p) before[p] = w.word[p].v.load(std::memory_order_relaxed);  // no sync
      }
      hs::compiler_barrier();
      const PopStatus st = q->try_pop(it);
      hs::compiler_barrier();
      note_answer(w, ans, st, st == PopStatus::Item ? &it : nullptr);
      if (st == PopStatus::Item) {
        ledger.on_pop(it, c.findings);
        ++got;
        continue;
      }
      if (st == PopStatus::Closed) {
        c.findings.add("UNEXPECTED CLOSED", "UNEXPECTED CLOSED: pop answered Closed but nobody closed the queue");
        break;
      }
      if constexpr (hs::kTsoChecks) {
        if (st == PopStatus::Empty) {
          // Empty is wrong if some producer had finished a push that is still unpopped.
          ++tot.checked_empty;
          for (unsigned p = 0; p < P; ++p) {
            const std::uint64_t completed = before[p] / 2;
            if (ledger.popped_from(p) < completed) {
              c.findings.add("WRONG EMPTY", fmt("WRONG EMPTY: pop answered Empty although producer %u had completed "
                                                "its push of seq %" PRIu64 " (not yet popped) before the pop began",
                                                p, ledger.popped_from(p)));
            }
          }
        } else {
          // Retry is wrong if no producer was inside push at any time during the pop.
          ++tot.checked_retry;
          bool someone_pushing = false;
          for (unsigned p = 0; p < P; ++p) {
            after[p] = w.word[p].v.load(std::memory_order_relaxed);  // no sync
            if (after[p] != before[p] || (before[p] & 1) != 0) someone_pushing = true;
          }
          if (!someone_pushing) {
            c.findings.add("WRONG RETRY", "WRONG RETRY: pop answered Retry although no producer was inside push "
                                          "during the whole pop");
          }
        }
      }
      std::this_thread::yield();  // Retry: the producer in its window needs the CPU (2 cores)
    }
  }
  w.round.store(kNoSeq, std::memory_order_relaxed);  // display only
  go.store(kQuit, std::memory_order_release);  // pairs with the producers' acquire: stop
  go.notify_all();
  w.state(MainState::Joining);
  for (auto& t : threads) t.join();
  w.state(MainState::Draining);
  for (;;) {  // nothing may be left: every round was consumed in full
    const PopStatus st = q->try_pop(it);
    if (st != PopStatus::Item) break;
    c.findings.add("PHANTOM", fmt("PHANTOM: producer %u seq %" PRIu64 " popped after the last round was complete",
                                  it.producer, it.seq));
    ledger.on_pop(it, c.findings);
  }
  w.state(MainState::Destroying);
  destroy_counting_drops(q, ledger, c.findings);
  ledger.verify(logs, /*close_phase=*/false, /*drops_allowed=*/false, c.findings);
  c.h.account_thread();
  c.h.add_ops(ledger.pushed() + ledger.popped());
  tot.rounds += r;
  tot.items += ledger.pushed();
  tot.answers.add(ans);
  ++tot.runs;
  if (c.failed()) c.failure_where = fmt("phase=burst queue=%s P=%u run=%" PRIu64 " run-seed=%" PRIu64 " round=%" PRIu64,
                                        c.queue_name, P, tot.runs - 1, run_seed, r);
}

template <class Q>
void burst_phase(Ctx& c, unsigned P, hs::Clock::time_point deadline) {
  const std::uint64_t target = c.h.count(10'000, 100'000);  // rounds per P (class 5: 10^4)
  // Rounds per run: never cut by the clock (replay), so short in ctest mode (~0.1 s with 16
  // producers under GCC-TSan).
  const std::uint64_t per_run = c.h.count(1000, 10'000);
  BurstTotals tot;
  const auto t0 = hs::Clock::now();
  c.w.phase.store("burst", std::memory_order_relaxed);  // display only
  while (!c.failed()) {
    if (tot.rounds >= target) {
      tot.by_count = true;
      break;
    }
    if (!c.h.another_run(deadline, tot.runs)) break;
    const std::uint64_t run_seed = hs::derive_seed(c.h.seed(), {3, P, tot.runs});
    c.w.run.store(tot.runs, std::memory_order_relaxed);       // display only
    c.w.run_seed.store(run_seed, std::memory_order_relaxed);  // display only
    burst_run<Q>(c, P, std::min(per_run, target - tot.rounds), run_seed, tot);
  }
  const double secs = std::chrono::duration<double>(hs::Clock::now() - t0).count();
  std::printf("[burst P=%-2u] rounds=%" PRIu64 " (%s) items=%s answers checked: empty=%s retry=%s%s; %s; %.2fs\n", P,
              tot.rounds, tot.by_count ? "count reached" : "time bound", hs::human(double(tot.items)).c_str(),
              hs::human(double(tot.checked_empty)).c_str(), hs::human(double(tot.checked_retry)).c_str(),
              hs::kTsoChecks ? "" : " (answer checks need x86-TSO: off)", tot.answers.str().c_str(), secs);
  std::fflush(stdout);
}

// ---- driver ------------------------------------------------------------------------------------

template <class Q>
int run_all(hs::Harness& h, Watch& w, const char* queue_name, const std::vector<std::string>& phases,
            int only_closer, bool inject_hang) {
  Ctx c{h, w, queue_name, only_closer, inject_hang, hs::Findings(20), {}};
  h.watch([&w] { return w.progress(); }, [&w] { return w.diagnose(); });
  struct Slice {
    std::string phase;
    unsigned P;
    double weight;
  };
  std::vector<Slice> slices;
  for (const std::string& ph : phases) {
    for (unsigned P : h.producers()) {
      slices.push_back({ph, P, ph == "close" ? 1.5 : 1.0});
    }
  }
  double weight_left = 0;
  for (const Slice& s : slices) weight_left += s.weight;
  for (const Slice& s : slices) {
    if (c.failed()) break;
    const auto deadline = h.slice_deadline(s.weight, weight_left);
    weight_left -= s.weight;
    w.producers.store(s.P, std::memory_order_relaxed);  // display only
    if (s.phase == "seq") seq_phase<Q>(c, s.P, deadline);
    if (s.phase == "close") close_phase<Q>(c, s.P, deadline);
    if (s.phase == "burst") burst_phase<Q>(c, s.P, deadline);
  }
  w.state(MainState::Idle);
  if (c.failed()) {
    std::printf("FAILURE in %s (the REPLAY line below replays it):\n", c.failure_where.c_str());
    c.findings.print();
    return h.finish(false, fmt("queue=%s %s", queue_name, c.findings.summary().c_str()));
  }
  return h.finish(true, fmt("queue=%s phases=%zu slices, no loss, duplication, reordering or wrong answer",
                            queue_name, slices.size()));
}

}  // namespace

int main(int argc, char** argv) {
  std::string queue = "mpsc";
  std::vector<std::string> phases{"seq", "close", "burst"};
  int only_closer = -1;
  bool inject_hang = false;
  std::vector<hs::ExtraOption> extra{
      {"--queue", "mpsc (MpscQueue, default) | mutex (MutexQueue: a cross-check of this test)", true,
       [&](const std::string& v) {
         queue = v;
         return v == "mpsc" || v == "mutex";
       }},
      {"--phase", "phases to run, comma-separated: seq,close,burst (default all)", true,
       [&](const std::string& v) {
         phases.clear();
         std::size_t pos = 0;
         while (pos <= v.size()) {
           const std::size_t comma = v.find(',', pos);
           std::string ph = v.substr(pos, comma == std::string::npos ? std::string::npos : comma - pos);
           if (ph != "seq" && ph != "close" && ph != "burst") return false;
           phases.push_back(ph);
           if (comma == std::string::npos) break;
           pos = comma + 1;
         }
         return !phases.empty();
       }},
      {"--closer", "close phase: who closes: any (default, drawn per run) | thread | consumer | producer0 | two-threads",
       true,
       [&](const std::string& v) {
         for (int k = 0; k < 4; ++k) {
           if (v == to_string(static_cast<Closer>(k))) only_closer = k;
         }
         return v == "any" || only_closer >= 0;
       }},
      {"--inject-hang", "harness self-test: producer 0 hangs in burst round 100; the watchdog must exit 3", false,
       [&](const std::string&) {
         inject_hang = true;
         return true;
       }},
  };
  hs::Harness h("mpsc_inbox_stress", argc, argv, hs::Defaults{}, std::move(extra));
  if (h.max_producers() > kMaxProducers) {
    std::printf("mpsc_inbox_stress: at most %u producers\n", kMaxProducers);
    return h.finish(false, "usage");
  }
#if defined(HANDOFF_MUTANT_INBOX_CLOSE_PRECHECK)
  std::printf("mpsc_inbox_stress: MUTANT build (HANDOFF_MUTANT_INBOX_CLOSE_PRECHECK): this run is expected to FAIL\n");
#endif
#if defined(HANDOFF_MUTANT_INBOX_LINK_RELAXED)
  std::printf("mpsc_inbox_stress: MUTANT build (HANDOFF_MUTANT_INBOX_LINK_RELAXED): this run is expected to FAIL\n");
#endif
  static Watch w;  // outlives the watchdog's last look
  if (queue == "mutex") return run_all<handoff::MutexQueue<Item>>(h, w, "MutexQueue", phases, only_closer, inject_hang);
  return run_all<handoff::MpscQueue<Item>>(h, w, "MpscQueue", phases, only_closer, inject_hang);
}
