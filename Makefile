# berth — build, test, benchmark.
CARGO ?= cargo
PREFIX ?= /usr/local
# The shipped runtime is linked statically against glibc (static-pie, so
# ASLR holds): no dynamic loader and no libc.so mapping means a third less
# resident memory and a faster start for every runtime process. Only this
# build gets the flag; proc-macros and tests build as usual.
# Its relative relocations are packed (RELR, glibc >= 2.36, binutils >=
# 2.38): the start-up code of a static-pie reads the whole relocation table,
# and as RELA it was 266 KiB of every runtime process's resident memory.
TARGET ?= $(shell rustc -vV | sed -n 's/^host: //p')
RELEASE_RUSTFLAGS := -C target-feature=+crt-static -C link-arg=-Wl,-z,pack-relative-relocs
RELEASE_BIN := target/$(TARGET)/release/berth-runtime
RELEASE_SHIM := target/$(TARGET)/release/berth-shim
# The front-end is linked dynamically: it resolves registry host names, and a
# static glibc cannot load the NSS modules that do that.
RELEASE_BERTH := target/release/berth
TEST_THREADS ?= 2

.PHONY: all build demo prereqs test unit integration lint bench bench-shim bench-images bench-containers bench-network bench-daemon install clean

all: build

build:
	RUSTFLAGS="$(RELEASE_RUSTFLAGS)" $(CARGO) build --release --target $(TARGET) -p berth-runtime -p berth-shim
	$(CARGO) build --release -p berth

# Sets up what is missing (busybox-static), builds, makes a busybox bundle
# with `berth-runtime spec` and runs it, then imports the local busybox image.
demo: build
	scripts/demo.sh $(RELEASE_BIN) $(RELEASE_BERTH)

# What the tests need (root, busybox-static, time, criu): installed when
# missing, and a loud failure when it cannot be had, never a skipped test.
prereqs:
	scripts/prereqs.sh test

# Unit tests and the integration tests (root: they run real containers).
test: prereqs
	$(CARGO) build --workspace
	$(CARGO) build -p berth-runtime --features failpoints --target-dir target/failpoints
	$(CARGO) test --workspace -- --test-threads=$(TEST_THREADS)
	$(MAKE) shim-over-runc

unit: prereqs
	$(CARGO) test -p libcontainer -p berth-runtime -p berth-shim -p berth

integration: prereqs
	$(CARGO) build -p berth-runtime
	$(CARGO) test -p integration -- --test-threads=$(TEST_THREADS)

# The long soak: 1000 create/start/wait/delete cycles and 200 containers run 8 at a
# time, with a census of mounts, cgroups, processes, fds and state entries after each
# batch, and the runtime's peak RSS first vs last batch (integration/tests/soak.rs;
# `make test` runs a short one).
SOAK_CYCLES ?= 1000
SOAK_CONTAINERS ?= 200
.PHONY: soak
soak:
	$(CARGO) build -p berth-runtime
	BERTH_SOAK_CYCLES=$(SOAK_CYCLES) BERTH_SOAK_CONTAINERS=$(SOAK_CONTAINERS) \
		$(CARGO) test -p integration --test soak -- --test-threads=1 --nocapture

# berth-shim's end-to-end tests (integration/tests/shim_*.rs) with runc under the shim
# instead of berth-runtime; `make shim-under-conmon` runs them with conmon in place of
# berth-shim (berth-only features skip there), to check they encode conmon's contract.
SHIM_TESTS := --test shim_bad_input --test shim_exit --test shim_attach --test shim_exec --test shim_io --test shim_logs --test shim_restart
RUNC ?= /usr/sbin/runc
CONMON ?= /usr/bin/conmon
.PHONY: shim-over-runc shim-under-conmon shim-flood
shim-over-runc:
	$(CARGO) build -p berth-shim
	BERTH_RUNTIME=$(RUNC) $(CARGO) test -p integration $(SHIM_TESTS) -- --test-threads=$(TEST_THREADS)

shim-under-conmon:
	$(CARGO) build -p berth-runtime
	BERTH_SHIM=$(CONMON) $(CARGO) test -p integration $(SHIM_TESTS) -- --test-threads=$(TEST_THREADS)

# The full flood: 1 GiB of mixed-length lines into each log format and through rotation,
# with the shim's peak RSS bounded (`make test` floods 64 MiB).
SHIM_FLOOD_MB ?= 1024
shim-flood:
	$(CARGO) build -p berth-runtime -p berth-shim
	BERTH_SHIM_FLOOD_MB=$(SHIM_FLOOD_MB) $(CARGO) test -p integration --test shim_logs flood -- --test-threads=1 --nocapture

# cgroup v2 for real: boots Debian's kernel under QEMU (software emulation) with a
# pure cgroup2 hierarchy and every controller, and runs the cgroup tests inside
# (vm/README.md; VM_TESTS=all runs every test file there, VM_SHELL=1 gives a shell).
.PHONY: test-cgroup2
test-cgroup2:
	CARGO="$(CARGO)" vm/run-cgroup2-tests

lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --all-targets -- -D warnings

