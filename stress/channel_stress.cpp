// handoff/stress/channel_stress.cpp — Channel<T> (loop/channel.hpp) between thread producers
// and consumers and coroutine producers and consumers on 1–2 loops, with timeouts, task
// cancellation and close() racing everything.
//
// EACH RUN (a fresh Channel<uint64_t>; a seed; P thread producers from --producers)
//   thread producers   P threads; per value push() / try_push() (retried when full) /
//                      push_for(v, 0–150 µs) (retried with the same value on TimeoutError)
//   thread consumers   1–2 threads; pop() / pop_for(0–150 µs) until end-of-stream
//   loops              1–2 EventLoops, each in its own thread, each running
//                      1 coroutine producer  (async_push, 40 % with a 0–300 µs timeout: retried)
//                      1–2 coroutine consumers (async_pop, 40 % with a timeout; CancelledError
//                                             and TimeoutError are caught and the loop goes on)
//                      a chaos task that cancels a random consumer task every 0–400 µs
// PHASES
//   bounded    capacity 1–4: push waiters and pop waiters on both sides; the channel is
//              closed once every producer has finished; consumers drain to end-of-stream
//   unbounded  capacity 0 (unbounded): pop waiters only
//   close      capacity 0–4; the main thread calls close() at a seeded moment (once the run's
//              accepted pushes reach a count drawn from its seed) while everything runs; in
//              30 % of the runs it first stops one loop, which is then closed with its tasks
//              suspended in async_push / async_pop (the loop-closed give-back path: a value
//              claimed for a task that never resumes goes back to the channel). Producers stop
//              at ChannelClosedError.
// After the joins the main thread drains the channel with try_pop().
// CHECKS (every run)
//   * every accepted value (its push returned normally) is popped exactly once (LOST,
//     DUPLICATED); a value whose push threw (TimeoutError, ChannelClosedError) never is;
//     the one value of a coroutine producer whose frame was destroyed mid-push (abandoned
//     loop) may be popped at most once;
//   * per-producer FIFO as seen by each consumer (REORDERED). In abandon runs a given-back
//     value re-enters at the front of the channel, after later values of its producer may
//     already have been popped: those inversions are counted (GIVE_BACK_REORDER, a note), not
//     failures;
//   * the ledger: stats() pushed = popped + dropped + size, pushed = the accepted pushes,
//     popped = the values the consumers and the drain got, refused = the pushes that threw
//     ChannelClosedError (plus at most the in-flight push of a producer whose loop was
//     abandoned: close() refused it, the producer never resumed to see it), size = 0 after
//     the drain (LEDGER);
//   * no task exception escapes to a loop's exception handler (TASK_ERROR);
//   * lifetime: the main thread (the owner) destroys the channel as soon as it sees all work
//     done, before joining anyone: in the bounded and unbounded phases it closes the channel
//     the moment every value has been popped (a producer may still be returning from its last
//     push), then waits only for the consumers and loops (each loop after its close()); in the
//     close phase for every party's last operation to return. A late access by the channel's
//     code is a use-after-free (ASan; TSan reports it as a race with the free);
//   * no hang: the watchdog's diagnosis names which side waits (threads blocked in push / pop,
//     coroutines suspended in async_push / async_pop), the counts and each producer's progress.
//
// REPLAY: thread producers, thread consumers and loop threads are sync::threads started in a
// fixed order after perturb(run seed) (the coroutines run on the loop threads), the run loop
// asks Harness::another_run, and the close moments are counts of accepted pushes, not times.
// So the REPLAY line of a failure or of the watchdog's HANG replays the same runs with the
// same perturbation decision streams. What a replay cannot reproduce: the OS's scheduling,
// and the timeouts that follow the clock — push_for / pop_for (0–150 µs), async_push /
// async_pop with a timeout (0–300 µs), the chaos task's sleeps (0–400 µs, so which consumer
// task a cancel hits, and when), a loop's spin budget (20 µs) — so which operations time out
// and which waiter is handed which value can differ; and which values are in flight at the
// close.
//
// MUTANT (stress/CMakeLists.txt): HANDOFF_MUTANT_CHANNEL_NO_CLAIM (check-then-set instead of the
// claim CAS): a waiter that timed out / was cancelled is handed the value anyway: LOST (pop
// side) or DUPLICATED (push side, retried after its TimeoutError).
#include <atomic>
#include <cinttypes>
#include <cstdio>
#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <handoff/loop/channel.hpp>
#include <handoff/loop/loop.hpp>

#include "harness.hpp"

using namespace handoff;
using namespace handoff::stress;
using namespace std::chrono_literals;

