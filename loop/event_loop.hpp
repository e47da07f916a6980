// handoff/loop/event_loop.hpp — a single-threaded event loop with asyncio's names and
// semantics, whose only cross-thread entry is the lock-free MPSC inbox.
//
// THREADS. A loop belongs to the thread that runs it. While it runs, its loop-thread-only
// methods must be called from that thread (checked, with WrongThreadError, in debug and
// sanitizer builds); from other threads use call_soon_threadsafe(), stop(), or a LoopRef
// (threadsafe()), whose shared core keeps posting safe even after the EventLoop is gone.
// docs/loop.md has the table of which method may be called from where.
//
// ONE ITERATION (asyncio's _run_once):
//   1. run up to `inbox_batch` callbacks posted from other threads, oldest first;
//   2. if nothing is ready: spin up to `spin_budget` watching the inbox, then sleep in
//      epoll_wait through the WakeGate handshake (announce, re-check, sleep) until the next
//      timer, an fd event or a wake signal;
//   3. dispatch fd events (after the sleep, with the gate AWAKE again); move due timers to the
//      ready queue (deadlines saturate: time_point::max() never fires; cancelled timers are
//      pruned once they are more than half of a heap of more than 100);
//   4. run the callbacks that were ready when the step began (later ones wait a turn), so a
//      flood of posts cannot starve timers or tasks, and a callback that re-posts itself
//      cannot starve the rest.
//
// THE LEDGER (stats()): every callback handed to call_soon, call_soon_threadsafe, call_later
// or call_at is counted once as posted and once as exactly one of run, cancelled (a timer
// handle cancelled before it fired), refused (the post threw: LoopClosedError, or queuing it
// threw std::bad_alloc; or a ReservedPost found the loop closed) or dropped (accepted, then
// discarded unrun by close()). Once the loop is closed and no thread is posting, posted = run +
// cancelled + refused + dropped.
// Cross-thread posts are counted in per-thread slots (no shared RMW on the push path).
//
// RESERVED POSTS (ReservedPost, below): a post whose inbox node was reserved earlier, so that
// it cannot fail — the act after a claim (issue 10; docs/loop.md, "Reserved posts").
//
// CLOSE. close() refuses all later posts (LoopClosedError), drops what was accepted but never
// ran (running each callback's drop hook, so a thread waiting on a result hears
// LoopClosedError), completes every task the loop owns with LoopClosedError, and runs the
// close hooks (the default executor's shutdown). It is not allowed while the loop runs.
//
// DEVIATIONS FROM ASYNCIO: stop() is thread-safe; call_soon/call_soon_threadsafe return
// nothing (a cancellable Handle costs an allocation per post; timers return one); a closed
// loop throws LoopClosedError (asyncio: RuntimeError); each iteration drains the inbox before
// the ready queue, so a call_soon_threadsafe that arrives before the next iteration runs
// before an earlier call_soon (asyncio: one FIFO); misuse asyncio reports with ValueError /
// RuntimeError (run_until_complete of another loop's future, a nested run) throws
// InvalidStateError. docs/loop.md has the full list.
#pragma once

#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <algorithm>
#include <climits>
#include <cstring>
#include <deque>
#include <exception>
#include <functional>
#include <memory>
#include <string>
#include <system_error>
#include <type_traits>
#include <unordered_map>
#include <utility>
#include <vector>

#include "../future/thread_future.hpp"  // detail::t_blocking_wait_forbidden
#include "../primitives/deadline.hpp"
#include "../primitives/mpsc_queue.hpp"
#include "../primitives/mutex_queue.hpp"
#include "../primitives/per_thread_counter.hpp"
#include "../primitives/sync.hpp"
#include "callback.hpp"
#include "errors.hpp"
#include "wake_gate.hpp"

// A sanitizer build: GCC defines __SANITIZE_THREAD__ / __SANITIZE_ADDRESS__; Clang (14)
// defines neither and answers __has_feature instead (GCC 12 has no __has_feature, hence the
// nested #if).
#if defined(__SANITIZE_THREAD__) || defined(__SANITIZE_ADDRESS__)
#define HANDOFF_DETAIL_SANITIZER_BUILD 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer) || __has_feature(address_sanitizer)
#define HANDOFF_DETAIL_SANITIZER_BUILD 1
#endif
#endif

#if !defined(HANDOFF_LOOP_THREAD_CHECKS)
#if !defined(NDEBUG) || defined(HANDOFF_DETAIL_SANITIZER_BUILD)
#define HANDOFF_LOOP_THREAD_CHECKS 1
#else
#define HANDOFF_LOOP_THREAD_CHECKS 0
#endif
#endif

namespace handoff {

class EventLoop;
class ThreadPoolExecutor;
class TaskBase;
template <class T>
class Task;
template <class T>
class Future;

// A cell holding the loop's address until close(): futures and tasks keep a shared copy, so
// one that outlives its loop sees nullptr (and drops its callbacks) instead of freed memory.
// Atomic because the last reference to a task may be dropped on another thread (a worker
// completing a ThreadFuture the task awaited) after close() detached the cell.
struct LoopCell {
  explicit LoopCell(EventLoop* l) noexcept : loop_(l) {}
  // acquire: pairs with detach(); a thread that reads nullptr also sees close()'s work.
  EventLoop* loop() const noexcept { return loop_.load(std::memory_order_acquire); }  // pairs with detach()
  // release: publishes everything close() did before it.
  void detach() noexcept { loop_.store(nullptr, std::memory_order_release); }  // pairs with loop()

 private:
  sync::atomic<EventLoop*> loop_;
};

// Done callbacks the loop could not queue when their future completed where nothing may
// throw (a task's final suspend, out of memory): the future links itself here (intrusive, no
// allocation) and the loop queues them at the start of a later iteration, or drops them at
// close(). Implemented by FutureBase (future.hpp).
struct DeferredCallbacks {
  DeferredCallbacks* next_deferred = nullptr;
  virtual std::vector<Callback>& deferred_callbacks() noexcept = 0;
  virtual void deferred_done() noexcept = 0;  // queued or dropped: the loop lets go of it

