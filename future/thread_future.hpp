// handoff/future/thread_future.hpp — a result that crosses threads: concurrent.futures.Future.
//
// ThreadFuture<T> is what run_coroutine_threadsafe() returns to a thread, and what the
// executor returns for a job. Any thread may wait on it (get, wait_for), poll it (done),
// cancel it, or attach callbacks; a coroutine on any loop may `co_await` it (asyncio's
// wrap_future: loop/thread_future.hpp). Exactly one completer publishes the result, once.
//
// LAYER. future/ sits below loop/ and executor/ and needs only primitives/ (docs/future.md):
// the executor uses this header without any loop header; loop/thread_future.hpp adds the
// loop's side (the awaiter, run_coroutine_threadsafe), and run_in_executor is the one bridge.
//
// STATE WORD (one 32-bit atomic, also the futex word):
//
//     PENDING --claim (CAS, one completer)--> COMPLETING --publish (exchange)--> DONE
//        |  bit WAITERS: some thread sleeps in get()/wait_for(); the publisher wakes them
//
//  * complete: CAS PENDING->COMPLETING (losers get false: "already completed"), write the
//    result slot, exchange to DONE (release: pairs with the readers' acquire loads, so the
//    result is visible to whoever sees DONE), futex-wake only if WAITERS was set, then run
//    the done callbacks.
//  * a throw between the claim and the publish (the value's constructor or move, in
//    set_value) cannot give the claim back — another completer has already been told "too
//    late" — so it completes the future with that exception instead. A claimed future is
//    always published: no thread waits on COMPLETING forever.
//  * wait: load (acquire); not DONE: set WAITERS (CAS), re-check, futex-wait on the word.
//    The futex compares the word in the kernel, so a publish between the check and the
//    sleep makes the wait return at once: no lost wakeup.
//  * callbacks: a Treiber stack closed by the completer with one exchange to a CLOSED
//    marker; add_done_callback pushes with CAS unless it finds CLOSED, then runs the callback
//    itself. So each callback runs exactly once, on the completing thread or the adding one.
//
// CANCEL. cancel() asks; the producer decides. It sets CANCEL_REQUESTED and calls the cancel
// hook the producer installed (run_coroutine_threadsafe: cancel the task on its loop;
// executor: cancel a job not yet started). The future then completes — cancelled
// (CancelledError), or with the result if it was too late. cancel() returns true if the
// future is cancelled or the request was accepted, false if it finished otherwise or the
// producer said too late (concurrent.futures: cancelling a cancelled future is True).
//
// GET, FROM ANY THREAD, ANY NUMBER OF TIMES (concurrent.futures' result()). An exception is
// rethrown by every get(). A value:
//  * copyable T: get() returns a copy; any thread, any number of times, concurrently (the
//    slot is immutable once DONE: concurrent copies are plain reads).
//  * move-only T: get() moves it out, once; every later get() (any copy of the handle, any
//    thread) throws InvalidStateError. Two concurrent get()s: exactly one wins (a CAS).
//  * get() on an rvalue (`pool.submit(f).get()`, `std::move(tf).get()`) moves the value out
//    whatever T, so the common one-consumer case pays no copy; later get()s throw. If another
//    thread is copying the value at that moment, it is copied instead (never moved under a
//    reader).
//  The word `consumers_` arbitrates: copiers count themselves in (fetch_add) and out; a mover
//  claims it with CAS 0 -> MOVED_OUT, so a move never overlaps a copy. A move that throws (T's
//  move constructor) still counts as the one move (basic guarantee: the value is gone).
//
// NO DEADLOCK ON THE LOOP THREAD. get()/wait_for() on a thread that is running an event
// loop would block that loop (and the future may need it to complete), so they throw
// InvalidStateError there: co_await the future instead. (The loop marks its thread through
// detail::t_blocking_wait_forbidden; this layer knows no loop.)
#pragma once

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <exception>
#include <functional>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <utility>

#include "../primitives/deadline.hpp"
#include "../primitives/sync.hpp"
#include "callback.hpp"
#include "errors.hpp"
#include "stored.hpp"

