# The fault sweep (tests/fault_injection_test.cpp): included from tests/CMakeLists.txt. A binary
# of its own: it replaces the global operator new (tests/fault_injection.hpp).
handoff_add_unit_test(fault_injection_test)
