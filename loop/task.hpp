// handoff/loop/task.hpp — coroutines on the loop: Task<T>, create_task, cancellation, sleep.
//
// Task<T> is the return type of a coroutine. It is LAZY: `co_await f()` starts f inline and
// resumes the caller when f finishes (no trip through the loop), as `await f()` does in
// Python. loop.create_task(f()) instead schedules f as an asyncio Task: the loop owns it, it
// runs even if nobody awaits it, and its Future<T> can be awaited, cancelled, or read.
//
// CANCELLATION (asyncio's model). future.cancel() on a task requests cancellation:
//  * not started yet: it never starts; it completes cancelled;
//  * suspended at an await point: the thing it waits on is cancelled (a timer is removed, an
//    awaited future or task is cancelled in turn) and the task resumes with CancelledError
//    thrown from that await;
//  * running, or already woken: the CancelledError is thrown at its next await point.
// A coroutine may catch CancelledError to clean up; if it lets it escape, the task ends
// cancelled. Awaiting a cancelled task or future throws CancelledError.
//
// NO STACK GROWTH. Transfers between coroutines (start a child, resume the parent when the
// child finishes) go through a trampoline in the task's driver loop instead of relying on
// the compiler turning symmetric transfer into a tail call, which GCC does not do at -O0 or
// under sanitizers. So a chain of 10^6 synchronous `co_await`s runs in constant stack in
// every build (tests/task_test.cpp checks it).
//
// Exceptions: an exception that ends a task is stored in its future; if nobody retrieves it
// (result(), exception(), co_await) before the task object goes away or the loop closes, it
// goes to the loop's exception handler ("Task exception was never retrieved").
#pragma once

#include <coroutine>
#include <cstdint>
#include <exception>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "errors.hpp"
#include "event_loop.hpp"
#include "future.hpp"

namespace handoff {

namespace detail {
// The trampoline's one slot: the coroutine the driver resumes next (see drive()).
inline thread_local std::coroutine_handle<> t_next_resume;

// Resume h and every coroutine it hands control to, one after another, at constant depth.
inline void drive(std::coroutine_handle<> h) {
  std::coroutine_handle<> saved = std::exchange(t_next_resume, {});
  while (h) {
    h.resume();
    h = std::exchange(t_next_resume, {});
  }
  t_next_resume = saved;
}
}  // namespace detail

// A suspension point that a task can be cancelled at (sleep, a future, a queue, …).
class Waiter {
 public:
  // The task was cancelled while suspended here: undo the registration so nothing will
  // complete this wait, and make sure the task gets woken (it then throws CancelledError).
  // A waiter that forwards the cancel to what it awaits (a future, a task) calls
  // task.cancel_forwarded(), and the task then gets that thing's outcome instead.
  virtual void on_cancel() noexcept = 0;
  // close() is about to destroy the task's frame while it waits here. A waiter whose
  // producer may still use the frame (a job running on another thread, tla/JobHandoff.tla's
  // frame rule) stops it or waits for it here; most waiters have nothing to do.
  virtual void on_abandon() noexcept {}

 protected:
  ~Waiter() = default;
};

// The driver of one scheduled task; TaskState<T> adds the result. Loop thread only.
class TaskBase {
 public:
  TaskBase(const TaskBase&) = delete;
  TaskBase& operator=(const TaskBase&) = delete;