 protected:
  ~DeferredCallbacks() = default;
};

// The ledger and the sleep/wake counters. See the header comment for the ledger's identity.
struct LoopStats {
  std::uint64_t posted = 0;     // call_soon + call_soon_threadsafe + timers (attempts)
  std::uint64_t run = 0;        // callbacks that ran (including ones that threw)
  std::uint64_t cancelled = 0;  // timers cancelled before they fired
  std::uint64_t refused = 0;    // posts refused because the loop was closed
  std::uint64_t dropped = 0;    // accepted, discarded unrun by close()
  std::uint64_t posted_threadsafe = 0;  // the cross-thread part of `posted`
  std::uint64_t sleeps = 0;             // announced sleeps (WakeGate::announce_sleep)
  std::uint64_t sleeps_cancelled = 0;   // sleeps the re-check cancelled
  std::uint64_t wake_signals = 0;       // eventfd writes by producers (<= sleeps)
  std::uint64_t wakeups = 0;            // epoll returns with the eventfd readable
  std::uint64_t spurious_wakeups = 0;   // of those, ones whose signal had been cancelled
  std::uint64_t batches = 0;            // inbox batches run
  std::uint64_t iterations = 0;         // loop iterations
  std::uint64_t exceptions = 0;         // exceptions passed to the exception handler
  std::uint64_t timer_heap = 0;         // entries in the timer heap now (live + cancelled not yet pruned)

  bool balanced() const noexcept { return posted == run + cancelled + refused + dropped; }
};

// What the exception handler receives (asyncio's context dict).
struct ExceptionContext {
  std::string message;
  std::exception_ptr exception;
};

// Which queue carries cross-thread posts. LockFree (the default) is the MPSC inbox; Mutex is
// the std::mutex + std::deque baseline, kept so the benchmark's ablation runs the very same
// loop with only the inbox swapped (a branch on a constant, predicted for both).
enum class InboxKind { LockFree, Mutex };

namespace detail {

// Deadlines saturate (saturating_add, nanos_until): primitives/deadline.hpp.

inline std::uint64_t this_thread_ordinal() noexcept {
  static std::atomic<std::uint64_t> next{1};
  thread_local const std::uint64_t mine = next.fetch_add(1, std::memory_order_relaxed);  // uniqueness only
  return mine;
}

// The part of a loop that other threads touch. Shared (ref-counted) between the EventLoop
// and every LoopRef, so a post that races the loop's destruction finds a closed inbox, not
// freed memory, and never writes to a closed (possibly reused) eventfd number.
struct LoopCore {
  explicit LoopCore(InboxKind k) : kind(k) {
    wake_fd = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (wake_fd < 0) throw std::system_error(errno, std::generic_category(), "handoff: eventfd");
  }
  ~LoopCore() { ::close(wake_fd); }
  LoopCore(const LoopCore&) = delete;
  LoopCore& operator=(const LoopCore&) = delete;

  // Any thread. Throws LoopClosedError if the loop is closed. Counted before the push (so
  // the loop can never count a run before its post: tla/LoopClose.tla's count-after-push
  // bug), then exactly once more: run or dropped by the loop, or refused here — closed, or
  // the push itself threw (std::bad_alloc for a new inbox node; the value is left untouched
  // then, so the drop hook still runs). `what` names the user's call in the error.
  void post(Callback&& cb, const char* what) {
    posted.add();
    PushResult r;
    try {
      r = push(std::move(cb));
    } catch (...) {
#if !defined(HANDOFF_MUTANT_LOOP_POST_NO_ROLLBACK)
      refused.fetch_add(1, std::memory_order_relaxed);  // a statistic; the post threw
#endif
      cb.drop();
      throw;
    }
    if (r != PushResult::Pushed) {
      refused.fetch_add(1, std::memory_order_relaxed);  // a statistic; rare (closed loop only)
      cb.drop();  // the caller's callback never runs: its drop hook says so
      throw LoopClosedError(std::string(what) + " after close()");
    }
    wake_if_sleeping();
  }

  // A node reserved for one later post (RESERVED POSTS in ReservedPost's comment), from the
  // inbox of this loop's kind, held as one pointer (the kind is the core's): a ReservedPost is
  // then 24 bytes, and a ThreadFuture's done callback holding it, the task and a suspension
  // number (48) is stored inline in its Callback. Any thread; may throw std::bad_alloc.
  using LockFreeReservation = MpscQueue<Callback>::Reservation;
  using MutexReservation = MutexQueue<Callback>::Reservation;
  void* reserve() {
    if (kind == InboxKind::LockFree) return inbox.reserve().release();
    return mutex_inbox.reserve().release();
  }
  // Any thread. Gives back a node reserve() returned, unused.
  void unreserve(void* node) noexcept {
    if (kind == InboxKind::LockFree) {
      LockFreeReservation(static_cast<LockFreeReservation::node_type*>(node)).reset();
    } else {
      MutexReservation(static_cast<MutexReservation::node_type*>(node)).reset();
    }
  }

  // Any thread. post() into a node reserve() returned: never allocates, never throws.
  // Pushed, or Closed (the callback is dropped: its drop hook runs); the node is used up
  // either way. The ledger as post(): counted posted first (add_nothrow: a thread's first
  // count may not register its slot), then run or dropped by the loop, or refused here; the
  // wake as post().
  PushResult post_reserved(void* node, Callback&& cb) noexcept {
    static_assert(std::is_nothrow_move_constructible_v<Callback>, "the reserved push must not throw");
    posted.add_nothrow();
    const PushResult res =
        kind == InboxKind::LockFree
            ? inbox.push(LockFreeReservation(static_cast<LockFreeReservation::node_type*>(node)), std::move(cb))
            : mutex_inbox.push(MutexReservation(static_cast<MutexReservation::node_type*>(node)), std::move(cb));
    if (res != PushResult::Pushed) {
      refused.fetch_add(1, std::memory_order_relaxed);  // a statistic; rare (closed loop only)
      cb.drop();  // left untouched by the refused push: its drop hook says it never runs
      return res;
    }
    wake_if_sleeping();
    return res;
  }

  // Any thread, after making work visible (a push or the stop flag).
  void wake_if_sleeping() noexcept {
    if (gate.claim_wake()) {
      wake_signals.fetch_add(1, std::memory_order_relaxed);  // a statistic; at most once per sleep
      const std::uint64_t one = 1;
      // The eventfd counter saturates only after 2^64-2 writes; EAGAIN cannot happen here.
      [[maybe_unused]] ssize_t n = ::write(wake_fd, &one, sizeof one);
    }
  }

  // Any thread.
  void request_stop() noexcept {
    // seq_cst: like a push, ordered before claim_wake's load (the loop re-checks it).
    stop_requested.store(1, std::memory_order_seq_cst);
    wake_if_sleeping();
  }

  // The inbox, whichever kind. push: any thread; the rest: the loop thread.
  PushResult push(Callback&& cb) {
    return kind == InboxKind::LockFree ? inbox.push(std::move(cb)) : mutex_inbox.push(std::move(cb));
  }
  PopStatus try_pop(Callback& out) {
    return kind == InboxKind::LockFree ? inbox.try_pop(out) : mutex_inbox.try_pop(out);
  }
  bool consumer_sees_empty() const {
    return kind == InboxKind::LockFree ? inbox.consumer_sees_empty() : mutex_inbox.consumer_sees_empty();
  }
  void close_inbox() {
    if (kind == InboxKind::LockFree) inbox.close(); else mutex_inbox.close();
  }
  bool inbox_closed() const {
    return kind == InboxKind::LockFree ? inbox.is_closed() : mutex_inbox.is_closed();
  }

