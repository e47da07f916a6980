// handoff/tests/model/relacy_main.hpp — the shared harness for every Relacy model test.
//
// A model test is one executable with one or more rl::test_suite scenarios. Each scenario
// runs the REAL primitive (the facade's Relacy backend turns every sync::atomic into an
// rl::atomic) under, in order:
//
//   1. the random scheduler, N iterations (seeds 1..N, so a run is reproducible);
//   2. the context-bound scheduler with bound K: every execution with at most K preemptions
//      (switches at a yield, a block or a thread's end are free), searched exhaustively;
//   3. optionally (--full) the full-search scheduler: every execution, for tiny scenarios.
//
// Each run prints one line: scheduler, iterations/executions, wall time, verdict. A failure
// prints Relacy's report (the verdict, e.g. "DATA RACE (data race detected)" or
// "USER ASSERT FAILED (<message>)", the failing iteration and the full interleaving) and the
// binary exits non-zero. Later schedulers of a failed scenario are skipped; later scenarios
// still run, so one binary reports every scenario a bug breaks.
//
// Usage:  <binary> [--iterations N] [--bound K] [--full] [--only NAME] [--list]
//   --iterations N  random-scheduler iterations per scenario (default 100000)
//   --bound K       context bound (default 2; 0 skips the context-bound search)
//   --full          also run the full search (exhaustive; only for tiny scenarios)
//   --only NAME     run only the scenario NAME (repeatable)
//   --list          print the scenarios and what they cover
// HANDOFF_SOAK=1 in the environment (the soak run) multiplies the default iterations by 50
// and searches each scenario at full size (a scenario may give ctest a reduced suite for the
// exhaustive searches); explicit flags still win (e.g. --bound 3).
//
// Include this header FIRST in a model test, before any handoff header: it selects the
// facade's Relacy backend (HANDOFF_SYNC_RELACY=1), and relacy.hpp, which the facade pulls in,
// #defines assert (to RL_ASSERT, kept: an assert in a primitive becomes a Relacy failure),
// errno and memory_order_* (the facade undefines those) — standard headers included after it
// could be rewritten. So every standard header a model test needs is included here, first.
//
// Writing a scenario (see mpsc_inbox_model.cpp):
//   * payload that a primitive hands between threads lives in rl::var<T>, so a missing
//     release/acquire is reported as a data race rather than passing silently;
//   * nodes are allocated in before() with rl::rl_malloc (Relacy's heap), and poisoned
//     (memset) and freed with rl::rl_free the moment the test owns them again, so a primitive
//     that touches a node it gave back is reported as an access to freed memory. Poison:
//     Relacy recognizes a freed rl::atomic/rl::var only by a magic number its destructor
//     clears, a store GCC drops as dead (-flifetime-dse). Not new/delete: relacy.hpp's
//     replacement operator new/delete are inline and it does not replace the sized
//     operator delete, so a delete expression hands Relacy's memory to libc's free();
//   * "try again later" loops are bounded and yield to the scheduler (model::Poller), so an
//     honest wait is not reported as a livelock and a real one is reported as a failed
//     assertion naming the loop;
//   * checks use HANDOFF_MODEL_CHECK(cond, "[scenario] what went wrong"): the message becomes
//     Relacy's verdict, and mutant checks match it;
//   * LIFETIME (bug class 15): the scenario's owning object (the inbox, the loop's core, the
//     deque, the executor, the channel ...) is a model::Owned<T>, and the thread that owns it
//     calls destroy() at the first point where it believes all work is finished (typically
//     right after a model::Join says the threads it must wait for have left). destroy() runs
//     ~T and poisons the storage, which stays allocated (quarantined, so Relacy cannot hand it
//     to a later allocation) until the suite is destroyed; any later operation on an
//     rl::atomic (so every sync::atomic), rl::var or rl::mutex inside it is reported as
//     ACCESS TO FREED MEMORY, at the line that made it. (Plain fields are not watched: Relacy
//     only knows its own types.)
#pragma once

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <memory>
#include <new>
#include <sstream>
#include <string>
#include <thread>
#include <utility>
#include <vector>


