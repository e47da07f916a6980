// handoff/loop/errors.hpp — forwards to future/errors.hpp, where the error types now live
// (below loop/ and executor/; docs/future.md). Kept so existing includes keep working.
#pragma once

#include "../future/errors.hpp"
