// handoff/loop/channel.hpp — a channel between threads and coroutines: one object with a
// thread side (blocking calls) and a loop side (awaitables that suspend the task, never the
// loop or a pool thread). The proper answer to asyncio's `await run_in_executor(None, q.get)`,
// which parks a pool thread per waiting get.
//
//   Channel<int> ch(16);                 // bounded (backpressure both ways); Channel<int> ch; unbounded
//   threads:     ch.push(v)  ch.try_push(v)  ch.push_for(v, d)   ch.pop()  ch.try_pop()  ch.pop_for(d)
//   coroutines:  co_await ch.async_push(v)  co_await ch.async_pop()   (and both with a timeout)
//   any thread:  ch.close()  ch.is_closed()  ch.size()  ch.stats()
//
// RESULTS. pop()/async_pop() give std::optional<T>: a value, or std::nullopt once the channel
// is closed and drained (end-of-stream: never a hang). A push to a closed channel throws
// ChannelClosedError (counted `refused`). The timeout forms throw TimeoutError. try_push and
// try_pop never block: false / nullopt when full / empty (is_closed() tells end-of-stream).
// A value a push did not accept stays with the caller (try_push/push_for move only on success).
//
// DESIGN. One short critical section per operation (sync::mutex) guards the buffer and two
// intrusive FIFO lists of waiters; pop waiters exist only while the buffer is empty, push
// waiters only while it is full. A waiter is a node in the waiting thread's stack frame or in
// the awaiting coroutine's frame: no allocation per wait.
//
// THE HAND-OFF CLAIM. Each waiter has a state word:
//
//     WAITING --claim (CAS, a pusher/popper/close(), under the lock)--> CLAIMED --value moved--> DONE
//        |  ^                                                  |--close()------------------> CLOSED
//        |  |                                                  |--move threw (push waiter)--> FAILED
//        |  +------- undo (the move into a pop waiter threw) ---+
//        +--cancel (CAS, the waiter itself: timeout, task.cancel(), frame destroyed)--> CANCELLED
//
// The value moves only after the claim CAS succeeded, and the waiter gives up only after its
// cancel CAS succeeded: the two CASes on one word decide, so a value is never handed to a
// cancelled waiter, never lost, never duplicated. The canceller's CAS needs no lock (a timer
// or a task's cancel runs on the loop thread while a pusher holds the lock on another); it
// then unlinks its node under the lock. Values pass through the buffer and the waiter lists in
// lock order, so each producer's values are popped in the order it pushed them.
//
// WAKING. A thread waiter sleeps on its state word (futex). The claimer moves the value,
// wakes the waiter (which, seeing CLAIMED, spins briefly) and then stores the final state
// (DONE / CLOSED / FAILED; release: pairs with the waiter's acquire load) as its LAST touch of
// the node; the waiter returns on seeing a final state and never touches the channel again.
// So no wake touches a dead frame, and a consumer that pops the last value may destroy the
// channel at once, while the pusher whose value it was is still returning from push() (the
// lifetime rule below). A coroutine waiter is resumed through its loop's inbox (a post of
// resume_now(n), as every cross-thread resumption in handoff: stale n is ignored), posted
// after the lock is released, through the inbox node the waiter reserved when it parked
// (ReservedPost, loop/event_loop.hpp): the claimer's post never allocates, so it cannot fail
// after the claim (issue 10: a std::bad_alloc there escaped to the pusher, whose value had
// been accepted, and the task was never resumed; mutant HANDOFF_MUTANT_CHANNEL_NO_RESERVE, caught
// by tests/fault_injection_test.cpp's sweep "Channel push from a thread -> async_pop tasks").
// The reservation is given back unused when the waiter gives up (timeout, cancel, frame
// destroyed) with its awaiter. If that loop was closed meanwhile, the post is refused and the
// value waits in the awaiter; the awaiter's destructor (the task's frame destroyed by close())
// returns it to the front of the channel: not lost. (If that move throws too — in a
// destructor, with nobody to tell — the value is counted `dropped` and reported on stderr
// through EventLoop::default_exception_handler.)
//
// A THROW BETWEEN THE CLAIM AND THE MOVE (T's copy/move constructor, or bad_alloc from the
// buffer) never leaves a waiter CLAIMED, which nobody would ever finish:
//   * handing a pusher's value to a pop waiter (a push, or give-back): the claim is undone —
//     the waiter is WAITING again at the front of its list, its timeout and cancellation work
//     again — and the exception goes to the pusher (give-back: see below);
//   * admitting a push waiter (a pop made room): the waiter's own value failed, so its push
//     fails: FAILED, and push()/async_push() rethrow the exception; the pop is unaffected.
// Everything a claim's act needs besides the move is secured before the claim: a coroutine
// waiter reserves its resumption slot and its inbox node when it parks, so waking it cannot
// throw. The ledger
// counts a value only once it has moved: it balances after any of these throws.
// A waiter whose cancel CAS lost to a claim re-checks under the lock (the claim may have been
// undone), so a timeout or task.cancel() that arrived during an undone claim is not lost.
//
// CANCELLATION OF A WAITING TASK: if the cancel CAS wins, the task resumes with CancelledError
// and nothing was taken. If a value was already claimed for it, the await completes with the
// value and the cancellation is delivered at the task's next await point (asyncio delivers a
// cancel at an await; here the value must not be lost).
//
// LEDGER (stats()): pushed = popped + dropped + size(); refused counts pushes after close;
// push_waits / pop_waits count operations that had to wait.
//
// LIFETIME: the channel must outlive every operation on it (as any object shared between
// threads); close() before destroying it releases every waiter. Once the owner has seen all
// work done (e.g. it popped every value it expected), it may destroy the channel at once:
// an operation still returning touches the channel no more (a push waiter whose value was
// taken, a claimer after its last resumption post; see WAKING and flush()).
#pragma once

