# handoff — the README's two commands, plus a soak run.
#   make bench   bootstrap, Release build, run every benchmark suite, print the table
#   make test    bootstrap, every build (Release, GCC TSan, Clang TSan, ASan+UBSan) and check
#   make soak    the full counts: long stress runs, bigger model-checking bounds
.PHONY: all bootstrap test bench soak clean

all: test

bootstrap:
	@scripts/bootstrap
	@mkdir -p build

test: bootstrap
	@scripts/test

# The Release build that make test also uses, with the benchmarks in it.
bench: bootstrap
	@cmake -S . -B build/release -DCMAKE_BUILD_TYPE=Release -DHANDOFF_BUILD_BENCH=ON >build/release.bench-configure.log 2>&1 || { cat build/release.bench-configure.log; exit 1; }
	@echo "make bench: building build/release ..."
	@cmake --build build/release -j 2 >build/release.bench-build.log 2>&1 || { tail -40 build/release.bench-build.log; exit 1; }
	@scripts/bench build/release

soak: bootstrap
	@scripts/soak

clean:
	rm -rf build
