// handoff/stress/harness.hpp — the harness every stress test shares.
//
// WHAT IT GIVES A STRESS TEST
//   * one command line:  --seed N  --seconds S  --rate R (per mille)  --producers 1,2,4
//                        --soak  --watchdog S  --help, plus the test's own options;
//   * the seed, printed FIRST ("seed=N"), random unless given, and per-run seeds derived from
//     it (derive_seed), so `--seed N` replays every run's perturbation decision streams;
//   * REPLAY: on a failure, a hang or a sanitizer report the harness prints the exact command
//     that replays it
//     ("REPLAY: <binary> <the same options> --seed N --runs a,b,c"): the same seed, and
//     --runs, the number of runs each slice had, so the replay runs the same sequence of runs
//     whatever the clock says (a test's run loop asks another_run() instead of the clock).
//     Each thread's perturbation decisions are a function of (run seed, thread key, step)
//     with keys fixed at creation (sync::thread; sync_perturb.hpp), so the replayed runs get
//     the same decision streams; only the OS's scheduling still varies. The line says when a
//     test's threads are not all registered, or its run counts follow the clock (not
//     replayable exactly);
//   * the facade's perturbation (sync_perturb.hpp) configured per run with that seed, and a
//     line saying whether it is compiled in (HANDOFF_PERTURB=ON) and active;
//   * a time bound: ctest mode stops each test at min(its count, ~--seconds total); soak mode
//     (--soak or HANDOFF_SOAK=1) runs the full counts with no time bound unless --seconds
//     (or HANDOFF_SOAK_SECONDS, set by `make soak-perturb`) is given. Slice::next() spreads the remaining time over the remaining slices;
//   * a watchdog thread: if the test's progress counter stops moving for --watchdog seconds,
//     or the run overruns a hard limit, it prints the test's diagnosis (who is stuck where)
//     and calls std::_Exit(3), so a hang never reaches the ctest TIMEOUT;
//   * coverage accounting (operations, threads, runs/seeds, perturbed steps) and the final
//     one-line verdict: "VERDICT <name>: PASS|FAIL|HANG ...". Exit codes: 0 pass, 1 fail,
//     2 usage, 3 hang.
//
// RULES FOR TESTS (so the harness never hides the races it is meant to expose, and a failing
// seed replays)
//   * Start every thread that runs facade operations as a sync::thread (harness.thread()), in
//     a fixed order, after perturb(run_seed) on the same thread. Threads a library starts from
//     whichever thread needs one (a pool's workers): through the library's seam as
//     ordinal_thread(), numbered in creation order.
//   * Loop over a slice's runs with another_run(deadline, runs_done), not with the clock, and
//     keep each run's own work a function of its seed (no clock-dependent cut inside a run).
//   * State the watchdog reads must be atomics written relaxed or release and read relaxed:
//     the watchdog must not create happens-before edges between the threads under test.
//   * Bookkeeping shared between threads under test (progress words, flags) is likewise read
//     relaxed by the checking side; TSan then sees only the queue's own synchronization.
//   * Call account_thread() at the end of every thread that ran atomic steps, so the
//     perturbed-step counts cover all of them.
#pragma once

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cinttypes>
#include <cstdarg>
#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <initializer_list>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include <handoff/primitives/sync.hpp>

namespace handoff::stress {

using Clock = std::chrono::steady_clock;

// Set when a sanitizer (TSan in the stress builds) printed a report in this process: the
// verdict does not see those, so finish() then prints the REPLAY line as for a failure.
inline std::atomic<bool>& sanitizer_reported() noexcept {
  static std::atomic<bool> flag{false};
  return flag;
}

}  // namespace handoff::stress

#if (defined(__SANITIZE_THREAD__) || defined(__SANITIZE_ADDRESS__) || defined(__has_feature)) && \
    !defined(HANDOFF_STRESS_NO_SANITIZER_HOOK)
