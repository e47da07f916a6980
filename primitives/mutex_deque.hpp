// handoff/primitives/mutex_deque.hpp — the mutex baseline the work-stealing deque is measured
// and cross-checked against: std::mutex + std::deque<T>, with WorkStealingDeque<T>'s interface
// (both satisfy handoff::WorkDeque), so one test or benchmark template runs both.
//
// Thread roles are the lock-free deque's, so it can stand in for it: push/pop/capacity for the
// owner, steal/size_hint/empty_hint for any thread (with a lock every method would in fact be
// safe from any thread). steal never answers Retry: under the lock there is no race to lose.
// capacity() is nominal: the rounded initial capacity, doubled whenever the size exceeds it
// (std::deque has no capacity), so tests of growth read the same numbers on both.
#pragma once

#include <bit>
#include <cstddef>
#include <deque>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <type_traits>

#include "results.hpp"
#include "sync.hpp"
#include "work_stealing_deque.hpp"

namespace handoff {

template <class T>
class MutexDeque {
  static_assert(std::is_trivially_copyable_v<T>,
                "MutexDeque<T>: same contract as WorkStealingDeque<T> (trivially copyable T)");

 public:
  using value_type = T;

  explicit MutexDeque(std::size_t initial_capacity = 64) : capacity_(round_capacity(initial_capacity)) {}
  MutexDeque(const MutexDeque&) = delete;
  MutexDeque& operator=(const MutexDeque&) = delete;

  // Owner only (by contract; safe from any thread).
  void push(T v) {
    std::lock_guard<std::mutex> lock(mu_);
    items_.push_back(v);
    if (items_.size() > capacity_) capacity_ *= 2;
    publish_size_locked();
  }

  // Owner only: the newest element (LIFO end).
  std::optional<T> pop() noexcept {
    std::lock_guard<std::mutex> lock(mu_);
    if (items_.empty()) return std::nullopt;
    const T v = items_.back();
    items_.pop_back();
    publish_size_locked();
    return v;
  }

  // Any thread: the oldest element (FIFO end). Success or Empty, never Retry.
  StealStatus steal(T& out) noexcept {
    std::lock_guard<std::mutex> lock(mu_);
    if (items_.empty()) return StealStatus::Empty;
    out = items_.front();
    items_.pop_front();
    publish_size_locked();
    return StealStatus::Success;
  }

  // Any thread, without the lock: the size as of the last completed operation.
  std::size_t size_hint() const noexcept {
    return size_.load(std::memory_order_seq_cst);  // a hint, as WorkStealingDeque's: no data read through it
  }
  bool empty_hint() const noexcept { return size_hint() == 0; }

  // Owner only: nominal capacity (see the header).
  std::size_t capacity() const noexcept {
    std::lock_guard<std::mutex> lock(mu_);
    return capacity_;
  }

 private:
  static std::size_t round_capacity(std::size_t n) {
    constexpr std::size_t kMax = std::size_t{1} << 62;
    if (n > kMax) throw std::length_error("MutexDeque: initial capacity too large");
    return n < 2 ? 2 : std::bit_ceil(n);
  }

  void publish_size_locked() noexcept {
    // relaxed: a hint for size_hint(); the data is ordered by mu_.
    size_.store(items_.size(), std::memory_order_relaxed);  // read by size_hint(), a hint
  }

  mutable std::mutex mu_;
  std::deque<T> items_;
  std::size_t capacity_;
  sync::atomic<std::size_t> size_{0};
};

static_assert(WorkDeque<MutexDeque<void*>>);

}  // namespace handoff