#include <chrono>
#include <coroutine>
#include <cstdint>
#include <deque>
#include <exception>
#include <memory>
#include <mutex>
#include <optional>
#include <utility>
#include <vector>

#include "../primitives/deadline.hpp"
#include "../primitives/sync.hpp"
#include "errors.hpp"
#include "event_loop.hpp"
#include "task.hpp"

namespace handoff {

struct ChannelStats {
  std::uint64_t pushed = 0;      // values accepted
  std::uint64_t popped = 0;      // values handed to a pop (thread or coroutine)
  std::uint64_t refused = 0;     // pushes after close() (ChannelClosedError)
  std::uint64_t dropped = 0;     // values discarded unpopped (drop_all(), or the destructor)
  std::uint64_t push_waits = 0;  // pushes that waited for room
  std::uint64_t pop_waits = 0;   // pops that waited for a value
  std::uint64_t size = 0;        // values in the buffer now
  bool balanced() const noexcept { return pushed == popped + dropped + size; }
};

template <class T>
class Channel {
 public:
  static constexpr std::size_t kUnbounded = 0;

  // capacity 0 = unbounded.
  explicit Channel(std::size_t capacity = kUnbounded) : capacity_(capacity) {}
  Channel(const Channel&) = delete;
  Channel& operator=(const Channel&) = delete;
  ~Channel() { drop_all(); }

  // ---- thread side (any thread; blocking calls must not be made on a loop thread) ---------

  // Blocks while full. Throws ChannelClosedError if the channel is (or gets) closed first.
  template <class U>
  void push(U&& v) {
    push_until(std::forward<U>(v), std::nullopt, "push()");
  }
  // Never blocks: false if full (v is left untouched). Throws ChannelClosedError if closed.
  template <class U>
  bool try_push(U&& v) {
    std::unique_lock<sync::mutex> lock(mu_);
    if (closed_) return refuse_locked("try_push()");
    if (!offer_locked(std::forward<U>(v))) return false;  // moves from v only if accepted
    flush(lock);
    return true;
  }
  // As push, but throws TimeoutError after `timeout` (v is then left untouched).
  template <class U, class Rep, class Period>
  void push_for(U&& v, std::chrono::duration<Rep, Period> timeout) {
    push_until(std::forward<U>(v), detail::deadline_after(timeout), "push_for()");  // saturated: hours::max() waits
  }

