// handoff/primitives/mutex_queue.hpp — the mutex baselines the lock-free queues are measured
// against: std::mutex + std::deque, with the same interface as MpscQueue<T>, so one test or
// benchmark template runs both.
//
//   MutexQueue<T>          push / try_pop / drain / close, never blocks for long
//   BlockingMutexQueue<T>  the same, plus pop() and pop_for() that sleep on a condition
//                          variable (the textbook thread-safe queue, Python's queue.Queue)
//
// Thread roles: every method is safe from any thread (a mutex queue is MPMC for free); the
// interface is the MPSC one so it can stand in for MpscQueue. Never returns Retry: a lock
// makes every push all-or-nothing. Close is linearizable trivially (under the lock).
//
// RESERVATIONS (MpscQueue's interface, issue 10: the loop's Mutex inbox posts resumptions
// through them too). reserve() allocates a spare list node; push(Reservation&&, v) pushes into
// the deque as push(v) does, and only if the deque cannot grow (std::bad_alloc) puts the value
// in the spare node instead, at the end of an intrusive overflow list that is popped after
// the deque. While that list is non-empty every push joins it (a plain push allocates its own
// node), so FIFO holds. The spare of a push that did not need it is freed. So a push with a
// reservation never fails for want of memory; plain pushes, the common case the benchmarks
// measure, pay one extra branch. Mutant HANDOFF_MUTANT_MUTEX_QUEUE_NO_SPILL (the bad_alloc
// escapes instead), caught by tests/fault_injection_test.cpp's sweep "MutexQueue reserved
// pushes (allocation)".
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <type_traits>
#include <utility>

#include "mpsc_inbox.hpp"
#include "node_reservation.hpp"
#include "results.hpp"

namespace handoff {

// Blocking = false: MutexQueue. Blocking = true: BlockingMutexQueue, which adds pop() and
// pop_for() on a condition variable. A compile-time switch, not virtual hooks, so the
// non-blocking baseline pays for no notify and no indirect call.
template <class T, bool Blocking>
class BasicMutexQueue {
  struct Spare;  // below; a Reservation holds one
  struct GiveBack {
    static void release(Spare* s) noexcept { delete s; }
  };

 public:
  using value_type = T;

  struct Stats {
    std::uint64_t popped = 0;
    std::uint64_t dropped = 0;
  };

  BasicMutexQueue() = default;
  BasicMutexQueue(const BasicMutexQueue&) = delete;
  BasicMutexQueue& operator=(const BasicMutexQueue&) = delete;
  ~BasicMutexQueue() { free_overflow(); }

  // Destroys every item still queued; returns how many (also in stats().dropped).
  std::size_t drop_all() {
    std::lock_guard<std::mutex> lock(mu_);
    const std::size_t n = items_.size() + free_overflow();
    items_.clear();
    stats_.dropped += n;
    return n;
  }

  PushResult push(T&& v) { return push_impl(std::move(v)); }
  PushResult push(const T& v) { return push_impl(v); }

  // A spare overflow node (primitives/node_reservation.hpp): freed if destroyed unused.
  using Reservation = NodeReservation<Spare, GiveBack>;
  // As MpscQueue's (RESERVATIONS above): reserve() may throw std::bad_alloc; the push never
  // fails for want of memory, consumes `r`, and throws std::invalid_argument if it is empty.
  Reservation reserve() { return Reservation(new Spare); }
  PushResult push(Reservation&& r, T&& v) { return push_reserved(r.take("MutexQueue"), std::move(v)); }
  PushResult push(Reservation&& r, const T& v) { return push_reserved(r.take("MutexQueue"), v); }

  std::optional<T> try_pop() {
    std::optional<T> out;
    std::lock_guard<std::mutex> lock(mu_);
    if (!empty_locked()) out.emplace(take_locked());
    return out;
  }

  PopStatus try_pop(T& out) {
    std::lock_guard<std::mutex> lock(mu_);
    if (empty_locked()) return closed_ ? PopStatus::Closed : PopStatus::Empty;
    out = take_locked();
    return PopStatus::Item;
  }

  template <class F>
  MpscInbox::Drained drain(std::size_t max, F&& fn) {
    std::size_t n = 0;
    while (n < max) {
      std::optional<T> v;
      bool closed = false;
      {
        std::lock_guard<std::mutex> lock(mu_);
        if (!empty_locked()) {
          v.emplace(take_locked());
        } else {
          closed = closed_;
        }
      }
      if (!v) return {n, closed ? PopStatus::Closed : PopStatus::Empty};
      fn(std::move(*v));  // outside the lock: a callback may push again
      ++n;
    }
    return {n, PopStatus::Item};
  }

