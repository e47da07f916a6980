# Unit tests of the work-stealing deque set (primitives/work_stealing_deque.hpp +
# primitives/mutex_deque.hpp, one template suite): included from tests/CMakeLists.txt.
# Label unit, so every build that runs unit tests runs it — including the ASan+UBSan build,
# for which its "20 resizes from capacity 2 under concurrent steals" case is the resize check
# (VERIFY.md class 3; the asan build does not build stress/). That case turns the facade's
# perturbation on (30 % of atomic steps), so the hook is compiled into this binary in every
# build (as sync_perturbed_test does; the Catch2 main object includes no handoff header).
# Seeded in a copy of the header, freeing the old buffer at growth is a heap-use-after-free
# under ASan in 5/5 runs (< 1.1 s); without the perturbation 1/3.
handoff_add_unit_test(work_stealing_deque_test)
target_compile_definitions(work_stealing_deque_test PRIVATE HANDOFF_SYNC_PERTURB=1)
handoff_soak_properties(unit.work_stealing_deque_test)  # make soak: 500 perturbed deques instead of 20