  const InboxKind kind;
  MpscQueue<Callback> inbox;
  MutexQueue<Callback> mutex_inbox;
  WakeGate gate;
  int wake_fd = -1;
  PerThreadCounter posted;
  sync::atomic<std::uint64_t> refused{0};
  sync::atomic<std::uint64_t> wake_signals{0};
  sync::atomic<std::uint32_t> stop_requested{0};
};

inline thread_local EventLoop* t_running_loop = nullptr;

}  // namespace detail

class LoopRef;

// RESERVED POSTS (issue 10). A post that cannot fail for want of memory, for the act after a
// claim: a thread that completes what a task waits on (a channel push to a parked async_pop,
// a ThreadFuture's done callback on a pool worker) must post the task's resumption, and a
// std::bad_alloc there — call_soon_threadsafe may allocate an inbox node — would leave the
// task suspended forever, the claim already made. So the WAITING side reserves the node when
// it parks (LoopRef::reserve_post(), on its loop thread, where a bad_alloc still fails its
// co_await with nothing parked), and the completing side posts through the reservation:
// no allocation (Callbacks up to 48 bytes are inline), no exception. Its ledger is
// call_soon_threadsafe's: counted posted, then run, dropped by close(), or refused here.
//
// post() is once: it consumes the reservation. Pushed: the callback will run or be dropped
// by close(). Closed (the loop was closed first): the callback is dropped (its drop hook
// runs) — a task awaiting on a closed loop has been abandoned by close() already. An unused
// ReservedPost gives its node back when destroyed (any thread); it holds a reference to the
// loop's core, so it may outlive the EventLoop (its post then answers Closed).
class ReservedPost {
 public:
  ReservedPost() = default;  // empty: holds no reservation
  ReservedPost(ReservedPost&& o) noexcept : core_(std::move(o.core_)), node_(std::exchange(o.node_, nullptr)) {}
  ReservedPost& operator=(ReservedPost&& o) noexcept {
    if (this != &o) {
      reset();
      core_ = std::move(o.core_);
      node_ = std::exchange(o.node_, nullptr);
    }
    return *this;
  }
  ~ReservedPost() { reset(); }

  // Any thread, once. Never allocates; throws only InvalidStateError on an empty ReservedPost
  // (default-constructed, moved from or already posted), before anything changes.
  PushResult post(Callback cb) {
    if (node_ == nullptr) {
      throw InvalidStateError(
          "ReservedPost::post() on an empty reservation (default-constructed, moved from or already "
          "posted): get one from LoopRef::reserve_post() for each post");
    }
    return core_->post_reserved(std::exchange(node_, nullptr), std::move(cb));
  }
  explicit operator bool() const noexcept { return node_ != nullptr; }
  // The loop it posts to.
  inline LoopRef loop() const;
  // Give the reserved node back now, unused; empty afterwards.
  void reset() noexcept {
    if (node_ != nullptr) core_->unreserve(std::exchange(node_, nullptr));
  }

 private:
  friend class LoopRef;
  ReservedPost(std::shared_ptr<detail::LoopCore> core, void* node) noexcept : core_(std::move(core)), node_(node) {}
  std::shared_ptr<detail::LoopCore> core_;
  void* node_ = nullptr;  // from core_->reserve(): its inbox kind's node
};

// A thread-safe reference to a loop: post to it and stop it from any thread, for as long as
// you hold it, even after the EventLoop itself is destroyed (then posts throw LoopClosedError).
class LoopRef {
 public:
  LoopRef() = default;
  explicit LoopRef(std::shared_ptr<detail::LoopCore> core) : core_(std::move(core)) {}

  // `what` is the call the error names if the loop is closed: a library function that posts
  // on the user's behalf (run_coroutine_threadsafe) passes its own name.
  // An empty LoopRef (default-constructed or moved from) refers to no loop: posting to it or
  // stopping it throws InvalidStateError; it reports itself closed.
  void call_soon_threadsafe(Callback fn, const char* what = "call_soon_threadsafe()") const {
    require_loop(what);
    core_->post(std::move(fn), what);
  }
  // Any thread. Reserve one post that cannot fail for want of memory (ReservedPost). Throws
  // std::bad_alloc if the node cannot be had (nothing reserved); a closed loop is not an
  // error here: the post will answer Closed.
  ReservedPost reserve_post() const {
    require_loop("reserve_post()");
    return ReservedPost(core_, core_->reserve());
  }
  void stop() const {
    require_loop("stop()");
    core_->request_stop();
  }
  bool is_closed() const noexcept { return core_ == nullptr || core_->inbox_closed(); }
  // A hint for diagnostics (a stress test's watchdog): the loop has announced a sleep on its
  // wake gate and no producer has claimed it yet. Relaxed; nothing may depend on it.
  bool sleeping_hint() const noexcept { return core_ != nullptr && core_->gate.sleeping(); }
  explicit operator bool() const noexcept { return core_ != nullptr; }

 private:
  void require_loop(const char* what) const {
    if (core_ == nullptr) {
      throw InvalidStateError(std::string("LoopRef::") + what +
                              " on an empty LoopRef (default-constructed or moved from): get one "
                              "from EventLoop::threadsafe() or LoopThread::threadsafe()");
    }
  }
  std::shared_ptr<detail::LoopCore> core_;
};

inline LoopRef ReservedPost::loop() const { return LoopRef(core_); }

// A cancellable timer (call_later / call_at). Loop thread only.
class TimerHandle {
 public:
  TimerHandle() = default;
  // Cancel before it runs — also once it is due and queued to run this iteration (asyncio
  // skips cancelled handles in its ready queue). A no-op once it ran, or was dropped by close().
  void cancel();
  bool cancelled() const noexcept { return entry_ && entry_->state == State::Cancelled; }
  std::chrono::steady_clock::time_point when() const noexcept { return entry_->when; }

 private:
  friend class EventLoop;
  enum class State { Scheduled, Due, Ran, Cancelled, Dropped };
  struct Entry {
    std::chrono::steady_clock::time_point when;
    std::uint64_t seq;
    Callback fn;
    std::shared_ptr<LoopCell> cell;
    State state = State::Scheduled;
  };
  explicit TimerHandle(std::shared_ptr<Entry> e) : entry_(std::move(e)) {}
  std::shared_ptr<Entry> entry_;
};

class EventLoop {
 public:
  using clock = std::chrono::steady_clock;
  using time_point = clock::time_point;

