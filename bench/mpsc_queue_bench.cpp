// handoff/bench/mpsc_queue_bench.cpp — MpscQueue<T> against its mutex baseline and
// moodycamel::ConcurrentQueue, P producers and one consumer.
//
// Workload mpsc_queue/push_pop: P = 1, 2, 4, 8 producer threads push a steady stream of
// 64-bit payloads (producer id + sequence) and the benchmark thread pops them; one iteration
// is 2^16 pops. Items in flight are capped at 4096. The driver and the counters are in
// bench_common.hpp; the naming convention and how to read the table in bench/README.md.
//
// Implementations (the <impl> part of each name):
//   MpscQueue       handoff::MpscQueue<uint64_t>: Vyukov's intrusive MPSC + node recycling
//   MutexQueue      handoff::MutexQueue<uint64_t>: std::mutex + std::deque (the baseline)
//   moodycamel      moodycamel::ConcurrentQueue<uint64_t>, enqueue/try_dequeue without tokens
//                   (implicit per-thread producer queues, found by thread id on every enqueue)
//   moodycamel_tok  the same queue, a ProducerToken per producer and a ConsumerToken
#include <cstdint>

#include <concurrentqueue/concurrentqueue.h>

#include <handoff/primitives/mpsc_queue.hpp>
#include <handoff/primitives/mutex_queue.hpp>

#include "bench_common.hpp"

namespace {

using handoff::PopStatus;
using handoff::PushResult;
using Payload = std::uint64_t;

// handoff's queues and their mutex baselines share one interface, hence one adapter.
template <class Q, const char* Name>
struct HandoffQueue {
  using Queue = Q;
  static constexpr const char* name = Name;
  struct Producer {
    explicit Producer(Queue& q) : q_(q) {}
    bool push(Payload v) { return q_.push(v) == PushResult::Pushed; }
    Queue& q_;
  };
  struct Consumer {
    explicit Consumer(Queue& q) : q_(q) {}
    PopStatus try_pop(Payload& v) { return q_.try_pop(v); }
    Queue& q_;
  };
};

constexpr char kMpscQueue[] = "MpscQueue";
constexpr char kMutexQueue[] = "MutexQueue";
using MpscQueueAdapter = HandoffQueue<handoff::MpscQueue<Payload>, kMpscQueue>;
using MutexQueueAdapter = HandoffQueue<handoff::MutexQueue<Payload>, kMutexQueue>;

// moodycamel without tokens: what a caller gets from the plain enqueue/try_dequeue API.
struct Moodycamel {
  using Queue = moodycamel::ConcurrentQueue<Payload>;
  static constexpr const char* name = "moodycamel";
  struct Producer {
    explicit Producer(Queue& q) : q_(q) {}
    bool push(Payload v) { return q_.enqueue(v); }  // false only if allocation failed
    Queue& q_;
  };
  struct Consumer {
    explicit Consumer(Queue& q) : q_(q) {}
    PopStatus try_pop(Payload& v) { return q_.try_dequeue(v) ? PopStatus::Item : PopStatus::Empty; }
    Queue& q_;
  };
};

// moodycamel at its best: an explicit producer per token, a consumer token that remembers
// which producer queue it was draining.
struct MoodycamelTokens {
  using Queue = moodycamel::ConcurrentQueue<Payload>;
  static constexpr const char* name = "moodycamel_tok";
  struct Producer {
    explicit Producer(Queue& q) : q_(q), token_(q) {}
    bool push(Payload v) { return q_.enqueue(token_, v); }
    Queue& q_;
    moodycamel::ProducerToken token_;
  };
  struct Consumer {
    explicit Consumer(Queue& q) : q_(q), token_(q) {}
    PopStatus try_pop(Payload& v) {
      return q_.try_dequeue(token_, v) ? PopStatus::Item : PopStatus::Empty;
    }
    Queue& q_;
    moodycamel::ConsumerToken token_;
  };
};

static_assert(handoff::bench::QueueAdapter<MpscQueueAdapter>);
static_assert(handoff::bench::QueueAdapter<MutexQueueAdapter>);
static_assert(handoff::bench::QueueAdapter<Moodycamel>);
static_assert(handoff::bench::QueueAdapter<MoodycamelTokens>);

constexpr const char* kFamilyWorkload = "mpsc_queue/push_pop";

template <class A>
void register_push_pop() {
  const std::string name = std::string(kFamilyWorkload) + "/" + A::name;
  benchmark::RegisterBenchmark(name.c_str(),
                               [](benchmark::State& state) {
                                 handoff::bench::producer_consumer_stream<A>(
                                     state, static_cast<std::size_t>(state.range(0)));
                               })
      ->ArgName("P")
      ->Arg(1)
      ->Arg(2)
      ->Arg(4)
      ->Arg(8)
      ->UseRealTime()
      ->Unit(benchmark::kMillisecond);
}

[[maybe_unused]] const bool registered = [] {
  handoff::bench::declare_comparison(kFamilyWorkload, {kMutexQueue, "moodycamel_tok"});
  register_push_pop<MpscQueueAdapter>();
  register_push_pop<MutexQueueAdapter>();
  register_push_pop<Moodycamel>();
  register_push_pop<MoodycamelTokens>();
  return true;
}();

}  // namespace

HANDOFF_BENCH_MAIN()