# Whole-process timings next to runc and crun where installed, then the
# shim next to conmon under podman, then berth's pull and images next to
# skopeo + umoci and podman, then berth's containers next to podman and
# docker (reports, not tests; bench/README.md).
bench: build
	python3 bench/bench.py --runtime $(RELEASE_BIN)
	python3 bench/shim.py --shim $(RELEASE_SHIM)
	python3 bench/images.py --berth $(RELEASE_BERTH)
	$(BENCH_CONTAINERS)
	$(BENCH_NETWORK)
	$(BENCH_DAEMON)

# berth-shim alone: idle memory, log throughput and podman's start-up with
# it, each next to conmon's (SHIM_BENCH_ARGS=--quick for a short run).
bench-shim: build
	python3 bench/shim.py --shim $(RELEASE_SHIM) $(SHIM_BENCH_ARGS)

# berth's image side alone: pull + unpack of a 5-layer, 50 MB image from a
# private docker-registry on loopback next to skopeo copy + umoci unpack and
# podman pull (a cold store every run), and `berth images` over 500 images
# (IMAGES_BENCH_ARGS=--runs 3 for a short run).
bench-images: build
	python3 bench/images.py --berth $(RELEASE_BERTH) $(IMAGES_BENCH_ARGS)

# berth's containers end to end: `run --rm busybox true`, `ps -a` over 200
# containers and 50 `run -d` 8 at a time, next to podman and docker (a dockerd
# of its own) each with runc and with berth-runtime. berth is given the runtime
# and shim of this build: they sit in target/$(TARGET)/release, not beside it,
# so the script copies the three into one bin dir (CONTAINERS_BENCH_ARGS=--runs 3
# for a short run).
BENCH_CONTAINERS = python3 bench/containers.py --berth $(RELEASE_BERTH) \
	--berth-runtime $(RELEASE_BIN) --berth-shim $(RELEASE_SHIM) $(CONTAINERS_BENCH_ARGS)
bench-containers: build
	$(BENCH_CONTAINERS)

BENCH_NETWORK = python3 bench/network.py --berth $(RELEASE_BERTH) \
	--berth-runtime $(RELEASE_BIN) --berth-shim $(RELEASE_SHIM)
bench-network: build
	$(BENCH_NETWORK)

# berth daemon next to a dockerd 20.10 of the bench's, both driven by the same
# docker CLI: run --rm, ps -a over 200 exited containers, inspect, 50 HTTP
# clients on /_ping and a container's json, and each daemon's RSS
# (DAEMON_BENCH_ARGS=--quick for a short run).
BENCH_DAEMON = python3 bench/daemon.py --berth $(RELEASE_BERTH) \
	--berth-runtime $(RELEASE_BIN) --berth-shim $(RELEASE_SHIM) $(DAEMON_BENCH_ARGS)
bench-daemon: build
	$(BENCH_DAEMON)

# Fuzzing (fuzz/README.md): every target for FUZZ_SECONDS each (default 300);
# fuzz-smoke is CI's 60 s of each. Both fail on any crash, hang or OOM and
# print the executions of each target.
FUZZ_SECONDS ?= 300
.PHONY: fuzz fuzz-smoke
fuzz:
	CARGO="$(CARGO)" fuzz/run.sh $(FUZZ_SECONDS) $(FUZZ_TARGETS)

fuzz-smoke:
	CARGO="$(CARGO)" fuzz/run.sh 60 $(FUZZ_TARGETS)

# The binaries into $(PREFIX)/bin, and berth daemon's service files (packaging/):
# the init script (`service berth start`), its defaults file (kept when it exists)
# and the systemd units (berth.socket passes /run/berth.sock as fd://). DESTDIR
# stages the whole under another root. install-files installs without building,
# the binaries RELEASE_* name (the tests install a debug build that way).
INITDIR ?= /etc/init.d
DEFAULTDIR ?= /etc/default
UNITDIR ?= /lib/systemd/system
install: build
	$(MAKE) install-files

.PHONY: install-files
install-files:
	install -D -m 0755 $(RELEASE_BIN) $(DESTDIR)$(PREFIX)/bin/berth-runtime
	install -D -m 0755 $(RELEASE_SHIM) $(DESTDIR)$(PREFIX)/bin/berth-shim
	install -D -m 0755 $(RELEASE_BERTH) $(DESTDIR)$(PREFIX)/bin/berth
	install -d $(DESTDIR)$(INITDIR) $(DESTDIR)$(DEFAULTDIR) $(DESTDIR)$(UNITDIR)
	sed 's|@PREFIX@|$(PREFIX)|g' packaging/berth.init > $(DESTDIR)$(INITDIR)/berth
	chmod 0755 $(DESTDIR)$(INITDIR)/berth
	sed 's|@PREFIX@|$(PREFIX)|g' packaging/berth.service > $(DESTDIR)$(UNITDIR)/berth.service
	install -m 0644 packaging/berth.socket $(DESTDIR)$(UNITDIR)/berth.socket
	test -e $(DESTDIR)$(DEFAULTDIR)/berth || \
		install -m 0644 packaging/berth.default $(DESTDIR)$(DEFAULTDIR)/berth

clean:
	$(CARGO) clean