namespace handoff {

namespace detail {
// A thread that can do useful work while it waits (an executor worker running jobs from its
// own deque) installs a helper: get() calls it until the future is done, instead of
// sleeping. It returns false when it had nothing to do.
inline thread_local bool (*t_wait_helper)(void*) = nullptr;
inline thread_local void* t_wait_helper_arg = nullptr;

// A thread on which a blocking wait would deadlock (a thread running an event loop: the
// future may need that loop to complete) sets this to what to do instead; get()/wait()
// there throw InvalidStateError with that advice. Set and cleared by EventLoop::run_forever.
inline thread_local const char* t_blocking_wait_forbidden = nullptr;
}  // namespace detail

class ThreadFutureBase {
 public:
  ThreadFutureBase() = default;
  ThreadFutureBase(const ThreadFutureBase&) = delete;
  ThreadFutureBase& operator=(const ThreadFutureBase&) = delete;
  ~ThreadFutureBase() {
    CbNode* n = callbacks_.load(std::memory_order_acquire);  // pairs with pushers' release CAS
    if (n == closed()) return;
    while (n != nullptr) {  // never completed: callbacks are dropped (their drop hooks run)
      CbNode* next = n->next;
      delete n;
      n = next;
    }
  }

  // Any thread.
  bool done() const noexcept {
    return (word_.load(std::memory_order_acquire) & kStateMask) == kDone;  // pairs with publish()
  }
  bool cancelled() const noexcept { return done() && cancelled_; }  // cancelled_ published by DONE

  // Any thread. Request cancellation (see the header comment), concurrent.futures' cancel():
  // true if the future is (or is being) cancelled or the request was accepted while it was
  // pending; false if it finished with a value or exception, or the producer's hook says it
  // is too late (an executor job that has started).
  bool cancel() {
    if (done()) return cancelled();
    // acq_rel: orders the hook's effects after the flag; pairs with the completer's check.
    word_.fetch_or(kCancelRequested, std::memory_order_acq_rel);  // see above: pairs with claim()/cancel_requested()
    if (!cancel_hook_) return true;
    // A hook that lost to another canceller reports false; the future is cancelled all the same.
    return cancel_hook_() || cancelled();
  }
  bool cancel_requested() const noexcept {
    return (word_.load(std::memory_order_acquire) & kCancelRequested) != 0;  // pairs with cancel()
  }

  // Any thread. Block until done (or until `timeout`); false on timeout. `what` is the call
  // the user made, named in the error a blocking wait on a loop thread gets.
  template <class Rep, class Period>
  bool wait_for(std::chrono::duration<Rep, Period> timeout, const char* what = "ThreadFuture::wait_for()") {
    // Saturated (duration_cast wrapped hours::max()); a negative timeout polls (it was taken
    // as "no timeout" and waited forever).
    return wait_until_ns(std::max<std::int64_t>(0, detail::saturating_nanos(timeout).count()), what);
  }
  void wait(const char* what = "ThreadFuture::wait()") { wait_until_ns(-1, what); }

  // Call only when done() (concurrent.futures' exception()): the exception the future
  // completed with, nullptr if it holds a value (left untouched); a cancelled future throws
  // its CancelledError. error_ is immutable once DONE: any number of readers.
  std::exception_ptr exception_when_done() const {
    if (cancelled_) std::rethrow_exception(error_);
    return error_;
  }

  // Any thread. fn runs once the future is done: on the completing thread, or at once on
  // this thread if it already is. If the future is destroyed uncompleted, fn is dropped.
  void add_done_callback(Callback fn) {
    auto* node = new CbNode{std::move(fn), nullptr};
    CbNode* top = callbacks_.load(std::memory_order_acquire);  // CAS below re-checks
    while (top != closed()) {
      node->next = top;
      // release: publishes the node to the completer's acquire exchange.
      if (callbacks_.compare_exchange_weak(top, node, std::memory_order_release,  // publishes the node to publish()
                                           std::memory_order_acquire)) {  // failure: re-read top
        return;
      }
    }
    // Already completed (CLOSED seen with acquire: the result is visible): run it here.
    Callback cb = std::move(node->fn);
    delete node;
    cb();
  }