#ifndef HANDOFF_SYNC_RELACY
#define HANDOFF_SYNC_RELACY 1
#endif
#if !HANDOFF_SYNC_RELACY
#error "model tests need the facade's Relacy backend (HANDOFF_SYNC_RELACY=1)"
#endif

// The facade's Relacy backend includes relacy.hpp (after <thread> and <atomic>, included
// above: libstdc++'s headers break on its macros) and undefines its new/delete and
// memory_order_* macros.
#include <handoff/primitives/sync.hpp>  // the facade's Relacy backend (relacy.hpp already in)

static_assert(handoff::sync::kModelChecked,
              "relacy_main.hpp must be included before any handoff header: the facade was "
              "already compiled with another backend");

// A user assertion whose message becomes Relacy's verdict: "USER ASSERT FAILED (<msg>)".
#define HANDOFF_MODEL_CHECK(cond, msg) \
  RL_ASSERT_IMPL((cond), ::rl::test_result_user_assert_failed, msg, RL_INFO)

namespace handoff::model {

struct Options {
  std::uint64_t iterations = 100000;
  unsigned bound = 2;
  bool full = false;
  bool soak = false;
  bool list = false;
  std::vector<std::string> only;
};

inline Options parse_options(int argc, char** argv) {
  Options o;
  const char* soak = std::getenv("HANDOFF_SOAK");
  if (soak != nullptr && soak[0] != '\0' && std::strcmp(soak, "0") != 0) {
    o.soak = true;
    o.iterations *= 50;
  }
  auto number = [&](int& i, const char* flag) -> std::uint64_t {
    if (i + 1 >= argc) {
      std::fprintf(stderr, "%s needs a value\n", flag);
      std::exit(2);
    }
    char* end = nullptr;
    const unsigned long long v = std::strtoull(argv[++i], &end, 10);
    if (end == argv[i] || *end != '\0') {
      std::fprintf(stderr, "%s: not a number: %s\n", flag, argv[i]);
      std::exit(2);
    }
    return v;
  };
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--iterations") {
      o.iterations = number(i, "--iterations");
    } else if (a == "--bound") {
      o.bound = static_cast<unsigned>(number(i, "--bound"));
    } else if (a == "--full") {
      o.full = true;
    } else if (a == "--only" && i + 1 < argc) {
      o.only.emplace_back(argv[++i]);
    } else if (a == "--list") {
      o.list = true;
    } else {
      std::fprintf(stderr,
                   "usage: %s [--iterations N] [--bound K] [--full] [--only NAME]... [--list]\n"
                   "  HANDOFF_SOAK=1: default iterations x50, full-size scenarios in the searches\n",
                   argv[0]);
      std::exit(a == "--help" || a == "-h" ? 0 : 2);
    }
  }
  return o;
}

// Counters a scenario may bump from its threads to show which paths the search reached
// (e.g. how many executions saw a Retry). Plain ints: Relacy runs every modelled thread as a
// fiber on one OS thread. They never influence the test's behaviour, so the run stays
// deterministic (Relacy replays a failing iteration to print its history).
struct Coverage {
  static constexpr int kSlots = 8;
  const char* names[kSlots] = {};
  std::uint64_t counts[kSlots] = {};
};
inline Coverage& coverage() {
  static Coverage c;
  return c;
}
inline void cover(int slot, const char* name) {
  Coverage& c = coverage();
  c.names[slot] = name;
  ++c.counts[slot];
}

// A bounded "try again later" loop for a thread that waits on another thread's progress.
// Each unsuccessful poll yields to the scheduler: the random scheduler then picks any
// thread, and the tree-search schedulers run every other unfinished thread before the poller
// again, for free (a yield is not a preemption, so it does not use up the context bound).
// A poll count beyond `limit` is a genuine livelock or a lost hand-off in the primitive, and
// fails with `msg`: with the other threads running in between, a bounded wait (a producer
// between two instructions) completes in a handful of polls.
class Poller {
 public:
  explicit Poller(int limit, const char* msg) : limit_(limit), msg_(msg) {}
  // Call as poller.again(RL_INFO): the history then names the polling line.
  void again(::rl::debug_info_param info) {
    ++polls_;
    if (polls_ >= limit_) {
      ::rl::ctx().fail_test(msg_, ::rl::test_result_user_assert_failed, info);
    }
    ::rl::yield(1, info);
  }
  void progress() { polls_ = 0; }

