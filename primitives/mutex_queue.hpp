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
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <mutex>
#include <optional>
#include <type_traits>
#include <utility>

#include "mpsc_inbox.hpp"
#include "results.hpp"

namespace handoff {

// Blocking = false: MutexQueue. Blocking = true: BlockingMutexQueue, which adds pop() and
// pop_for() on a condition variable. A compile-time switch, not virtual hooks, so the
// non-blocking baseline pays for no notify and no indirect call.
template <class T, bool Blocking>
class BasicMutexQueue {
 public:
  using value_type = T;

  struct Stats {
    std::uint64_t popped = 0;
    std::uint64_t dropped = 0;
  };

  BasicMutexQueue() = default;
  BasicMutexQueue(const BasicMutexQueue&) = delete;
  BasicMutexQueue& operator=(const BasicMutexQueue&) = delete;
  ~BasicMutexQueue() = default;

  // Destroys every item still queued; returns how many (also in stats().dropped).
  std::size_t drop_all() {
    std::lock_guard<std::mutex> lock(mu_);
    const std::size_t n = items_.size();
    items_.clear();
    stats_.dropped += n;
    return n;
  }

  PushResult push(T&& v) { return push_impl(std::move(v)); }
  PushResult push(const T& v) { return push_impl(v); }

  std::optional<T> try_pop() {
    std::optional<T> out;
    std::lock_guard<std::mutex> lock(mu_);
    if (!items_.empty()) out.emplace(take_locked());
    return out;
  }

  PopStatus try_pop(T& out) {
    std::lock_guard<std::mutex> lock(mu_);
    if (items_.empty()) return closed_ ? PopStatus::Closed : PopStatus::Empty;
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
        if (!items_.empty()) {
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
    cv_.wait(lock, [&] { return !items_.empty() || closed_; });
    std::optional<T> out;
    if (!items_.empty()) out.emplace(take_locked());
    return out;
  }

  // Blocking only: nullopt on timeout or end of stream; is_closed() tells them apart.
  template <class Rep, class Period>
  std::optional<T> pop_for(std::chrono::duration<Rep, Period> timeout) requires Blocking {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait_for(lock, timeout, [&] { return !items_.empty() || closed_; });
    std::optional<T> out;
    if (!items_.empty()) out.emplace(take_locked());
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
    return items_.empty();
  }

  Stats stats() const {
    std::lock_guard<std::mutex> lock(mu_);
    return stats_;
  }

 private:
  struct NoCondvar {};

  T take_locked() {
    T out(std::move(items_.front()));
    items_.pop_front();
    ++stats_.popped;
    return out;
  }

  template <class U>
  PushResult push_impl(U&& v) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (closed_) return PushResult::Closed;
      items_.push_back(std::forward<U>(v));
    }
    if constexpr (Blocking) cv_.notify_one();
    return PushResult::Pushed;
  }

  mutable std::mutex mu_;
  std::deque<T> items_;
  bool closed_ = false;
  Stats stats_;
  [[no_unique_address]] std::conditional_t<Blocking, std::condition_variable, NoCondvar> cv_;
};

template <class T>
using MutexQueue = BasicMutexQueue<T, false>;
template <class T>
using BlockingMutexQueue = BasicMutexQueue<T, true>;

}  // namespace handoff
