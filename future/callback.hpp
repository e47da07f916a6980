// handoff/future/callback.hpp — a move-only `void()` callable with inline storage and a drop
// hook: what the loop queues and runs, and what a ThreadFuture runs when it completes.
//
// In future/ (below loop/ and executor/; docs/future.md) because ThreadFuture's done
// callbacks are Callbacks; loop/callback.hpp forwards here.
//
// Why not std::function: it requires copyable callables (coroutine handles, promises and
// unique_ptrs are move-only) and has no way to say "you were discarded unrun". A Callback
// that the loop drops at close() calls its drop hook instead of its body, so a thread
// waiting on the result hears LoopClosedError instead of waiting forever.
//
// A Callback destroyed unrun counts as dropped: its drop hook runs.
//
// Callables up to kInlineSize bytes that are nothrow-movable live inline (no allocation);
// larger ones go to the heap.
#pragma once

#include <cstddef>
#include <new>
#include <type_traits>
#include <utility>

namespace handoff {

class Callback {
 public:
  static constexpr std::size_t kInlineSize = 48;

  Callback() noexcept = default;

  template <class F, class = std::enable_if_t<!std::is_same_v<std::decay_t<F>, Callback>>>
  Callback(F&& fn) {  // NOLINT(google-explicit-constructor): callables convert, like std::function
    emplace<Body<std::decay_t<F>>>(std::forward<F>(fn));
  }

  // A callback whose `on_drop` runs (instead of `fn`) if the loop discards it unrun.
  template <class F, class D>
  static Callback with_drop(F&& fn, D&& on_drop) {
    Callback c;
    c.emplace<BodyWithDrop<std::decay_t<F>, std::decay_t<D>>>(std::forward<F>(fn),
                                                              std::forward<D>(on_drop));
    return c;
  }

  Callback(Callback&& o) noexcept { take(o); }
  Callback& operator=(Callback&& o) noexcept {
    if (this != &o) {
      reset();
      take(o);
    }
    return *this;
  }
  Callback(const Callback&) = delete;
  Callback& operator=(const Callback&) = delete;
  ~Callback() { reset(); }

  explicit operator bool() const noexcept { return ops_ != nullptr; }

  // Runs the body once; the callback is empty afterwards (also if the body throws).
  void operator()() {
    const Ops* ops = ops_;
    ops_ = nullptr;
    struct Cleanup {
      const Ops* ops;
      void* p;
      ~Cleanup() { ops->destroy(p); }
    } cleanup{ops, ptr_(ops)};
    ops->invoke(cleanup.p);
  }

  // Discards it unrun: runs the drop hook if it has one. Never throws. Destroying or
  // overwriting an unrun callback does the same, so no path discards one silently.
  void drop() noexcept { reset(); }

 private:
  struct Ops {
    bool heap;
    void (*invoke)(void*);
    void (*drop)(void*) noexcept;
    void (*move)(void* dst, void* src) noexcept;  // inline only
    void (*destroy)(void*) noexcept;
  };

  template <class F>
  struct Body {
    F fn;
    template <class A>
    explicit Body(A&& a) : fn(std::forward<A>(a)) {}
    void invoke() { fn(); }
    void on_drop() noexcept {}
  };
  template <class F, class D>
  struct BodyWithDrop {
    F fn;
    D d;
    template <class A, class B>
    BodyWithDrop(A&& a, B&& b) : fn(std::forward<A>(a)), d(std::forward<B>(b)) {}
    void invoke() { fn(); }
    void on_drop() noexcept { d(); }
  };

  template <class B>
  static constexpr bool kInline = sizeof(B) <= kInlineSize &&
                                  alignof(B) <= alignof(std::max_align_t) &&
                                  std::is_nothrow_move_constructible_v<B>;

 public:
  // True if a Callback made from an F stores it inline: constructing it never allocates (a
  // post that must not fail static_asserts it: loop/event_loop.hpp, ReservedPost).
  template <class F>
  static constexpr bool stores_inline = kInline<Body<std::decay_t<F>>>;

 private:
  template <class B>
  static const Ops* ops_for() {
    static constexpr Ops ops{
        !kInline<B>,
        [](void* p) { static_cast<B*>(p)->invoke(); },
        [](void* p) noexcept { static_cast<B*>(p)->on_drop(); },
        [](void* dst, void* src) noexcept {
          if constexpr (kInline<B>) {
            ::new (dst) B(std::move(*static_cast<B*>(src)));
            static_cast<B*>(src)->~B();
          }
        },
        [](void* p) noexcept {
          if constexpr (kInline<B>) {
            static_cast<B*>(p)->~B();
          } else {
            delete static_cast<B*>(p);
          }
        }};
    return &ops;
  }

  template <class B, class... A>
  void emplace(A&&... a) {
    if constexpr (kInline<B>) {
      ::new (static_cast<void*>(buf_)) B(std::forward<A>(a)...);
    } else {
      heap_ = new B(std::forward<A>(a)...);
    }
    ops_ = ops_for<B>();
  }

  void* ptr_(const Ops* ops) noexcept { return ops->heap ? heap_ : static_cast<void*>(buf_); }

  void take(Callback& o) noexcept {
    ops_ = o.ops_;
    if (!ops_) return;
    if (ops_->heap) {
      heap_ = o.heap_;
    } else {
      ops_->move(buf_, o.buf_);
    }
    o.ops_ = nullptr;
  }

  void reset() noexcept {
    if (!ops_) return;
    const Ops* ops = ops_;
    ops_ = nullptr;
    void* p = ptr_(ops);
    ops->drop(p);
    ops->destroy(p);
  }

  const Ops* ops_ = nullptr;
  union {
    alignas(std::max_align_t) unsigned char buf_[kInlineSize];
    void* heap_ = nullptr;  // initialized so no path reads an indeterminate member
  };
};

}  // namespace handoff