  // Blocks while empty. nullopt: closed and drained (end-of-stream).
  std::optional<T> pop() { return pop_until(std::nullopt); }
  // Never blocks: nullopt if empty right now (or closed and drained: see is_closed()).
  std::optional<T> try_pop() {
    std::unique_lock<sync::mutex> lock(mu_);
    std::optional<T> out;
    if (take_locked(out)) flush(lock);
    return out;
  }
  // As pop, but throws TimeoutError after `timeout`.
  template <class Rep, class Period>
  std::optional<T> pop_for(std::chrono::duration<Rep, Period> timeout) {
    return pop_until(detail::deadline_after(timeout));  // saturated: hours::max() waits
  }

  // ---- any thread ----------------------------------------------------------------------------

  // Further pushes throw ChannelClosedError; pops drain what is left, then get nullopt. Every
  // waiter is woken (push waiters with ChannelClosedError). Idempotent.
  void close() {
    std::unique_lock<sync::mutex> lock(mu_);
    if (closed_) return;
    closed_ = true;
    for (Node* w : {pop_waiters_.take_all(), push_waiters_.take_all()}) {
      while (w != nullptr) {
        Node* next = w->next;
        w->linked = false;
        // seq_cst: the other side of the waiter's cancel CAS on the same word.
        std::uint32_t expected = Node::kWaiting;
        if (w->state.compare_exchange_strong(expected, Node::kClaimed, std::memory_order_seq_cst,  // vs cancel
                                             std::memory_order_seq_cst)) {  // failure: it gave up first
          if (w->is_push) ++stats_.refused;
          finish_claim_locked(*w, Node::kClosed);
        }
        w = next;
      }
    }
    flush(lock);
  }
  bool is_closed() const {
    std::lock_guard<sync::mutex> lock(mu_);
    return closed_;
  }
  std::size_t size() const {
    std::lock_guard<sync::mutex> lock(mu_);
    return buffer_.size();
  }
  std::size_t capacity() const noexcept { return capacity_; }

  // Discard every buffered value (counted dropped). Returns how many.
  std::size_t drop_all() {
    std::unique_lock<sync::mutex> lock(mu_);
    const std::size_t n = buffer_.size();
    buffer_.clear();
    stats_.dropped += n;
    admit_push_waiters_locked();
    flush(lock);
    return n;
  }

  ChannelStats stats() const {
    std::lock_guard<sync::mutex> lock(mu_);
    ChannelStats s = stats_;
    s.size = buffer_.size();
    return s;
  }

  // ---- loop side (a task on any loop) -------------------------------------------------------
  class PopAwaiter;
  class PushAwaiter;

  // co_await: std::optional<T> (nullopt: closed and drained). With a timeout: TimeoutError.
  PopAwaiter async_pop() { return PopAwaiter(*this, std::nullopt); }
  template <class Rep, class Period>
  PopAwaiter async_pop(std::chrono::duration<Rep, Period> timeout) {
    return PopAwaiter(*this, detail::saturating_nanos(timeout));  // duration_cast wrapped hours::max()
  }
  // co_await: void. ChannelClosedError if closed; with a timeout, TimeoutError.
  PushAwaiter async_push(T v) { return PushAwaiter(*this, std::move(v), std::nullopt); }
  template <class Rep, class Period>
  PushAwaiter async_push(T v, std::chrono::duration<Rep, Period> timeout) {
    return PushAwaiter(*this, std::move(v), detail::saturating_nanos(timeout));  // duration_cast wrapped hours::max()
  }

 private:
  // A waiter: in the waiting thread's stack frame or in the awaiter (the coroutine's frame).
  struct Node {
    enum : std::uint32_t { kWaiting = 0, kClaimed = 1, kDone = 2, kCancelled = 3, kClosed = 4, kFailed = 5 };
    sync::atomic<std::uint32_t> state{kWaiting};
    std::exception_ptr error;  // FAILED: what moving this push waiter's value threw (under the lock)
    Node* next = nullptr;
    Node* prev = nullptr;
    bool linked = false;  // under the lock
    bool is_push = false;
    std::optional<T>* dest = nullptr;  // pop waiter: where the claimer puts the value
    T* src = nullptr;                  // push waiter: where the claimer takes it from
    // A coroutine waiter: how the claimer resumes it (set before it is linked). `post` holds
    // the inbox node reserved at park(): the resumption's post cannot fail.
    ReservedPost post;
    std::shared_ptr<TaskBase> task;
    std::uint64_t suspension = 0;
  };