namespace {

enum class Phase { Bounded, Unbounded, Close };
const char* name_of(Phase p) {
  return p == Phase::Bounded ? "bounded" : p == Phase::Unbounded ? "unbounded" : "close";
}

using Value = std::uint64_t;
inline Value encode(unsigned producer, std::uint64_t seq) { return (static_cast<Value>(producer) << 32) | seq; }
inline unsigned producer_of(Value v) { return static_cast<unsigned>(v >> 32); }
inline std::uint64_t seq_of(Value v) { return v & 0xffffffffu; }

// Test bookkeeping that the watchdog reads: relaxed atomics only (harness rules).
struct Progress {
  std::atomic<std::uint64_t> moves{0};     // every completed operation (pops, accepted pushes, timeouts)
  std::atomic<std::uint64_t> accepted{0};  // this run
  std::atomic<std::uint64_t> popped{0};    // this run
  std::atomic<int> threads_in_push{0}, threads_in_pop{0};  // inside a blocking call now
  std::atomic<int> coros_in_push{0}, coros_in_pop{0};      // suspended in an await now
  std::atomic<int> phase{0};
  std::atomic<bool> closed{false};
  std::atomic<bool> ending{false};  // the main thread waits for the joins
  std::atomic<unsigned> users{0};   // parties (threads, loops) whose last channel operation has not returned
  std::atomic<unsigned> thread_producers_done{0};
  std::atomic<unsigned> producers{0};
  std::atomic<unsigned> coro_producers_done{0};
  std::atomic<std::uint64_t> capacity{0};
  std::atomic<std::uint64_t> per_producer{0};
  static constexpr unsigned kMaxProducers = 64;
  Padded<std::atomic<std::uint64_t>> producer_accepted[kMaxProducers];
};

// One producer's record: written by its own thread (or its loop's thread), read after joins.
struct ProducerRec {
  bool coro = false;
  std::uint64_t accepted = 0;  // pushes that returned normally: seqs 0..accepted-1
  bool inflight = false;       // a coroutine producer suspended in async_push (seq = accepted)
  bool finished = false;       // reached its end (all pushed, or ChannelClosedError)
  std::uint64_t refused = 0, timeouts = 0, try_full = 0;
};
struct ConsumerRec {
  bool coro = false;
  std::vector<Value> got;
  std::uint64_t timeouts = 0, cancels = 0;
};

struct Totals {
  std::uint64_t runs = 0, values = 0, timeouts = 0, cancels = 0, refused = 0, push_waits = 0,
                pop_waits = 0, abandons = 0, give_backs_reordered = 0, inflight_abandoned = 0;
};

struct Context {
  Harness& h;
  Progress pr;
  Findings findings;
  Totals t;
  explicit Context(Harness& harness) : h(harness) {}
};

struct RunSetup {
  Phase phase;
  unsigned P;
  std::uint64_t seed;
};
std::string where(const RunSetup& r) { return fmt("[%s P=%u seed=%" PRIu64 "]", name_of(r.phase), r.P, r.seed); }

// ---- coroutines -------------------------------------------------------------------------------
// Free functions with pointer parameters: the frame copies them (no lambda captures to outlive).

struct LoopShared {
  Channel<Value>* ch;
  Progress* pr;
  std::vector<Future<void>> consumers;  // loop thread only
  bool consumers_done = false;          // loop thread only
};

Task<void> coro_producer(Channel<Value>* ch, Progress* pr, ProducerRec* rec, unsigned id, std::uint64_t n,
                         std::uint64_t seed) {
  Rng r(seed);
  for (std::uint64_t s = 0; s < n; ++s) {
    const Value v = encode(id, s);
    for (;;) {
      rec->inflight = true;
      pr->coros_in_push.fetch_add(1, std::memory_order_relaxed);  // test bookkeeping (watchdog)
      bool closed = false, timed_out = false;
      try {
        if (r.chance(400)) {
          co_await ch->async_push(v, std::chrono::microseconds(r.below(300)));
        } else {
          co_await ch->async_push(v);
        }
      } catch (const TimeoutError&) {
        timed_out = true;
      } catch (const ChannelClosedError&) {
        closed = true;
      }
      pr->coros_in_push.fetch_sub(1, std::memory_order_relaxed);  // test bookkeeping (watchdog)
      rec->inflight = false;
      pr->moves.fetch_add(1, std::memory_order_relaxed);  // test bookkeeping (watchdog)
      if (closed) {
        ++rec->refused;
        rec->finished = true;
        pr->coro_producers_done.fetch_add(1, std::memory_order_relaxed);  // test bookkeeping
        co_return;
      }
      if (!timed_out) break;
      ++rec->timeouts;
    }
    rec->accepted = s + 1;
    pr->accepted.fetch_add(1, std::memory_order_relaxed);  // test bookkeeping (watchdog)
    if (id < Progress::kMaxProducers) pr->producer_accepted[id].v.store(s + 1, std::memory_order_relaxed);  // watchdog
  }
  rec->finished = true;
  pr->coro_producers_done.fetch_add(1, std::memory_order_relaxed);  // test bookkeeping
}

Task<void> coro_consumer(Channel<Value>* ch, Progress* pr, ConsumerRec* rec, std::uint64_t seed) {
  Rng r(seed);
  for (;;) {
    pr->coros_in_pop.fetch_add(1, std::memory_order_relaxed);  // test bookkeeping (watchdog)
    std::optional<Value> v;
    bool got_something = true;
    try {
      if (r.chance(400)) {
        v = co_await ch->async_pop(std::chrono::microseconds(r.below(300)));
      } else {
        v = co_await ch->async_pop();
      }
    } catch (const TimeoutError&) {
      ++rec->timeouts;
      got_something = false;
    } catch (const CancelledError&) {
      ++rec->cancels;
      got_something = false;
    }
    pr->coros_in_pop.fetch_sub(1, std::memory_order_relaxed);  // test bookkeeping (watchdog)
    pr->moves.fetch_add(1, std::memory_order_relaxed);         // test bookkeeping (watchdog)
    if (!got_something) continue;
    if (!v) co_return;  // closed and drained
    rec->got.push_back(*v);
    pr->popped.fetch_add(1, std::memory_order_relaxed);  // test bookkeeping (watchdog)
  }
}

Task<void> chaos(LoopShared* ls, std::uint64_t seed) {
  Rng r(seed);
  while (!ls->consumers_done) {
    co_await sleep(std::chrono::microseconds(r.below(400)));
    if (ls->consumers.empty()) continue;
    Future<void>& f = ls->consumers[r.below(ls->consumers.size())];
    if (!f.done()) f.cancel("channel_stress chaos");
  }
}

Task<void> loop_main(LoopShared* ls, std::vector<ProducerRec*> prods, std::vector<unsigned> ids,
                     std::vector<ConsumerRec*> cons, std::uint64_t n, std::uint64_t seed) {
  EventLoop& loop = get_running_loop();
  std::vector<Future<void>> pf;
  for (std::size_t i = 0; i < prods.size(); ++i) {
    pf.push_back(loop.create_task(coro_producer(ls->ch, ls->pr, prods[i], ids[i], n, derive_seed(seed, {1, i}))));
  }
  for (std::size_t i = 0; i < cons.size(); ++i) {
    ls->consumers.push_back(loop.create_task(coro_consumer(ls->ch, ls->pr, cons[i], derive_seed(seed, {2, i}))));
  }
  Future<void> ch = loop.create_task(chaos(ls, derive_seed(seed, {3})));
  for (auto& f : pf) co_await f;
  for (auto& f : ls->consumers) {
    try {
      co_await f;
    } catch (const CancelledError&) {
      // cancelled before its first step: it never ran
    }
  }
  ls->consumers_done = true;
  co_await ch;
  loop.stop();
}

// ---- one run ----------------------------------------------------------------------------------

bool run_once(Context& c, const RunSetup& rs, std::uint64_t n) {
  c.h.perturb(rs.seed);  // once per run, from the main thread
  Rng rng(rs.seed);
  const std::size_t capacity = rs.phase == Phase::Unbounded ? 0
                               : rs.phase == Phase::Bounded ? 1 + rng.below(4)
                                                            : (rng.chance(500) ? 0 : 1 + rng.below(4));
  const unsigned L = 1 + static_cast<unsigned>(rng.below(2));
  const unsigned TC = 1 + static_cast<unsigned>(rng.below(2));
  std::vector<unsigned> CC(L);
  for (auto& x : CC) x = 1 + static_cast<unsigned>(rng.below(2));
  const bool abandon = rs.phase == Phase::Close && rng.chance(300);
  const unsigned total_producers = rs.P + L;  // one coroutine producer per loop
  c.h.note_threads(rs.P + TC + L + 1);

  // LIFETIME: the channel is destroyed by its owner (this thread) as soon as every party has
  // said its last operation on it returned — before the threads are joined, while they are
  // still finishing — so a late access by the channel's code (a waiter after its value was
  // taken, a claimer after its last resumption post, a loop's close() giving a value back) is
  // a use-after-free that ASan / TSan report.
  auto owned = std::make_unique<Channel<Value>>(capacity);
  Channel<Value>& ch = *owned;
  std::atomic<unsigned>& users = c.pr.users;  // parties still using the channel
  auto done_with_channel = [&users] {
    users.fetch_sub(1, std::memory_order_release);  // pairs with the owner's acquire load
  };
  Progress& pr = c.pr;
  pr.accepted.store(0, std::memory_order_relaxed);  // test bookkeeping
  pr.popped.store(0, std::memory_order_relaxed);    // test bookkeeping
  pr.closed.store(false, std::memory_order_relaxed);  // test bookkeeping
  pr.ending.store(false, std::memory_order_relaxed);  // test bookkeeping
  pr.coro_producers_done.store(0, std::memory_order_relaxed);  // test bookkeeping
  pr.threads_in_push.store(0, std::memory_order_relaxed);  // test bookkeeping (an abandoned task may have left +1)
  pr.threads_in_pop.store(0, std::memory_order_relaxed);   // test bookkeeping
  pr.coros_in_push.store(0, std::memory_order_relaxed);    // test bookkeeping
  pr.coros_in_pop.store(0, std::memory_order_relaxed);     // test bookkeeping
  pr.producers.store(total_producers, std::memory_order_relaxed);  // test bookkeeping
  pr.phase.store(static_cast<int>(rs.phase), std::memory_order_relaxed);  // test bookkeeping
  pr.capacity.store(capacity, std::memory_order_relaxed);  // test bookkeeping
  pr.per_producer.store(n, std::memory_order_relaxed);  // test bookkeeping
  for (auto& a : pr.producer_accepted) a.v.store(0, std::memory_order_relaxed);  // test bookkeeping

  // Users: thread consumers and loops; thread producers too in the close phase (elsewhere the
  // owner closes once every value is popped, while producers may still be returning).
#if defined(HANDOFF_MUTANT_CHANNEL_NO_CLAIM)
  // The claim mutant duplicates values: "every value popped" can come while a producer is still
  // pushing; it must report DUPLICATED, not crash on a channel destroyed under that producer.
  const bool producers_use = true;
#else
  const bool producers_use = rs.phase == Phase::Close;
#endif
  users.store((producers_use ? rs.P : 0) + TC + L, std::memory_order_relaxed);  // before the threads start: published by their creation
  pr.thread_producers_done.store(0, std::memory_order_relaxed);  // test bookkeeping
  std::deque<ProducerRec> prods(total_producers);  // stable addresses
  unsigned consumers_total = TC;
  for (unsigned x : CC) consumers_total += x;
  std::deque<ConsumerRec> cons(consumers_total);

  // sync::threads in a fixed order — thread producers, thread consumers, loop threads, each
  // by index — so a replay gives each the same perturbation key (harness.hpp, RULES FOR TESTS).
  // Thread producers: ids 0..P-1.
  std::vector<sync::thread> threads;
  for (unsigned p = 0; p < rs.P; ++p) {
    threads.push_back(c.h.thread([&, p] {
      ProducerRec& rec = prods[p];
      Rng r(derive_seed(rs.seed, {10, p}));
      for (std::uint64_t s = 0; s < n; ++s) {
        const Value v = encode(p, s);
        bool done = false;
        while (!done) {
          try {
            const std::uint64_t op = r.below(10);
            if (op < 4) {
              pr.threads_in_push.fetch_add(1, std::memory_order_relaxed);  // watchdog
              struct Out { std::atomic<int>& a; ~Out() { a.fetch_sub(1, std::memory_order_relaxed); } } out{pr.threads_in_push};  // watchdog
              ch.push(v);
              done = true;
            } else if (op < 7) {
              done = ch.try_push(v);
              if (!done) {
                ++rec.try_full;
                std::this_thread::yield();
              }
            } else {
              pr.threads_in_push.fetch_add(1, std::memory_order_relaxed);  // watchdog
              struct Out { std::atomic<int>& a; ~Out() { a.fetch_sub(1, std::memory_order_relaxed); } } out{pr.threads_in_push};  // watchdog
              ch.push_for(v, std::chrono::microseconds(r.below(150)));
              done = true;
            }
          } catch (const TimeoutError&) {
            ++rec.timeouts;
          } catch (const ChannelClosedError&) {
            ++rec.refused;
            rec.finished = true;
            if (producers_use) done_with_channel();
            c.h.account_thread();
            return;
          }
          pr.moves.fetch_add(1, std::memory_order_relaxed);  // watchdog
        }
        rec.accepted = s + 1;
        pr.accepted.fetch_add(1, std::memory_order_relaxed);  // watchdog
        if (p < Progress::kMaxProducers) pr.producer_accepted[p].v.store(s + 1, std::memory_order_relaxed);  // watchdog
      }
      rec.finished = true;
      pr.thread_producers_done.fetch_add(1, std::memory_order_relaxed);  // test bookkeeping
      if (producers_use) done_with_channel();
      c.h.account_thread();
    }));
  }
  // Thread consumers: cons[0..TC-1].
  for (unsigned k = 0; k < TC; ++k) {
    threads.push_back(c.h.thread([&, k] {
      ConsumerRec& rec = cons[k];
      Rng r(derive_seed(rs.seed, {20, k}));
      for (;;) {
        std::optional<Value> v;
        pr.threads_in_pop.fetch_add(1, std::memory_order_relaxed);  // watchdog
        try {
          if (r.chance(500)) v = ch.pop();
          else v = ch.pop_for(std::chrono::microseconds(r.below(150)));
        } catch (const TimeoutError&) {
          pr.threads_in_pop.fetch_sub(1, std::memory_order_relaxed);  // watchdog
          ++rec.timeouts;
          pr.moves.fetch_add(1, std::memory_order_relaxed);  // watchdog
          continue;
        }
        pr.threads_in_pop.fetch_sub(1, std::memory_order_relaxed);  // watchdog
        pr.moves.fetch_add(1, std::memory_order_relaxed);  // watchdog
        if (!v) break;  // end-of-stream
        rec.got.push_back(*v);
        pr.popped.fetch_add(1, std::memory_order_relaxed);  // watchdog
      }
      done_with_channel();
      c.h.account_thread();
    }));
  }
  // Loops: each with one coroutine producer (id P + l) and CC[l] coroutine consumers.
  std::vector<sync::thread> loop_threads;
  std::vector<LoopRef> refs(L);
  std::vector<std::atomic<bool>> loop_ready(L);
  std::vector<std::vector<std::string>> task_errors(L);
  for (unsigned l = 0; l < L; ++l) loop_ready[l].store(false, std::memory_order_relaxed);  // test bookkeeping
  unsigned next_consumer = TC;
  for (unsigned l = 0; l < L; ++l) {
    const unsigned first = next_consumer;
    next_consumer += CC[l];
    loop_threads.push_back(c.h.thread([&, l, first] {
      EventLoop::Options opts;
      Rng r(derive_seed(rs.seed, {30, l}));
      opts.spin_budget = r.chance(500) ? std::chrono::nanoseconds(0) : std::chrono::microseconds(20);
      EventLoop loop(opts);
      loop.set_exception_handler([&, l](const ExceptionContext& e) {
        std::string what = e.message;
        try {
          if (e.exception) std::rethrow_exception(e.exception);
        } catch (const std::exception& x) {
          what += std::string(": ") + x.what();
        } catch (...) {
        }
        task_errors[l].push_back(what);
      });
      LoopShared ls{&ch, &pr, {}, false};
      prods[rs.P + l].coro = true;
      std::vector<ConsumerRec*> mine;
      for (unsigned k = 0; k < CC[l]; ++k) {
        cons[first + k].coro = true;
        mine.push_back(&cons[first + k]);
      }
      Future<void> f = loop.create_task(
          loop_main(&ls, {&prods[rs.P + l]}, {rs.P + l}, mine, n, derive_seed(rs.seed, {40, l})));
      refs[l] = loop.threadsafe();
      loop_ready[l].store(true, std::memory_order_release);  // publishes refs[l] to the main thread
      loop.run_forever();
      loop.close();  // after an abandon: the suspended tasks' frames are destroyed here
      done_with_channel();  // the tasks (and a give-back by an abandoned frame) are over
      if (f.done() && !f.cancelled()) {
        try {
          f.result();
        } catch (const LoopClosedError&) {
          // abandoned
        } catch (const std::exception& x) {
          task_errors[l].push_back(std::string("loop_main: ") + x.what());
        }
      }
      c.h.account_thread();
    }));
  }
  for (unsigned l = 0; l < L; ++l) {
    while (!loop_ready[l].load(std::memory_order_acquire)) std::this_thread::yield();  // pairs with the loop thread's release
  }

  // Every producer has finished (or all but `but` of them): the owner's waits for a count
  // below stop there, so they never outlast the producers.
  auto producers_done = [&](unsigned but) {
    return pr.thread_producers_done.load(std::memory_order_relaxed) +  // test bookkeeping
               pr.coro_producers_done.load(std::memory_order_relaxed) >=  // test bookkeeping
           total_producers - but;
  };
  if (rs.phase == Phase::Close) {
    // The close moment: this many pushes of the run accepted (a count drawn from the seed, not
    // a time, so a replay closes at the same point of the producers' streams). It was a 0–3 ms
    // sleep. Runs with small capacities reach a count much later than unbounded ones, so the
    // bound is below the sleep's mean (~565 accepted with P=1 under GCC-TSan): with 160 per
    // producer a close phase makes as many runs per second as with the sleep (891 vs 840).
    // Polled with short sleeps: a spinning owner would take a CPU from the parties (2 cores).
    const std::uint64_t close_after = rng.chance(125) ? 0 : rng.below(160 * std::uint64_t{total_producers});
    while (pr.accepted.load(std::memory_order_relaxed) < close_after && !producers_done(0)) std::this_thread::sleep_for(10us);  // test bookkeeping
    if (abandon) {
      refs[rng.below(L)].stop();  // that loop closes with tasks suspended in the channel
      // The others go on for a few more accepted pushes (it was a 0–300 µs sleep: ~47) before
      // the close; the stopped loop's producer never finishes, hence "all but one".
      const std::uint64_t more = pr.accepted.load(std::memory_order_relaxed) + rng.below(96);  // test bookkeeping
      while (pr.accepted.load(std::memory_order_relaxed) < more && !producers_done(1)) std::this_thread::sleep_for(10us);  // test bookkeeping
    }
  } else {
    // The owner is done once every value is popped: it closes (and then destroys) the channel
    // at once, while a producer may still be returning from its last push(). (Or once every
    // producer has finished: then a value that never arrives is reported LOST, not as a hang.)
    const std::uint64_t total = static_cast<std::uint64_t>(total_producers) * n;
    while (pr.popped.load(std::memory_order_relaxed) < total && !producers_done(0)) std::this_thread::yield();  // test bookkeeping
  }
  pr.closed.store(true, std::memory_order_relaxed);  // watchdog
  ch.close();
  pr.ending.store(true, std::memory_order_relaxed);  // watchdog
  // The owner sees all work done: drain, read the ledger, destroy — then join.
  while (users.load(std::memory_order_acquire) != 0) std::this_thread::yield();  // pairs with done_with_channel
  std::vector<Value> drained;
  while (std::optional<Value> v = ch.try_pop()) drained.push_back(*v);
  const ChannelStats s = ch.stats();
  owned.reset();
  for (auto& t : threads) t.join();
  for (auto& t : loop_threads) t.join();

  // ---- checks ----
  bool ok = true;
  const std::string at = where(rs) + fmt(" cap=%zu loops=%u tc=%u%s", capacity, L, TC, abandon ? " abandon" : "");
  std::vector<std::vector<std::uint8_t>> count(total_producers, std::vector<std::uint8_t>(n + 1, 0));
  std::uint64_t popped_total = drained.size(), reordered = 0, give_back_reordered = 0;
  auto note = [&](Value v, const char* who) {
    const unsigned p = producer_of(v);
    const std::uint64_t s = seq_of(v);
    if (p >= total_producers || s >= n) {
      ok = false;
      c.findings.add("FOREIGN", fmt("%s %s popped %#" PRIx64 ", which nobody pushed", at.c_str(), who, v));
      return;
    }
    if (count[p][s] < 255) ++count[p][s];
  };
  for (std::size_t k = 0; k < cons.size(); ++k) {
    const ConsumerRec& rec = cons[k];
    popped_total += rec.got.size();
    std::vector<std::int64_t> last(total_producers, -1);
    for (Value v : rec.got) {
      note(v, rec.coro ? "a coroutine consumer" : "a thread consumer");
      const unsigned p = producer_of(v);
      if (p >= total_producers) continue;
      const auto s = static_cast<std::int64_t>(seq_of(v));
      if (s <= last[p]) {
        if (abandon) {
          ++give_back_reordered;
        } else {
          ++reordered;
          if (reordered <= 5) {
            c.findings.add("REORDERED", fmt("%s consumer %zu (%s) popped producer %u seq %" PRId64 " after seq %" PRId64,
                                            at.c_str(), k, rec.coro ? "coroutine" : "thread", p, s, last[p]));
          }
        }
      }
      last[p] = std::max(last[p], s);
    }
  }
  for (Value v : drained) note(v, "the final drain");
  if (reordered > 0) ok = false;

  // A coroutine producer whose loop was abandoned while it was suspended in async_push: its
  // value was accepted (then popped once), or close() refused it (counted refused by the
  // channel, never seen by the producer), or the frame's destruction withdrew it.
  std::uint64_t accepted_total = 0, refused_total = 0, inflight_popped = 0, inflight_unpopped = 0;
  for (unsigned p = 0; p < total_producers; ++p) {
    const ProducerRec& rec = prods[p];
    accepted_total += rec.accepted;
    refused_total += rec.refused;
    c.t.timeouts += rec.timeouts;
    const bool maybe = rec.coro && rec.inflight && !rec.finished;  // frame destroyed mid-push
    if (maybe) ++c.t.inflight_abandoned;
    std::uint64_t lost = 0, dup = 0, extra = 0;
    for (std::uint64_t s = 0; s < n; ++s) {
      const unsigned k = count[p][s];
      if (s < rec.accepted) {
        if (k == 0 && ++lost <= 3) {
          c.findings.add("LOST", fmt("%s LOST: producer %u (%s) seq %" PRIu64 " was accepted but never popped",
                                     at.c_str(), p, rec.coro ? "coroutine" : "thread", s));
        }
        if (k > 1 && ++dup <= 3) {
          c.findings.add("DUPLICATED", fmt("%s DUPLICATED: producer %u (%s) seq %" PRIu64 " popped %u times",
                                           at.c_str(), p, rec.coro ? "coroutine" : "thread", s, k));
        }
      } else if (maybe && s == rec.accepted) {
        if (k > 1 && ++dup <= 3) {
          c.findings.add("DUPLICATED", fmt("%s DUPLICATED: producer %u seq %" PRIu64 " (in flight when its loop closed) popped %u times",
                                           at.c_str(), p, s, k));
        }
        inflight_popped += k == 1 ? 1 : 0;
        inflight_unpopped += k == 0 ? 1 : 0;
      } else if (k > 0 && ++extra <= 3) {
        c.findings.add("DUPLICATED", fmt("%s DUPLICATED: producer %u (%s) seq %" PRIu64
                                         " popped %u time(s) although its push never returned normally "
                                         "(TimeoutError / ChannelClosedError: the producer retried or kept it)",
                                         at.c_str(), p, rec.coro ? "coroutine" : "thread", s, k));
      }
    }
    if (lost + dup + extra > 0) ok = false;
    if (rs.phase != Phase::Close && !rec.finished) {
      ok = false;
      c.findings.add("UNFINISHED", fmt("%s producer %u did not finish", at.c_str(), p));
    }
  }
  if (!s.balanced() || s.pushed != accepted_total + inflight_popped || s.popped != popped_total ||
      s.refused < refused_total || s.refused > refused_total + inflight_unpopped || s.size != 0 || s.dropped != 0) {
    ok = false;
    c.findings.add("LEDGER", fmt("%s ledger: pushed=%" PRIu64 " popped=%" PRIu64 " dropped=%" PRIu64 " size=%" PRIu64
                                 " refused=%" PRIu64 "; the test saw accepted=%" PRIu64 " (+%" PRIu64
                                 " in flight at an abandon) popped=%" PRIu64 " refused=%" PRIu64 " (+<=%" PRIu64 " in flight)",
                                 at.c_str(), s.pushed, s.popped, s.dropped, s.size, s.refused, accepted_total,
                                 inflight_popped, popped_total, refused_total, inflight_unpopped));
  }
  for (unsigned l = 0; l < L; ++l) {
    for (const std::string& e : task_errors[l]) {
      // An abandoned loop completes its tasks with LoopClosedError and may report them.
      if (abandon && e.find("closed") != std::string::npos) continue;
      ok = false;
      c.findings.add("TASK_ERROR", fmt("%s loop %u: %s", at.c_str(), l, e.c_str()));
    }
  }
  for (const ConsumerRec& rec : cons) {
    c.t.timeouts += rec.timeouts;
    c.t.cancels += rec.cancels;
  }
  ++c.t.runs;
  c.t.values += popped_total;
  c.t.refused += refused_total;
  c.t.push_waits += s.push_waits;
  c.t.pop_waits += s.pop_waits;
  c.t.abandons += abandon ? 1 : 0;
  c.t.give_backs_reordered += give_back_reordered;
  c.h.add_ops(accepted_total + popped_total + refused_total);
  return ok;
}

}  // namespace