  struct Options {
    // Spin this long watching the inbox before sleeping. 0 = sleep at once. The default is
    // about one wake's cost on a VM (13–27 µs): spinning longer than a wake costs more than
    // it saves; spinning not at all pays a wake for every post that arrives just after.
    std::chrono::nanoseconds spin_budget = std::chrono::microseconds(20);
    // Callbacks from other threads run per iteration, at most.
    std::size_t inbox_batch = 256;
    // The cross-thread queue (the benchmark's ablation switch; keep the default).
    InboxKind inbox = InboxKind::LockFree;
  };

  EventLoop() : EventLoop(Options{}) {}
  explicit EventLoop(Options opts)
      : opts_(opts),
        core_(std::make_shared<detail::LoopCore>(opts.inbox)),
        cell_(std::make_shared<LoopCell>(this)) {
    epfd_ = ::epoll_create1(EPOLL_CLOEXEC);
    if (epfd_ < 0) throw std::system_error(errno, std::generic_category(), "handoff: epoll_create1");
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.fd = core_->wake_fd;
    if (::epoll_ctl(epfd_, EPOLL_CTL_ADD, core_->wake_fd, &ev) != 0) {
      const int e = errno;
      ::close(epfd_);
      throw std::system_error(e, std::generic_category(), "handoff: epoll_ctl(eventfd)");
    }
  }
  EventLoop(const EventLoop&) = delete;
  EventLoop& operator=(const EventLoop&) = delete;
  ~EventLoop() {
    if (!closed_) close();
  }

  // ---- scheduling ------------------------------------------------------------------------

  // Loop thread. Run fn on a later iteration, after what is already ready (FIFO).
  void call_soon(Callback fn) {
    check_thread("EventLoop::call_soon");
    ++posted_local_;
    if (closed_) {
      ++refused_local_;
      fn.drop();
      throw LoopClosedError("call_soon() after close()");
    }
    // The slot first, then the callback (a noexcept move): if the deque cannot grow, fn is
    // still ours to drop, and the post counts as refused.
    admit(fn, [&] { ready_.emplace_back(); });
    ready_.back().fn = std::move(fn);
  }

  // Loop thread. Completes something and queues its callbacks, all or nothing: room for every
  // callback is made first, then `complete()` runs (it may throw: the room is given back and
  // nothing changed), then the callbacks are queued in order with noexcept moves and `fns` is
  // emptied. So a future's completion never loses a done callback to a bad_alloc after it was
  // marked done (FutureBase::complete). On a closed loop: complete(), then each is dropped.
  template <class Complete>
  void complete_and_call_soon(std::vector<Callback>& fns, Complete&& complete) {
    check_thread("EventLoop::call_soon");
    if (closed_) {
      complete();
      for (Callback& fn : fns) fn.drop();  // the loop is closed or closing: the drop hook reports it
      fns.clear();
      return;
    }
    // complete() may run user code (T's constructor) that queues callbacks (after our slots)
    // or adds done callbacks (to `fns`): only our own n slots are given back or filled.
    const std::size_t before = ready_.size();
    const std::size_t n = fns.size();
    std::size_t made = 0;
    try {
      for (; made < n; ++made) ready_.emplace_back();
      complete();
    } catch (...) {
      ready_.erase(ready_.begin() + static_cast<std::ptrdiff_t>(before),
                   ready_.begin() + static_cast<std::ptrdiff_t>(before + made));  // our empty slots only
      throw;
    }
    for (std::size_t i = 0; i < n; ++i) ready_[before + i].fn = std::move(fns[i]);
    posted_local_ += n;
    for (std::size_t i = n; i < fns.size(); ++i) {  // added during complete(): queued one by one
      try {
        call_soon(std::move(fns[i]));
      } catch (...) {
        // Refused (bad_alloc): admit() counted it and ran its drop hook; the future is done.
      }
    }
    fns.clear();
  }

  // Loop thread. For a completion whose callbacks complete_and_call_soon could not queue and
  // that may not throw: the loop keeps them (FIFO, no allocation) and queues them on a later
  // iteration (deferred callbacks make that iteration not sleep).
  void defer_callbacks(DeferredCallbacks& d) noexcept {
    d.next_deferred = nullptr;
    (deferred_tail_ ? deferred_tail_->next_deferred : deferred_head_) = &d;
    deferred_tail_ = &d;
  }

  // Any thread. Wakes the loop if it sleeps. Throws LoopClosedError once the loop is closed.
  void call_soon_threadsafe(Callback fn) { core_->post(std::move(fn), "call_soon_threadsafe()"); }

  // Loop thread. Run fn once `delay` has passed (never earlier; as soon as possible after).
  // A delay beyond the clock's range (nanoseconds::max()) saturates: the timer never fires
  // (cancel it, or close() drops it); a negative one is due at once.
  TimerHandle call_later(detail::SaturatingNanos delay, Callback fn) {  // any duration; hours::max() = never
    return add_timer(detail::saturating_add(time(), delay.get()), std::move(fn), "EventLoop::call_later",
                     "call_later() after close()");
  }

  // Loop thread. Run fn at `when` on the loop's clock (time()). time_point::max(): never.
  TimerHandle call_at(time_point when, Callback fn) {
    return add_timer(when, std::move(fn), "EventLoop::call_at", "call_at() after close()");
  }

  // The loop's clock: monotonic (std::chrono::steady_clock), any thread.
  time_point time() const noexcept { return clock::now(); }

  // ---- running -----------------------------------------------------------------------------

  // Run until stop(). On the calling thread, which becomes the loop's thread.
  void run_forever() {
    check_can_run("run_forever()");
    struct Running {
      EventLoop& l;
      explicit Running(EventLoop& loop) : l(loop) {
        l.owner_.store(detail::this_thread_ordinal(), std::memory_order_relaxed);  // debug check only
        l.running_ = true;
        detail::t_running_loop = &l;
        detail::t_blocking_wait_forbidden =
            "would block the event loop's thread until the future is done; co_await the future instead";
      }
      ~Running() {
        l.running_ = false;
        l.stopping_ = false;
        detail::t_running_loop = nullptr;
        detail::t_blocking_wait_forbidden = nullptr;
        l.owner_.store(0, std::memory_order_relaxed);  // debug check only
      }
    } running(*this);
    for (;;) {
      run_once();
      if (stopping_) break;
    }
  }

  // Throws unless this thread may start running the loop now: the loop is open, not running,
  // and no loop runs in this thread. `what` names the caller's call (run_until_complete
  // checks before it makes a task of its coroutine).
  void check_can_run(const char* what) const {
    if (closed_) throw LoopClosedError(std::string(what) + " on a closed loop");
    if (running_) {
      throw InvalidStateError(std::string(what) +
                              ": this loop is already running (a nested run from one of its own "
                              "callbacks; co_await the work instead)");
    }
    if (detail::t_running_loop != nullptr) {
      throw InvalidStateError(std::string(what) + ": another loop is already running in this thread");
    }
  }