  // ---- for awaitables ----
  // Record that the task suspends at `h`, waiting on `w`. Returns this suspension's number:
  // a wake carrying another number is stale and ignored.
  std::uint64_t suspend(Waiter* w, std::coroutine_handle<> h) noexcept {
    waiter_ = w;
    resume_point_ = h;
    return ++suspension_;
  }
  // For an await_suspend that throws after suspend() (registering its wake-up failed: the
  // co_await gets the exception and the task runs on): as if it had not suspended, so no
  // later cancel() reaches the destroyed awaiter and nothing can resume the running task.
  // Number `n` is never reused.
  void undo_suspend(std::uint64_t n) noexcept {
    if (n != suspension_) return;
    waiter_ = nullptr;
    resume_point_ = {};
  }
  // True if a cancellation is waiting to be delivered (then don't suspend: throw instead).
  bool cancel_requested() const noexcept { return cancel_requested_; }
  // In await_resume: throw the pending cancellation, if any, at this await point.
  void throw_if_cancelled() {
    if (!cancel_requested_) return;
    cancel_requested_ = false;
    throw pending_cancel_msg_.empty() ? CancelledError() : CancelledError(pending_cancel_msg_);
  }
  // Wake the task suspended as `suspension`: run its next step now. Only from a callback the
  // loop runs at top level (a timer, a done callback, a thread-safe post), never from inside
  // another task's step.
  void resume_now(std::uint64_t suspension) {
#if defined(HANDOFF_MUTANT_RESUME_NO_GUARD)
    if (!resume_point_) return;  // MUTANT: a stale resumption wakes whatever the task awaits now
#else
    if (suspension != suspension_ || !resume_point_) return;  // the exactly-once guard
#endif
    waiter_ = nullptr;
    step();
  }
  // Wake it from anywhere on the loop thread (e.g. inside another task): resume_now(n) is
  // scheduled with call_soon, so a wake that has gone stale by then (the task was already
  // resumed by another path and is now suspended elsewhere) is ignored.
  void resume_soon(std::uint64_t suspension) {
    if (suspension != suspension_ || !resume_point_) return;
    EventLoop* loop = cell_->loop();
    if (loop == nullptr) return;
    waiter_ = nullptr;
    loop->call_soon([self = keep_alive(), suspension] { self->resume_now(suspension); });
  }
  // Called by a Waiter's on_cancel() when it forwarded the cancellation to the thing it
  // awaits (a future or task, whose outcome the task then receives, as in asyncio): the
  // CancelledError is not also thrown at this await point.
  void cancel_forwarded() noexcept { cancel_requested_ = false; }
  std::shared_ptr<TaskBase> shared() { return keep_alive(); }
  EventLoop* loop() const noexcept { return cell_->loop(); }

  // ---- for run() and all_tasks_of() users ----
  bool is_done() const noexcept { return task_done(); }
  bool cancel_task(std::string msg = {}) { return request_cancel(std::move(msg)); }
  virtual void add_task_done_callback(Callback fn) = 0;

 protected:
  explicit TaskBase(EventLoop& loop) : cell_(loop.cell()) {}
  virtual ~TaskBase() { unlink(); }

  virtual std::shared_ptr<TaskBase> keep_alive() = 0;
 public:
  // The task's own future (a TaskState is both): awaiting it would wait forever.
  virtual const FutureBase* own_future() const noexcept = 0;

 protected:
  virtual bool task_done() const noexcept = 0;
  virtual void complete_cancelled() = 0;                        // before it started
  virtual void complete_abandoned() = 0;                        // at loop close
  virtual void report_unretrieved(EventLoop& loop) noexcept = 0;  // at loop close
  virtual void destroy_frame() noexcept = 0;

  // The core of Future::cancel for a task.
  bool request_cancel(std::string msg) {
    if (task_done()) return false;
    cancel_requested_ = true;
    pending_cancel_msg_ = std::move(msg);
    if (waiter_ != nullptr) {
      // Every cancel() while suspended reaches the waiter (asyncio forwards each one); the
      // waiter is cleared only when the task is woken, and on_cancel is safe to repeat.
      waiter_->on_cancel();
    } else if (!started_ && !step_scheduled_) {
      schedule_step();
    }
    return true;
  }

  void schedule_step() {
    EventLoop* loop = cell_->loop();
    if (loop == nullptr) return;
    step_scheduled_ = true;
    loop->call_soon([self = keep_alive()] { self->step(); });
  }

  void step() {
    step_scheduled_ = false;
    auto keep = keep_alive();
    if (task_done()) return;
    if (!started_ && cancel_requested_) {
      complete_cancelled();
      return;
    }
    started_ = true;
    std::coroutine_handle<> h = std::exchange(resume_point_, {});
    if (!h) return;
    EventLoop* loop = cell_->loop();
    TaskBase* outer = std::exchange(loop->current_task_, this);
    detail::drive(h);
    loop->current_task_ = outer;
  }

