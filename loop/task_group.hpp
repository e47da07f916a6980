// handoff/loop/task_group.hpp — asyncio.TaskGroup (structured concurrency) as an async scope.
//
//     int n = co_await task_group([&](TaskGroup& tg) -> Task<int> {
//       Future<A> a = tg.create_task(fetch_a());
//       Future<B> b = tg.create_task(fetch_b());
//       co_await something();
//       co_return 42;                       // the scope's result
//     });                                   // here every task of the group has finished
//
// THREADS. Loop thread only; co_await task_group(...) from a task of the running loop.
//
// WHY A SCOPE. Python writes `async with TaskGroup() as tg:`; C++ has no asynchronous
// destructor, so a `TaskGroup tg; ...; co_await tg.wait();` object could be destroyed — by an
// exception, an early co_return — with its tasks still running and still referring to the
// frame's locals. task_group(body) cannot be left that way: it returns (or throws) only once
// the body and every task created in the group have finished. The body is a callable taking
// TaskGroup& and returning Task<R>; task_group returns Task<R>. The TaskGroup handle is
// copyable and may be passed to children (they may create more tasks in the group);
// create_task on a group that has finished throws InvalidStateError. Nothing else ends a
// group early except the loop's close(), which abandons every task anyway.
//
// SEMANTICS (asyncio.TaskGroup, 3.11+).
//  * The body runs as a task of its own; tasks created with tg.create_task are scheduled at
//    once. The scope waits for all of them.
//  * A task failing (an exception other than CancelledError) — or the body failing — aborts
//    the group: every other task and the body are cancelled (asyncio cancels the parent task
//    to interrupt the body; here the body is its own task, so the awaiting task is never
//    cancelled by the group and needs no uncancel() bookkeeping). Once all have finished the
//    scope throws ExceptionGroup holding every failure, in the order they happened.
//    create_task during the abort throws InvalidStateError ("shutting down"), as in asyncio.
//  * A task ending cancelled is not a failure. The body ending cancelled without a request
//    (it let a CancelledError escape) aborts the group too, and the scope then throws
//    CancelledError, as asyncio's __aexit__ does.
//  * The awaiting task being cancelled aborts the group; the scope keeps waiting until all
//    have finished, then throws CancelledError — or ExceptionGroup if tasks failed meanwhile
//    (errors win, as in asyncio since GH-95704), with the cancellation left pending for the
//    task's next await point, so it is not lost either.
//  * Otherwise the scope returns the body's result.
//
// DEVIATIONS: always ExceptionGroup for failures, even a single one (asyncio too; C++ has no
// except*: catch ExceptionGroup and look at exceptions()); the body's own failure is in
// completion order among the others (asyncio appends it last). A cancellation of the awaiting
// task aborts the whole group at once: asyncio delivers it to the body first (the with-block
// runs in that task) and aborts only if it escapes the body — the same, unless the body
// swallows CancelledError, which errors.hpp says not to do. If the awaiting task was
// cancelled before the scope started, the body never starts (asyncio runs it to its first
// await). The wait for the tasks cannot be cut short (a task may refer to the scope's frame);
// a task that ignores cancellation delays the scope's return.
#pragma once

#include <coroutine>
#include <cstddef>
#include <exception>
#include <functional>
#include <list>
#include <memory>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "errors.hpp"
#include "event_loop.hpp"
#include "future.hpp"
#include "task.hpp"

namespace handoff {

// Thrown by task_group() when tasks of the group failed: every failure, in the order they
// happened (asyncio's ExceptionGroup / BaseExceptionGroup).
class ExceptionGroup : public Error {
 public:
  explicit ExceptionGroup(std::vector<std::exception_ptr> errors)
      : Error(describe(errors)), errors_(std::move(errors)) {}

  const std::vector<std::exception_ptr>& exceptions() const noexcept { return errors_; }
  std::size_t size() const noexcept { return errors_.size(); }
  // The first failure (the one that aborted the group).
  std::exception_ptr first() const noexcept { return errors_.empty() ? nullptr : errors_.front(); }

 private:
  static std::string describe(const std::vector<std::exception_ptr>& errors) {
    std::string s = "handoff: unhandled errors in a TaskGroup (" + std::to_string(errors.size()) +
                    (errors.size() == 1 ? " sub-exception)" : " sub-exceptions)");
    std::size_t i = 0;
    for (const auto& e : errors) {
      s += i == 0 ? ": " : "; ";
      s += "[" + std::to_string(++i) + "] ";
      try {
        std::rethrow_exception(e);
      } catch (const std::exception& ex) {
        s += ex.what();
      } catch (...) {
        s += "(a non-std::exception)";
      }
    }
    return s;
  }
  std::vector<std::exception_ptr> errors_;
};

class TaskGroup;

namespace detail {

class TaskGroupState : public std::enable_shared_from_this<TaskGroupState> {
 public:
  explicit TaskGroupState(EventLoop& loop) : loop_(&loop) {}
  TaskGroupState(const TaskGroupState&) = delete;
  TaskGroupState& operator=(const TaskGroupState&) = delete;

  template <class T>
  Future<T> create_task(Task<T> coro) {
    if (t_running_loop != loop_) {  // first: the group's state is the loop thread's
      // The TaskGroup handle was passed to a task of another loop (or to another thread): the
      // task would be created and tracked from the wrong thread, racing the group's loop.
      throw InvalidStateError("TaskGroup::create_task(): called outside the group's event loop (from "
                              "another loop's task or another thread); create tasks from the "
                              "group's own loop, or hand work across with call_soon_threadsafe");
    }
    if (finished_) {
      throw InvalidStateError("TaskGroup::create_task(): the group has finished (its task_group() "
                              "scope returned); create tasks inside the scope");
    }
    if (aborting_) {
      throw InvalidStateError("TaskGroup::create_task(): the group is shutting down (a task failed or "
                              "the scope was cancelled)");
    }
    Future<T> f = loop_->create_task(std::move(coro));
    track(f.state(), false);
    return f;
  }

