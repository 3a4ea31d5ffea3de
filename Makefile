# berth — build, test, benchmark.
CARGO ?= cargo
PREFIX ?= /usr/local
# The shipped runtime is linked statically against glibc (static-pie, so
# ASLR holds): no dynamic loader and no libc.so mapping means a third less
# resident memory and a faster start for every runtime process. Only this
# build gets the flag; proc-macros and tests build as usual.
TARGET ?= $(shell rustc -vV | sed -n 's/^host: //p')
RELEASE_BIN := target/$(TARGET)/release/berth-runtime
TEST_THREADS ?= 2

.PHONY: all build demo test unit integration lint bench install clean

all: build

build:
	RUSTFLAGS="-C target-feature=+crt-static" $(CARGO) build --release --target $(TARGET) -p berth-runtime

# Sets up what is missing (busybox-static), builds, makes a busybox bundle
# with `berth-runtime spec` and runs it.
demo: build
	scripts/demo.sh $(RELEASE_BIN)

# Unit tests and the integration tests (root: they run real containers).
test:
	$(CARGO) build --workspace
	$(CARGO) build -p berth-runtime --features failpoints --target-dir target/failpoints
	$(CARGO) test --workspace -- --test-threads=$(TEST_THREADS)

unit:
	$(CARGO) test -p libcontainer -p berth-runtime

integration:
	$(CARGO) build -p berth-runtime
	$(CARGO) test -p integration -- --test-threads=$(TEST_THREADS)

# cgroup v2 for real: boots Debian's kernel under QEMU (software emulation) with a
# pure cgroup2 hierarchy and every controller, and runs the cgroup tests inside
# (vm/README.md; VM_TESTS=all runs every test file there, VM_SHELL=1 gives a shell).
.PHONY: test-cgroup2
test-cgroup2:
	CARGO="$(CARGO)" vm/run-cgroup2-tests

lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --all-targets -- -D warnings

# Whole-process timings next to runc and crun where installed (a report,
# not a test).
bench: build
	python3 bench/bench.py --runtime $(RELEASE_BIN)

install: build
	install -D -m 0755 $(RELEASE_BIN) $(DESTDIR)$(PREFIX)/bin/berth-runtime

clean:
	$(CARGO) clean
