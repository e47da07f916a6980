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

// Whether a result can really be copied, for the futures' "copy unless the reader gives up
// the last handle" rule. std::is_copy_constructible lies for containers of move-only
// elements (std::vector<std::unique_ptr<X>>: the container's copy constructor is not
// constrained, and instantiating it is a hard error), so look into value_type as well
// (recursively: a map's pair<const K, V>, nested containers). Such a value is treated as
// move-only: moved out once, a second read is InvalidStateError.
template <class T, class = void>
struct is_copyable_result : std::is_copy_constructible<T> {};
template <class T>
struct is_copyable_result<T, std::void_t<typename T::value_type>>
    : std::bool_constant<std::is_copy_constructible_v<T> && is_copyable_result<typename T::value_type>::value> {};
template <class T>
inline constexpr bool is_copyable_result_v = is_copyable_result<T>::value;

}  // namespace handoff
