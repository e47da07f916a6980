// examples/thread_name.hpp — readable thread names for the asyncio-with-threads examples.
//
//   name_this_thread("MainThread")   pthread_setname_np (15 characters at most)
//   this_thread_name()               pthread_getname_np: "MainThread", "loop", "handoff-pool_0"
//   say("got %d", v)                 prints "[<this thread's name>] got 7" as one whole line
//
// The pools name their own workers "<prefix>_<slot>" (ThreadPoolExecutor::Options::
// thread_name_prefix, default "handoff-pool"), as Python names them "ThreadPoolExecutor-0_0".
// say() writes each line under a lock and flushes it, so the order of the lines is the order
// of the calls: the examples' tests check that order (examples/expected/<name>.txt).
#pragma once

#include <pthread.h>

#include <cstdarg>
#include <cstdio>
#include <mutex>
#include <string>

namespace example {

inline void name_this_thread(const char* name) { pthread_setname_np(pthread_self(), name); }

inline std::string this_thread_name() {
  char buf[16] = "?";
  pthread_getname_np(pthread_self(), buf, sizeof buf);
  return buf;
}

__attribute__((format(printf, 1, 2))) inline void say(const char* fmt, ...) {
  char msg[256];
  va_list args;
  va_start(args, fmt);
  std::vsnprintf(msg, sizeof msg, fmt, args);
  va_end(args);
  static std::mutex mu;
  std::lock_guard<std::mutex> lock(mu);
  std::printf("[%s] %s\n", this_thread_name().c_str(), msg);
  std::fflush(stdout);
}

}  // namespace example