  struct List {
    Node* head = nullptr;
    Node* tail = nullptr;
    std::size_t size = 0;  // linked nodes (a bound for the resumption slots park() reserves)
    bool empty() const noexcept { return head == nullptr; }
    void push_back(Node* n) noexcept {
      n->next = nullptr;
      n->prev = tail;
      (tail ? tail->next : head) = n;
      tail = n;
      n->linked = true;
      ++size;
    }
    void push_front(Node* n) noexcept {
      n->prev = nullptr;
      n->next = head;
      (head ? head->prev : tail) = n;
      head = n;
      n->linked = true;
      ++size;
    }
    void erase(Node* n) noexcept {
      (n->prev ? n->prev->next : head) = n->next;
      (n->next ? n->next->prev : tail) = n->prev;
      n->next = n->prev = nullptr;
      n->linked = false;
      --size;
    }
    Node* pop_front() noexcept {
      Node* n = head;
      if (n != nullptr) erase(n);
      return n;
    }
    Node* take_all() noexcept {
      Node* n = head;
      head = tail = nullptr;
      size = 0;
      return n;
    }
  };

  // A coroutine resumption to post once the lock is released.
  struct Resume {
    ReservedPost post;
    std::shared_ptr<TaskBase> task;
    std::uint64_t suspension;
  };

  // Claim the first waiter of `list` that is still waiting (cancelled ones are unlinked by
  // their owners; one found here mid-cancel is skipped). Under the lock.
  Node* claim_first_locked(List& list) {
    for (Node* w = list.head; w != nullptr;) {
      Node* next = w->next;
#if defined(HANDOFF_MUTANT_CHANNEL_NO_CLAIM)
      // MUTANT: check, then take, without the CAS: a waiter that cancels in between is
      // handed a value anyway, and that value is lost with the cancelled wait.
      if (w->state.load(std::memory_order_seq_cst) == Node::kWaiting) {  // mutant
        w->state.store(Node::kClaimed, std::memory_order_seq_cst);        // mutant
        list.erase(w);
        return w;
      }
#else
      std::uint32_t expected = Node::kWaiting;
      // seq_cst: the other side of the waiter's cancel CAS; the value moves only if this wins.
      if (w->state.compare_exchange_strong(expected, Node::kClaimed, std::memory_order_seq_cst,  // vs cancel
                                           std::memory_order_seq_cst)) {  // failure: it gave up
        list.erase(w);
        return w;
      }
#endif
      w = next;
    }
    return nullptr;
  }

  // Wake the waiter, then publish its final state (DONE, CLOSED or FAILED): that store is the
  // claimer's last touch of the node, which may be gone right after it. Under the lock;
  // cannot throw: a coroutine waiter reserved its slot in resumes_ when it parked (park()),
  // so the push_back never reallocates (and a Resume moves without throwing).
  void finish_claim_locked(Node& w, std::uint32_t final_state = Node::kDone) noexcept {
    if (w.task) {
      resumes_.push_back(Resume{std::move(w.post), std::move(w.task), w.suspension});
    } else {
      sync::wake_one(w.state);  // a sleeper wakes to CLAIMED and spins until the store below
    }
    // release: the moved value (or w.error) is visible to the waiter's acquire load.
    w.state.store(final_state, std::memory_order_release);  // pairs with the waiter's acquire load
  }
  // The act after a claim threw before anything moved: the waiter waits again, first in line
  // (it was the first one waiting), with its timeout and cancellation live again (cancel_wait
  // re-checks under the lock). Under the lock.
  void undo_claim_locked(List& list, Node& w) noexcept {
    // seq_cst: like the claim CAS it reverts; nobody else writes a CLAIMED word (the waiter's
    // cancel CAS fails on it and then waits for this lock).
    w.state.store(Node::kWaiting, std::memory_order_seq_cst);  // read by the waiter's cancel CAS
    list.push_front(&w);
  }