  // Any thread. run_forever returns after finishing the current iteration. Before
  // run_forever, it makes the next run_forever do one iteration and return (as asyncio).
  void stop() noexcept {
    if (running_in_this_thread()) {
      stopping_ = true;
    } else {
      core_->request_stop();
    }
  }

  // Loop thread, not while running. Idempotent. See the header comment.
  void close() {
    if (running_) throw InvalidStateError("close() while the loop is running; stop() it first");
    if (closed_) return;
    closed_ = true;
    core_->close_inbox();
    for (;;) {  // everything accepted before the close: drop it (its drop hook runs)
      Callback cb;
      const PopStatus s = core_->try_pop(cb);
      if (s == PopStatus::Item) {
        cb.drop();
        ++dropped_;
      } else if (s == PopStatus::Retry) {
        sync::yield();  // a push accepted before close() is still linking: it will be there
      } else {
        break;  // Closed: all accepted pushes seen
      }
    }
    drop_deferred_callbacks();
    while (!ready_.empty()) {
      ReadyItem r = std::move(ready_.front());
      ready_.pop_front();
      if (r.timer) {
        if (r.timer->state != TimerHandle::State::Due) continue;  // cancelled: counted already
        r.timer->state = TimerHandle::State::Dropped;
        r.timer->fn.drop();
      } else {
        r.fn.drop();
      }
      ++dropped_;
    }
    while (!timers_.empty()) {  // earliest first (a drop hook may cancel a later timer)
      std::pop_heap(timers_.begin(), timers_.end(), TimerLater{});
      auto e = std::move(timers_.back());
      timers_.pop_back();
      if (e->state == TimerHandle::State::Scheduled) {
        e->state = TimerHandle::State::Dropped;
        e->fn.drop();
        ++dropped_;
      }
    }
    timers_cancelled_ = 0;
    {
      // Abandoning a task may wait for an executor job that borrows its frame
      // (ThreadFutureAwaiter::on_abandon). close() may be called from a callback of another
      // loop running on this thread; that wait would then be refused as "a loop thread
      // blocking on a future", swallowed, and the frame freed under the running job. While
      // close() blocks this thread, the thread runs no loop: say so for the duration.
      NoRunningLoopScope not_running;
      // Tasks are completed and unlinked here but stay referenced until the cell is detached,
      // so a task's last reference, wherever it is dropped, finds a detached cell.
      auto abandoned = abandon_tasks();
      cell_->detach();
    }
    readers_.clear();
    writers_.clear();
    auto hooks = std::move(close_hooks_);
    for (auto& h : hooks) h();
    ::close(epfd_);
    epfd_ = -1;
  }

  bool is_running() const noexcept { return running_; }
  bool is_closed() const noexcept { return closed_; }

  // ---- tasks (defined in task.hpp) ------------------------------------------------------------

  // Loop thread. Schedule the coroutine as a task owned by the loop: it runs even if nobody
  // awaits it. Returns its future: await it, cancel it, or read its result.
  template <class T>
  Future<T> create_task(Task<T> coro);
  // Run the loop until the task or future is done; return its result or rethrow.
  template <class T>
  T run_until_complete(Task<T> coro);
  template <class T>
  T run_until_complete(Future<T> fut);

  const std::shared_ptr<LoopCell>& cell() const noexcept { return cell_; }

  // A thread-safe handle (post, stop) that keeps the shared core alive.
  LoopRef threadsafe() const { return LoopRef(core_); }

  // ---- executors (defined in executor/run_in_executor.hpp) ---------------------------------

  // Loop thread. Run fn(args...) on `executor` (any type with submit(), e.g.
  // ThreadPoolExecutor) and return the job's ThreadFuture:
  // `co_await loop.run_in_executor(pool, fn, args...)`. fn and args are decay-copied (moved
  // from rvalues) into the job, as std::thread and submit() do.
  template <class Executor, class F, class... A>
  auto run_in_executor(Executor& executor, F&& fn, A&&... args);
  // The same on the loop's default executor (created on first use; close() shuts it down).
  // With arguments on the default executor: to_thread(fn, args...).
  template <class F>
  auto run_in_executor(F&& fn);
  // Loop thread. The default executor (created on first use), or replace it (asyncio's
  // set_default_executor); close() shuts it down and waits for its jobs.
  ThreadPoolExecutor& default_executor();
  void set_default_executor(std::shared_ptr<ThreadPoolExecutor> executor);

  // ---- fd readiness (epoll, level-triggered; loop thread) ----------------------------------

  // fn runs on every iteration in which fd is readable, until remove_reader(fd).
  void add_reader(int fd, std::function<void()> fn) { add_fd(fd, std::move(fn), readers_, "EventLoop::add_reader"); }
  void add_writer(int fd, std::function<void()> fn) { add_fd(fd, std::move(fn), writers_, "EventLoop::add_writer"); }
  bool remove_reader(int fd) { return remove_fd(fd, readers_, "EventLoop::remove_reader"); }
  bool remove_writer(int fd) { return remove_fd(fd, writers_, "EventLoop::remove_writer"); }

  // ---- errors and statistics ---------------------------------------------------------------

  // Loop thread. Exceptions escaping callbacks (and tasks nobody awaited) go here. The
  // default handler prints the message and the exception to stderr; the loop keeps running.
  void set_exception_handler(std::function<void(const ExceptionContext&)> h) {
    exception_handler_ = std::move(h);
  }
  void call_exception_handler(const ExceptionContext& ctx) noexcept {
    ++exceptions_;
    try {
      if (exception_handler_) {
        exception_handler_(ctx);
        return;
      }
    } catch (...) {
      std::fputs("handoff: the exception handler itself threw; reporting to stderr\n", stderr);
    }
    default_exception_handler(ctx);
  }
  static void default_exception_handler(const ExceptionContext& ctx) noexcept {
    detail::print_exception(ctx.message.c_str(), ctx.exception);
  }

  // The loop thread, or any thread once the loop is not running and that thread has
  // synchronized with the last one that ran it (e.g. joined it).
  LoopStats stats() const {
    LoopStats s;
    s.posted_threadsafe = core_->posted.read();
    s.posted = posted_local_ + s.posted_threadsafe;
    s.run = run_;
    s.cancelled = cancelled_;
    s.refused = refused_local_ + core_->refused.load(std::memory_order_relaxed);  // statistic
    s.dropped = dropped_;
    s.sleeps = sleeps_;
    s.sleeps_cancelled = sleeps_cancelled_;
    s.wake_signals = core_->wake_signals.load(std::memory_order_relaxed);  // statistic
    s.wakeups = wakeups_;
    s.spurious_wakeups = spurious_wakeups_;
    s.batches = batches_;
    s.iterations = iterations_;
    s.exceptions = exceptions_;
    s.timer_heap = timers_.size();
    return s;
  }

