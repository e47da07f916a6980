# Unit tests of the event count (primitives/event_count.hpp + mutex_event_count.hpp, one
# templated suite): included from tests/CMakeLists.txt.
handoff_add_unit_test(event_count_test)

# Mutants of the lifetime fix (issue 10): the pre-fix notify orders; the lifetime test must
# report the use after free. EC (wake through the object and count after the epoch bump): its
# freed access is our own code's, so ASan sees it. MEC (notify the condvar after the unlock):
# the freed access is inside libc's pthread_cond_signal, which ASan does not instrument
# (measured: the mutant passes under ASan) but TSan intercepts, so the TSan build runs it.
if(HANDOFF_SANITIZE MATCHES "address")
  handoff_add_unit_mutant(event_count.touch_after_release event_count_test.cpp
    HANDOFF_MUTANT_EC_TOUCH_AFTER_RELEASE EXPECT "heap-use-after-free" ARGS "a waiter may destroy*")
endif()
if(HANDOFF_SANITIZE MATCHES "thread")
  handoff_add_unit_mutant(event_count.mec_notify_after_unlock event_count_test.cpp
    HANDOFF_MUTANT_MEC_NOTIFY_AFTER_UNLOCK EXPECT "heap-use-after-free" ARGS "a waiter may destroy*")
endif()