int main(int argc, char** argv) {
  Defaults d;
  d.producers = {1, 2, 4};
  std::vector<Phase> only;
  std::vector<ExtraOption> extra{
      {"--phase", "bounded | unbounded | close (repeatable; default all)", true, [&](const std::string& v) {
         if (v == "bounded") only.push_back(Phase::Bounded);
         else if (v == "unbounded") only.push_back(Phase::Unbounded);
         else if (v == "close") only.push_back(Phase::Close);
         else return false;
         return true;
       }}};
  Harness h("channel_stress", argc, argv, d, extra);
  Context c(h);
  for (unsigned p : h.producers()) {
    if (p + 2 > Progress::kMaxProducers) {
      std::fprintf(stderr, "channel_stress: at most %u producers\n", Progress::kMaxProducers - 2);
      return 2;
    }
  }
  h.watch([&c] { return c.pr.moves.load(std::memory_order_relaxed); },  // watchdog
          [&c] {
            Progress& p = c.pr;
            std::string s = fmt(
                "HANG in phase %s (capacity %" PRIu64 ", %" PRIu64 " values per producer): channel %s%s; "
                "waiting now: %d thread(s) blocked in push/push_for, %d in pop/pop_for, %d coroutine(s) "
                "suspended in async_push, %d in async_pop; %u parties still using the channel; this run: %" PRIu64
                " pushes accepted, %" PRIu64 " values popped, coroutine producers done %u;",
                name_of(static_cast<Phase>(p.phase.load(std::memory_order_relaxed))),   // watchdog
                p.capacity.load(std::memory_order_relaxed),                              // watchdog
                p.per_producer.load(std::memory_order_relaxed),                          // watchdog
                p.closed.load(std::memory_order_relaxed) ? "closed" : "open",           // watchdog
                p.ending.load(std::memory_order_relaxed) ? " (main thread joining)" : "",  // watchdog
                p.threads_in_push.load(std::memory_order_relaxed),                       // watchdog
                p.threads_in_pop.load(std::memory_order_relaxed),                        // watchdog
                p.coros_in_push.load(std::memory_order_relaxed),                         // watchdog
                p.coros_in_pop.load(std::memory_order_relaxed),                          // watchdog
                p.users.load(std::memory_order_relaxed),                                 // watchdog
                p.accepted.load(std::memory_order_relaxed),                              // watchdog
                p.popped.load(std::memory_order_relaxed),                                // watchdog
                p.coro_producers_done.load(std::memory_order_relaxed));                  // watchdog
            const unsigned n = p.producers.load(std::memory_order_relaxed);  // watchdog
            for (unsigned i = 0; i < n && i < Progress::kMaxProducers; ++i) {
              s += fmt(" producer %u accepted %" PRIu64 ";", i, p.producer_accepted[i].v.load(std::memory_order_relaxed));  // watchdog
            }
            if (p.accepted.load(std::memory_order_relaxed) > p.popped.load(std::memory_order_relaxed) &&  // watchdog
                p.threads_in_pop.load(std::memory_order_relaxed) + p.coros_in_pop.load(std::memory_order_relaxed) > 0) {  // watchdog
              s += " values accepted and not popped while pops wait: a LOST WAKEUP or a lost value?";
            }
            return s + "\n";
          });

  const std::vector<Phase> phases = only.empty() ? std::vector<Phase>{Phase::Bounded, Phase::Unbounded, Phase::Close} : only;
  const double slices = static_cast<double>(phases.size() * h.producers().size());
  double left = slices;
  std::uint64_t round = 0;
  bool ok = true;
  for (Phase ph : phases) {
    for (unsigned P : h.producers()) {
      const auto deadline = h.slice_deadline(1.0, left);
      left -= 1.0;
      const std::uint64_t n = ph == Phase::Close ? h.count(3000, 100000) : h.count(1000, 100000);
      const std::uint64_t max_runs = h.count(1000000, 20);
      for (std::uint64_t r = 0; r < max_runs && h.another_run(deadline, r); ++r) {
        const RunSetup rs{ph, P, derive_seed(h.seed(), {static_cast<std::uint64_t>(ph), P, ++round})};
        if (!run_once(c, rs, n)) {
          ok = false;
          break;
        }
      }
      if (!ok) break;
    }
    if (!ok) break;
  }
  std::printf("channel_stress: %" PRIu64 " runs, %" PRIu64 " values popped, %" PRIu64 " push waits, %" PRIu64
              " pop waits, %" PRIu64 " timeouts, %" PRIu64 " task cancels delivered, %" PRIu64
              " refused pushes, %" PRIu64 " abandoned loops (%" PRIu64 " pushes in flight, %" PRIu64
              " give-back reorders); %s\n",
              c.t.runs, c.t.values, c.t.push_waits, c.t.pop_waits, c.t.timeouts, c.t.cancels, c.t.refused,
              c.t.abandons, c.t.inflight_abandoned, c.t.give_backs_reordered, h.perturbation_summary().c_str());
  if (!ok) {
    c.findings.print();
    return h.finish(false, c.findings.summary());
  }
  return h.finish(true, "every accepted value popped exactly once, per-producer FIFO per consumer; ledger balanced; no hang");
}
