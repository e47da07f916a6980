# The misuse table's own tests (docs/misuse.md) and the fault-injection sweep: included from
# tests/CMakeLists.txt.
handoff_add_unit_test(misuse_test)            # rows of docs/misuse.md no other suite tests