  // The loop's list of live tasks (for close() and run()).
  void link(EventLoop& loop) {
    next_ = loop.tasks_head_;
    if (next_) next_->prev_ = this;
    loop.tasks_head_ = this;
    if (!loop.abandon_tasks_fn_) loop.abandon_tasks_fn_ = [&loop] { return abandon_all(loop); };
  }
  void unlink() noexcept {
    EventLoop* loop = cell_->loop();
    if (loop == nullptr || !linked()) return;
    if (prev_) prev_->next_ = next_;
    else loop->tasks_head_ = next_;
    if (next_) next_->prev_ = prev_;
    prev_ = next_ = nullptr;
  }
  bool linked() const noexcept {
    EventLoop* loop = cell_->loop();
    return prev_ != nullptr || (loop != nullptr && loop->tasks_head_ == this);
  }

  static std::vector<std::shared_ptr<TaskBase>> all_tasks(EventLoop& loop) {
    std::vector<std::shared_ptr<TaskBase>> out;
    for (TaskBase* t = loop.tasks_head_; t != nullptr; t = t->next_) out.push_back(t->keep_alive());
    return out;
  }

  // close(): every pending task completes with LoopClosedError, its frame destroyed; done
  // tasks with an exception nobody retrieved are reported. Then all detach from the loop's
  // list; the returned references keep them alive until close() has detached the cell.
  static std::vector<std::shared_ptr<TaskBase>> abandon_all(EventLoop& loop) {
    auto tasks = all_tasks(loop);
    for (auto& t : tasks) {
      if (!t->task_done()) {
        if (t->waiter_ != nullptr) t->waiter_->on_abandon();  // before the frame goes
        t->waiter_ = nullptr;
        t->resume_point_ = {};
        t->destroy_frame();
        t->complete_abandoned();
      }
    }
    for (auto& t : tasks) {
      t->report_unretrieved(loop);
      t->unlink();
      t->self_.reset();
    }
    return tasks;
  }

  friend class EventLoop;
  template <class T>
  friend Future<T> spawn_task(EventLoop&, Task<T>);
  friend std::vector<std::shared_ptr<TaskBase>> all_tasks_of(EventLoop&);

