// handoff/bench/latency_histogram.hpp — a log-linear latency histogram (HdrHistogram's bucket
// scheme) for benchmarks that time each operation inside the timed loop and report
// percentiles rather than only a mean.
//
// WHAT
//   LatencyHistogram h;          ~9 KB of counts, no allocation; one thread records
//   h.record(ns)                 O(1): a bit scan, a shift, an increment
//   h.percentile(0.99)           the value at or below which 99 % of the samples fall
//   h.merge(other)               add another histogram's samples (e.g. one per thread)
//   h.count(), min(), max(), mean()
//   set_latency_counters(state, h)
//                                Google Benchmark counters p50, p90, p99, p999, max (seconds,
//                                so the console prints e.g. 2.1u) and samples
//   report_round_trips(state, h, same_cpu, &why)
//                                a round-trip suite's checks and counters, in one place
//
// BUCKETS (HdrHistogram, Gil Tene; here with a fixed range and precision). Values are
// integers (nanoseconds in the suites). 0 .. 2^kSubBits − 1 each have a bucket of their own;
// above that, every power-of-two range [2^k, 2^(k+1)) is split into kSub = 2^kSubBits equal
// linear sub-buckets of width 2^(k − kSubBits). So a bucket's width is at most 1/kSub of its
// lower bound: with kSubBits = 5 a reported percentile is at most 1/32 ≈ 3.1 % above the true
// sample (it reports the bucket's highest value, as HdrHistogram's valueAtPercentile does,
// clamped to the largest sample recorded). Values of 2^kMaxBits ns (≈ 18 min) and more share
// the top bucket; max() stays exact. 32 × 36 = 1152 buckets.
//
// THREAD ROLES: a histogram is a plain value — one thread records into it; merge per-thread
// histograms after joining.
//
// WHEN NOT TO USE IT: for values that need better than ~3 % resolution, or when the samples
// themselves matter (keep them in a vector and sort).
#pragma once

#include <algorithm>
#include <array>
#include <bit>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <string>

#include <benchmark/benchmark.h>

namespace handoff::bench {

class LatencyHistogram {
 public:
  static constexpr unsigned kSubBits = 5;
  static constexpr std::uint64_t kSub = std::uint64_t{1} << kSubBits;  // sub-buckets per 2^k
  static constexpr unsigned kMaxBits = 40;  // values >= 2^40 land in the top bucket
  static constexpr std::size_t kBuckets = kSub * (kMaxBits - kSubBits + 1);

  void record(std::uint64_t v) noexcept {
    ++counts_[index_of(v)];
    ++count_;
    sum_ += static_cast<double>(v);
    min_ = std::min(min_, v);
    max_ = std::max(max_, v);
  }

  void merge(const LatencyHistogram& o) noexcept {
    for (std::size_t i = 0; i < kBuckets; ++i) counts_[i] += o.counts_[i];
    count_ += o.count_;
    sum_ += o.sum_;
    min_ = std::min(min_, o.min_);
    max_ = std::max(max_, o.max_);
  }

  void reset() noexcept { *this = LatencyHistogram{}; }

  std::uint64_t count() const noexcept { return count_; }
  std::uint64_t min() const noexcept { return count_ == 0 ? 0 : min_; }
  std::uint64_t max() const noexcept { return max_; }
  double mean() const noexcept { return count_ == 0 ? 0.0 : sum_ / static_cast<double>(count_); }

  // The smallest bucket bound b such that at least q·count samples are <= b (q in [0, 1]);
  // 0 for an empty histogram. Within [min(), max()].
  std::uint64_t percentile(double q) const noexcept {
    if (count_ == 0) return 0;
    q = std::clamp(q, 0.0, 1.0);
    const auto rank = std::max<std::uint64_t>(
        1, static_cast<std::uint64_t>(std::ceil(q * static_cast<double>(count_))));
    std::uint64_t seen = 0;
    for (std::size_t i = 0; i < kBuckets; ++i) {
      seen += counts_[i];
      if (seen >= rank) return std::clamp(highest_in(i), min_, max_);
    }
    return max_;
  }

