// handoff/primitives/results.hpp — results that say why (STYLE.md habit 5).
//
// A lost race is never mistaken for an empty queue, and a closed queue is never mistaken
// for either: callers that spin, sleep or give up need to know which one they saw.
#pragma once

namespace handoff {

enum class PushResult {
  Pushed,  // accepted: it will be popped, or counted as dropped when the queue is destroyed
  Closed,  // refused: the queue was closed before this push took effect; the item is the caller's
};

enum class PopStatus {
  Item,    // an item was taken
  Empty,   // nothing accepted is waiting
  Retry,   // a producer is mid-push (between its exchange and its link): try again shortly
  Closed,  // closed, and every item accepted before the close has been taken
};

inline const char* to_string(PushResult r) noexcept {
  return r == PushResult::Pushed ? "Pushed" : "Closed";
}

inline const char* to_string(PopStatus s) noexcept {
  switch (s) {
    case PopStatus::Item: return "Item";
    case PopStatus::Empty: return "Empty";
    case PopStatus::Retry: return "Retry";
    case PopStatus::Closed: return "Closed";
  }
  return "?";
}

// WorkStealingDeque::steal (primitives/work_stealing_deque.hpp) and its mutex baseline.
enum class StealStatus {
  Success,  // an element was taken and written to the caller's `out`
  Empty,    // the deque held no element when the thief looked
  Retry,    // lost a CAS race with another thief or the owner: the deque may still hold items
};

inline const char* to_string(StealStatus s) noexcept {
  switch (s) {
    case StealStatus::Success: return "Success";
    case StealStatus::Empty: return "Empty";
    case StealStatus::Retry: return "Retry";
  }
  return "?";
}

}  // namespace handoff
