# Unit tests of the event count (primitives/event_count.hpp + mutex_event_count.hpp, one
# templated suite): included from tests/CMakeLists.txt.
handoff_add_unit_test(event_count_test)

# Mutants of the lifetime fix (issue 10): the pre-fix notify orders. The lifetime test must
# report the use-after-free, so only the ASan build runs them (elsewhere a freed access is
# silent). EC: wake through the object and count after the epoch bump; MEC: notify the condvar
# after the unlock.
if(HANDOFF_SANITIZE MATCHES "address")
  handoff_add_unit_mutant(event_count_test_mutant_ec_touch_after_release event_count_test.cpp
                          HANDOFF_MUTANT_EC_TOUCH_AFTER_RELEASE)
  handoff_add_unit_mutant(event_count_test_mutant_mec_notify_after_unlock event_count_test.cpp
                          HANDOFF_MUTANT_MEC_NOTIFY_AFTER_UNLOCK)
  handoff_add_mutant_check(event_count.touch_after_release
    EXPECT "heap-use-after-free"
    COMMAND $<TARGET_FILE:event_count_test_mutant_ec_touch_after_release> "a waiter may destroy*")
  handoff_add_mutant_check(event_count.mec_notify_after_unlock
    EXPECT "heap-use-after-free"
    COMMAND $<TARGET_FILE:event_count_test_mutant_mec_notify_after_unlock> "a waiter may destroy*")
endif()
