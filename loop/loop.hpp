// handoff/loop/loop.hpp — the whole loop side in one include: every public header of loop/.
//
//   the loop      EventLoop, LoopRef, TimerHandle, get_running_loop      event_loop.hpp
//   coroutines    Task<T>, create_task, sleep, run (asyncio.run)         task.hpp, run.hpp
//   futures       Future<T>, create_future; ThreadFuture<T> co_await,    future.hpp,
//                 run_coroutine_threadsafe                               thread_future.hpp
//   combinators   gather, wait_for, wait, as_completed, shield,          gather.hpp, wait_for.hpp,
//                 TaskGroup / task_group                                 wait.hpp, shield.hpp,
//                                                                        task_group.hpp
//   sync          Event, Lock, Semaphore, BoundedSemaphore, Queue<T>     event.hpp, lock.hpp,
//                                                                        semaphore.hpp, queue.hpp
//   fds, sockets  wait_readable/writable, sock_accept/connect/recv/      fd.hpp
//                 sendall
//   threads       Channel<T> (thread <-> coroutine); LoopThread (a loop   channel.hpp,
//                 in its own thread, shut down cancel-then-close)        loop_thread.hpp
//   errors        every error type, Callback                             errors.hpp, callback.hpp
//
// "Loop side" means what lives in loop/: the executor (ThreadPoolExecutor, run_in_executor,
// to_thread) is <handoff/executor/run_in_executor.hpp>, so a loop-only program builds no pool.
// tests/umbrella_test.cpp includes only this header and uses every facility listed here.
#pragma once

#include "callback.hpp"
#include "channel.hpp"
#include "errors.hpp"
#include "event.hpp"
#include "event_loop.hpp"
#include "fd.hpp"
#include "future.hpp"
#include "gather.hpp"
#include "lock.hpp"
#include "loop_thread.hpp"
#include "queue.hpp"
#include "run.hpp"
#include "semaphore.hpp"
#include "shield.hpp"
#include "task.hpp"
#include "task_group.hpp"
#include "thread_future.hpp"
#include "wait.hpp"
#include "wait_for.hpp"