  // Post the collected coroutine resumptions, each with the lock released. One at a time, so
  // resumes_ keeps its capacity (the slots park() reserved: no swap into a local vector).
  // Each post goes through the node its waiter reserved: it never allocates, so no throw can
  // strand a claimed waiter (or reach a pusher whose value was accepted).
  // LIFETIME: the channel is not touched after the last post — the task it resumes may be the
  // owner's last piece of work, and the owner may destroy the channel at once. Between posts
  // it is safe to re-lock: a task not yet resumed is work the owner still waits for.
  // Returns with the lock released if it posted anything, else still held.
  void flush(std::unique_lock<sync::mutex>& lock) {
    while (!resumes_.empty()) {
      Resume r = std::move(resumes_.back());
      resumes_.pop_back();
      const bool more = !resumes_.empty();
      lock.unlock();
#if defined(HANDOFF_MUTANT_CHANNEL_NO_RESERVE)
      try {  // MUTANT: the plain post may allocate, and its bad_alloc escapes after the claim
        r.post.loop().call_soon_threadsafe(detail::ResumeTask{std::move(r.task), r.suspension});
      } catch (const LoopClosedError&) {
      }
#else
      // Closed: the task's loop is closed: the task was (or is being) abandoned; its
      // awaiter's destructor returns a delivered value to the channel.
      (void)r.post.post(detail::ResumeTask{std::move(r.task), r.suspension});
#endif
      if (!more) return;
      lock.lock();
    }
  }

  // Accept v now if possible: hand it to a pop waiter, or buffer it; v is moved (or copied,
  // for an lvalue) only when accepted. Under the lock.
  // If the copy/move into a pop waiter throws, its claim is undone and the exception goes to
  // the caller (the pusher), with nothing accepted.
  template <class U>
  bool offer_locked(U&& v) {
    if (Node* w = claim_first_locked(pop_waiters_)) {
      try {
        w->dest->emplace(std::forward<U>(v));
      } catch (...) {
#if !defined(HANDOFF_MUTANT_CHANNEL_NO_UNDO_OFFER)  // MUTANT: the waiter stays CLAIMED forever
        undo_claim_locked(pop_waiters_, *w);
#endif
        throw;
      }
      ++stats_.pushed;
      ++stats_.popped;
      finish_claim_locked(*w);
      return true;
    }
    if (capacity_ != kUnbounded && buffer_.size() >= capacity_) return false;
    buffer_.emplace_back(std::forward<U>(v));
    ++stats_.pushed;
    return true;
  }

  // Take a value into `out` (empty) if there is one, then let a waiting pusher in. Under the
  // lock. The value leaves the buffer (and is counted) only once it has moved into `out`.
  bool take_locked(std::optional<T>& out) {
    if (buffer_.empty()) return false;
    out.emplace(std::move(buffer_.front()));
    buffer_.pop_front();
    ++stats_.popped;
    admit_push_waiters_locked();
    return true;
  }

  // Claim push waiters while there is room. A waiter whose value fails to move in (its move
  // constructor, or bad_alloc from the buffer) ends FAILED with that exception, which its
  // push()/async_push() rethrows; the caller (a pop, drop_all) is not concerned.
  void admit_push_waiters_locked() {
    while (capacity_ == kUnbounded || buffer_.size() < capacity_) {
      Node* w = claim_first_locked(push_waiters_);
      if (w == nullptr) return;
      try {
        buffer_.emplace_back(std::move(*w->src));
      } catch (...) {
#if defined(HANDOFF_MUTANT_CHANNEL_NO_FAIL_ADMIT)
        throw;  // MUTANT: the waiter stays CLAIMED forever (and the pop's value is lost)
#else
        w->error = std::current_exception();
        finish_claim_locked(*w, Node::kFailed);
        continue;
#endif
      }
      ++stats_.pushed;
      finish_claim_locked(*w);
    }
  }

  bool refuse_locked(const char* what) {
    ++stats_.refused;
    throw ChannelClosedError(what);
  }