 private:
  int polls_ = 0;
  int limit_;
  const char* msg_;
};

// ---- lifetime: destroy-as-soon-as-done, poisoned -------------------------------------------
//
//   model::Owned<MpscInbox> inbox;                 // a suite member; created in its constructor
//   model::Join others{2};                         // the two threads the owner must wait for
//   thread 0..1:  ... use *inbox ...; others.leave();
//   thread 2:     ... others.await(); inbox.destroy();   // the owner: all work is done
//   after():      checks on bookkeeping only; inbox.alive() is false
//
// A late access through inbox.get() / inbox-> (the pointer stays as a dangling reference,
// which is what a real late caller would hold) fails the test with ACCESS TO FREED MEMORY.
//
// Why the memset: Relacy recognizes a destroyed rl::atomic/rl::var only by a
// magic number its destructor clears, a store GCC drops as dead (-flifetime-dse). Why
// quarantine: a freed block can be handed to a later allocation of the same size, which would
// construct fresh, valid objects over the poison (so the block is freed only when the suite
// is destroyed, at the end of the execution).
template <class T>
class Owned {
 public:
  Owned() = default;
  template <class... A>
  explicit Owned(A&&... args) {
    create(std::forward<A>(args)...);
  }
  ~Owned() { release(); }
  Owned(const Owned&) = delete;
  Owned& operator=(const Owned&) = delete;

  // Constructs T, aligned as T needs (several primitives are alignas(64)). At most once per
  // Owned. The block comes from libc, not Relacy's heap: Relacy's free() flips a modelled coin
  // (deferred reuse or not), which doubles every exhaustive search for nothing here — the
  // block is quarantined and poisoned by hand, and always freed by ~Owned (what T allocates
  // itself still goes to Relacy's heap, leak-checked).
  template <class... A>
  T& create(A&&... args) {
    RL_VERIFY(raw_ == nullptr);
    raw_ = std::malloc(sizeof(T) + alignof(T));
    if (raw_ == nullptr) throw std::bad_alloc();
    void* p = raw_;
    std::size_t space = sizeof(T) + alignof(T);
    p = std::align(alignof(T), sizeof(T), p, space);
    obj_ = std::construct_at(static_cast<T*>(p), std::forward<A>(args)...);
    alive_ = true;
    return *obj_;
  }

  // The owner's "all work is finished": run ~T now and poison what is left. A second destroy()
  // is a test bug (reported as a failed assertion). Relacy runs every modelled thread as a
  // fiber on one OS thread and switches only inside an rl operation, so no other thread runs
  // between the destructor and the poison.
  void destroy(handoff::sync::relacy_detail::site l = handoff::sync::relacy_detail::site::current()) {
    if (!alive_) {
      ::rl::ctx().fail_test("model::Owned::destroy() of an object that is not alive",
                            ::rl::test_result_user_assert_failed, handoff::sync::relacy_detail::info(l));
      return;
    }
    alive_ = false;
    std::destroy_at(obj_);
    poison(obj_, sizeof(T));
  }

  bool alive() const noexcept { return alive_; }
  // The object, alive or not: a late access through a destroyed one is what the poison catches.
  T* get() const noexcept { return obj_; }
  T& operator*() const noexcept { return *obj_; }
  T* operator->() const noexcept { return obj_; }

  // Fill destroyed storage with a pattern no Relacy signature has, and keep the compiler from
  // dropping the stores (the memory is read again only by a buggy late access).
  static void poison(void* p, std::size_t n) noexcept {
    std::memset(p, 0xdd, n);
    asm volatile("" : : "r"(p) : "memory");
  }

 private:
  void release() {
    if (raw_ == nullptr) return;
    if (alive_) std::destroy_at(obj_);  // a scenario that never reached its owner's destroy()
    alive_ = false;
    std::free(raw_);
    raw_ = nullptr;
  }

  void* raw_ = nullptr;
  T* obj_ = nullptr;
  bool alive_ = false;
};

