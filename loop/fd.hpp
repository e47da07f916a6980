// handoff/loop/fd.hpp — awaiting fd readiness from a task: `co_await wait_readable(fd)`,
// `co_await wait_writable(fd)`, and the few socket helpers built on them (asyncio's
// loop.sock_accept / sock_connect / sock_recv / sock_sendall).
//
// WHAT. wait_readable(fd) suspends the running task until fd is readable (or has hung up or
// failed: EPOLLHUP / EPOLLERR count as ready, so the next read reports it). It is ONE-SHOT:
// it registers a reader with EventLoop::add_reader when the task suspends and removes it as
// soon as the fd is ready, so a level-triggered fd does not fire again while the task runs.
// wait_writable(fd) is the same with add_writer. Neither reads nor writes: the sock_*
// helpers try the syscall first and wait only on EAGAIN, as asyncio's sock_recv does.
//
// THREADS. Loop thread only, inside a task (create_task, run_until_complete, run); outside a
// task they throw InvalidStateError. The fd must stay open until the wait is over.
//
// CANCELLATION (the Waiter protocol of task.hpp). Cancelling the task while it waits removes
// the registration and wakes the task, which gets CancelledError from the co_await. If the fd
// was already ready (the wake is queued), the queued wake delivers the CancelledError instead;
// either way the task is resumed exactly once per suspension.
//
//   states of one wait:
//     IDLE --await_suspend: add_reader/add_writer--> REGISTERED
//     REGISTERED --fd ready: remove, call_soon(resume)--> FIRED --resume--> (await_resume)
//     REGISTERED --on_cancel: remove, resume_soon--> CANCELLED --resume--> CancelledError
//     FIRED --on_cancel: nothing (the queued resume throws CancelledError)
//     REGISTERED --frame destroyed (close() abandons the task): remove
//
// WAKE PATH. The fd callback does not resume the task itself: it posts the resumption with
// call_soon, so task code never runs inside the loop's epoll dispatch (which happens while
// the WakeGate still says SLEEPING). The cost is nothing extra: ready callbacks run in the
// same iteration, after the fd events.
//
// LIMITS. One waiter per fd and direction at a time, and not together with a plain
// add_reader/add_writer on the same fd and direction: EventLoop keeps one callback per fd and
// direction, so a second registration replaces the first, whose task would then wait
// forever (asyncio has the same rule). A regular file cannot be waited on (epoll refuses it:
// the co_await throws std::system_error(EPERM)). Remove nothing yourself while a wait is
// pending, and do not close the fd under it.
#pragma once

#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <coroutine>
#include <cstddef>
#include <cstdint>
#include <string>
#include <system_error>

#include "errors.hpp"
#include "event_loop.hpp"
#include "task.hpp"

namespace handoff {

enum class FdEvent { Readable, Writable };

// The awaitable of wait_readable / wait_writable. Lives in the awaiting coroutine's frame;
// the registered fd callback points at it, so it is neither copyable nor movable (returned
// as a prvalue, it never needs to be).
class FdAwaiter final : public Waiter {
 public:
  FdAwaiter(int fd, FdEvent ev) noexcept : fd_(fd), ev_(ev) {}
  FdAwaiter(const FdAwaiter&) = delete;
  FdAwaiter& operator=(const FdAwaiter&) = delete;
  ~FdAwaiter() { unregister(); }  // the frame is destroyed mid-wait only by close()

  bool await_ready() const noexcept { return false; }

  bool await_suspend(std::coroutine_handle<> h) {
    task_ = &detail::current_task(ev_ == FdEvent::Readable ? "wait_readable()" : "wait_writable()");
    if (task_->cancel_requested()) return false;  // deliver the pending cancel right here
    EventLoop& loop = *task_->loop();
    // Register first: if epoll refuses the fd, the exception leaves co_await with the task
    // still running, nothing recorded. The callback cannot run before we suspend below.
    auto on_ready = [this] { fire(); };
    if (ev_ == FdEvent::Readable) {
      loop.add_reader(fd_, on_ready);
    } else {
      loop.add_writer(fd_, on_ready);
    }
    registered_ = true;
    n_ = task_->suspend(this, h);
    return true;
  }

  void on_cancel() noexcept override {
    if (!registered_) return;  // already fired: the queued resumption throws CancelledError
    unregister();
    try {
      task_->resume_soon(n_);
    } catch (...) {
      // call_soon cannot fail while the loop runs (a task is cancelled only on a live loop).
    }
  }

