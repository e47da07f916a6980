#include <handoff/loop/loop.hpp>                 // EventLoop, Task, run, Channel, gather, ... (all of loop/)
#include <handoff/executor/run_in_executor.hpp>  // ThreadPoolExecutor, run_in_executor, to_thread

#include <chrono>
#include <cstdio>
#include <thread>

using namespace handoff;

int slow_square(int x) {                                    // blocking work: it runs on the pool
  std::this_thread::sleep_for(std::chrono::milliseconds(1));
  return x * x;
}

Task<int> consume(Channel<int>& ch, ThreadPoolExecutor& pool) {
  struct CloseOnExit {                                      // however this coroutine ends (an
    Channel<int>& ch;                                       // exception included), close the
    ~CloseOnExit() { ch.close(); }                          // channel: a producer blocked in
  } guard{ch};                                              // push() gets ChannelClosedError
  int total = 0;
  while (auto v = co_await ch.async_pop())                  // suspends the task, not a thread
    total += co_await get_running_loop().run_in_executor(   // Python's run_in_executor(pool,
        pool, slow_square, *v);                             //   slow_square, *v)
  co_return total;                                          // end-of-stream after close()
}

int main() {
  ThreadPoolExecutor pool(4);
  Channel<int> ch(64);                                      // bounded: backpressure
  std::jthread producer([&] {                               // jthread: its destructor joins
    try {
      for (int i = 0; i < 100; ++i) ch.push(i);
      ch.close();                                           // end-of-stream
    } catch (const ChannelClosedError&) {                   // the consumer stopped early
    }
  });
  int total = run(consume(ch, pool));                       // asyncio.run
  std::printf("total = %d\n", total);                       // 0² + 1² + ... + 99² = 328350
}