// The owner's join: each of `n` threads calls leave() after its last use of the owned object;
// the owner's await() returns once all have left. leave() and await() synchronize as a thread
// join does: everything a leaver did happens before the owner's destroy(). The owner
// parks on Relacy's futex model (no spurious returns), so a thread that never leaves is
// reported as DEADLOCK. Both run with preemption disabled: the join is scaffolding, one event
// in a real program, and the exhaustive searches need not branch inside it (with preemption
// points here, the deque model's context-bound search grew 4x).
class Join {
 public:
  explicit Join(std::uint32_t n) : left_() { left_.store(n, ::rl::mo_relaxed, RL_INFO); }
  // True for the last thread to leave: with Join(n) over all n users and no awaiting owner,
  // that is a reference count's "last one out destroys" (as LoopCore's shared_ptr).
  bool leave(handoff::sync::relacy_detail::site l = handoff::sync::relacy_detail::site::current()) {
    ::rl::context& c = ::rl::ctx();
    ::rl::preemption_disabler pd(c);
    // seq_cst (acq_rel would do for the join): pairs with await()'s seq_cst load, which must read
    // the current count, as the kernel's futex compare does
    if (left_.fetch_sub(1, ::rl::mo_seq_cst, handoff::sync::relacy_detail::info(l)) != 1) return false;
    (void)left_.wake(c, 1 << 20, handoff::sync::relacy_detail::info(l));  // the owner, if parked
    return true;
  }
  void await(handoff::sync::relacy_detail::site l = handoff::sync::relacy_detail::site::current()) {
    ::rl::context& c = ::rl::ctx();
    for (;;) {
      {
        ::rl::preemption_disabler pd(c);
        // seq_cst: reads the current count (a stale non-zero would park forever); pairs with
        // leave()'s seq_cst fetch_sub
        if (left_.load(::rl::mo_seq_cst, handoff::sync::relacy_detail::info(l)) == 0) return;
      }
      // Parks until the last leave(): it cannot slip in between (no preemption above, and the
      // last leaver's wake comes after its decrement).
      (void)left_.wait(c, false, /*allow_spurious_wakeup=*/false, handoff::sync::relacy_detail::info(l));
    }
  }

 private:
  ::rl::atomic<std::uint32_t> left_;
};

namespace detail {

struct RunResult {
  bool ok = true;
  std::uint64_t count = 0;
  double seconds = 0;
  char verdict[160] = "";  // on failure: "<scheduler> <iteration|execution> N: <Relacy verdict>"
};

template <class Suite>
RunResult run_scheduler(const char* scenario, rl::scheduler_type_e type, std::uint64_t iterations,
                        unsigned bound) {
  rl::ostringstream report;    // Relacy's own output; shown only on failure
  rl::ostringstream progress;  // Relacy's progress lines; discarded
  rl::test_params p;
  p.search_type = type;
  p.iteration_count = static_cast<rl::iteration_t>(iterations);
  p.context_bound = bound;
  p.output_stream = &report;
  p.progress_stream = &progress;
  const auto t0 = std::chrono::steady_clock::now();
  const bool ok = rl::simulate<Suite>(p);
  const auto t1 = std::chrono::steady_clock::now();
  RunResult r;
  r.ok = ok;
  r.count = static_cast<std::uint64_t>(p.stop_iteration);
  r.seconds = std::chrono::duration<double>(t1 - t0).count();

  char label[64];
  if (type == rl::sched_random) {
    std::snprintf(label, sizeof label, "random");
  } else if (type == rl::sched_bound) {
    std::snprintf(label, sizeof label, "context-bound %u", bound);
  } else {
    std::snprintf(label, sizeof label, "full search");
  }
  const char* unit = type == rl::sched_random ? "iterations" : "executions";
  if (ok) {
    std::printf("[%s] %-16s %10llu %-10s %8.2f s  PASS\n", scenario, label,
                static_cast<unsigned long long>(r.count), unit, r.seconds);
  } else {
    std::snprintf(r.verdict, sizeof r.verdict, "%s, %s %llu: %s", label,
                  type == rl::sched_random ? "iteration" : "execution",
                  static_cast<unsigned long long>(r.count), rl::test_result_str(p.test_result));
    std::printf("[%s] FAILED (%s) after %.2f s\n", scenario, r.verdict, r.seconds);
    std::printf("---- Relacy report [%s, %s] ----\n%s---- end of Relacy report ----\n",
                scenario, label, report.str().c_str());
  }
  std::fflush(stdout);
  return r;
}

}  // namespace detail