  // Loop thread. Run fn when close() runs (after tasks are abandoned): e.g. shut down the
  // default executor.
  void add_close_hook(std::function<void()> fn) { close_hooks_.push_back(std::move(fn)); }

  // Test seam: the loop calls `fn` instead of epoll_pwait2 (same arguments and result,
  // errno included), so a test can make the sleep's syscall fail. nullptr: the kernel's.
  using PollFunction = int (*)(int epfd, epoll_event* events, int max_events, const timespec* timeout);
  void set_poll_function_for_test(PollFunction fn) noexcept { poll_fn_ = fn; }

  // The task the loop is running right now (nullptr between tasks). Loop thread.
  TaskBase* current_task() const noexcept { return current_task_; }

  // True if the caller is the thread running this loop.
  bool running_in_this_thread() const noexcept { return detail::t_running_loop == this; }

  // Throws WrongThreadError if the loop runs in another thread (debug/sanitizer builds).
  void check_thread(const char* method) const {
#if HANDOFF_LOOP_THREAD_CHECKS
    const std::uint64_t owner = owner_.load(std::memory_order_relaxed);  // debug check only
    if (owner != 0 && owner != detail::this_thread_ordinal()) throw WrongThreadError(method);
#else
    (void)method;
#endif
  }

 private:
  friend class TimerHandle;
  friend class TaskBase;

  using TimerPtr = std::shared_ptr<TimerHandle::Entry>;
  struct TimerLater {
    bool operator()(const TimerPtr& a, const TimerPtr& b) const noexcept {
      return a->when != b->when ? a->when > b->when : a->seq > b->seq;
    }
  };

  // Makes room for a post whose callback `fn` is still the caller's: if make_room throws
  // (std::bad_alloc), the post — already counted as posted — is counted as refused and fn's
  // drop hook runs, so the ledger stays balanced and nothing is lost silently.
  template <class MakeRoom>
  void admit(Callback& fn, MakeRoom&& make_room) {
    try {
      make_room();
    } catch (...) {
#if !defined(HANDOFF_MUTANT_LOOP_POST_NO_ROLLBACK)
      ++refused_local_;
#endif
      fn.drop();
      throw;
    }
  }

  // While it lives, this thread runs no loop as far as get_running_loop() and the
  // "would block the loop" checks can tell (close(), abandoning tasks).
  struct NoRunningLoopScope {
#if defined(HANDOFF_MUTANT_LOOP_CLOSE_KEEPS_RUNNING_LOOP)
    NoRunningLoopScope() noexcept {}  // MUTANT: close() from another loop's callback frees a frame under its job
#else
    NoRunningLoopScope() noexcept
        : saved(std::exchange(detail::t_running_loop, nullptr)),
          saved_forbidden(std::exchange(detail::t_blocking_wait_forbidden, nullptr)) {}
    ~NoRunningLoopScope() {
      detail::t_running_loop = saved;
      detail::t_blocking_wait_forbidden = saved_forbidden;
    }
    EventLoop* saved;
    const char* saved_forbidden;
#endif
    NoRunningLoopScope(const NoRunningLoopScope&) = delete;
    NoRunningLoopScope& operator=(const NoRunningLoopScope&) = delete;
  };

  void run_callback(Callback& cb) {
    try {
      cb();
    } catch (...) {
      call_exception_handler({"exception in callback", std::current_exception()});
    }
    ++run_;
  }

  // Runs up to inbox_batch cross-thread callbacks. Returns the status that stopped it.
  PopStatus run_inbox_batch() {
    std::size_t n = 0;
    PopStatus s = PopStatus::Item;
    while (n < opts_.inbox_batch) {
      Callback cb;
      s = core_->try_pop(cb);
      if (s != PopStatus::Item) break;
      ++n;
      run_callback(cb);
    }
    if (n > 0) ++batches_;
    return s;
  }

  bool stop_was_requested() noexcept {
    // seq_cst: the loop's side of the stop handshake (request_stop stores, then claims).
    if (core_->stop_requested.load(std::memory_order_seq_cst) == 0) return false;
    core_->stop_requested.store(0, std::memory_order_relaxed);  // loop thread consumes it
    stopping_ = true;
    return true;
  }

  // Queues deferred done callbacks (defer_callbacks), oldest first; stops at one that still
  // cannot be queued (no memory yet): it is retried next iteration.
  void queue_deferred_callbacks() noexcept {
    while (DeferredCallbacks* d = deferred_head_) {
      try {
        complete_and_call_soon(d->deferred_callbacks(), [] {});
      } catch (...) {
        return;
      }
      deferred_head_ = d->next_deferred;
      if (deferred_head_ == nullptr) deferred_tail_ = nullptr;
      d->deferred_done();
    }
  }

  void drop_deferred_callbacks() noexcept {
    while (DeferredCallbacks* d = deferred_head_) {
      deferred_head_ = d->next_deferred;
      for (Callback& fn : d->deferred_callbacks()) fn.drop();  // never queued: not in the ledger
      d->deferred_callbacks().clear();
      d->deferred_done();
    }
    deferred_tail_ = nullptr;
  }

  void run_once() {
    ++iterations_;
    queue_deferred_callbacks();
    const PopStatus inbox = run_inbox_batch();
    stop_was_requested();

    std::int64_t timeout_ns = -1;  // -1: no timer, wait for a signal or an fd
    const bool more_now = !ready_.empty() || stopping_ || inbox == PopStatus::Item ||
                          inbox == PopStatus::Retry || deferred_head_ != nullptr;
    prune_cancelled_timers();
    if (more_now) {
      timeout_ns = 0;
    } else if (!timers_.empty()) {
      purge_cancelled_timers();
      // A timer at time_point::max() never fires: as good as none for the sleep.
      if (!timers_.empty() && timers_.front()->when != time_point::max()) {
        timeout_ns = detail::nanos_until(timers_.front()->when, time());
      }
    }

    if (timeout_ns != 0) {
      sleep_until_work(timeout_ns);
    } else if (!readers_.empty() || !writers_.empty()) {
      dispatch_fd_events(poll(0));
    } else if (inbox == PopStatus::Retry) {
      sync::yield();  // a producer is mid-push: give it the core for a moment
    }

    fire_due_timers();

    // Run what was ready when this step began; what those callbacks schedule waits a turn.
    for (std::size_t todo = ready_.size(); todo > 0 && !ready_.empty(); --todo) {
      ReadyItem r = std::move(ready_.front());
      ready_.pop_front();
      if (r.timer) {
        if (r.timer->state != TimerHandle::State::Due) continue;  // cancelled while queued
        r.timer->state = TimerHandle::State::Ran;
        Callback cb = std::move(r.timer->fn);
        run_callback(cb);
      } else {
        run_callback(r.fn);
      }
    }
  }