  // Blocking only: sleeps until an item arrives, or returns nullopt once the queue is
  // closed and empty (end of stream, never a hang).
  std::optional<T> pop() requires Blocking {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait(lock, [&] { return !empty_locked() || closed_; });
    std::optional<T> out;
    if (!empty_locked()) out.emplace(take_locked());
    return out;
  }

  // Blocking only: nullopt on timeout or end of stream; is_closed() tells them apart.
  template <class Rep, class Period>
  std::optional<T> pop_for(std::chrono::duration<Rep, Period> timeout) requires Blocking {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait_for(lock, timeout, [&] { return !empty_locked() || closed_; });
    std::optional<T> out;
    if (!empty_locked()) out.emplace(take_locked());
    return out;
  }

  void close() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      closed_ = true;
    }
    if constexpr (Blocking) cv_.notify_all();
  }

  bool is_closed() const {
    std::lock_guard<std::mutex> lock(mu_);
    return closed_;
  }

  // Same contract as MpscQueue::consumer_sees_empty (a sleep protocol's re-check): the lock
  // orders it against every push, so a push either is seen here or happens after the
  // caller's preceding seq_cst store and sees it.
  bool consumer_sees_empty() const {
    std::lock_guard<std::mutex> lock(mu_);
    return empty_locked();
  }

  Stats stats() const {
    std::lock_guard<std::mutex> lock(mu_);
    return stats_;
  }

 private:
  struct NoCondvar {};
  // A reservation's node: a value the deque had no room for, in the overflow list.
  struct Spare {
    std::optional<T> value;
    Spare* next = nullptr;
  };

  bool empty_locked() const noexcept { return items_.empty() && overflow_head_ == nullptr; }

  // The deque first, then the overflow list (every item in the deque is older). A throwing
  // move out leaves the item where it was.
  T take_locked() {
    if (!items_.empty()) {
      T out(std::move(items_.front()));
      items_.pop_front();
      ++stats_.popped;
      return out;
    }
    Spare* s = overflow_head_;
    T out(std::move(*s->value));
    overflow_head_ = s->next;
    if (overflow_head_ == nullptr) overflow_tail_ = nullptr;
    delete s;
    ++stats_.popped;
    return out;
  }

  template <class U>
  PushResult push_impl(U&& v) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (closed_) return PushResult::Closed;
      if (overflow_head_ == nullptr) {
        items_.push_back(std::forward<U>(v));
      } else {
        overflow_locked(std::make_unique<Spare>(), std::forward<U>(v));  // behind the overflow: FIFO
      }
    }
    if constexpr (Blocking) cv_.notify_one();
    return PushResult::Pushed;
  }

  template <class U>
  PushResult push_reserved(Spare* spare, U&& v) {
    std::unique_ptr<Spare> s(spare);  // freed after the lock unless it joins the overflow list
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (closed_) return PushResult::Closed;
      bool queued = false;
      if (overflow_head_ == nullptr) {
        try {
          items_.push_back(std::forward<U>(v));
          queued = true;
        } catch (const std::bad_alloc&) {
          // The deque could not grow: the value goes into the spare instead.
#if defined(HANDOFF_MUTANT_MUTEX_QUEUE_NO_SPILL)
          throw;  // MUTANT: a reserved push fails for want of memory after all
#endif
        }
      }
      if (!queued) overflow_locked(std::move(s), std::forward<U>(v));
    }
    if constexpr (Blocking) cv_.notify_one();
    return PushResult::Pushed;
  }

  // Construct v in s (a throw frees s: nothing queued) and append s to the overflow list.
  template <class U>
  void overflow_locked(std::unique_ptr<Spare> s, U&& v) {
    s->value.emplace(std::forward<U>(v));
    Spare* n = s.release();
    (overflow_tail_ ? overflow_tail_->next : overflow_head_) = n;
    overflow_tail_ = n;
  }

  // Destroys the overflow list (under the lock, or in the destructor); returns how many.
  std::size_t free_overflow() noexcept {
    std::size_t n = 0;
    while (Spare* s = overflow_head_) {
      overflow_head_ = s->next;
      delete s;
      ++n;
    }
    overflow_tail_ = nullptr;
    return n;
  }

  mutable std::mutex mu_;
  std::deque<T> items_;
  Spare* overflow_head_ = nullptr;  // items a reserved push could not put in the deque; popped after it
  Spare* overflow_tail_ = nullptr;
  bool closed_ = false;
  Stats stats_;
  [[no_unique_address]] std::conditional_t<Blocking, std::condition_variable, NoCondvar> cv_;
};

template <class T>
using MutexQueue = BasicMutexQueue<T, false>;
template <class T>
using BlockingMutexQueue = BasicMutexQueue<T, true>;

}  // namespace handoff