  // Producer side, before the future is shared: the producer is a function running on some
  // thread (an executor job), which may use the awaiting coroutine's frame until it returns.
  void set_runs_on_a_thread() noexcept { runs_on_a_thread_ = true; }
  bool runs_on_a_thread() const noexcept { return runs_on_a_thread_; }

  // Producer side: installed before the future is shared; called by cancel(), whose result
  // it gives (true: cancelled or cancellation requested; false: too late).
  void set_cancel_hook(std::function<bool()> hook) { cancel_hook_ = std::move(hook); }

 protected:
  enum : std::uint32_t {
    kPending = 0,
    kCompleting = 1,
    kDone = 2,
    kStateMask = 3,
    kWaiters = 4,
    kCancelRequested = 8,
  };

  // Claim the right to complete. Exactly one caller ever gets true.
  bool claim() noexcept {
    std::uint32_t w = word_.load(std::memory_order_relaxed);  // the CAS re-checks it
    for (;;) {
      if ((w & kStateMask) != kPending) return false;
      // acquire: the claimant sees the producer's setup; relaxed failure just retries.
      if (word_.compare_exchange_weak(w, (w & ~kStateMask) | kCompleting,
                                      std::memory_order_acquire, std::memory_order_relaxed)) {  // claimant sees the setup
        return true;
      }
    }
  }

  // After claim() and writing the result: make it visible, wake sleepers, run callbacks.
  void publish() {
    std::uint32_t w = word_.load(std::memory_order_relaxed);  // the CAS re-checks it
    // release: the result slot written before this is visible to every acquire of DONE.
    while (!word_.compare_exchange_weak(w, (w & ~kStateMask) | kDone, std::memory_order_acq_rel,  // DONE publishes the result
                                        std::memory_order_relaxed)) {  // failure: retry
    }
    if (w & kWaiters) sync::wake_all(word_);
    // acq_rel: takes every pushed callback (acquire) and closes the stack (release: an adder
    // that sees CLOSED also sees the result).
    CbNode* n = callbacks_.exchange(closed(), std::memory_order_acq_rel);  // takes all callbacks, closes the stack
    // The stack is LIFO; run callbacks in the order they were added.
    CbNode* rev = nullptr;
    while (n != nullptr) {
      CbNode* next = n->next;
      n->next = rev;
      rev = n;
      n = next;
    }
    while (rev != nullptr) {
      CbNode* next = rev->next;
      Callback cb = std::move(rev->fn);
      delete rev;
      try {
        cb();
      } catch (...) {
        // A done callback that throws must not stop the others (asyncio logs it).
        detail::print_exception("exception in a ThreadFuture done callback",
                                std::current_exception());
      }
      rev = next;
    }
  }

  void check_blocking_allowed(const char* what) const {
    if (detail::t_blocking_wait_forbidden != nullptr && !done()) {
      throw InvalidStateError(std::string(what) + " " + detail::t_blocking_wait_forbidden);
    }
  }

  bool wait_until_ns(std::int64_t timeout_ns, const char* what) {
    if (done()) return true;
    check_blocking_allowed(what);
    if (detail::t_wait_helper != nullptr) {
      while (!done() && detail::t_wait_helper(detail::t_wait_helper_arg)) {
      }
      if (done()) return true;
    }
    const auto deadline = detail::deadline_after(std::chrono::nanoseconds(timeout_ns));  // saturated
    for (;;) {
      std::uint32_t w = word_.load(std::memory_order_acquire);  // pairs with publish()
      if ((w & kStateMask) == kDone) return true;
      if (!(w & kWaiters)) {
        // relaxed on both: only the futex word's value matters; publish() reads it in its RMW.
        if (!word_.compare_exchange_weak(w, w | kWaiters, std::memory_order_relaxed,  // futex word only
                                         std::memory_order_relaxed)) {  // futex word only
          continue;
        }
        w |= kWaiters;
      }
      std::int64_t left = -1;
      if (timeout_ns >= 0) {
        left = std::chrono::duration_cast<std::chrono::nanoseconds>(
                   deadline - std::chrono::steady_clock::now())
                   .count();
        if (left <= 0) return done();
      }
      sync::wait(word_, w, left);  // returns at once if the word is no longer w
    }
  }

