// handoff/primitives/mutex_event_count.hpp — the naive baseline for EventCount: the same
// interface and protocol on a mutex + condition variable parking lot, taking the mutex in
// EVERY notify() (the easiest design, not the best: CountedMutexEventCount, in
// counted_mutex_event_count.hpp, checks an atomic waiter count first and is the benchmarks'
// baseline since issue 12; this one stays as their labelled "naive" row).
//
// WHY: STYLE.md habit 6 — one template runs all event counts in tests (event_count_test.cpp,
// the stress test's cross-check run) and benchmarks (event_count_bench.cpp), so a test that
// fails on this trivially correct implementation is a broken test.
//
// DESIGN. detail::BasicMutexEventCount (counted_mutex_event_count.hpp) with
// MecNotify::LockAlways. prepare_wait() announces under the mutex; notify_*() reads the count
// under the same mutex: the mutex's total order does what the seq_cst Dekker pair does in
// EventCount, so the caller's publish needs no particular order here: either the notifier's
// critical section comes first, and its unlock publishes everything it stored before (the
// work) to the waiter's announcement and so to its later re-check; or the waiter's
// announcement comes first, and the notifier sees the count. Usage, keys, the ledger and the
// meaning of each statistic are EventCount's (event_count.hpp).
//
// THREAD ROLES: as EventCount — every method any thread; a Key is used once by its preparer.
// LIFETIME: as EventCount — a woken waiter may destroy it as soon as its wait returns (the
// wake is issued under the lock; see BasicMutexEventCount::notify()).
// MUTANT (tests only): HANDOFF_MUTANT_MEC_NOTIFY_AFTER_UNLOCK, read by the template: the
// pre-fix order, the condvar notified after the unlock.
#pragma once

#include "counted_mutex_event_count.hpp"

namespace handoff {

using MutexEventCount = detail::BasicMutexEventCount<detail::MecNotify::LockAlways>;

}  // namespace handoff