  std::shared_ptr<LoopCell> cell_;
  std::coroutine_handle<> resume_point_;
  Waiter* waiter_ = nullptr;
  std::uint64_t suspension_ = 0;
  bool cancel_requested_ = false;
  bool step_scheduled_ = false;
  bool started_ = false;
  std::string pending_cancel_msg_;  // the message of the last cancel() request
  TaskBase* prev_ = nullptr;
  TaskBase* next_ = nullptr;
  std::shared_ptr<TaskBase> self_;  // the loop's ownership while the task is pending
};

namespace detail {

// The callback that resumes `task` from suspension `n`, posted to its loop by another thread.
// 24 bytes: a Callback stores it inline, so making one never allocates — the reserved posts
// (ReservedPost) of the channel and of ThreadFuture awaits rely on that.
struct ResumeTask {
  std::shared_ptr<TaskBase> task;
  std::uint64_t suspension;
  void operator()() { task->resume_now(suspension); }
};
static_assert(Callback::stores_inline<ResumeTask>, "a resumption must not allocate (ReservedPost)");

// asyncio's checks (Task.__step): a task cannot await its own future — it would wait
// forever —, nor a pending future of another loop, whose done callbacks run on that loop (or
// nowhere, if it is closed). Both used to hang silently. `what` names the user's call.
// Called before anything is registered, so the throw undoes nothing: the task gets the
// error at its co_await, as asyncio throws it into the task. check_same_loop alone serves the
// combinators that hook a future to a loop without awaiting it themselves (gather, shield:
// asyncio's "futures are tied to different event loops").
// `loop`: the loop whose thread will run f's done callbacks for the caller.
inline void check_same_loop(const FutureBase& f, const EventLoop* loop, const char* what) {
  if (f.loop() != loop) {
    throw InvalidStateError(std::string(what) +
                            ": the future belongs to another event loop (or to a closed one); "
                            "await it from a task of its own loop, or hand results across loops "
                            "with run_coroutine_threadsafe / call_soon_threadsafe");
  }
}
inline void check_awaitable(const FutureBase& f, const TaskBase& task, const char* what) {
  if (task.own_future() == &f) {
    throw InvalidStateError(std::string(what) +
                            ": a task awaits its own future; it would wait forever (asyncio: "
                            "\"Task cannot await on itself\")");
  }
  check_same_loop(f, task.loop(), what);
}

// The awaiting side's view of the running task: every suspending awaitable needs it.
inline TaskBase& current_task(const char* what) {
  EventLoop* loop = t_running_loop;
  if (loop == nullptr || loop->current_task() == nullptr) {
    throw InvalidStateError(std::string(what) +
                            " awaited outside a task (start coroutines with create_task, "
                            "run_until_complete or run)");
  }
  return *loop->current_task();
}

template <class T>
struct PromiseResult {
  std::optional<Stored<T>> value;
  std::exception_ptr error;
  template <class U>
  void return_value(U&& v) {
    value.emplace(std::forward<U>(v));
  }
  T take() {
    if (error) std::rethrow_exception(error);
    return std::move(*value);
  }
};
template <>
struct PromiseResult<void> {
  std::exception_ptr error;
  void return_void() noexcept {}
  void take() {
    if (error) std::rethrow_exception(error);
  }
};

// What every Task promise has, whatever its T: the links of an inline await chain, so a
// suspended chain can be destroyed innermost frame first, without recursion.
struct PromiseBase {
  std::coroutine_handle<> self;                 // this frame
  PromiseBase* parent = nullptr;                // the frame awaiting us inline, if any
  PromiseBase* child = nullptr;                 // the frame we await inline, while we do
  std::coroutine_handle<>* child_owner = nullptr;  // the Task object in our frame that owns it
};

// Destroy a (suspended or finished) frame and every frame it awaits inline, innermost
// first: each inner frame's locals are destroyed while the outer frames they may refer to
// are still alive, and the depth of the chain costs no stack (a 10^5-deep chain abandoned
// by close() would otherwise recurse once per frame).
// Walks the links both ways (child down, parent up): no allocation, so a bad_alloc cannot
// escape this noexcept function (it collected the chain in a std::vector and terminated the
// process when that allocation failed; found by tests/fault_injection_test.cpp).
inline void destroy_chain(PromiseBase* root) noexcept {
  PromiseBase* inner = root;
  while (inner->child != nullptr) inner = inner->child;
  while (inner != root) {
    PromiseBase* outer = inner->parent;  // set with outer->child when the inline await began
    *outer->child_owner = {};  // the outer frame's Task no longer owns it
    outer->child = nullptr;
    outer->child_owner = nullptr;
    inner->self.destroy();
    inner = outer;
  }
  root->self.destroy();
}

}  // namespace detail

template <class T>
class TaskState;

// The coroutine type. Lazy; move-only; owns its frame.
template <class T = void>
class [[nodiscard]] Task {
 public:
  struct promise_type : detail::PromiseResult<T>, detail::PromiseBase {
    std::coroutine_handle<> continuation;  // the coroutine awaiting us inline
    TaskState<T>* root_of = nullptr;       // set when this frame is a scheduled task's root

    Task get_return_object() noexcept {
      auto h = std::coroutine_handle<promise_type>::from_promise(*this);
      self = h;
      return Task(h);
    }
    std::suspend_always initial_suspend() noexcept { return {}; }
    struct FinalAwaiter {
      bool await_ready() noexcept { return false; }
      void await_suspend(std::coroutine_handle<promise_type> h) noexcept {
        promise_type& p = h.promise();
        if (p.root_of != nullptr) {
          p.root_of->root_finished();  // may destroy this frame: touch nothing after
          return;
        }
        if (p.parent != nullptr) {  // no longer part of an inline chain
          p.parent->child = nullptr;
          p.parent->child_owner = nullptr;
          p.parent = nullptr;
        }
        detail::t_next_resume = p.continuation;  // the trampoline resumes the awaiting parent
      }
      void await_resume() noexcept {}
    };
    FinalAwaiter final_suspend() noexcept { return {}; }
    void unhandled_exception() noexcept { this->error = std::current_exception(); }
  };
  using handle = std::coroutine_handle<promise_type>;