  struct CbNode {
    Callback fn;
    CbNode* next;
  };
  static CbNode* closed() noexcept {
    static CbNode marker{Callback(), nullptr};
    return &marker;
  }

  sync::atomic<std::uint32_t> word_{kPending};
  sync::atomic<CbNode*> callbacks_{nullptr};
  std::function<bool()> cancel_hook_;
  std::exception_ptr error_;
  bool cancelled_ = false;
  bool runs_on_a_thread_ = false;

  // The value's consumers (see GET in the header comment): copiers in flight, or MOVED_OUT.
  static constexpr std::uint32_t kMovedOut = 1u << 31;
  sync::atomic<std::uint32_t> consumers_{0};
};

template <class T>
class ThreadFutureState : public ThreadFutureBase {
 public:
  // Completer side. False if someone completed it first (the value is then discarded). If
  // constructing the value throws after the claim, the future completes with that exception
  // (and this still returns true: this call completed it); nothing escapes. The completer
  // must hold a reference to the state across the call (set_exception too): publish() still
  // touches it after waiters can see DONE and let go (tests/model late_ops).
  template <class... A>
  bool set_value(A&&... a) {
    if (!claim()) return false;
#if defined(HANDOFF_MUTANT_FUTURE_NO_UNDO)
    value_.emplace(std::forward<A>(a)...);  // MUTANT: a throw here leaves the future COMPLETING
#else
    try {
      value_.emplace(std::forward<A>(a)...);
    } catch (...) {
      // The claim cannot be given back (a rival completer was already told it lost): finish
      // with the exception, so every waiter, callback and close() sees the future done.
      error_ = std::current_exception();
      publish();
      return true;
    }
#endif
    publish();
    return true;
  }
  bool set_exception(std::exception_ptr e) {
    if (!e) throw std::invalid_argument("handoff: ThreadFutureState::set_exception(nullptr): pass an exception");
    bool cancelled = false;
    try {
      std::rethrow_exception(e);
    } catch (const CancelledError&) {
      cancelled = true;
    } catch (...) {
    }
    if (!claim()) return false;
    cancelled_ = cancelled;
    error_ = std::move(e);
    publish();
    return true;
  }

  // Consumer side; call only when done(). The exception, rethrown; or the value as
  // ThreadFuture::get() on an lvalue gives it: a copy if T is copyable, else take().
  T read() {
    if (error_) std::rethrow_exception(error_);
    if constexpr (std::is_void_v<T>) {
      return;
    } else if constexpr (!is_copyable_result_v<T>) {
      return take_value();
    } else {
      return copy_value();
    }
  }
  // Consumer side; call only when done(). The exception, rethrown; or the value moved out
  // (once: later read()/take() throw InvalidStateError). A copyable value that another thread
  // is copying right now is copied instead.
  T take() {
    if (error_) std::rethrow_exception(error_);
    if constexpr (!std::is_void_v<T>) return take_value();
  }

 private:
  [[noreturn]] static void throw_moved_out() {
    throw InvalidStateError(
        "ThreadFuture::get(): the value was already moved out (by get() of a move-only value, "
        "or get() on an rvalue ThreadFuture); a value is moved out once — keep the first "
        "result, or call get() on an lvalue of a copyable T to copy it");
  }

  T copy_value() {
    // seq_cst RMW: counts this copier in; a mover's CAS from 0 cannot succeed until the
    // matching fetch_sub, so the copy never overlaps a move.
    if (consumers_.fetch_add(1, std::memory_order_seq_cst) & kMovedOut) {  // pairs with take_value()'s CAS
      consumers_.fetch_sub(1, std::memory_order_seq_cst);  // back out: nothing was read
      throw_moved_out();
    }
    struct Out {
      sync::atomic<std::uint32_t>& c;
      // seq_cst RMW (release half): this copy's reads happen before a later mover's CAS.
      ~Out() { c.fetch_sub(1, std::memory_order_seq_cst); }  // pairs with take_value()'s CAS
    } out{consumers_};
    return *value_;  // a copy; the slot is immutable once DONE
  }

