// handoff/primitives/node_reservation.hpp — a reserved node: what MpscQueue::reserve() and
// MutexQueue::reserve() return (RESERVATIONS in primitives/mpsc_queue.hpp, issue 10).
//
// A move-only owner of one free node, taken ahead of a push so that the push itself never
// allocates. The queue's push takes the node out (take()); a reservation destroyed or reset()
// unused gives the node back through GiveBack::release (MpscQueue: the destroying thread's
// node cache; MutexQueue: delete). It holds nothing of the queue, so it may outlive it.
// Thread roles: one owner at a time, any thread.
#pragma once

#include <stdexcept>
#include <string>
#include <utility>

namespace handoff {

// GiveBack: a type with `static void release(Node*) noexcept`.
template <class Node, class GiveBack>
class NodeReservation {
 public:
  using node_type = Node;

  NodeReservation() noexcept = default;  // empty: holds nothing
  // Adopts a node that release() let go of (a type-erased holder: loop/event_loop.hpp).
  explicit NodeReservation(Node* n) noexcept : node_(n) {}
  NodeReservation(NodeReservation&& o) noexcept : node_(std::exchange(o.node_, nullptr)) {}
  NodeReservation& operator=(NodeReservation&& o) noexcept {
    if (this != &o) {
      reset();
      node_ = std::exchange(o.node_, nullptr);
    }
    return *this;
  }
  NodeReservation(const NodeReservation&) = delete;
  NodeReservation& operator=(const NodeReservation&) = delete;
  ~NodeReservation() { reset(); }

  explicit operator bool() const noexcept { return node_ != nullptr; }
  // Give the node back now; the reservation is empty afterwards.
  void reset() noexcept {
    if (node_ != nullptr) GiveBack::release(std::exchange(node_, nullptr));
  }
  // Lets go of the node without giving it back: the caller holds it (and must adopt it into
  // a NodeReservation again to push it or give it back).
  Node* release() noexcept { return std::exchange(node_, nullptr); }
  // For the queue's push: the node, which is the caller's now; the reservation is empty
  // afterwards. An empty reservation is the user's mistake: std::invalid_argument naming
  // `queue`'s push, before anything changes.
  Node* take(const char* queue) {
    if (node_ == nullptr) {
      throw std::invalid_argument(std::string(queue) +
                                  "::push(Reservation&&, v): the reservation is empty (default-constructed, moved "
                                  "from, or already used); take one with reserve()");
    }
    return std::exchange(node_, nullptr);
  }

 private:
  Node* node_ = nullptr;
};

}  // namespace handoff