// Runs scenarios and keeps the verdict. A scenario may name a smaller suite for the
// exhaustive searches (BoundSuite = RandomSuite unless a scenario is too large to search
// within the ctest budget); the soak run searches RandomSuite.
class Runner {
 public:
  Runner(const char* title, int argc, char** argv) : title_(title), opt_(parse_options(argc, argv)) {
    if (!opt_.list) {
      std::printf("%s: random %llu iterations, context bound %u%s%s\n", title_,
                  static_cast<unsigned long long>(opt_.iterations), opt_.bound,
                  opt_.full ? ", full search" : "", opt_.soak ? " (HANDOFF_SOAK)" : "");
    }
  }

  // An opt-in scenario runs only when named with --only (e.g. one that demonstrates a known
  // bug and is expected to fail until the primitive is fixed).
  enum class Kind { Default, OptIn };

  template <class RandomSuite, class BoundSuite = RandomSuite>
  void scenario(const char* name, const char* covers, Kind kind = Kind::Default) {
    if (opt_.list) {
      std::printf("%-20s %s%s\n", name, kind == Kind::OptIn ? "(opt-in) " : "", covers);
      return;
    }
    const bool named = std::find(opt_.only.begin(), opt_.only.end(), name) != opt_.only.end();
    if (!named && (kind == Kind::OptIn || !opt_.only.empty())) return;
    ++ran_;
    const auto t0 = std::chrono::steady_clock::now();
    coverage() = Coverage{};
    detail::RunResult r;
    if (opt_.iterations > 0) {
      r = detail::run_scheduler<RandomSuite>(name, rl::sched_random, opt_.iterations, 0);
    }
    // The soak run searches the full-size scenario; ctest may search a reduced one.
    if (r.ok && opt_.bound > 0) {
      r = opt_.soak ? detail::run_scheduler<RandomSuite>(name, rl::sched_bound, 0, opt_.bound)
                    : detail::run_scheduler<BoundSuite>(name, rl::sched_bound, 0, opt_.bound);
    }
    if (r.ok && opt_.full) {
      r = opt_.soak ? detail::run_scheduler<RandomSuite>(name, rl::sched_full, 0, 0)
                    : detail::run_scheduler<BoundSuite>(name, rl::sched_full, 0, 0);
    }
    const bool ok = r.ok;
    const Coverage& c = coverage();
    char cov[512] = "";
    std::size_t used = 0;
    for (int i = 0; i < Coverage::kSlots && used < sizeof cov; ++i) {
      if (c.names[i] == nullptr) continue;
      const int n = std::snprintf(cov + used, sizeof cov - used, "%s%s %llu", used ? ", " : "",
                                  c.names[i], static_cast<unsigned long long>(c.counts[i]));
      if (n > 0) used += static_cast<std::size_t>(n);
    }
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    std::printf("[%s] %s in %.2f s%s%s\n", name, ok ? "PASS" : "FAIL", s,
                used ? "; executions that saw (all schedulers): " : "", cov);
    std::fflush(stdout);
    if (!ok) failed_.push_back(std::string(name) + " (" + r.verdict + ")");
  }

  // Prints the verdict; returns the process exit code.
  int finish() {
    if (opt_.list) return 0;
    if (ran_ == 0) {
      std::printf("%s: no scenario selected\n", title_);
      return 2;
    }
    if (failed_.empty()) {
      std::printf("%s: PASS (%d scenarios)\n", title_, ran_);
      return 0;
    }
    std::printf("%s: FAIL (%zu of %d scenarios)\n", title_, failed_.size(), ran_);
    for (const auto& f : failed_) std::printf("  FAILED %s\n", f.c_str());
    return 1;
  }

 private:
  const char* title_;
  Options opt_;
  int ran_ = 0;
  std::vector<std::string> failed_;
};

}  // namespace handoff::model
