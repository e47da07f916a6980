// handoff/executor/executor_base.hpp — what every executor offers on top of "queue this job":
// submit(fn, args...) and map(fn, inputs, timeout), concurrent.futures.Executor's methods,
// written once for the work-stealing pool and its mutex baseline (CRTP, no virtual calls).
//
// The derived class provides:
//   detail::JobLedger& job_ledger();          // where a cancelled job counts itself
//   void enqueue(detail::Job* job);           // queue it, or throw ExecutorShutdownError
//                                             // (then it must count the job refused)
#pragma once

#include <chrono>
#include <functional>
#include <iterator>
#include <optional>
#include <thread>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

#include "../future/errors.hpp"
#include "../future/thread_future.hpp"
#include "../primitives/deadline.hpp"
#include "../primitives/per_thread_counter.hpp"
#include "job.hpp"

namespace handoff {

namespace detail {
// TEST SEAMS (null in production; thread-local: only the thread that sets one is affected).
// t_submit_pushed_hook: submit() calls it once the job is queued (runnable) and before the
// submitter's remaining work on the pool (ThreadPoolExecutor: after_push's notify and spawn;
// MutexThreadPool: after its unlock, before its notify). t_destroy_waits_hook:
// a pool's destructor calls it while it waits for a submit still in flight.
// tests/executor_test.cpp holds a submit there while its job runs and the owner destroys the
// pool ("lifetime: ...").
inline thread_local void (*t_submit_pushed_hook)() = nullptr;
inline thread_local void (*t_destroy_waits_hook)() = nullptr;

// An outside submit in flight: counted finished (a release store on this thread's own slot
// of `finished`, no shared RMW) when the submit leaves, by return or by throw. Its last
// access to the pool; wait_for_submitters() reads it with acquire before the memory goes.
// The thread's slot must exist already (finished.add(0) before the job was queued), so the
// count cannot allocate (or throw) here.
class SubmitInFlight {
 public:
  explicit SubmitInFlight(PerThreadCounter* finished) noexcept : finished_(finished) {}
  SubmitInFlight(const SubmitInFlight&) = delete;
  SubmitInFlight& operator=(const SubmitInFlight&) = delete;
  ~SubmitInFlight() {
    if (finished_ != nullptr) finished_->add_release(1);
  }

 private:
  PerThreadCounter* finished_;
};

// A pool's destructor, once shut down and joined: wait until every outside submit that entered
// (counted in `entered` before its job was queued) has left (`finished`, SubmitInFlight). Why
// it sees every submit that matters: the owner destroys the pool after it saw the submitted
// jobs finish (a future's get(), a join), and each submit counted its entry before its push,
// so the entry happens before the destruction. Reading every finished count BEFORE every
// entry count, sum(finished) == sum(entered) means each thread had no submit in flight at its
// finished read (per thread, finished <= entered at all times; both only grow). A submit with
// no such ordering (one racing the destructor) is the caller's use-after-destroy, as for any
// object. Short: a submit in flight is only finishing its notify (or its thread start).
inline void wait_for_submitters(const PerThreadCounter& entered, const PerThreadCounter& finished) noexcept {
  for (;;) {
    const std::uint64_t f = finished.read_acquire();  // first (see above)
    const std::uint64_t e = entered.read();
    if (f == e) return;
    if (t_destroy_waits_hook != nullptr) t_destroy_waits_hook();  // test seam
    std::this_thread::yield();
  }
}
}  // namespace detail

// The results of map(): an input range whose elements are the jobs' results, in input order.
// One deadline for the whole iteration (as concurrent.futures): reading an element that is
// not ready by then throws TimeoutError and cancels the jobs not yet started (as
// concurrent.futures does when it raises). Results are read once, in order (an input range).
// Destroying it cancels the jobs that have not started (as Python's result iterator does).
template <class R>
class MapResults {
 public:
  using clock = std::chrono::steady_clock;

  MapResults(std::vector<ThreadFuture<R>> futures, std::optional<clock::time_point> deadline)
      : futures_(std::move(futures)), deadline_(deadline) {}
  MapResults(MapResults&&) noexcept = default;
  MapResults& operator=(MapResults&&) noexcept = default;
  ~MapResults() { cancel_rest(); }

  std::size_t size() const noexcept { return futures_.size(); }