  // The waiter gives up (timeout, cancel, frame destroyed): true if it won the CAS (then it
  // is unlinked and nothing was taken); false if a claimer or close() won (then this returns
  // once the claimer has finished: DONE or CLOSED).
  //
  // A lost CAS found CLAIMED: the claimer is moving the value and will publish a final state —
  // or undo the claim because the move threw: then the waiter is WAITING again and gives up
  // now (else a timeout or task.cancel() that came during the claim would be lost). It waits
  // on the word, not the lock: after a final state it must not touch the channel (LIFETIME).
  bool cancel_wait(Node& w) {
    for (;;) {
      std::uint32_t expected = Node::kWaiting;
      // seq_cst: the other side of claim_first_locked's / close()'s CAS and of the undo store.
      if (w.state.compare_exchange_strong(expected, Node::kCancelled, std::memory_order_seq_cst,  // vs claim
                                          std::memory_order_seq_cst)) {  // failure: claimed or final
        std::lock_guard<sync::mutex> lock(mu_);
        if (w.linked) (w.is_push ? push_waiters_ : pop_waiters_).erase(&w);
        return true;
      }
      if (expected != Node::kClaimed) {
        // acquire: the final state's store (the value, w.error) happens-before what follows.
        (void)w.state.load(std::memory_order_acquire);  // pairs with finish_claim_locked's release
        return false;  // DONE, CLOSED or FAILED
      }
      sync::yield();  // CLAIMED: the claimer is moving the value (or undoing the claim)
    }
  }

  // A thread's wait on its node; returns the final state (DONE, CLOSED, FAILED or CANCELLED).
  // After a final state it does not touch the channel (LIFETIME).
  std::uint32_t wait_thread(Node& w, std::optional<std::chrono::steady_clock::time_point> deadline) {
    for (;;) {
      const std::uint32_t s = w.state.load(std::memory_order_acquire);  // pairs with finish_claim_locked
      if (s == Node::kDone || s == Node::kClosed || s == Node::kFailed) {
#if defined(HANDOFF_MUTANT_CHANNEL_LOCK_AFTER_DONE)
        std::lock_guard<sync::mutex> lock(mu_);  // MUTANT: the old wait for the claimer: a late access
#endif
        return s;
      }
      std::int64_t left = -1;
      if (deadline) {
        left = std::chrono::duration_cast<std::chrono::nanoseconds>(*deadline - std::chrono::steady_clock::now()).count();
        if (left <= 0) {
          if (cancel_wait(w)) return Node::kCancelled;
          continue;  // claimed meanwhile: DONE or CLOSED is published now
        }
      }
      if (s == Node::kWaiting) sync::wait(w.state, Node::kWaiting, left);
      else sync::yield();  // CLAIMED: the claimer is moving the value (or undoing the claim)
    }
  }

  template <class U>
  void push_until(U&& v, std::optional<std::chrono::steady_clock::time_point> deadline, const char* what) {
    std::unique_lock<sync::mutex> lock(mu_);
    if (closed_) {
      refuse_locked(what);
      return;
    }
    if (offer_locked(std::forward<U>(v))) {
      flush(lock);
      return;
    }
    Node w;
    w.is_push = true;
    std::optional<T> copy;  // an lvalue or converted argument: the waiter holds its own T
    if constexpr (std::is_same_v<U, T>) {
      w.src = &v;  // an rvalue T: the claimer moves from the caller's object, only if it claims
    } else {
      w.src = &copy.emplace(std::forward<U>(v));
    }
    ++stats_.push_waits;
    push_waiters_.push_back(&w);
    lock.unlock();
    const std::uint32_t s = wait_thread(w, deadline);
    if (s == Node::kClosed) throw ChannelClosedError(what);
    if (s == Node::kCancelled) throw TimeoutError(std::string("Channel::") + what);
    if (s == Node::kFailed) std::rethrow_exception(w.error);  // moving v into the channel threw
  }

  // Every return is `slot` (one named result: no move on the way out).
  std::optional<T> pop_until(std::optional<std::chrono::steady_clock::time_point> deadline) {
    std::unique_lock<sync::mutex> lock(mu_);
    std::optional<T> slot;
    if (take_locked(slot)) {
      flush(lock);
      return slot;
    }
    if (closed_) return slot;  // nullopt: end-of-stream
    Node w;
    w.dest = &slot;
    ++stats_.pop_waits;
    pop_waiters_.push_back(&w);
    lock.unlock();
    const std::uint32_t s = wait_thread(w, deadline);
    if (s == Node::kCancelled) throw TimeoutError("Channel::pop_for()");
    return slot;  // DONE: the value; CLOSED: nullopt (end-of-stream)
  }