  void track(std::shared_ptr<FutureBase> f, bool is_body) {
    auto it = children_.insert(children_.end(), f);
    f->add_done_callback([self = shared_from_this(), it, is_body] { self->child_done(it, is_body); });
  }

  // The awaiting task was cancelled (or had a cancellation pending when it started waiting).
  void parent_cancelled() noexcept { abort("TaskGroup: the awaiting task was cancelled"); }

  void park(std::shared_ptr<TaskBase> t, std::uint64_t n) noexcept {
    parked_ = std::move(t);
    parked_n_ = n;
  }

  bool all_finished() const noexcept { return children_.empty(); }
  std::size_t running() const noexcept { return children_.size(); }
  bool aborting() const noexcept { return aborting_; }
  bool finished() const noexcept { return finished_; }
  void set_finished() noexcept { finished_ = true; }
  std::vector<std::exception_ptr>& errors() noexcept { return errors_; }

 private:
  using List = std::list<std::shared_ptr<FutureBase>>;

  void child_done(List::iterator it, bool is_body) {
    std::shared_ptr<FutureBase> f = std::move(*it);
    children_.erase(it);
    if (f->cancelled()) {
      if (is_body && !aborting_) abort("TaskGroup: the body was cancelled");
    } else if (std::exception_ptr e = f->exception()) {  // marks it retrieved: it is ours now
      errors_.push_back(std::move(e));
      abort("TaskGroup: another task in the group failed");
    }
    if (children_.empty() && parked_) {
      std::shared_ptr<TaskBase> t = std::move(parked_);
      t->resume_now(parked_n_);  // a done callback: top level
    }
  }

  void abort(const std::string& why) noexcept {
    if (aborting_) return;
    aborting_ = true;
    const List snapshot = children_;  // cancel() never runs task code, but be safe anyway
    for (const auto& c : snapshot) {
      try {
        c->cancel(why);
      } catch (...) {
        // cancel only schedules callbacks; a closing loop refuses them and abandons the task
      }
    }
  }

  EventLoop* loop_;
  List children_;  // the body and every task not finished yet (their done callbacks not run)
  std::vector<std::exception_ptr> errors_;
  std::shared_ptr<TaskBase> parked_;
  std::uint64_t parked_n_ = 0;
  bool aborting_ = false;
  bool finished_ = false;
};

// task_group's wait: until every task of the group has finished. A cancellation of the
// awaiting task aborts the group but does not end the wait (the tasks may refer to the
// frame); task_group throws it afterwards. The only wake is the last child's done callback.
class GroupWait final : public Waiter {
 public:
  explicit GroupWait(TaskGroupState& g) : g_(g) {}
  bool await_ready() const noexcept { return g_.all_finished(); }
  bool await_suspend(std::coroutine_handle<> h) {
    TaskBase& t = current_task("task_group()");
    if (t.cancel_requested()) g_.parent_cancelled();
    if (g_.all_finished()) return false;
    g_.park(t.shared(), t.suspend(this, h));
    return true;
  }
  void on_cancel() noexcept override { g_.parent_cancelled(); }
  void await_resume() const noexcept {}

 private:
  TaskGroupState& g_;
};

template <class T>
struct TaskValue;
template <class T>
struct TaskValue<Task<T>> {
  using type = T;
};

}  // namespace detail

// The handle a task_group body gets. Copyable; loop thread only.
class TaskGroup {
 public:
  // Schedule coro as a task of the group (asyncio TaskGroup.create_task). Returns its future:
  // await it (from within the group) or read it afterwards. InvalidStateError if the group
  // is shutting down or has finished.
  template <class T>
  Future<T> create_task(Task<T> coro) {
    return s_->create_task(std::move(coro));
  }

  // Tasks of the group (the body included) that have not finished yet.
  std::size_t running() const noexcept { return s_->running(); }
  // A task failed or the scope was cancelled: the rest are being cancelled.
  bool aborting() const noexcept { return s_->aborting(); }
  bool finished() const noexcept { return s_->finished(); }

 private:
  template <class Body>
  friend auto task_group(Body body) -> Task<typename detail::TaskValue<std::invoke_result_t<Body&, TaskGroup&>>::type>;
  explicit TaskGroup(std::shared_ptr<detail::TaskGroupState> s) : s_(std::move(s)) {}
  std::shared_ptr<detail::TaskGroupState> s_;
};

// Run body(tg) as a task and wait until it and every task it created in tg have finished.
// See the header comment.
template <class Body>
auto task_group(Body body) -> Task<typename detail::TaskValue<std::invoke_result_t<Body&, TaskGroup&>>::type> {
  using R = typename detail::TaskValue<std::invoke_result_t<Body&, TaskGroup&>>::type;
  EventLoop& loop = get_running_loop();
  TaskGroup tg(std::make_shared<detail::TaskGroupState>(loop));
  detail::TaskGroupState& g = *tg.s_;
  Future<R> body_future = loop.create_task(std::invoke(body, tg));
  g.track(body_future.state(), true);
  co_await detail::GroupWait(g);
  g.set_finished();
  if (!g.errors().empty()) throw ExceptionGroup(std::move(g.errors()));
  detail::current_task("task_group()").throw_if_cancelled();
  co_return std::move(body_future).result();
}

}  // namespace handoff
