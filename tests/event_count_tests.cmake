# Unit tests of the event count (primitives/event_count.hpp + mutex_event_count.hpp, one
# templated suite): included from tests/CMakeLists.txt.
handoff_add_unit_test(event_count_test)
