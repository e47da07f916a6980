// tests/loop_thread_misuse.cpp — a LoopThread destroyed on its own loop's thread (a callback
// on the loop deletes it). It cannot stop and join itself: the destructor must print a message
// naming the mistake and call std::terminate() — not deadlock. Run by ctest
// (unit.loop_thread_misuse, tests/loop_thread_tests.cmake), which expects that message and a
// non-zero exit; if the process is still alive after 10 s it exits 0 with "NO ERROR", which
// that check reports as a failure.
#include <chrono>
#include <cstdio>
#include <thread>

#include <handoff/loop/loop_thread.hpp>

int main() {
  auto* lt = new handoff::LoopThread;
  lt->loop().call_soon_threadsafe([lt] { delete lt; });
  std::this_thread::sleep_for(std::chrono::seconds(10));
  std::puts("NO ERROR: ~LoopThread() on its own loop's thread neither failed nor returned (deadlock?)");
  return 0;
}
