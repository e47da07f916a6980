// handoff/future/errors.hpp — every error the loop, its futures and the executor report.
//
// In future/, the layer below loop/ and executor/ (docs/future.md): one hierarchy for the
// whole library, so `catch (const handoff::Error&)` is documented in one place and an
// executor-only program needs no loop header. loop/errors.hpp forwards here.
//
// One type per thing that can go wrong, each with a message that says what happened and what
// to do, so misuse is a clear error and never a hang, a crash or a silent drop. All derive
// from handoff::Error (a std::runtime_error), so `catch (const handoff::Error&)` catches
// every one of them; CancelledError is also one, as in asyncio ≥ 3.8 it is distinct from
// ordinary failures: catch it only to clean up, then rethrow.
#pragma once

#include <cstdio>
#include <exception>
#include <stdexcept>
#include <string>

namespace handoff {

struct Error : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// The loop was closed: a post was refused, or a future/task it owned was abandoned by close().
struct LoopClosedError : Error {
  explicit LoopClosedError(const std::string& what_happened)
      : Error("handoff: event loop is closed: " + what_happened +
              " (post work only while the loop is open; a loop that close() or run() "
              "finished cannot be reused — create a new one)") {}
};

// The task or future was cancelled (task.cancel(), future.cancel(), a TaskGroup sibling
// failing, or wait_for's timeout cancelling the inner awaitable).
struct CancelledError : Error {
  CancelledError() : Error("handoff: cancelled") {}
  explicit CancelledError(const std::string& why) : Error("handoff: cancelled: " + why) {}
};

// A deadline passed: wait_for(aw, timeout), ThreadFuture::get with a timeout.
struct TimeoutError : Error {
  explicit TimeoutError(const std::string& what) : Error("handoff: timed out: " + what) {}
};

// An operation that the object's state does not allow: result() of a pending future,
// set_result twice, run_forever on a running loop, close() on a running loop, …
struct InvalidStateError : Error {
  explicit InvalidStateError(const std::string& what) : Error("handoff: invalid state: " + what) {}
};

// A loop-thread-only method was called from another thread (checked in debug and sanitizer
// builds; see docs/loop.md for which methods are thread-safe).
struct WrongThreadError : Error {
  explicit WrongThreadError(const std::string& method)
      : Error("handoff: " + method +
              " called from a thread that is not the loop's thread; from other threads use "
              "call_soon_threadsafe() or run_coroutine_threadsafe()") {}
};

// get_running_loop() outside a running loop.
struct NoRunningLoopError : Error {
  NoRunningLoopError()
      : Error("handoff: no running event loop in this thread (get_running_loop() works only "
              "inside a callback or coroutine that the loop is running)") {}
  // A call that needs the running loop (gather(), shield(), as_completed(), ...) made outside one.
  explicit NoRunningLoopError(const std::string& what)
      : Error("handoff: " + what + ": no running event loop in this thread (call it inside a "
              "callback or coroutine that the loop is running, e.g. under run())") {}
};

// A job was submitted to an executor that has been shut down.
struct ExecutorShutdownError : Error {
  explicit ExecutorShutdownError(const std::string& what)
      : Error("handoff: executor is shut down: " + what) {}
};

// A push to a closed Channel (pops drain what is left, then report end-of-stream instead).
struct ChannelClosedError : Error {
  explicit ChannelClosedError(const std::string& what)
      : Error("handoff: channel is closed: " + what + " (pops still drain what was pushed before close())") {}
};

namespace detail {
// Where an exception nobody can receive goes when no handler is installed (a throwing done
// callback of a ThreadFuture; the loop's default exception handler): one line on stderr,
// "handoff: <context>: <what()>". Never throws.
inline void print_exception(const char* context, const std::exception_ptr& e) noexcept {
  if (e) {
    try {
      std::rethrow_exception(e);
    } catch (const std::exception& ex) {
      std::fprintf(stderr, "handoff: %s: %s\n", context, ex.what());
      return;
    } catch (...) {
    }
  }
  std::fprintf(stderr, "handoff: %s: unknown exception\n", context);
}
}  // namespace detail

}  // namespace handoff