  // The next result (blocking until it is ready or the deadline passes); rethrows the job's
  // exception. Precondition: not all results have been read. A TimeoutError ends the
  // iteration: the future waited for and every later one are cancelled first (the jobs not
  // yet started never run), as concurrent.futures' result iterator does.
  R next() {
    if (next_ == futures_.size()) {
      throw InvalidStateError(timed_out_ ? "MapResults::next(): the iteration ended with a TimeoutError"
                                         : "MapResults::next(): no results left");
    }
    ThreadFuture<R>& f = futures_[next_];
    if (deadline_) {
      const auto left = *deadline_ - clock::now();
      if (!f.state()->wait_for(left > clock::duration::zero() ? left : clock::duration::zero(),
                               "MapResults::next()")) {
        cancel_rest();
        next_ = futures_.size();
        timed_out_ = true;
        throw TimeoutError("Executor::map(): the results were not ready by the deadline");
      }
    } else {
      f.state()->wait("MapResults::next()");  // an error on a loop thread names this call
    }
    ++next_;
    return std::move(f).get();  // each result is read once: moved out, not copied
  }
  bool has_next() const noexcept { return next_ < futures_.size(); }

  // A range-for over the results: for (auto v : pool.map(fn, inputs)) ...
  class iterator {
   public:
    using iterator_category = std::input_iterator_tag;
    using value_type = R;
    using difference_type = std::ptrdiff_t;
    explicit iterator(MapResults* m) : m_(m) { advance(); }
    iterator() = default;
    R& operator*() { return *current_; }
    iterator& operator++() {
      advance();
      return *this;
    }
    void operator++(int) { advance(); }
    bool operator==(const iterator& o) const noexcept { return m_ == o.m_; }

   private:
    void advance() {
      if (m_ == nullptr) return;
      if (!m_->has_next()) {
        m_ = nullptr;
        return;
      }
      current_.emplace(m_->next());
    }
    MapResults* m_ = nullptr;
    std::optional<R> current_;
  };
  iterator begin() { return iterator(this); }
  iterator end() { return iterator(); }

 private:
  std::vector<ThreadFuture<R>> futures_;
  // Cancel the results not yet read, the last submitted first: in input order, a worker
  // could start job k+1 while job k is being cancelled (Python reverses the list too).
  void cancel_rest() {
    for (std::size_t i = futures_.size(); i > next_; --i) futures_[i - 1].cancel();
  }

  std::optional<clock::time_point> deadline_;
  std::size_t next_ = 0;
  bool timed_out_ = false;
};

template <class Derived>
class ExecutorBase {
 public:
  // Any thread. Schedule fn(args...) (copies of the arguments, like Python's submit) and
  // return its future. Throws ExecutorShutdownError after shutdown(). From one of this
  // pool's own jobs, the job goes to the worker's own deque (run_in_executor's children).
  template <class F, class... A>
  auto submit(F&& fn, A&&... args) {
    using R = std::invoke_result_t<std::decay_t<F>&, std::decay_t<A>&...>;
    auto bound = [f = std::forward<F>(fn), tup = std::make_tuple(std::forward<A>(args)...)]() mutable -> R {
      return std::apply(f, tup);
    };
    auto [job, future] = detail::JobFor<R, decltype(bound)>::make(std::move(bound), &self().job_ledger());
    self().enqueue(job);  // on refusal it has counted and released the job, and thrown
    return future;
  }

  // Any thread. fn over each input, in input order (concurrent.futures.Executor.map); every
  // job is submitted before the first result is read. `timeout`: one deadline for the whole
  // iteration, from this call.
  template <class F, class Range>
  auto map(F fn, const Range& inputs) {
    return map_impl(std::move(fn), inputs, std::nullopt);
  }
  template <class F, class Range, class Rep, class Period>
  auto map(F fn, const Range& inputs, std::chrono::duration<Rep, Period> timeout) {
    return map_impl(std::move(fn), inputs,
                    detail::deadline_after(timeout));  // saturated: hours::max() waits
  }

 private:
  Derived& self() noexcept { return static_cast<Derived&>(*this); }

  template <class F, class Range>
  auto map_impl(F fn, const Range& inputs, std::optional<std::chrono::steady_clock::time_point> deadline) {
    using In = std::decay_t<decltype(*std::begin(inputs))>;
    using R = std::invoke_result_t<F&, In&>;
    std::vector<ThreadFuture<R>> futures;
    auto cancel_submitted = [&] {
      for (auto& f : futures) f.cancel();  // refused midway: nothing half-submitted keeps running unseen
    };
    try {
      for (const auto& x : inputs) futures.push_back(submit(fn, x));
    } catch (const ExecutorShutdownError&) {
      cancel_submitted();
      throw ExecutorShutdownError("map() after shutdown()");  // the user's call, not submit()
    } catch (...) {
      cancel_submitted();
      throw;
    }
    return MapResults<R>(std::move(futures), deadline);
  }
};

}  // namespace handoff