  // A pop waiter's value that its task will never read (its loop closed before the
  // resumption ran): back to the front of the channel, where the next pop takes it. Called
  // from the awaiter's destructor: if the value's move (or the buffer) throws, the value is
  // counted dropped and reported on stderr — there is nobody to throw to.
  void give_back(std::optional<T>& v) noexcept {
    std::unique_lock<sync::mutex> lock(mu_);
    --stats_.popped;
    std::exception_ptr failed;
    try {
      // A pop that found the buffer empty may be waiting now: hand the value to it, as a push
      // would (pop waiters exist only while the buffer is empty), else it waits on a non-empty
      // channel (its full timeout, or until close()/the next push).
      if (Node* w = claim_first_locked(pop_waiters_)) {
        try {
          w->dest->emplace(std::move(*v));
        } catch (...) {
#if !defined(HANDOFF_MUTANT_CHANNEL_NO_UNDO_GIVE_BACK)  // MUTANT: the waiter stays CLAIMED forever
          undo_claim_locked(pop_waiters_, *w);
#endif
          throw;
        }
        ++stats_.popped;
        finish_claim_locked(*w);
      } else {
        buffer_.push_front(std::move(*v));
      }
    } catch (...) {
      ++stats_.dropped;
      failed = std::current_exception();
    }
    v.reset();
    if (failed) {
      lock.unlock();
      EventLoop::default_exception_handler(
          {"Channel: a value given back by a task whose loop closed could not be re-queued; it is dropped "
           "(counted in stats().dropped)",
           failed});
      return;
    }
    flush(lock);  // the last touch of the channel; its posts are reserved: they cannot throw
  }

  const std::size_t capacity_;
  mutable sync::mutex mu_;
  std::deque<T> buffer_;
  List pop_waiters_, push_waiters_;
  std::vector<Resume> resumes_;  // under the lock until flush()
  bool closed_ = false;
  ChannelStats stats_;

 public:
  // ---- the awaiters ---------------------------------------------------------------------------

  // What both awaiters share: the waiter node in the coroutine frame, parking it with the
  // task's resumption data, the optional timeout timer, and cancellation (the cancel CAS).
  class AwaiterBase : public Waiter {
   public:
    void on_cancel() noexcept override {
      // Won: nothing was taken or given; resume now (await_resume throws CancelledError).
      // Lost: a value (or the close) is on its way; the cancel stays pending for the next
      // await point.
      if (ch_->cancel_wait(node_)) task_->resume_soon(node_.suspension);
    }

   protected:
    AwaiterBase(Channel& ch, std::optional<std::chrono::nanoseconds> timeout) : ch_(&ch), timeout_(timeout) {}
    ~AwaiterBase() { timer_.cancel(); }

    // Start of await_suspend: false if a cancellation is already pending (do not suspend).
    bool enter(const char* what) {
      task_ = &detail::current_task(what);
      cancelled_early_ = task_->cancel_requested();
      return !cancelled_early_;
    }
    // Under the lock: link the node into `list` and suspend the task; then release the lock
    // and arm the timeout. The caller returns true (suspended).
    // The resumption slot and the inbox node of the resumption's post are reserved first
    // (either may throw bad_alloc: then nothing is linked and the co_await throws it), so no
    // claimer's finish_claim_locked() or flush() can fail to resume this task.
    void park(std::unique_lock<sync::mutex>& lock, std::coroutine_handle<> h, List& list, std::uint64_t& waits) {
      ch_->resumes_.reserve(ch_->resumes_.size() + ch_->pop_waiters_.size + ch_->push_waiters_.size + 1);
      node_.post = task_->loop()->threadsafe().reserve_post();
      node_.suspension = task_->suspend(this, h);
      node_.task = task_->shared();
      ++waits;
      list.push_back(&node_);
      waiting_ = true;
      lock.unlock();
      if (timeout_) {
        try {
          timer_ = task_->loop()->call_later(*timeout_, [this] {
            if (ch_->cancel_wait(node_)) {
              timed_out_ = true;
              task_->resume_now(node_.suspension);
            }
          });
        } catch (...) {
          // No timer (bad_alloc): the co_await throws and the task runs on, not suspended on
          // this awaiter; its destructor (waiting_) unlinks the node or gives a value back.
          task_->undo_suspend(node_.suspension);
          throw;
        }
      }
    }
    // Start of await_resume: the final state; throws TimeoutError or the pending cancellation
    // if the wait was given up.
    std::uint32_t leave(const char* what) {
      timer_.cancel();
      waiting_ = false;
      const std::uint32_t s = node_.state.load(std::memory_order_acquire);  // pairs with the claimer / cancel_wait
      if (cancelled_early_ || s == Node::kCancelled) {
        if (timed_out_) throw TimeoutError(what);
        task_->throw_if_cancelled();
      }
      return s;
    }