  void await_resume() {
    if (task_ != nullptr) task_->throw_if_cancelled();
  }

 private:
  // The fd is ready: one-shot, so deregister, then resume the task from the ready queue.
  void fire() {
    unregister();
    task_->loop()->call_soon([t = task_->shared(), n = n_] { t->resume_now(n); });
  }

  void unregister() noexcept {
    if (!registered_) return;
    registered_ = false;
    EventLoop* loop = task_->loop();  // nullptr once the loop is closed: nothing to remove
    if (loop == nullptr) return;
    try {
      if (ev_ == FdEvent::Readable) {
        loop->remove_reader(fd_);
      } else {
        loop->remove_writer(fd_);
      }
    } catch (...) {
      // remove_* throws only if epoll refuses to narrow a reader+writer fd to one direction,
      // i.e. the fd was closed under us; the table entry is gone either way.
    }
  }

  int fd_;
  FdEvent ev_;
  bool registered_ = false;
  std::uint64_t n_ = 0;
  TaskBase* task_ = nullptr;
};

// `co_await wait_readable(fd)`: until fd is readable, hung up or failed. Loop thread, in a task.
inline FdAwaiter wait_readable(int fd) noexcept { return FdAwaiter(fd, FdEvent::Readable); }
// `co_await wait_writable(fd)`: until fd is writable, hung up or failed. Loop thread, in a task.
inline FdAwaiter wait_writable(int fd) noexcept { return FdAwaiter(fd, FdEvent::Writable); }

// ---- socket helpers (asyncio's loop.sock_*). Loop thread, in a task; the socket must be
// non-blocking (SOCK_NONBLOCK). Errors throw std::system_error with the syscall's errno. Each
// tries the syscall first and waits for readiness only when it would block.

namespace detail {
[[noreturn]] inline void throw_errno(int err, const char* what) {
  throw std::system_error(err, std::generic_category(), std::string("handoff: ") + what);
}
inline bool would_block(int err) noexcept { return err == EAGAIN || err == EWOULDBLOCK; }
}  // namespace detail

// Accept one connection; the new socket is non-blocking and close-on-exec. Returns its fd.
inline Task<int> sock_accept(int listen_fd) {
  for (;;) {
    const int fd = ::accept4(listen_fd, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd >= 0) co_return fd;
    const int err = errno;
    if (detail::would_block(err)) {
      co_await wait_readable(listen_fd);
    } else if (err != EINTR && err != ECONNABORTED) {
      detail::throw_errno(err, "accept4");
    }
  }
}

// Connect `fd` to `addr`; returns once connected.
inline Task<void> sock_connect(int fd, const sockaddr* addr, socklen_t len) {
  if (::connect(fd, addr, len) == 0) co_return;
  const int err = errno;
  if (err != EINPROGRESS && err != EINTR) detail::throw_errno(err, "connect");
  co_await wait_writable(fd);
  int so_error = 0;
  socklen_t n = sizeof so_error;
  if (::getsockopt(fd, SOL_SOCKET, SO_ERROR, &so_error, &n) != 0) detail::throw_errno(errno, "getsockopt(SO_ERROR)");
  if (so_error != 0) detail::throw_errno(so_error, "connect");
}

// Receive up to `n` bytes into `buf`; 0 means the peer closed its side (EOF).
inline Task<std::size_t> sock_recv(int fd, void* buf, std::size_t n) {
  for (;;) {
    const ssize_t r = ::recv(fd, buf, n, 0);
    if (r >= 0) co_return static_cast<std::size_t>(r);
    const int err = errno;
    if (detail::would_block(err)) {
      co_await wait_readable(fd);
    } else if (err != EINTR) {
      detail::throw_errno(err, "recv");
    }
  }
}

// Send all `n` bytes of `data` (MSG_NOSIGNAL: a closed peer is EPIPE, not SIGPIPE).
inline Task<void> sock_sendall(int fd, const void* data, std::size_t n) {
  const char* p = static_cast<const char*>(data);
  while (n > 0) {
    const ssize_t r = ::send(fd, p, n, MSG_NOSIGNAL);
    if (r >= 0) {
      p += r;
      n -= static_cast<std::size_t>(r);
      continue;
    }
    const int err = errno;
    if (detail::would_block(err)) {
      co_await wait_writable(fd);
    } else if (err != EINTR) {
      detail::throw_errno(err, "send");
    }
  }
}

}  // namespace handoff
