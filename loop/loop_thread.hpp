// handoff/loop/loop_thread.hpp — an event loop running in a thread of its own, shut down in
// the right order by its destructor (folly's ScopedEventBaseThread; Python's
// `threading.Thread(target=loop.run_forever)` plus the shutdown asyncio.run does).
//
//   LoopThread lt;                          // or LoopThread lt("my-loop"); LoopThread lt(options)
//   ThreadFuture<int> f = run_coroutine_threadsafe(work(), lt.loop());
//   lt.loop().call_soon_threadsafe([] { ... });   // or lt.threadsafe(): a LoopRef
//   f.get();
//   // ~LoopThread (or lt.stop()): stop, shut down on the loop thread, join
//
// WHY. Running a loop in its own thread takes several steps in the right order, and getting
// the order wrong is the commonest misuse: the thread runs run_forever(), then — on itself,
// the loop's thread — cancels the tasks still pending and runs the loop until they have
// finished (so their `catch (const CancelledError&)` cleanup runs, as asyncio.run does), then
// close() (which shuts down the default executor through the close hooks); other threads
// submit work, call stop(), then join. Closing without the cancel first completes pending
// tasks with LoopClosedError and skips their cleanup; closing from another thread, or while
// the loop runs, is an error.
//
// THREADS. The constructor starts the thread (named "handoff-loop" or the given name; Linux
// keeps 15 characters). loop() is for the thread-safe calls only — call_soon_threadsafe,
// stop, threadsafe(), run_coroutine_threadsafe(coro, lt.loop()) — from any thread; everything
// else on the loop belongs to the loop's thread (callbacks and tasks running on it). After
// stop(), the loop is closed: posts throw LoopClosedError, and stats() may be read.
//
// STOP. stop() (idempotent, any thread but the loop's own; also run by the destructor):
//   1. loop.stop(): run_forever returns after its current iteration;
//   2. on the loop thread: cancel_all_tasks (cancel every pending task, run the loop until
//      each has finished), then close();
//   3. join the thread.
// A task that swallows its CancelledError and keeps waiting delays step 2 for as long as it
// waits (as in asyncio.run). Work posted after step 1 is dropped by close() (its drop hook
// runs: a run_coroutine_threadsafe future completes with LoopClosedError).
//
// MISUSE. stop() from the loop's own thread (a callback or task on this loop) cannot join
// itself: it throws InvalidStateError (to end the loop from inside, call loop().stop(); the
// thread then shuts down by itself, and the destructor joins it). The destructor cannot throw:
// run on the loop's own thread, it prints a message naming the mistake and calls
// std::terminate() — never a deadlock.
//
// ERRORS. Exceptions escaping callbacks and unretrieved task exceptions go to the loop's
// exception handler (Options::exception_handler, installed on the loop thread before it runs;
// by default the loop's, which prints to stderr). An exception that escapes the loop thread
// itself (run_forever or close failing: epoll, a close hook) is kept: stop() rethrows it; the
// destructor reports it to stderr.
#pragma once

#include <pthread.h>

#include <cstdio>
#include <exception>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <utility>

#include "errors.hpp"
#include "event_loop.hpp"
#include "run.hpp"

namespace handoff {

class LoopThread {
 public:
  struct Options {
    std::string name = "handoff-loop";  // the thread's name (pthread: 15 characters kept)
    EventLoop::Options loop = {};
    // Installed on the loop thread before run_forever; empty: the loop's default (stderr).
    std::function<void(const ExceptionContext&)> exception_handler;
  };

  LoopThread() : LoopThread(Options{}) {}
  explicit LoopThread(std::string name) : LoopThread(named(std::move(name))) {}
  // Throws what creating the loop (eventfd, epoll) or the thread (std::system_error) threw.
  explicit LoopThread(Options opts) : loop_(opts.loop), ref_(loop_.threadsafe()) {
    thread_ = std::thread([this, o = std::move(opts)]() mutable { body(std::move(o)); });
    id_ = thread_.get_id();  // never changes: the loop thread reads it only in callbacks, posted later
  }
  LoopThread(const LoopThread&) = delete;
  LoopThread& operator=(const LoopThread&) = delete;

  ~LoopThread() {
    if (std::this_thread::get_id() == id_) {
      std::fputs("handoff: ~LoopThread() called on its own loop's thread (from a callback or task on the loop it "
                 "owns): it cannot stop and join itself. Destroy the LoopThread from another thread; to end the "
                 "loop from inside, call loop().stop(). Calling std::terminate().\n",
                 stderr);
      std::fflush(stderr);
      std::terminate();
    }
    try {
      stop();
    } catch (const std::exception& e) {
      std::fprintf(stderr, "handoff: ~LoopThread(): the loop thread failed: %s\n", e.what());
    } catch (...) {
      std::fputs("handoff: ~LoopThread(): the loop thread failed with a non-standard exception\n", stderr);
    }
  }

  // The loop, for its thread-safe calls (see THREADS above).
  EventLoop& loop() noexcept { return loop_; }
  LoopRef threadsafe() const { return ref_; }
  std::thread::id thread_id() const noexcept { return id_; }

  // Stop the loop, shut it down on its thread (cancel pending tasks, let them finish, close),
  // join. Idempotent; concurrent calls wait for the first. Throws InvalidStateError on the
  // loop's own thread; rethrows (once) an exception that escaped the loop thread.
  void stop() {
    if (std::this_thread::get_id() == id_) {
      throw InvalidStateError(
          "LoopThread::stop() called on the loop's own thread (from a callback or task on it): it cannot join "
          "itself; call loop().stop() to end the loop from inside, or stop() from another thread");
    }
    std::lock_guard<std::mutex> lock(stop_mu_);
    if (thread_.joinable()) {
      ref_.stop();
      thread_.join();  // synchronizes with everything the loop thread did, error_ included
    }
    if (error_) std::rethrow_exception(std::exchange(error_, nullptr));
  }

 private:
  static Options named(std::string name) {
    Options o;
    o.name = std::move(name);
    return o;
  }

  void body(Options opts) {
    pthread_setname_np(pthread_self(), opts.name.substr(0, 15).c_str());
    try {
      if (opts.exception_handler) loop_.set_exception_handler(std::move(opts.exception_handler));
      loop_.run_forever();
      // The loop's shutdown, on its own thread, in asyncio.run's order.
      try {
        cancel_all_tasks(loop_, "the loop is shutting down (LoopThread::stop())");
      } catch (...) {
        loop_.call_exception_handler({"LoopThread: cancelling the remaining tasks failed", std::current_exception()});
      }
      loop_.close();
    } catch (...) {
      error_ = std::current_exception();
      try {
        loop_.close();  // whatever run_forever left: refuse later posts, release waiters
      } catch (...) {
      }
    }
  }

  EventLoop loop_;
  LoopRef ref_;
  std::mutex stop_mu_;
  std::exception_ptr error_;  // written by the loop thread, read after the join
  std::thread thread_;        // started once the members above exist
  std::thread::id id_;        // thread_'s id, set by the constructor (thread_ itself is joined by stop())
};

}  // namespace handoff
