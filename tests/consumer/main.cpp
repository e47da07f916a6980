// A downstream program: includes handoff's headers the documented way and uses the queues
// across threads. Exit 0 and "handoff consumer: OK" when everything behaves.
#include <cstdio>
#include <string>
#include <thread>
#include <vector>

#include <handoff/executor/thread_pool_executor.hpp>  // and future/ (installed beside it)
#include <handoff/primitives/mpsc_inbox.hpp>
#include <handoff/primitives/mpsc_queue.hpp>
#include <handoff/primitives/mutex_queue.hpp>
#include <handoff/primitives/results.hpp>
#include <handoff/primitives/sync.hpp>

namespace {

template <class Q>
bool exercise(const char* name) {
  constexpr int kProducers = 2, kEach = 1000;
  Q q;
  std::vector<std::thread> producers;
  for (int p = 0; p < kProducers; ++p) {
    producers.emplace_back([&q, p] {
      for (int i = 0; i < kEach; ++i) q.push(std::to_string(p) + ":" + std::to_string(i));
    });
  }
  for (auto& t : producers) t.join();
  q.close();
  int got = 0;
  std::string s;
  handoff::PopStatus st;
  while ((st = q.try_pop(s)) == handoff::PopStatus::Item) ++got;
  const bool ok = got == kProducers * kEach && st == handoff::PopStatus::Closed &&
                  q.push(std::string("late")) == handoff::PushResult::Closed;
  std::printf("%s: %d items, then %s: %s\n", name, got, handoff::to_string(st), ok ? "ok" : "WRONG");
  return ok;
}

}  // namespace

int main() {
  bool ok = exercise<handoff::MpscQueue<std::string>>("MpscQueue");
  ok = exercise<handoff::MutexQueue<std::string>>("MutexQueue") && ok;

  struct Msg : handoff::InboxHook {
    int v = 0;
  };
  handoff::MpscInbox inbox;
  Msg m;
  m.v = 7;
  inbox.push(&m);
  const handoff::MpscInbox::Popped p = inbox.pop();
  ok = p.status == handoff::PopStatus::Item && static_cast<Msg*>(p.node)->v == 7 && ok;

  // The executor and its futures (future/thread_future.hpp, future/errors.hpp): no loop needed.
  handoff::ThreadPoolExecutor pool(2);
  handoff::ThreadFuture<int> f = pool.submit([](int a, int b) { return a + b; }, 40, 2);
  const int sum = f.get();
  pool.shutdown(true);
  std::printf("ThreadPoolExecutor: submit(40 + 2).get() = %d: %s\n", sum, sum == 42 ? "ok" : "WRONG");
  ok = sum == 42 && ok;

  std::printf("perturbation hook compiled in: %s\n", handoff::sync::kPerturbed ? "yes" : "no");
  std::printf("handoff consumer: %s\n", ok ? "OK" : "FAILED");
  return ok ? 0 : 1;
}