  Task() = default;
  Task(Task&& o) noexcept : frame_(std::exchange(o.frame_, {})) {}
  Task& operator=(Task&& o) noexcept {
    if (this != &o) {
      reset();
      frame_ = std::exchange(o.frame_, {});
    }
    return *this;
  }
  ~Task() { reset(); }

  // `co_await task`: start it inline, resume here when it finishes.
  struct Awaiter {
    Task* task;
    bool await_ready() const noexcept { return !task->frame_ || task->typed().done(); }
    template <class P>
    void await_suspend(std::coroutine_handle<P> parent) noexcept {
      handle h = task->typed();
      h.promise().continuation = parent;
      if constexpr (std::is_base_of_v<detail::PromiseBase, P>) {
        detail::PromiseBase& outer = parent.promise();
        outer.child = &h.promise();
        outer.child_owner = &task->frame_;
        h.promise().parent = &outer;
      }
      detail::t_next_resume = h;  // the trampoline starts the child
    }
    T await_resume() {
      if (!task->frame_) throw InvalidStateError("co_await on an empty Task (moved from?)");
      return task->typed().promise().take();
    }
  };
  Awaiter operator co_await() && noexcept { return Awaiter{this}; }

  handle release() noexcept { return handle::from_address(std::exchange(frame_, {}).address()); }
  explicit operator bool() const noexcept { return static_cast<bool>(frame_); }

 private:
  explicit Task(handle h) : frame_(h) {}
  handle typed() const noexcept { return handle::from_address(frame_.address()); }
  void reset() noexcept {
    if (frame_) detail::destroy_chain(&typed().promise());
    frame_ = {};
  }
  std::coroutine_handle<> frame_;  // type-erased, so an outer frame can clear it (destroy_chain)
};

// A scheduled task: its future plus its driver.
template <class T>
class TaskState final : public FutureState<T>, public TaskBase {
 public:
  TaskState(EventLoop& loop, typename Task<T>::handle h)
      : FutureState<T>(loop), TaskBase(loop), frame_(h) {
    frame_.promise().root_of = this;
    resume_point_ = frame_;
  }
  ~TaskState() override {
    if (EventLoop* loop = TaskBase::loop()) report_unretrieved(*loop);
    destroy_frame();
  }

  bool cancel(std::string msg = {}) override { return request_cancel(std::move(msg)); }
  void add_task_done_callback(Callback fn) override { this->add_done_callback(std::move(fn)); }

  // Called from the root frame's final suspend.
  void root_finished() noexcept {
    auto keep = keep_alive();
    auto& p = frame_.promise();
    if (p.error) {
      bool was_cancel = false;
      try {
        std::rethrow_exception(p.error);
      } catch (const CancelledError&) {
        was_cancel = true;
        this->FutureBase::cancel_message_ = pending_cancel_msg_;
      } catch (...) {
      }
      if (was_cancel) {
        this->state_ = FutureBase::State::Cancelled;
      } else {
        this->exception_ = p.error;
        this->state_ = FutureBase::State::Done;
      }
    } else {
      if constexpr (std::is_void_v<T>) {
        this->value_.emplace();
      } else {
#if defined(HANDOFF_MUTANT_TASK_RESULT_NO_CATCH)
        this->value_.emplace(std::move(*p.value));  // MUTANT: a throwing move terminates (noexcept)
#else
        try {
          this->value_.emplace(std::move(*p.value));
        } catch (...) {
          // T's move threw (we are noexcept: it used to terminate): the task fails with it.
          this->exception_ = std::current_exception();
        }
#endif
      }
      this->state_ = FutureBase::State::Done;
    }
    destroy_frame();
    resume_point_ = {};
    waiter_ = nullptr;
    this->schedule_callbacks_noexcept();  // out of memory: the loop queues them later
    self_.reset();  // the loop no longer owns it; `keep` holds it until we return
  }