  // Bucket geometry, public for tests: the bucket of v, and its lowest and highest value.
  static constexpr std::size_t index_of(std::uint64_t v) noexcept {
    if (v < kSub) return static_cast<std::size_t>(v);
    const unsigned k = std::min<unsigned>(static_cast<unsigned>(std::bit_width(v)) - 1, kMaxBits);
    if (k >= kMaxBits) return kBuckets - 1;
    const std::uint64_t sub = (v >> (k - kSubBits)) - kSub;  // in [0, kSub)
    return static_cast<std::size_t>(kSub + (k - kSubBits) * kSub + sub);
  }
  static constexpr std::uint64_t lowest_in(std::size_t i) noexcept {
    if (i < kSub) return i;
    const std::uint64_t j = i - kSub;
    const unsigned shift = static_cast<unsigned>(j / kSub);  // k − kSubBits
    return (kSub + j % kSub) << shift;
  }
  static constexpr std::uint64_t highest_in(std::size_t i) noexcept {
    if (i + 1 == kBuckets) return std::numeric_limits<std::uint64_t>::max();
    return lowest_in(i + 1) - 1;
  }

 private:
  std::array<std::uint64_t, kBuckets> counts_{};
  std::uint64_t count_ = 0;
  double sum_ = 0.0;
  std::uint64_t min_ = std::numeric_limits<std::uint64_t>::max();
  std::uint64_t max_ = 0;
};

static_assert(LatencyHistogram::index_of(31) == 31 && LatencyHistogram::index_of(32) == 32);
static_assert(LatencyHistogram::index_of(63) == 63 && LatencyHistogram::index_of(64) == 64 &&
              LatencyHistogram::index_of(65) == 64 && LatencyHistogram::index_of(66) == 65);
static_assert(LatencyHistogram::lowest_in(LatencyHistogram::index_of(1000)) <= 1000 &&
              LatencyHistogram::highest_in(LatencyHistogram::index_of(1000)) >= 1000);
static_assert(LatencyHistogram::index_of(std::uint64_t{1} << 40) == LatencyHistogram::kBuckets - 1);
static_assert(LatencyHistogram::index_of((std::uint64_t{1} << 40) - 1) ==
              LatencyHistogram::kBuckets - 1);

// Google Benchmark counters from a histogram of nanosecond samples: p50, p90, p99, p999 and
// max in seconds (bench/table.py shows them in µs), samples = count. With few samples the
// high percentiles are the largest samples (p999 of 500 samples is the maximum).
inline void set_latency_counters(benchmark::State& state, const LatencyHistogram& h) {
  using benchmark::Counter;
  auto sec = [](std::uint64_t ns) { return Counter(static_cast<double>(ns) * 1e-9); };
  state.counters["p50"] = sec(h.percentile(0.50));
  state.counters["p90"] = sec(h.percentile(0.90));
  state.counters["p99"] = sec(h.percentile(0.99));
  state.counters["p999"] = sec(h.percentile(0.999));
  state.counters["max"] = sec(h.max());
  state.counters["samples"] = Counter(static_cast<double>(h.count()));
}

// A round-trip suite's common ending: one sample per iteration is checked (false, and the
// message in *why, if not), then time_per_item / items_per_second from the mean, the share of
// answers that ran on the asking thread's CPU, and the percentiles above.
inline bool report_round_trips(benchmark::State& state, const LatencyHistogram& h, std::uint64_t same_cpu,
                               std::string* why) {
  if (h.count() != static_cast<std::uint64_t>(state.iterations())) {
    *why = std::to_string(h.count()) + " samples for " + std::to_string(state.iterations()) + " iterations";
    return false;
  }
  using benchmark::Counter;
  const double mean_s = h.mean() * 1e-9;
  state.counters["time_per_item"] = Counter(mean_s);
  state.counters["items_per_second"] = Counter(mean_s > 0 ? 1.0 / mean_s : 0.0);
  state.counters["same_cpu"] =
      Counter(h.count() ? static_cast<double>(same_cpu) / static_cast<double>(h.count()) : 0.0);
  set_latency_counters(state, h);
  return true;
}

}  // namespace handoff::bench
