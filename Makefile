# handoff — the README's two commands, plus a soak run.
#   make bench   bootstrap, Release build, run every benchmark suite, print the table
#   make test    bootstrap, every build (Release, GCC TSan, Clang TSan, ASan+UBSan) and check
#   make soak    the full counts: long stress runs, bigger model-checking bounds
.PHONY: all bootstrap test bench soak clean

all: test

bootstrap:
	@scripts/bootstrap

test: bootstrap
	@scripts/test

bench: bootstrap
	@scripts/bench

soak: bootstrap
	@scripts/soak

clean:
	rm -rf build