  // The sleep side of the WakeGate handshake. timeout_ns < 0: no timer pending.
  void sleep_until_work(std::int64_t timeout_ns) {
    const time_point start = time();
    // When a timer is due: the spin never outlasts it (a long spin budget made timers late).
    const time_point wake_at = timeout_ns >= 0 ? detail::saturating_add(start, std::chrono::nanoseconds(timeout_ns))
                                               : time_point::max();
    // 1. Spin: a post arriving within about one wake's cost is taken without a syscall. Every
    // 64 turns the spin also yields the CPU: when the loop shares a core with the threads
    // that feed it (2 vCPUs, or a packed VM scheduler), a pure `pause` spin holds the core
    // they need for the whole budget (measured in bench/loop_bench: P=2 throughput 200 ->
    // ~25 ns per callback, one-CPU round trip after idle 38 -> 15 us; bench/README.md).
    if (opts_.spin_budget.count() > 0) {
      const time_point deadline = std::min(detail::saturating_add(start, opts_.spin_budget), wake_at);
      for (unsigned i = 1;; ++i) {
        if (!core_->consumer_sees_empty()) return;
        if ((i & 63) == 0) {
          if (time() >= deadline) break;
          if (core_->stop_requested.load(std::memory_order_relaxed) != 0) return;  // hint; re-read seq_cst below
          sync::yield();
        }
        sync::spin_pause();
      }
      if (timeout_ns > 0) timeout_ns = detail::nanos_until(wake_at, time());
    }
    // 2. Announce, 3. re-check, 4. sleep or cancel: WakeGate::sleep, the code the model
    // tests check. The re-check covers every source of work another thread can create.
    // The sleep only polls: fd callbacks run after it, once the gate says AWAKE again (run
    // inside it, a long fd callback made every cross-thread post pay a wake signal), and a
    // failed poll throws after it, so the gate is left on every path.
    ++sleeps_;
    PollResult polled;
    const WakeGate::SleepResult r = core_->gate.sleep(
        [&] {
          return !core_->consumer_sees_empty() ||
                 core_->stop_requested.load(std::memory_order_seq_cst) != 0;  // Dekker load, as the inbox's
        },
        [&] {
          polled = poll(timeout_ns);
          return polled.signalled;
        });
    if (!r.slept) ++sleeps_cancelled_;
    if (r.signal_pending) ++pending_spurious_;
    dispatch_fd_events(polled);
  }

  // What one poll found: fd events waiting in events_[0, count) for dispatch_fd_events, or
  // the poll's errno.
  struct PollResult {
    int count = 0;
    int error = 0;
    bool signalled = false;  // the wake eventfd was readable (it has been reset)
  };

