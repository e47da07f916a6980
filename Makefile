# handoff — the README's two commands, plus a soak run.
#   make bench   bootstrap, Release build, every benchmark suite, the report (FULL=1, SUITE=, FILTER=)
#   make test    bootstrap, every build (Release, GCC TSan, Clang TSan, ASan+UBSan) and check
#   make soak    the full counts: long stress runs, bigger model-checking bounds
#   make soak-perturb  Release + perturbation, every stress test, about an hour in all
.PHONY: all bootstrap test bench soak soak-perturb clean

all: test

bootstrap:
	@scripts/bootstrap
	@mkdir -p build

test: bootstrap
	@scripts/test

# The Release build that make test also uses, with the benchmarks in it; then every suite and
# the report (scripts/bench, bench/README.md "The report"). Options:
#   make bench                  the default run, ~5 min on 2 cores
#   make bench FULL=1           the long run (5 x 0.5 s, every axis)
#   make bench QUICK=1          a first look (3 x 0.05 s)
#   make bench SUITE=loop,calibration FILTER='round_trip'   some suites / benchmarks only
bench: bootstrap
	@cmake -S . -B build/release -DCMAKE_BUILD_TYPE=Release -DHANDOFF_BUILD_BENCH=ON >build/release.bench-configure.log 2>&1 || { cat build/release.bench-configure.log; exit 1; }
	@echo "make bench: building build/release ..."
	@cmake --build build/release -j 2 >build/release.bench-build.log 2>&1 || { tail -40 build/release.bench-build.log; exit 1; }
	@HANDOFF_BENCH_FULL="$(FULL)" HANDOFF_BENCH_QUICK="$(QUICK)" HANDOFF_BENCH_SUITE="$(SUITE)" \
	  HANDOFF_BENCH_FILTER="$(FILTER)" scripts/bench build/release

soak: bootstrap
	@scripts/soak

soak-perturb: bootstrap
	@scripts/soak perturb

clean:
	rm -rf build
