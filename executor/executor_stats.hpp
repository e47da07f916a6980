// handoff/executor/executor_stats.hpp — an executor's ledger and counters.
#pragma once

#include <cstdint>

namespace handoff {

struct ExecutorStats {
  std::uint64_t submitted = 0;  // every submit() call, accepted or refused
  std::uint64_t run = 0;        // jobs started by a worker (they completed: value or exception)
  std::uint64_t cancelled = 0;  // jobs cancelled before they started (or withdrawn: a submit
                                //   that could not start a thread); counted by the pool thread
                                //   that discards the job, so exact once shutdown(true) returned
  std::uint64_t refused = 0;    // submits after shutdown (ExecutorShutdownError)
  std::uint64_t steals = 0;     // jobs a worker took from another worker's deque
  std::uint64_t parks = 0;      // times a worker went to sleep on the event count
  std::uint64_t wakeups = 0;    // ... and was woken by a notify (not a keep-alive timeout)
  std::uint64_t threads_started = 0;
  std::uint64_t threads_exited = 0;
  std::uint64_t threads_alive = 0;
  std::uint64_t spawn_failures = 0;  // worker threads that could not be created (EAGAIN, ENOMEM)

  // Holds once the executor is shut down and its workers have finished (shutdown(true)).
  bool balanced() const noexcept { return submitted == run + cancelled + refused; }
};

}  // namespace handoff