    Channel* ch_;
    std::optional<std::chrono::nanoseconds> timeout_;
    Node node_;
    TaskBase* task_ = nullptr;
    TimerHandle timer_;
    bool waiting_ = false, timed_out_ = false, cancelled_early_ = false;
  };

  class PopAwaiter final : public AwaiterBase {
   public:
    PopAwaiter(Channel& ch, std::optional<std::chrono::nanoseconds> timeout) : AwaiterBase(ch, timeout) {}
    PopAwaiter(PopAwaiter&& o) noexcept : AwaiterBase(*o.ch_, o.timeout_) {}  // before use only
    ~PopAwaiter() {
      this->timer_.cancel();
      if (!this->waiting_) return;
      // The frame is going away while suspended (its task abandoned or destroyed).
      if (!this->ch_->cancel_wait(this->node_) && value_) this->ch_->give_back(value_);
    }

    bool await_ready() const noexcept { return false; }
    bool await_suspend(std::coroutine_handle<> h) {
      if (!this->enter("Channel::async_pop()")) return false;
      Channel& ch = *this->ch_;
      std::unique_lock<sync::mutex> lock(ch.mu_);
      if (ch.take_locked(value_)) {
        ch.flush(lock);
        return false;
      }
      if (ch.closed_) return false;  // end-of-stream
      this->node_.dest = &value_;
      this->park(lock, h, ch.pop_waiters_, ch.stats_.pop_waits);
      return true;
    }
    std::optional<T> await_resume() {
      this->leave("Channel::async_pop()");
      try {
        return std::move(value_);  // a value, or nullopt: closed and drained
      } catch (...) {
        // T's move to the task threw: the task gets the exception and the value goes back to
        // the front of the channel (the next pop takes it), never silently lost.
#if !defined(HANDOFF_MUTANT_CHANNEL_NO_GIVE_BACK_ON_RESUME)  // MUTANT: the value is destroyed with the awaiter
        if (value_) this->ch_->give_back(value_);
#endif
        throw;
      }
    }

   private:
    std::optional<T> value_;
  };

  class PushAwaiter final : public AwaiterBase {
   public:
    PushAwaiter(Channel& ch, T v, std::optional<std::chrono::nanoseconds> timeout)
        : AwaiterBase(ch, timeout), value_(std::move(v)) {}
    PushAwaiter(PushAwaiter&& o) noexcept(std::is_nothrow_move_constructible_v<T>)
        : AwaiterBase(*o.ch_, o.timeout_), value_(std::move(o.value_)) {}  // before use only
    ~PushAwaiter() {
      this->timer_.cancel();
      if (this->waiting_) this->ch_->cancel_wait(this->node_);  // frame destroyed while suspended: not pushed
    }

    bool await_ready() const noexcept { return false; }
    bool await_suspend(std::coroutine_handle<> h) {
      if (!this->enter("Channel::async_push()")) return false;
      Channel& ch = *this->ch_;
      std::unique_lock<sync::mutex> lock(ch.mu_);
      if (ch.closed_) {
        ++ch.stats_.refused;
        closed_ = true;
        return false;
      }
      if (ch.offer_locked(std::move(value_))) {  // moved only if accepted
        ch.flush(lock);
        return false;
      }
      this->node_.is_push = true;
      this->node_.src = &value_;
      this->park(lock, h, ch.push_waiters_, ch.stats_.push_waits);
      return true;
    }
    void await_resume() {
      if (closed_) throw ChannelClosedError("async_push()");
      const std::uint32_t s = this->leave("Channel::async_push()");
      if (s == Node::kClosed) throw ChannelClosedError("async_push()");
      if (s == Node::kFailed) std::rethrow_exception(this->node_.error);  // moving the value in threw
    }

   private:
    T value_;
    bool closed_ = false;
  };
};

}  // namespace handoff
