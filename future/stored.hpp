// handoff/future/stored.hpp — Stored<T>: how a result slot holds a T (void as std::monostate).
//
// In future/ (below loop/ and executor/) because both futures use it: ThreadFuture's state
// here and the loop's Future<T> (loop/future.hpp).
#pragma once

#include <type_traits>
#include <variant>

namespace handoff {

template <class T>
using Stored = std::conditional_t<std::is_void_v<T>, std::monostate, T>;

}  // namespace handoff
