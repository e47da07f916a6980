// handoff/primitives/deadline.hpp — saturating deadlines: `now + timeout` that never wraps.
//
// Every timed wait in the library (the event loop's timers and sleep, wait_for, the channel's
// push_for/pop_for, ThreadFuture::get(timeout), the executor's map(timeout), the event counts'
// wait_for) turns a user's timeout into a steady_clock deadline. `now + hours::max()` or
// `now + nanoseconds::max()` overflows the clock's 64-bit nanosecond count: the wrapped deadline
// lies in the past, so a "wait forever" returned at once (or a "never" timer fired at once and
// froze the loop's sleep). These helpers saturate instead: a deadline beyond the clock's range
// is time_point::max() ("never"), one before it time_point::min() ("long past").
//
// One definition for every layer (primitives/, future/, executor/, loop/ all include this).

#pragma once

#include <chrono>
#include <climits>
#include <cstdint>
#include <ratio>
#include <type_traits>

namespace handoff::detail {

using SteadyTimePoint = std::chrono::steady_clock::time_point;
static_assert(std::is_same_v<SteadyTimePoint::duration, std::chrono::nanoseconds>,
              "steady_clock counts nanoseconds here");

// Any duration as nanoseconds, clamped to nanoseconds' range (hours::max() is ~3.3e22 ns:
// duration_cast alone would wrap it).
template <class Rep, class Period>
constexpr std::chrono::nanoseconds saturating_nanos(std::chrono::duration<Rep, Period> d) noexcept {
  using R = std::ratio_divide<Period, std::nano>;
  // long double holds every int64 count times an integral ratio exactly enough to decide the
  // range (64-bit mantissa on x86, 113 on aarch64).
  const long double ns = static_cast<long double>(d.count()) * R::num / R::den;
  if (ns >= static_cast<long double>(INT64_MAX)) return std::chrono::nanoseconds::max();
  if (ns <= static_cast<long double>(INT64_MIN)) return std::chrono::nanoseconds::min();
  if constexpr (std::is_integral_v<Rep> && R::den == 1) {
    return std::chrono::nanoseconds(static_cast<std::int64_t>(d.count()) * R::num);  // in range: exact
  } else {
    return std::chrono::nanoseconds(static_cast<std::int64_t>(ns));
  }
}

// A timeout parameter of type nanoseconds overflows already in the caller's implicit
// conversion (hours::max() -> nanoseconds wraps). Parameters of this type take any duration
// and saturate it instead; they read as nanoseconds.
class SaturatingNanos {
 public:
  template <class Rep, class Period>
  constexpr SaturatingNanos(std::chrono::duration<Rep, Period> d) noexcept  // NOLINT: implicit by design
      : ns_(saturating_nanos(d)) {}
  constexpr operator std::chrono::nanoseconds() const noexcept { return ns_; }  // NOLINT
  constexpr std::chrono::nanoseconds get() const noexcept { return ns_; }

 private:
  std::chrono::nanoseconds ns_;
};

// t + d, clamped to [time_point::min(), time_point::max()].
inline SteadyTimePoint saturating_add(SteadyTimePoint t, std::chrono::nanoseconds d) noexcept {
  std::int64_t out;
  if (__builtin_add_overflow(t.time_since_epoch().count(), d.count(), &out)) {
    return d.count() > 0 ? SteadyTimePoint::max() : SteadyTimePoint::min();
  }
  return SteadyTimePoint(std::chrono::nanoseconds(out));
}
template <class Rep, class Period>
SteadyTimePoint saturating_add(SteadyTimePoint t, std::chrono::duration<Rep, Period> d) noexcept {
  return saturating_add(t, saturating_nanos(d));
}

// steady_clock::now() + timeout, saturated: the deadline of a timed wait.
template <class Rep, class Period>
SteadyTimePoint deadline_after(std::chrono::duration<Rep, Period> timeout) noexcept {
  return saturating_add(std::chrono::steady_clock::now(), saturating_nanos(timeout));
}

// The wait from `now` to `when` in nanoseconds: 0 if already due, INT64_MAX if it does not fit
// (when = max()).
inline std::int64_t nanos_until(SteadyTimePoint when, SteadyTimePoint now) noexcept {
  if (when <= now) return 0;
  std::int64_t out;
  if (__builtin_sub_overflow(when.time_since_epoch().count(), now.time_since_epoch().count(), &out)) {
    return INT64_MAX;
  }
  return out;
}

}  // namespace handoff::detail
