// handoff/loop/loop.hpp — everything of the event loop in one include.
#pragma once

#include "callback.hpp"
#include "errors.hpp"
#include "event_loop.hpp"
#include "future.hpp"
#include "run.hpp"
#include "task.hpp"
#include "thread_future.hpp"
