// tests/loop_test_support.hpp — helpers the loop's unit tests share (one copy, not three).
#pragma once

#include <unistd.h>

#include <cstdio>
#include <memory>
#include <string>

#include <catch2/catch.hpp>

#include <handoff/loop/event_loop.hpp>

namespace handoff::test {

// The ledger identity, with the numbers printed if it fails.
inline void check_ledger(const LoopStats& s) {
  INFO("posted=" << s.posted << " run=" << s.run << " cancelled=" << s.cancelled
                 << " refused=" << s.refused << " dropped=" << s.dropped);
  CHECK(s.balanced());
}

// Redirects fd 2 to a temporary file for the lifetime of the object, so a test can read what
// the loop's default exception handler printed. Not a sanitizer suppression: TSan/ASan report
// to stderr too, but their reports still fail the run (exit code), and no test captures
// stderr around code under test for races.
class StderrCapture {
 public:
  StderrCapture() {
    std::fflush(stderr);
    tmp_ = std::tmpfile();
    saved_ = ::dup(2);
    ::dup2(::fileno(tmp_), 2);
  }
  ~StderrCapture() { restore(); }
  std::string text() {
    restore();
    std::string out;
    std::rewind(tmp_);
    char buf[512];
    std::size_t n;
    while ((n = std::fread(buf, 1, sizeof buf, tmp_)) > 0) out.append(buf, n);
    return out;
  }

 private:
  void restore() {
    if (saved_ < 0) return;
    std::fflush(stderr);
    ::dup2(saved_, 2);
    ::close(saved_);
    saved_ = -1;
  }
  std::FILE* tmp_ = nullptr;
  int saved_ = -1;
};

// A backstop counted in loop turns, not time: it stops the loop after `turns` iterations, so
// a defect that would leave an operation pending forever ends in a failed check instead of a
// hang. It keeps the ready queue non-empty (the loop never sleeps while it is armed). Call
// disarm() once the operation finished; fired() says whether it had to stop the loop.
class TurnBackstop {
 public:
  TurnBackstop(EventLoop& loop, int turns) : st_(std::make_shared<State>()) {
    st_->left = turns;
    loop.call_soon(Tick{&loop, st_});
  }
  bool fired() const noexcept { return st_->fired; }
  void disarm() noexcept { st_->armed = false; }

 private:
  struct State {
    int left = 0;
    bool fired = false;
    bool armed = true;
  };
  struct Tick {
    EventLoop* loop;
    std::shared_ptr<State> st;
    void operator()() {
      if (!st->armed) return;
      if (--st->left <= 0) {
        st->fired = true;
        loop->stop();
        return;
      }
      loop->call_soon(Tick{loop, st});
    }
  };
  std::shared_ptr<State> st_;
};

}  // namespace handoff::test
