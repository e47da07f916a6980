// examples/thread_to_coroutine.cpp — a producer thread feeds a consumer coroutine (seed pattern 3).
// Python:  q = queue.Queue(); threading.Thread(target=producer, args=(q,)).start()
//          while (item := await loop.run_in_executor(None, q.get)) is not None: ...
// handoff: a Channel — the thread calls ch.push(v), the coroutine co_await ch.async_pop();
// close() is end-of-stream (nullopt), no sentinel. Then, for contrast, the tutorial's way:
// a blocking queue read through run_in_executor(q.pop). The channel is better: a waiting
// q.pop() parks a pool thread (one per pending get; each item costs a job and two thread
// wake-ups), a waiting async_pop parks only the coroutine — the push hands the value straight
// to it and posts its resumption to the loop; no thread waits.
#include <chrono>
#include <optional>
#include <thread>

#include <handoff/executor/run_in_executor.hpp>
#include <handoff/loop/channel.hpp>
#include <handoff/loop/loop.hpp>
#include <handoff/primitives/mutex_queue.hpp>

#include "thread_name.hpp"

using namespace std::chrono_literals;
using example::say;

template <class Queue>
void produce(Queue& q, const char* what) {  // the producer thread, for either queue
  example::name_this_thread("producer");
  for (int i = 1; i <= 3; ++i) {
    std::this_thread::sleep_for(20ms);
    say("%s: push %d", what, i);
    q.push(i);
  }
  say("%s: close", what);
  q.close();
}

handoff::Task<int> consume_channel(handoff::Channel<int>& ch) {
  while (std::optional<int> v = co_await ch.async_pop()) say("channel: got %d", *v);
  say("channel: end of stream");
  co_return 0;
}

handoff::Task<int> consume_queue(handoff::BlockingMutexQueue<int>& q) {
  handoff::EventLoop& loop = handoff::get_running_loop();
  auto get = [&q] {  // nullopt once the queue is closed and empty
    say("queue: q.pop() parks this pool thread until an item comes");
    return q.pop();
  };
  while (std::optional<int> v = co_await loop.run_in_executor(get)) say("queue: got %d", *v);
  say("queue: end of stream");
  co_return 0;
}

int main() {
  example::name_this_thread("MainThread");
  handoff::Channel<int> ch;
  std::thread p1([&ch] { produce(ch, "channel"); });
  handoff::run(consume_channel(ch));
  p1.join();

  handoff::BlockingMutexQueue<int> q;
  std::thread p2([&q] { produce(q, "queue"); });
  handoff::run(consume_queue(q));
  p2.join();
}
