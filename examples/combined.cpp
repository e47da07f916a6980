// examples/combined.cpp — the patterns together (seed pattern 5). Python: a loop in its own
// thread runs consumer(q), which awaits run_in_executor(None, q.get) three times; the main
// thread submits three 2-second jobs to ThreadPoolExecutor(3), each q.put()s its result; then
// time.sleep(5), loop.call_soon_threadsafe(loop.stop), t.join().
// handoff: the jobs push into a Channel the consumer co_awaits (no pool thread parked per get).
// Shutdown waits for what it needs instead of sleeping: the jobs' futures, close() (the
// consumer sees end-of-stream), the consumer's future, stop, join. The jobs overlap: ~2 s.
#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include <handoff/executor/thread_pool_executor.hpp>
#include <handoff/loop/channel.hpp>
#include <handoff/loop/loop.hpp>

#include "thread_name.hpp"

using example::say;

void blocking_job(int n, handoff::Channel<std::string>& results) {
  say("job %d start", n);
  std::this_thread::sleep_for(std::chrono::seconds(2));
  say("job %d end", n);
  results.push("result " + std::to_string(n) + " from " + example::this_thread_name());
}

handoff::Task<int> consumer(handoff::Channel<std::string>& results) {
  int n = 0;
  for (; std::optional<std::string> r = co_await results.async_pop(); ++n) say("consumer got %s", r->c_str());
  say("consumer: end of stream after %d results", n);
  co_return n;
}

int main() {
  example::name_this_thread("MainThread");
  const auto t0 = std::chrono::steady_clock::now();
  handoff::Channel<std::string> results;
  handoff::EventLoop loop;
  std::thread loop_thread([&loop] {
    example::name_this_thread("loop");
    loop.run_forever();
    loop.close();
    say("loop stopped and closed");
  });
  handoff::ThreadFuture<int> consumed = handoff::run_coroutine_threadsafe(consumer(results), loop);
  handoff::ThreadPoolExecutor pool(3);
  std::vector<handoff::ThreadFuture<void>> jobs;
  for (int n = 1; n <= 3; ++n) {
    say("submitting job %d", n);
    jobs.push_back(pool.submit([n, &results] { blocking_job(n, results); }));
  }
  for (auto& job : jobs) job.get();  // waits for each job; rethrows its exception, if any
  say("all three jobs done; closing the channel");
  results.close();  // end-of-stream for the consumer
  say("the consumer read %d results", consumed.get());
  loop.stop();  // thread-safe
  loop_thread.join();
  pool.shutdown();
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  say("done in %.1f s: the three 2-second jobs overlapped", s);
}