#if !defined(__has_feature)
#define HANDOFF_STRESS_HAS_FEATURE(x) 0
#else
#define HANDOFF_STRESS_HAS_FEATURE(x) __has_feature(x)
#endif
#if defined(__SANITIZE_THREAD__) || defined(__SANITIZE_ADDRESS__) || HANDOFF_STRESS_HAS_FEATURE(thread_sanitizer) || \
    HANDOFF_STRESS_HAS_FEATURE(address_sanitizer)
// The sanitizers' documented hook for the one-line summary of each report (it replaces the
// runtime's weak default, which prints the same line). One definition per program: a stress
// binary is one translation unit (a second one that includes this header defines
// HANDOFF_STRESS_NO_SANITIZER_HOOK). Not instrumented, and it touches nothing but the flag:
// it runs inside the sanitizer's report.
extern "C" __attribute__((no_sanitize("thread", "address"))) void __sanitizer_report_error_summary(
    const char* summary) {
  std::fprintf(stderr, "%s\n", summary);  // "SUMMARY: ThreadSanitizer: ..."
  handoff::stress::sanitizer_reported().store(true, std::memory_order_relaxed);  // read by finish(), after joins
}
#endif
#undef HANDOFF_STRESS_HAS_FEATURE
#endif

namespace handoff::stress {

// ---- randomness ------------------------------------------------------------------------

inline std::uint64_t splitmix64(std::uint64_t& x) noexcept {
  std::uint64_t z = (x += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

// A seed for a sub-run, a pure function of its parent seed and the given coordinates.
inline std::uint64_t derive_seed(std::uint64_t seed, std::initializer_list<std::uint64_t> coords) noexcept {
  std::uint64_t x = seed;
  std::uint64_t out = splitmix64(x);
  for (std::uint64_t c : coords) {
    x ^= c * 0xd6e8feb86659fd93ull;
    out = splitmix64(x);
  }
  return out;
}

// Small, fast, seeded generator for test decisions (close moments, burst sizes, ...).
class Rng {
 public:
  explicit Rng(std::uint64_t seed) noexcept : s_(seed) {}
  std::uint64_t next() noexcept { return splitmix64(s_); }
  std::uint64_t below(std::uint64_t n) noexcept { return n == 0 ? 0 : next() % n; }
  bool chance(std::uint32_t per_mille) noexcept { return below(1000) < per_mille; }

 private:
  std::uint64_t s_;
};

// One value per cache line, so per-thread progress words do not false-share.
template <class T>
struct alignas(64) Padded {
  T v{};
};

// A compiler-only barrier. The answer checks that compare a queue's reply with relaxed
// progress words rely on x86-TSO for the hardware order and on this for the compiler's;
// it adds no synchronization that TSan could see, so it hides no race.
inline void compiler_barrier() noexcept { std::atomic_signal_fence(std::memory_order_seq_cst); }

#if defined(__x86_64__) || defined(__i386__)
inline constexpr bool kTsoChecks = true;
#else
inline constexpr bool kTsoChecks = false;
#endif

// ---- formatting ------------------------------------------------------------------------

inline std::string fmt(const char* f, ...) __attribute__((format(printf, 1, 2)));
inline std::string fmt(const char* f, ...) {
  char buf[1024];
  va_list ap;
  va_start(ap, f);
  std::vsnprintf(buf, sizeof buf, f, ap);
  va_end(ap);
  return buf;
}

// "12.3M"-style counts for coverage lines.
inline std::string human(double v) {
  if (v >= 1e9) return fmt("%.2fG", v / 1e9);
  if (v >= 1e6) return fmt("%.2fM", v / 1e6);
  if (v >= 1e4) return fmt("%.1fk", v / 1e3);
  return fmt("%.0f", v);
}

// Collects the lines of one kind of finding, printing at most `cap` and counting the rest.
class Findings {
 public:
  explicit Findings(std::size_t cap = 20) : cap_(cap) {}
  void add(const std::string& kind, std::string line) {
    auto it = std::find_if(kinds_.begin(), kinds_.end(), [&](const Kind& k) { return k.name == kind; });
    if (it == kinds_.end()) {
      kinds_.push_back({kind, {}, 0});
      it = kinds_.end() - 1;
    }
    ++it->total;
    if (it->lines.size() < cap_) it->lines.push_back(std::move(line));
  }
  bool empty() const noexcept { return kinds_.empty(); }
  std::uint64_t count(const std::string& kind) const {
    for (const Kind& k : kinds_) if (k.name == kind) return k.total;
    return 0;
  }
  // "LOST=3 REORDERED=1"
  std::string summary() const {
    std::string s;
    for (const Kind& k : kinds_) s += fmt("%s%s=%" PRIu64, s.empty() ? "" : " ", k.name.c_str(), k.total);
    return s;
  }
  void print(std::FILE* out = stdout) const {
    for (const Kind& k : kinds_) {
      for (const std::string& l : k.lines) std::fprintf(out, "%s\n", l.c_str());
      if (k.total > k.lines.size()) {
        std::fprintf(out, "%s: ... and %" PRIu64 " more\n", k.name.c_str(), k.total - k.lines.size());
      }
    }
    std::fflush(out);
  }

 private:
  struct Kind {
    std::string name;
    std::vector<std::string> lines;
    std::uint64_t total;
  };
  std::size_t cap_;
  std::vector<Kind> kinds_;
};

// ---- the harness -----------------------------------------------------------------------

struct ExtraOption {
  std::string name;        // "--queue"
  std::string help;        // one line
  bool takes_value = true;
  std::function<bool(const std::string& value)> set;  // false: invalid value
};

struct Defaults {
  std::vector<unsigned> producers{1, 2, 4, 8, 16};
  double seconds = 10.0;                 // ctest-mode bound on the whole binary's run
  std::uint32_t rate_per_mille = 200;    // VERIFY.md: 10–30 % perturbation catches lost wakeups
  double watchdog_seconds = 5.0;         // no progress for this long = a hang
};

class Harness {
 public:
  Harness(std::string name, int argc, char** argv, Defaults d = {}, std::vector<ExtraOption> extra = {})
      : name_(std::move(name)),
        producers_(d.producers),
        seconds_(d.seconds),
        rate_(d.rate_per_mille),
        watchdog_seconds_(d.watchdog_seconds),
        extra_(std::move(extra)),
        start_(Clock::now()) {
    std::string error;
    bool seed_given = false;
    bool seconds_given = false;
    bool help = false;
    for (int i = 1; i < argc && error.empty(); ++i) {
      std::string arg = argv[i];
      std::string value;
      bool has_inline = false;
      if (auto eq = arg.find('='); arg.rfind("--", 0) == 0 && eq != std::string::npos) {
        value = arg.substr(eq + 1);
        arg = arg.substr(0, eq);
        has_inline = true;
      }
      auto take = [&](bool needed) -> bool {
        if (!needed) return true;
        if (has_inline) return true;
        if (i + 1 >= argc) {
          error = arg + " needs a value";
          return false;
        }
        value = argv[++i];
        return true;
      };
      if (arg == "--help" || arg == "-h") {
        help = true;
      } else if (arg == "--seed") {
        if (take(true) && !parse_u64(value, seed_)) error = "bad --seed '" + value + "'";
        seed_given = true;
      } else if (arg == "--seconds") {
        if (take(true) && !parse_double(value, seconds_)) error = "bad --seconds '" + value + "'";
        seconds_given = true;
      } else if (arg == "--rate") {
        std::uint64_t r = 0;
        if (take(true) && (!parse_u64(value, r) || r > 1000)) error = "bad --rate '" + value + "' (0..1000 per mille)";
        rate_ = static_cast<std::uint32_t>(r);
      } else if (arg == "--watchdog") {
        if (take(true) && (!parse_double(value, watchdog_seconds_) || watchdog_seconds_ <= 0)) {
          error = "bad --watchdog '" + value + "'";
        }
      } else if (arg == "--producers") {
        if (take(true) && !parse_list(value, producers_)) error = "bad --producers '" + value + "' (e.g. 1,2,4)";
      } else if (arg == "--soak") {
        soak_ = true;
      } else if (arg == "--runs") {
        if (take(true) && !parse_counts(value, replay_runs_)) error = "bad --runs '" + value + "' (e.g. 3,0,12)";
        replaying_ = true;
      } else {
        auto it = std::find_if(extra_.begin(), extra_.end(), [&](const ExtraOption& o) { return o.name == arg; });
        if (it == extra_.end()) {
          error = "unknown option '" + arg + "'";
        } else if (take(it->takes_value) && !it->set(value)) {
          error = "bad " + arg + " '" + value + "'";
        }
      }
    }
    if (const char* env = std::getenv("HANDOFF_SOAK"); env != nullptr && *env != '\0' && std::strcmp(env, "0") != 0) {
      soak_ = true;
    }
    for (int i = 1; i < argc; ++i) args_.emplace_back(argv[i]);
    argv0_ = argc > 0 ? argv[0] : name_;
    if (!seed_given) {
      std::random_device rd;
      seed_ = (static_cast<std::uint64_t>(rd()) << 32) ^ rd() ^
              static_cast<std::uint64_t>(Clock::now().time_since_epoch().count());
    }
    // make soak-perturb: full counts, but each binary bounded by the budget the script hands out.
    if (const char* env = std::getenv("HANDOFF_SOAK_SECONDS"); soak_ && !seconds_given && env != nullptr && *env != '\0') {
      if (parse_double(env, seconds_) && seconds_ > 0) {
        seconds_given = true;
      } else {
        error = std::string("bad HANDOFF_SOAK_SECONDS '") + env + "'";
      }
    }
    timed_ = !soak_ || seconds_given;
    // Always first: the one number that replays this run.
    std::printf("seed=%" PRIu64 "\n", seed_);
    std::fflush(stdout);  // before any error text on stderr
    if (help) {
      usage(stdout);
      std::exit(0);
    }
    if (!error.empty()) {
      std::fprintf(stderr, "%s: %s\n", name_.c_str(), error.c_str());
      usage(stderr);
      std::exit(2);
    }
    std::printf("%s: mode=%s, time bound=%s, watchdog=%.1fs, producers=%s\n", name_.c_str(),
                soak_ ? "soak (full counts)" : "ctest (bounded slice)",
                timed_ ? fmt("%.1fs", seconds_).c_str() : "none", watchdog_seconds_, list(producers_).c_str());
    if (replaying_) {
      std::printf("%s: REPLAYING runs per slice %s (run counts from --runs, not the clock)\n", name_.c_str(),
                  counts_string(replay_runs_).c_str());
    }
    if constexpr (sync::kPerturbed) {
      std::printf("%s: perturbation compiled in (HANDOFF_PERTURB); %s\n", name_.c_str(),
                  rate_ > 0 ? fmt("ACTIVE at %u/1000 of atomic steps", rate_).c_str()
                            : "INACTIVE (--rate 0)");
    } else {
      std::printf("%s: perturbation compiled out (build with -DHANDOFF_PERTURB=ON to enable); "
                  "--rate ignored\n", name_.c_str());
    }
    std::fflush(stdout);
    watchdog_ = std::thread([this] { watchdog_loop(); });
  }

  Harness(const Harness&) = delete;
  Harness& operator=(const Harness&) = delete;

  ~Harness() { stop_watchdog(); }

  // ---- settings ----
  const std::string& name() const noexcept { return name_; }
  std::uint64_t seed() const noexcept { return seed_; }
  bool soak() const noexcept { return soak_; }
  std::uint32_t rate() const noexcept { return sync::kPerturbed ? rate_ : 0; }
  const std::vector<unsigned>& producers() const noexcept { return producers_; }
  unsigned max_producers() const noexcept {
    return producers_.empty() ? 0 : *std::max_element(producers_.begin(), producers_.end());
  }
  // ctest count or soak count.
  std::uint64_t count(std::uint64_t ctest, std::uint64_t soak) const noexcept { return soak_ ? soak : ctest; }

  // ---- time ----
  double elapsed() const noexcept { return std::chrono::duration<double>(Clock::now() - start_).count(); }
  bool timed() const noexcept { return timed_; }
  // Seconds of the time bound still left (a large number when untimed).
  double remaining() const noexcept { return timed_ ? std::max(0.0, seconds_ - elapsed()) : 1e18; }

  // A share of the remaining time: slice `weight` of the `weight_left` still to run.
  // Also starts a new slice for the replay bookkeeping (another_run).
  Clock::time_point slice_deadline(double weight, double weight_left) {
    {
      std::lock_guard<std::mutex> lock(runs_mu_);
      slice_runs_.push_back(0);
    }
    if (!timed_) return Clock::time_point::max();
    const double s = remaining() * (weight_left > 0 ? weight / weight_left : 1.0);
    return Clock::now() + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(s));
  }

  // The run loop of the current slice (the one the last slice_deadline() call started): true
  // if another run should start, given `done` runs already started in it. Normally: fewer
  // than `min_runs` done, or time left before `deadline` (and the caller's own count bound).
  // When replaying (--runs): exactly as many runs as the failing run's slice had.
  bool another_run(Clock::time_point deadline, std::uint64_t done, std::uint64_t min_runs = 0) {
    std::lock_guard<std::mutex> lock(runs_mu_);
    run_api_used_ = true;
    if (slice_runs_.empty()) slice_runs_.push_back(0);  // a test with a single implicit slice
    const std::size_t slice = slice_runs_.size() - 1;
    bool go;
    if (replaying_) {
      go = slice < replay_runs_.size() && done < replay_runs_[slice];
    } else {
      go = done < min_runs || Clock::now() < deadline;
    }
    if (go) ++slice_runs_[slice];
    return go;
  }

  // The command that replays this run: the same binary and options, this seed, and (when the
  // test's run loop uses another_run) the runs each slice has had so far. Any thread.
  std::string replay_command() const {
    std::string cmd = shell_quote(argv0_);
    for (std::size_t i = 0; i < args_.size(); ++i) {
      const std::string& a = args_[i];
      const bool with_value = a == "--seed" || a == "--runs";
      if (with_value || a.rfind("--seed=", 0) == 0 || a.rfind("--runs=", 0) == 0) {
        if (with_value) ++i;  // and its value
        continue;
      }
      cmd += ' ' + shell_quote(a);
    }
    cmd += fmt(" --seed %" PRIu64, seed_);
    std::lock_guard<std::mutex> lock(runs_mu_);
    if (run_api_used_) cmd += " --runs " + counts_string(slice_runs_);
    return cmd;
  }

  // "REPLAY: <command>" plus what a replay cannot reproduce. Any thread (custom watchdogs).
  std::string replay_lines() const {
    std::string r = "REPLAY: " + replay_command() + "\n";
    bool clock_runs = false;
    {
      std::lock_guard<std::mutex> lock(runs_mu_);
      clock_runs = !run_api_used_;
    }
    if (clock_runs) {
      r += "REPLAY note: this test's run loop follows the clock (it does not use Harness::another_run), "
           "so the replay's runs match only while the timing does\n";
    }
#if defined(HANDOFF_SYNC_PERTURB) && HANDOFF_SYNC_PERTURB
    if (const std::uint64_t u = sync::perturb::unregistered(); u > 0) {
      r += fmt("REPLAY note: %" PRIu64 " thread start(s) were not through sync::thread: their perturbation "
               "decisions follow first touch and differ in a replay\n", u);
    }
#endif
    r += "REPLAY note: the seed fixes every registered thread's perturbation decisions, not the OS's "
         "scheduling: a replay reproduces the failure often, not always\n";
    return r;
  }

  // Call first on a thread that only watches the threads under test (a custom watchdog): the
  // facade operations it makes (reading a primitive's stats) are neither perturbed nor
  // counted as an unregistered thread.
  static void observer_thread() noexcept {
#if defined(HANDOFF_SYNC_PERTURB) && HANDOFF_SYNC_PERTURB
    sync::perturb::observer();
#endif
  }

  // A thread for a run: a sync::thread, so its perturbation key is fixed by creation order.
  template <class F>
  sync::thread thread(F&& f) {
    return sync::thread(std::forward<F>(f));
  }

  // A thread whose perturbation key is fixed by `ordinal` alone, whichever thread starts it:
  // for threads a library starts from whichever thread happens to need one (a pool's workers,
  // through ThreadPoolExecutor::Options::start_thread), which the test numbers in the order
  // they are created. A sync::thread would take its key from the starting thread, so the
  // same worker would get another key in a replay where another submitter started it. The
  // k-th thread created gets the same key, so the same decision stream, in a replay; when
  // the k-th is created, and so what it does, is still up to the scheduling.
  template <class F>
  static std::thread ordinal_thread(std::uint64_t ordinal, F&& f) {
#if defined(HANDOFF_SYNC_PERTURB) && HANDOFF_SYNC_PERTURB
    // Top bit clear: never a first-touch key (sync_perturb.hpp, kFirstTouchKeys).
    const std::uint64_t key = derive_seed(0x6f7264696e616cull, {ordinal}) & ~(1ull << 63);
    return std::thread([key, fn = std::forward<F>(f)]() mutable {
      sync::perturb::adopt(key);  // before anything else runs on it, as sync::thread does
      fn();
    });
#else
    (void)ordinal;
    return std::thread(std::forward<F>(f));
#endif
  }

  // ---- perturbation ----
  // Configure the facade's perturbation for one run (one set of threads) with its seed.
  void perturb(std::uint64_t run_seed) noexcept {
    ++runs_;
#if defined(HANDOFF_SYNC_PERTURB) && HANDOFF_SYNC_PERTURB
    sync::perturb::configure(run_seed, rate_);
#else
    (void)run_seed;
#endif
  }

  // Add this thread's perturbation counters (since its last call) to the totals. Any thread.
  void account_thread() noexcept {
#if defined(HANDOFF_SYNC_PERTURB) && HANDOFF_SYNC_PERTURB
    struct Seen {
      std::uint64_t steps = 0, perturbed = 0;
    };
    thread_local Seen seen;
    const auto& t = sync::perturb::thread_state();
    // Relaxed: totals read after the threads are joined; no data hangs on them.
    steps_.fetch_add(t.total_steps - seen.steps, std::memory_order_relaxed);  // test bookkeeping, read after joins or by the watchdog
    perturbed_.fetch_add(t.perturbed - seen.perturbed, std::memory_order_relaxed);  // test bookkeeping, read after joins or by the watchdog
    seen.steps = t.total_steps;
    seen.perturbed = t.perturbed;
#endif
  }

  // ---- coverage ----
  void add_ops(std::uint64_t n) noexcept { ops_ += n; }
  void note_threads(unsigned n) noexcept { max_threads_ = std::max(max_threads_, n); }
  std::uint64_t ops() const noexcept { return ops_; }
  std::uint64_t runs() const noexcept { return runs_; }
  std::string perturbation_summary() const {
    if (!sync::kPerturbed) return "perturbation=off(compiled out)";
    const std::uint64_t st = steps_.load(std::memory_order_relaxed);    // after joins
    const std::uint64_t pe = perturbed_.load(std::memory_order_relaxed);  // after joins
    std::string unreg;
#if defined(HANDOFF_SYNC_PERTURB) && HANDOFF_SYNC_PERTURB
    if (const std::uint64_t u = sync::perturb::unregistered(); u > 0) unreg = fmt(" unregistered-threads=%" PRIu64, u);
#endif
    return fmt("perturbation=%u/1000 perturbed-steps=%s/%s%s", rate_, human(double(pe)).c_str(),
               human(double(st)).c_str(), unreg.c_str());
  }

  // ---- watchdog ----
  // progress(): a number that moves while the test makes progress; diagnose(): a description
  // of who is stuck where. Both run on the watchdog thread: they may read only atomics.
  void watch(std::function<std::uint64_t()> progress, std::function<std::string()> diagnose) {
    std::lock_guard<std::mutex> lock(mu_);
    progress_ = std::move(progress);
    diagnose_ = std::move(diagnose);
  }

  // ---- verdict ----
  // Prints the final line and returns the exit code. `detail`: what failed, or what was covered.
  int finish(bool pass, const std::string& detail) {
    stop_watchdog();
    const bool sanitizer = sanitizer_reported().load(std::memory_order_relaxed);  // set by the report hook
    if (!pass || sanitizer) {
      std::string r = replay_lines();
      if (sanitizer) r = "a sanitizer reported above (see SUMMARY:): the run fails by its exit code\n" + r;
      std::fwrite(r.data(), 1, r.size(), stdout);
    }
    std::printf("VERDICT %s: %s %s | ops=%s threads<=%u seed=%" PRIu64 " runs(seeds)=%" PRIu64
                " %s time=%.1fs\n",
                name_.c_str(), pass ? "PASS" : "FAIL", detail.c_str(), human(double(ops_)).c_str(),
                max_threads_, seed_, runs_, perturbation_summary().c_str(), elapsed());
    std::fflush(stdout);
    return pass ? 0 : 1;
  }

 private:
  static bool parse_u64(const std::string& s, std::uint64_t& out) {
    if (s.empty()) return false;
    char* end = nullptr;
    errno = 0;
    const unsigned long long v = std::strtoull(s.c_str(), &end, 0);
    if (errno != 0 || *end != '\0' || s[0] == '-') return false;
    out = v;
    return true;
  }
  static bool parse_double(const std::string& s, double& out) {
    if (s.empty()) return false;
    char* end = nullptr;
    const double v = std::strtod(s.c_str(), &end);
    if (*end != '\0' || !(v >= 0)) return false;
    out = v;
    return true;
  }
  static bool parse_list(const std::string& s, std::vector<unsigned>& out) {
    std::vector<unsigned> v;
    std::size_t pos = 0;
    while (pos <= s.size()) {
      const std::size_t comma = s.find(',', pos);
      const std::string item = s.substr(pos, comma == std::string::npos ? std::string::npos : comma - pos);
      std::uint64_t n = 0;
      if (!parse_u64(item, n) || n == 0 || n > 256) return false;
      v.push_back(static_cast<unsigned>(n));
      if (comma == std::string::npos) break;
      pos = comma + 1;
    }
    if (v.empty()) return false;
    out = std::move(v);
    return true;
  }
  static bool parse_counts(const std::string& s, std::vector<std::uint64_t>& out) {
    std::vector<std::uint64_t> v;
    std::size_t pos = 0;
    while (pos <= s.size()) {
      const std::size_t comma = s.find(',', pos);
      std::uint64_t n = 0;
      if (!parse_u64(s.substr(pos, comma == std::string::npos ? std::string::npos : comma - pos), n)) return false;
      v.push_back(n);
      if (comma == std::string::npos) break;
      pos = comma + 1;
    }
    out = std::move(v);
    return !out.empty();
  }
  static std::string counts_string(const std::vector<std::uint64_t>& v) {
    std::string s;
    for (std::uint64_t x : v) {
      if (!s.empty()) s += ',';
      s += std::to_string(x);
    }
    return s.empty() ? "0" : s;
  }
  // Single quotes unless the word is plainly safe for a shell.
  static std::string shell_quote(const std::string& w) {
    if (!w.empty() && w.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-+=/.,:@%") ==
                          std::string::npos) {
      return w;
    }
    std::string q = "'";
    for (char c : w) q += c == '\'' ? std::string("'\\''") : std::string(1, c);
    return q + "'";
  }
  static std::string list(const std::vector<unsigned>& v) {
    std::string s;
    for (unsigned x : v) {
      if (!s.empty()) s += ',';
      s += std::to_string(x);
    }
    return s;
  }

  void usage(std::FILE* out) const {
    std::fprintf(out,
                 "usage: %s [options]\n"
                 "  --seed N         master seed (default: random; always printed first)\n"
                 "  --seconds S      time bound for the whole run (default %.0f in ctest mode; none in soak)\n"
                 "  --rate R         perturbation per mille of atomic steps (HANDOFF_PERTURB builds)\n"
                 "  --producers L    producer counts, comma-separated (default %s)\n"
                 "  --soak           full counts (also HANDOFF_SOAK=1)\n"
                 "  --watchdog S     seconds without progress before the run is declared hung\n"
                 "  --runs a,b,...   replay: run exactly this many runs in each slice (printed with REPLAY:)\n",
                 name_.c_str(), seconds_, list(producers_).c_str());
    for (const ExtraOption& o : extra_) std::fprintf(out, "  %-16s %s\n", o.name.c_str(), o.help.c_str());
  }

  void watchdog_loop() {
    observer_thread();
    using namespace std::chrono;
    std::unique_lock<std::mutex> lock(mu_);
    std::uint64_t last = 0;
    bool have_last = false;
    auto last_change = Clock::now();
    // A hard limit well inside ctest's TIMEOUT, should the bounded slices overrun.
    const double hard = timed_ ? 3 * seconds_ + 30 : 1e18;
    while (!stop_) {
      cv_.wait_for(lock, milliseconds(100));
      if (stop_) break;
      const auto now = Clock::now();
      if (!progress_) {
        last_change = now;  // nothing watched yet
      } else {
        const std::uint64_t p = progress_();
        if (!have_last || p != last) {
          last = p;
          have_last = true;
          last_change = now;
        }
      }
      const double stalled = duration<double>(now - last_change).count();
      std::string why;
      if (stalled >= watchdog_seconds_) {
        why = fmt("no progress for %.1fs (progress counter stuck at %" PRIu64 ")", stalled, last);
      } else if (elapsed() > hard) {
        why = fmt("run exceeded its hard limit of %.0fs (time bound %.1fs)", hard, seconds_);
      }
      if (!why.empty()) {
        std::string report = fmt("WATCHDOG: %s after %.1fs; seed=%" PRIu64 "\n", why.c_str(), elapsed(), seed_);
        if (diagnose_) report += diagnose_();
        report += replay_lines();
        report += fmt("VERDICT %s: HANG %s | seed=%" PRIu64 " time=%.1fs\n", name_.c_str(), why.c_str(), seed_,
                      elapsed());
        std::fwrite(report.data(), 1, report.size(), stdout);
        std::fflush(stdout);
        std::fflush(stderr);
        std::_Exit(3);
      }
    }
  }

  void stop_watchdog() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      stop_ = true;
    }
    cv_.notify_all();
    if (watchdog_.joinable()) watchdog_.join();
  }

  std::string name_;
  std::uint64_t seed_ = 0;
  std::vector<unsigned> producers_;
  double seconds_;
  std::uint32_t rate_;
  double watchdog_seconds_;
  bool soak_ = false;
  bool timed_ = true;
  std::vector<ExtraOption> extra_;
  Clock::time_point start_;
  std::string argv0_;
  std::vector<std::string> args_;

  // Replay bookkeeping: runs started per slice; guarded because custom watchdogs read it.
  mutable std::mutex runs_mu_;
  std::vector<std::uint64_t> slice_runs_;
  bool run_api_used_ = false;
  bool replaying_ = false;
  std::vector<std::uint64_t> replay_runs_;

  std::uint64_t ops_ = 0;
  std::uint64_t runs_ = 0;
  unsigned max_threads_ = 0;
  std::atomic<std::uint64_t> steps_{0};
  std::atomic<std::uint64_t> perturbed_{0};

  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;
  std::function<std::uint64_t()> progress_;
  std::function<std::string()> diagnose_;
  std::thread watchdog_;
};

}  // namespace handoff::stress