  T take_value() {
    std::uint32_t expected = 0;
    // seq_cst CAS 0 -> MOVED_OUT: exactly one mover wins; acquire half: every earlier copier's
    // reads (their fetch_sub) happen before the move.
    if (consumers_.compare_exchange_strong(expected, kMovedOut, std::memory_order_seq_cst,  // pairs with copy_value()
                                           std::memory_order_seq_cst)) {  // failure: see below
      return std::move(*value_);
    }
    if constexpr (is_copyable_result_v<T>) {
      if (!(expected & kMovedOut)) return copy_value();  // a copier is reading: copy instead
    }
    throw_moved_out();
  }

  std::optional<Stored<T>> value_;
};

// The handle. Copyable; all copies share one state. Any thread.
template <class T>
class ThreadFuture {
 public:
  ThreadFuture() = default;
  explicit ThreadFuture(std::shared_ptr<ThreadFutureState<T>> s) : s_(std::move(s)) {}

  // Block until done; return the value or rethrow (see GET in the header comment: a copy of
  // a copyable value, any number of times; a move-only value moved out once). Throws
  // InvalidStateError on a loop thread (co_await it there).
  T get() & {
    s_->wait("ThreadFuture::get()");
    return s_->read();
  }
  // On an rvalue (`pool.submit(f).get()`, `std::move(tf).get()`): the value moved out, once.
  T get() && {
    s_->wait("ThreadFuture::get()");
    return s_->take();
  }
  // As get(), but throws TimeoutError if not done within `timeout` (the future stays valid).
  template <class Rep, class Period>
  T get(std::chrono::duration<Rep, Period> timeout) & {
    wait_or_throw(timeout);
    return s_->read();
  }
  template <class Rep, class Period>
  T get(std::chrono::duration<Rep, Period> timeout) && {
    wait_or_throw(timeout);
    return s_->take();
  }
  template <class Rep, class Period>
  bool wait_for(std::chrono::duration<Rep, Period> timeout) { return s_->wait_for(timeout); }
  void wait() { s_->wait(); }
  bool done() const noexcept { return s_->done(); }
  bool cancelled() const noexcept { return s_->cancelled(); }
  bool cancel() { return s_->cancel(); }
  // concurrent.futures' exception([timeout]): blocks until done, as get() does (so on a loop
  // thread, InvalidStateError unless already done: co_await it there, or check done() first);
  // then the exception it completed with, nullptr if it holds a value (the value is left for
  // get()); CancelledError if it was cancelled; TimeoutError if `timeout` passes first. On a
  // done future neither exception() nor get() ever blocks, on any thread.
  std::exception_ptr exception() {
    s_->wait("ThreadFuture::exception()");
    return s_->exception_when_done();
  }
  template <class Rep, class Period>
  std::exception_ptr exception(std::chrono::duration<Rep, Period> timeout) {
    if (!s_->wait_for(timeout, "ThreadFuture::exception(timeout)")) throw TimeoutError("ThreadFuture::exception(timeout)");
    return s_->exception_when_done();
  }
  void add_done_callback(Callback fn) { s_->add_done_callback(std::move(fn)); }
  explicit operator bool() const noexcept { return s_ != nullptr; }

  const std::shared_ptr<ThreadFutureState<T>>& state() const noexcept { return s_; }

 private:
  template <class Rep, class Period>
  void wait_or_throw(std::chrono::duration<Rep, Period> timeout) {
    if (!s_->wait_for(timeout, "ThreadFuture::get(timeout)")) throw TimeoutError("ThreadFuture::get(timeout)");
  }

  std::shared_ptr<ThreadFutureState<T>> s_;
};

}  // namespace handoff