 private:
  std::shared_ptr<TaskBase> keep_alive() override {
    return std::shared_ptr<TaskBase>(this->shared_from_this(), static_cast<TaskBase*>(this));
  }
  const FutureBase* own_future() const noexcept override { return this; }
  bool task_done() const noexcept override { return this->done(); }
  void complete_cancelled() override {
    destroy_frame();
    resume_point_ = {};
    FutureBase::cancel(pending_cancel_msg_);
    self_.reset();
  }
  void complete_abandoned() override {
    this->exception_ = std::make_exception_ptr(
        LoopClosedError("the task was still pending when its loop was closed"));
    this->state_ = FutureBase::State::Done;
    this->retrieved_ = true;  // not the task's own failure: nothing to report
    this->schedule_callbacks_noexcept();  // the loop is closing: callbacks are dropped (drop hooks run)
  }
  void report_unretrieved(EventLoop& loop) noexcept override {
    if (this->state_ == FutureBase::State::Done && this->exception_ && !this->retrieved_) {
      this->retrieved_ = true;
      loop.call_exception_handler({"Task exception was never retrieved", this->exception_});
    }
  }
  void destroy_frame() noexcept override {
    if (frame_) detail::destroy_chain(&std::exchange(frame_, {}).promise());
  }

  typename Task<T>::handle frame_;
};

template <class T>
Future<T> spawn_task(EventLoop& loop, Task<T> coro) {
  loop.check_thread("EventLoop::create_task");
  if (loop.is_closed()) throw LoopClosedError("create_task() after close()");
  if (!coro) throw InvalidStateError("create_task() of an empty Task (moved from?)");
  // Strong: a bad_alloc (the state, the first step's call_soon) leaves no task behind — the
  // frame was leaked when the state's allocation failed, and a task linked but never
  // scheduled sat in the loop until close() (found by tests/fault_injection_test.cpp).
  auto h = coro.release();
  std::shared_ptr<TaskState<T>> state;
  try {
    state = std::make_shared<TaskState<T>>(loop, h);
  } catch (...) {
    h.destroy();  // never started: no inline chain below it
    throw;
  }
  state->self_ = state->shared();
  try {
    state->link(loop);
    state->schedule_step();
  } catch (...) {
#if !defined(HANDOFF_MUTANT_CREATE_TASK_NO_ROLLBACK)  // MUTANT: a task linked but never scheduled stays
    state->unlink();
    state->self_.reset();  // `state` is the last owner: the frame is destroyed with it
#endif
    throw;
  }
  return Future<T>(std::static_pointer_cast<FutureState<T>>(state));
}

template <class T>
Future<T> EventLoop::create_task(Task<T> coro) {
  return spawn_task(*this, std::move(coro));
}

// Every live task of the loop (asyncio.all_tasks), pending or done but still referenced.
inline std::vector<std::shared_ptr<TaskBase>> all_tasks_of(EventLoop& loop) {
  return TaskBase::all_tasks(loop);
}

template <class T>
T EventLoop::run_until_complete(Future<T> fut) {
  check_thread("EventLoop::run_until_complete");
  if (!fut) throw InvalidStateError("run_until_complete() of an empty Future");
  check_can_run("run_until_complete()");
  if (fut.state()->loop() != this) {
    // Its done callbacks would go to that loop: this one would run forever (asyncio: ValueError).
    throw InvalidStateError(
        "run_until_complete(): the future belongs to another event loop (or to a closed one); "
        "run it on its own loop");
  }
  // The done callback stops this run only: if the loop stops early (stop() from elsewhere),
  // the callback is disarmed, so the future completing during a later run stops nothing.
  auto armed = std::make_shared<bool>(true);
  fut.add_done_callback([this, armed] {
    if (*armed) stop();
  });
  struct Disarm {
    std::shared_ptr<bool> armed;
    ~Disarm() { *armed = false; }
  } disarm{armed};
  run_forever();
  if (!fut.done()) {
    throw InvalidStateError("the event loop stopped before the future completed");
  }
  return std::move(fut).result();  // moved if the caller kept no handle (run_until_complete(create_task(...)))
}

template <class T>
T EventLoop::run_until_complete(Task<T> coro) {
  // Before the coroutine becomes a task: a refused run must not leave a task behind that
  // runs later anyway (asyncio checks first too). The refused coroutine is destroyed unrun.
  check_thread("EventLoop::run_until_complete");
  check_can_run("run_until_complete()");
  return run_until_complete(create_task(std::move(coro)));
}

// ---- awaiting a future ----------------------------------------------------------------------

template <class T>
class FutureAwaiter final : public Waiter {
 public:
  explicit FutureAwaiter(std::shared_ptr<FutureState<T>> f) : f_(std::move(f)) {}
  bool await_ready() const noexcept { return f_->done(); }
  bool await_suspend(std::coroutine_handle<> h) {
    TaskBase& task = detail::current_task("a future");
    detail::check_awaitable(*f_, task, "co_await future");
    task_ = &task;
    const std::uint64_t n = task_->suspend(this, h);
    try {
      f_->add_done_callback([t = task_->shared(), n] { t->resume_now(n); });  // may throw bad_alloc
    } catch (...) {
      // Not registered: the co_await throws and the task runs on, not suspended on this
      // awaiter (a later cancel() must not reach it once it is destroyed).
#if !defined(HANDOFF_MUTANT_FUTURE_AWAIT_NO_UNDO_SUSPEND)  // MUTANT: the task stays "suspended" on a dead awaiter
      task_->undo_suspend(n);
#endif
      task_ = nullptr;
      throw;
    }
    // A cancel that arrived before this await is forwarded to the future now (asyncio's
    // Task.__step cancels the future it is about to wait on), so an awaited task or gather
    // is never left running unowned; we wake when it is done.
    if (task_->cancel_requested()) on_cancel();
    return true;
  }
  // asyncio: cancelling a task cancels the future (or task) it awaits; its completion then
  // wakes us, and await_resume throws.
  void on_cancel() noexcept override {
    try {
      if (f_->cancel()) task_->cancel_forwarded();  // we get f's outcome (CancelledError, or a value it chose)
    } catch (...) {
    }
  }
  T await_resume() {
    if (task_) task_->throw_if_cancelled();
    // The awaiter may hold the last handle (`co_await loop.create_task(...)`): then the value
    // is moved to the awaiting coroutine; a future others still hold is copied (take_result).
    return f_->take_result(f_.use_count() == 1, "co_await future");
  }

