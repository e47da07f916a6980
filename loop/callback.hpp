// handoff/loop/callback.hpp — forwards to future/callback.hpp, where Callback now lives
// (below loop/ and executor/; docs/future.md). Kept so existing includes keep working.
#pragma once

#include "../future/callback.hpp"