  // epoll_wait with a nanosecond timeout (epoll_pwait2); resets the wake eventfd if it was
  // readable. Runs no callback and throws nothing (the sleep calls it inside the gate).
  PollResult poll(std::int64_t timeout_ns) noexcept {
    epoll_event* evs = events_;
    timespec ts{};
    timespec* tsp = nullptr;
    if (timeout_ns >= 0) {
      ts.tv_sec = static_cast<time_t>(timeout_ns / 1'000'000'000);
      ts.tv_nsec = static_cast<long>(timeout_ns % 1'000'000'000);
      tsp = &ts;
    }
    sync::step();
    const int n = poll_fn_ != nullptr ? poll_fn_(epfd_, evs, kMaxEvents, tsp)
                                      : ::epoll_pwait2(epfd_, evs, kMaxEvents, tsp, nullptr);
    PollResult out;
    if (n < 0) {
      if (errno != EINTR) out.error = errno;
      return out;
    }
    for (int i = 0; i < n; ++i) {
      if (evs[i].data.fd == core_->wake_fd) {
        std::uint64_t v;
        [[maybe_unused]] ssize_t r = ::read(core_->wake_fd, &v, sizeof v);  // reset the counter
        out.signalled = true;
        ++wakeups_;
        if (pending_spurious_ > 0) {
          --pending_spurious_;
          ++spurious_wakeups_;
        }
        continue;
      }
      evs[out.count++] = evs[i];  // keep the fd events, in order, for dispatch_fd_events
    }
    return out;
  }

  // After a poll: throw its error (the sleep's syscall failed: nothing was dispatched), or
  // run the fd callbacks of the events it found.
  void dispatch_fd_events(const PollResult& polled) {
    if (polled.error != 0) {
      throw std::system_error(polled.error, std::generic_category(),
                              "handoff: EventLoop::run_forever/run_until_complete: the loop's "
                              "epoll_pwait2 failed");
    }
    for (int i = 0; i < polled.count; ++i) {
      const int fd = events_[i].data.fd;
      const std::uint32_t e = events_[i].events;
      if (e & (EPOLLIN | EPOLLHUP | EPOLLERR)) dispatch_fd(fd, readers_);
      if (e & (EPOLLOUT | EPOLLHUP | EPOLLERR)) dispatch_fd(fd, writers_);
    }
  }

  void dispatch_fd(int fd, std::unordered_map<int, std::shared_ptr<std::function<void()>>>& table) {
    auto it = table.find(fd);
    if (it == table.end()) return;
    auto fn = it->second;  // keep it alive even if it removes itself
    try {
      (*fn)();
    } catch (...) {
      call_exception_handler({"exception in fd callback", std::current_exception()});
    }
  }

  // The one timer path; `method` and `after_close` name the user's call in its errors.
  TimerHandle add_timer(time_point when, Callback fn, const char* method, const char* after_close) {
    check_thread(method);
    ++posted_local_;
    if (closed_) {
      ++refused_local_;
      fn.drop();
      throw LoopClosedError(after_close);
    }
    prune_cancelled_timers();
    // Allocate the entry and the heap's slot first, then move fn in (noexcept): if either
    // allocation fails, fn is still ours to drop, and the post counts as refused.
    std::shared_ptr<TimerHandle::Entry> e;
    admit(fn, [&] {
      e = std::make_shared<TimerHandle::Entry>();
      timers_.reserve(timers_.size() + 1);
    });
    e->when = when;
    e->seq = timer_seq_++;
    e->fn = std::move(fn);
    e->cell = cell_;
    timers_.push_back(e);  // capacity reserved: cannot throw
    std::push_heap(timers_.begin(), timers_.end(), TimerLater{});
    return TimerHandle(std::move(e));
  }

  void add_fd(int fd, std::function<void()> fn,
              std::unordered_map<int, std::shared_ptr<std::function<void()>>>& table, const char* what) {
    check_thread(what);
    if (closed_) throw LoopClosedError(std::string(what) + "() after close()");
    if (fd < 0) throw std::invalid_argument(std::string("handoff: ") + what + ": invalid fd");
    const bool existed = readers_.count(fd) || writers_.count(fd);
    table[fd] = std::make_shared<std::function<void()>>(std::move(fn));
    update_epoll(fd, existed);
  }

  bool remove_fd(int fd, std::unordered_map<int, std::shared_ptr<std::function<void()>>>& table,
                 const char* what) {
    check_thread(what);
    if (table.erase(fd) == 0) return false;
    if (closed_) return true;
    if (!readers_.count(fd) && !writers_.count(fd)) {
      ::epoll_ctl(epfd_, EPOLL_CTL_DEL, fd, nullptr);
    } else {
      update_epoll(fd, true);
    }
    return true;
  }

  void update_epoll(int fd, bool existed) {
    epoll_event ev{};
    ev.events = (readers_.count(fd) ? EPOLLIN : 0u) | (writers_.count(fd) ? EPOLLOUT : 0u);
    ev.data.fd = fd;
    if (::epoll_ctl(epfd_, existed ? EPOLL_CTL_MOD : EPOLL_CTL_ADD, fd, &ev) != 0) {
      const int e = errno;
      readers_.erase(fd);
      writers_.erase(fd);
      throw std::system_error(e, std::generic_category(), "handoff: epoll_ctl");
    }
  }

  // The heap's earliest entry, removed.
  TimerPtr pop_timer() noexcept {
    std::pop_heap(timers_.begin(), timers_.end(), TimerLater{});
    TimerPtr e = std::move(timers_.back());
    timers_.pop_back();
    if (e->state == TimerHandle::State::Cancelled) --timers_cancelled_;
    return e;
  }

  void purge_cancelled_timers() noexcept {
    while (!timers_.empty() && timers_.front()->state == TimerHandle::State::Cancelled) pop_timer();
  }

  // asyncio's rule (base_events.py, _run_once): once the heap holds more than 100 entries and
  // more than half of them are cancelled, rebuild it without them. Without it a cancelled
  // timer left the heap only on reaching the top: behind one long-lived timer, every
  // wait_for(op, long_timeout) that op beat stayed (500k cycles: +76 MB). Amortized O(1) per
  // cancel: a rebuild of n entries removes more than n/2 of them. Run by call_at and each
  // iteration; noexcept (moves and removals of shared_ptrs only).
  static constexpr std::size_t kPruneMinTimers = 100;
  void prune_cancelled_timers() noexcept {
    if (timers_.size() <= kPruneMinTimers || timers_cancelled_ * 2 <= timers_.size()) return;
    std::erase_if(timers_, [](const TimerPtr& e) { return e->state == TimerHandle::State::Cancelled; });
    std::make_heap(timers_.begin(), timers_.end(), TimerLater{});
    timers_cancelled_ = 0;
  }

  void fire_due_timers() {
    if (timers_.empty()) return;
    const time_point now = time();
    while (!timers_.empty()) {
      const TimerPtr& top = timers_.front();
      if (top->state == TimerHandle::State::Cancelled) {
        pop_timer();
        continue;
      }
      if (top->when > now) break;
      // The ready slot first, so a bad_alloc leaves the timer in the heap (fired later).
      ready_.emplace_back();
      ready_.back().timer = pop_timer();
      ready_.back().timer->state = TimerHandle::State::Due;  // still cancellable until it runs
    }
  }

  // Set by the task layer (task.hpp) when the first task is created: completes every task
  // the loop still owns with LoopClosedError and destroys their frames.
  std::vector<std::shared_ptr<TaskBase>> abandon_tasks() {
    if (abandon_tasks_fn_) return abandon_tasks_fn_();
    return {};
  }

  Options opts_;
  std::shared_ptr<detail::LoopCore> core_;
  std::shared_ptr<LoopCell> cell_;
  int epfd_ = -1;
  PollFunction poll_fn_ = nullptr;
  // A ready callback, or a due timer (run from its entry, so cancel() can still stop it).
  struct ReadyItem {
    Callback fn;
    TimerPtr timer;
  };
  std::deque<ReadyItem> ready_;
  std::vector<TimerPtr> timers_;        // a min-heap (TimerLater) on (when, seq)
  std::size_t timers_cancelled_ = 0;    // entries of timers_ that are cancelled (pruned lazily)
  std::uint64_t timer_seq_ = 0;
  static constexpr int kMaxEvents = 64;
  epoll_event events_[kMaxEvents];      // the last poll's fd events, until dispatched
  std::unordered_map<int, std::shared_ptr<std::function<void()>>> readers_, writers_;
  std::function<void(const ExceptionContext&)> exception_handler_;
  std::vector<std::function<void()>> close_hooks_;
  std::shared_ptr<ThreadPoolExecutor> default_executor_;
  TaskBase* current_task_ = nullptr;
  TaskBase* tasks_head_ = nullptr;  // every live task the loop owns (intrusive list)
  DeferredCallbacks* deferred_head_ = nullptr;  // defer_callbacks: FIFO, intrusive
  DeferredCallbacks* deferred_tail_ = nullptr;
  std::function<std::vector<std::shared_ptr<TaskBase>>()> abandon_tasks_fn_;

  bool running_ = false;
  bool stopping_ = false;
  bool closed_ = false;
  sync::atomic<std::uint64_t> owner_{0};  // thread ordinal running the loop (debug checks)

  std::uint64_t posted_local_ = 0, run_ = 0, cancelled_ = 0, refused_local_ = 0, dropped_ = 0;
  std::uint64_t sleeps_ = 0, sleeps_cancelled_ = 0, wakeups_ = 0, spurious_wakeups_ = 0;
  std::uint64_t pending_spurious_ = 0, batches_ = 0, iterations_ = 0, exceptions_ = 0;
};

inline void TimerHandle::cancel() {
  if (!entry_) return;
  if (entry_->state != State::Scheduled && entry_->state != State::Due) return;
  EventLoop* loop = entry_->cell->loop();
  if (loop == nullptr) return;  // closed: close() already dropped (and counted) it
  loop->check_thread("TimerHandle::cancel");
  if (entry_->state == State::Scheduled) ++loop->timers_cancelled_;  // still in the heap
  entry_->state = State::Cancelled;
  entry_->fn = Callback();  // release captures now, not when the heap gets to it
  ++loop->cancelled_;
}

// The loop running in this thread, or NoRunningLoopError.
inline EventLoop& get_running_loop() {
  if (detail::t_running_loop == nullptr) throw NoRunningLoopError();
  return *detail::t_running_loop;
}

// As get_running_loop(), for a library function that needs the loop on the user's behalf:
// the error names `what`, the call the user made (gather(), shield(), as_completed(), ...).
inline EventLoop& get_running_loop(const char* what) {
  if (detail::t_running_loop == nullptr) throw NoRunningLoopError(what);
  return *detail::t_running_loop;
}

}  // namespace handoff