 private:
  std::shared_ptr<FutureState<T>> f_;
  TaskBase* task_ = nullptr;
};

template <class T>
FutureAwaiter<T> operator co_await(const Future<T>& f) {
  if (!f) throw InvalidStateError("co_await of an empty Future (default-constructed or moved from)");
  return FutureAwaiter<T>(f.state());
}
// An rvalue future hands its handle to the awaiter, so `co_await loop.create_task(f())` moves
// the value out instead of copying it.
template <class T>
FutureAwaiter<T> operator co_await(Future<T>&& f) {
  if (!f) throw InvalidStateError("co_await of an empty Future (default-constructed or moved from)");
  return FutureAwaiter<T>(std::move(f).release_state());
}

// ---- sleep ----------------------------------------------------------------------------------

class SleepAwaiter final : public Waiter {
 public:
  explicit SleepAwaiter(std::chrono::nanoseconds d) : d_(d) {}
  bool await_ready() const noexcept { return false; }  // sleep(0) still yields once, as asyncio
  bool await_suspend(std::coroutine_handle<> h) {
    task_ = &detail::current_task("sleep()");
    if (task_->cancel_requested()) return false;
    n_ = task_->suspend(this, h);
    try {
      timer_ = task_->loop()->call_later(d_, [t = task_->shared(), n = n_] { t->resume_now(n); });
    } catch (...) {
      task_->undo_suspend(n_);  // no timer: the co_await throws, the task is not left suspended here
      throw;
    }
    return true;
  }
  void on_cancel() noexcept override {
    try {
      timer_.cancel();
      task_->resume_soon(n_);
    } catch (...) {
    }
  }
  void await_resume() {
    if (task_) task_->throw_if_cancelled();
  }

 private:
  std::chrono::nanoseconds d_;
  std::uint64_t n_ = 0;
  TaskBase* task_ = nullptr;
  TimerHandle timer_;
};

}  // namespace handoff

namespace handoff {
// `co_await sleep(d)`: suspend the task for at least d (asyncio.sleep).
inline SleepAwaiter sleep(detail::SaturatingNanos d) { return SleepAwaiter(d.get()); }  // any duration, saturated
}  // namespace handoff
