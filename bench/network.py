#!/usr/bin/env python3
"""What networking adds to `run --rm busybox true` (issue #13): berth, podman and docker,
each on its default bridge next to `--network none`, in a network namespace of the bench's.

    python3 bench/network.py --berth B --berth-shim S --berth-runtime R [--runs N]
        [--no-podman] [--no-docker] [--seed N] [--timeout S]

Python 3 standard library only; must run as root. The bench binds a new network namespace
at a file of its temp dir and runs every engine in it with `nsenter --net=`: each one's
bridge, veths and firewall rules are made there and vanish with it, never on the host's
interfaces. The engines are set up as bench/containers.py sets them up (its classes are
reused), everything of theirs under the temp dir:

    berth run --rm [--network none | (default bridge) | -p 8080:80] busybox true
    podman --runtime runc run --rm [--network none | --network bridge] busybox true
        (Debian's podman 4.3, CNI plugins in /usr/lib/cni; its CNI config dir, with the
        default `podman` network written there, and the IPAM state are under the temp dir)
    docker run --rm [--network none | (default bridge)] busybox true
        (Debian's dockerd 20.10 started inside the namespace with its bridge and iptables
        on; stopped by its pid)

The same busybox rootfs is imported into the three. Every case must first show, from
`ip -o -4 addr` inside the container, an address beyond loopback on a bridge and none
with `--network none`. Then rounds of one run of each case, interleaved (the order
shuffled each round, seeded); the first round is a warm-up and is thrown away. Peers are
optional: a missing binary or a set-up that fails is a note and their rows are left out.
Prints one table (median, min, CPU, and what the bridge adds to each engine's own
`--network none`), whether berth's bridge adds under 5 ms, and berth's added ms against
each peer's. Exits 0 whatever the figures, 1 if a tool fails while measured. Leaves no
process, mount, cgroup, namespace or temp dir behind, also on failure or Ctrl-C.
"""

import argparse
import ctypes
import json
import os
import platform
import random
import secrets
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import types

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.dont_write_bytecode = True  # no bench/__pycache__ in the work tree
import containers as ctr  # noqa: E402  (bench/containers.py: the engines and cleanup)

TARGET_MS = 5.0
CNI_PLUGINS = "/usr/lib/cni"
# Host paths the peers use for networking whatever their flags: the CNI plugins' cache
# (where podman 4.3 has them put it) and the dir podman bind-mounts on itself (shared)
# for the namespaces it names. Removed at the end when absent at the start; /run/netns
# is unmounted if it became a mount point here and holds nothing.
CNI_CACHE = "/var/lib/cni"
NETNS_DIR = "/run/netns"


class Case:
    """One row: an engine on one network. tool: a containers.Tool."""

    def __init__(self, engine, network, tool, bridged):
        self.engine, self.network, self.tool, self.bridged = engine, network, tool, bridged
        self.ms, self.cpu_ms = [], []


def podman_network(pm):
    """podman's default network, as Debian's /etc/cni/net.d/87-podman-bridge.conflist has
    it, written to podman's own CNI config dir with the IPAM state under the temp dir (not
    /var/lib/cni/networks, shared with the host's podman)."""
    conf = {
        "cniVersion": "0.4.0", "name": "podman",
        "plugins": [
            {"type": "bridge", "bridge": "cni-podman0", "isGateway": True, "ipMasq": True,
             "hairpinMode": True,
             "ipam": {"type": "host-local", "dataDir": pm.p("cni-ipam"),
                      "routes": [{"dst": "0.0.0.0/0"}],
                      "ranges": [[{"subnet": "10.88.0.0/16", "gateway": "10.88.0.1"}]]}},
            {"type": "portmap", "capabilities": {"portMappings": True}},
            {"type": "firewall"},
            {"type": "tuning"},
        ],
    }
    with open(pm.p("net/87-podman-bridge.conflist"), "w") as f:
        json.dump(conf, f, indent=1)
    # The plugins' dir said outright (podman's default list has it too).
    with open(pm.p("containers.conf")) as f:
        text = f.read()
    text = text.replace("[network]\n", f'[network]\ncni_plugin_dirs = ["{CNI_PLUGINS}"]\n', 1)
    with open(pm.p("containers.conf"), "w") as f:
        f.write(text)


def check_network(bench, case):
    """Untimed: the container's IPv4 addresses show the network it was asked for, and it
    runs as root and passes its exit status on (a stub that exits 0 at once would
    benchmark beautifully)."""
    t = case.tool
    p = bench.ok(t, "preflight run", t.run_argv(
        "run", "--rm", ctr.IMAGE, "sh", "-c", "ip -o -4 addr; echo ok-$(id -u); exit 3"),
        ok_codes=(3,))
    lines = p.stdout.strip().splitlines()
    addrs = [ln.split()[3] for ln in lines[:-1] if len(ln.split()) > 3 and " inet " in ln]
    outside = [a for a in addrs if not a.startswith("127.")]
    if not lines or lines[-1] != "ok-0" or bool(outside) != case.bridged:
        want = "an address beyond loopback" if case.bridged else "loopback only"
        raise ctr.ToolFailure(t.label, f"preflight: `ip -o -4 addr` in the container shows "
                                       f"{addrs or 'no address'} (want {want}) or the "
                                       f"last line is not ok-0", p)


def setup_podman(pm, bench, tar):
    podman_network(pm)
    argv = pm.argv_for(ctr.RUNC)
    base = ["--cgroup-parent", pm.cgroup_parent]
    cases = [Case("podman", "--network none", ctr.Tool(
                 "podman, --network none", "podman", argv, pm.env,
                 [*base, "--network", "none"]), False),
             Case("podman", "bridge (CNI)", ctr.Tool(
                 "podman, bridge", "podman", argv, pm.env,
                 [*base, "--network", "bridge"]), True)]
    bench.ok(cases[0].tool, "import", argv(
        "import", "--quiet", "--change", 'CMD ["sh"]', tar, ctr.IMAGE))
    return cases


def setup_docker(dk, bench, tar):
    pids = dk.daemon_pids()
    cases = [Case("docker", "--network none", ctr.Tool(
                 "docker, --network none", "docker", dk.argv, dk.env,
                 ["--network", "none"], pids), False),
             Case("docker", "bridge (default)", ctr.Tool(
                 "docker, bridge", "docker", dk.argv, dk.env, [], pids), True)]
    bench.ok(cases[0].tool, "import", dk.argv(
        "import", "--change", 'CMD ["sh"]', tar, ctr.IMAGE))
    return cases


def is_mountpoint(path):
    return path in ctr.mounts()


def host_netns_cleanup(netns_dir_was):
    """What podman's CNI networking leaves on the host: /run/netns made a mount point of
    its own (undone when it was not one and holds nothing) and the CNI cache."""
    notes = []
    existed, was_mount = netns_dir_was
    if not was_mount and is_mountpoint(NETNS_DIR):
        if os.listdir(NETNS_DIR):
            notes.append(f"{NETNS_DIR} became a mount point and is not empty: left as it is")
        elif ctr.LIBC.umount2(os.fsencode(NETNS_DIR), ctr.MNT_DETACH) != 0:
            notes.append(f"umount {NETNS_DIR}: {os.strerror(ctypes.get_errno())}")
    if not existed and os.path.isdir(NETNS_DIR) and not is_mountpoint(NETNS_DIR):
        try:
            os.rmdir(NETNS_DIR)
        except OSError as e:
            notes.append(f"{NETNS_DIR} (absent at the start): {e.strerror}: left as it is")
    return notes


def measure(cases, runs, seed, bench, failures):
    """runs + 1 rounds, each case once per round; round 0 warms the caches. The order is
    shuffled each round (seeded): in a fixed one, each case would always come right after
    the same other, whose tail (a namespace the kernel is still tearing down, a daemon
    still at work) it would pay for. A peer whose run fails is out (both its rows), the
    others go on; berth's failure ends the bench."""
    out = set()
    rng = random.Random(seed)
    print(f"{runs} rounds after a warm-up one, shuffled each round (seed {seed}): "
          + ", ".join(c.tool.label for c in cases), file=sys.stderr, flush=True)
    for i in range(runs + 1):
        order = list(cases)
        rng.shuffle(order)
        for c in order:
            if c.engine in out:
                continue
            try:
                (ns, user, sys_), _ = bench.call(c.tool, "run --rm",
                                                 c.tool.run_argv("run", "--rm", ctr.IMAGE,
                                                                 "true"))
            except ctr.ToolFailure as e:
                if c.engine == "berth":
                    raise
                out.add(c.engine)
                failures.append(str(e))
                print(f"FAILED: {e}\n{c.engine}: left out", file=sys.stderr)
                continue
            if i > 0:
                c.ms.append(ns / 1e6)
                c.cpu_ms.append((user + sys_) / 1e6)
    return [c for c in cases if c.engine not in out]


def report(cases, runs, load0):
    base, added = {}, {}
    for c in cases:
        c.median = statistics.median(c.ms)
        if c.network == "--network none":
            base[c.engine] = c.median
        c.added = c.median - base[c.engine]
        if c.bridged and c.engine not in added:  # the first bridged row: the default
            added[c.engine] = c.added
    print()
    print(f"run --rm busybox true: {runs} runs each after a warm-up round, interleaved, in "
          f"a network namespace of the bench's; {os.cpu_count()} CPUs, load average "
          f"{load0:.1f} at the start, {os.getloadavg()[0]:.1f} at the end")
    print(f"{'engine':<8}{'network':<22}{'median ms':>10}{'min ms':>9}{'added ms':>10}"
          f"{'CPU ms':>9}")
    for c in cases:
        add = "-" if not c.bridged else f"{c.added:+.1f}"
        print(f"{c.engine:<8}{c.network:<22}{c.median:>10.1f}{min(c.ms):>9.1f}{add:>10}"
              f"{statistics.median(c.cpu_ms):>9.1f}")
    print("(added: median minus that engine's own --network none median; CPU: median of "
          "user + sys of the client, what it left running and, for docker, dockerd and "
          "containerd)")
    b = added["berth"]
    print()
    print(f"target (issue #13): berth's bridge adds {b:.1f} ms to the median, want < "
          f"{TARGET_MS:.0f} ms -> {'met' if b < TARGET_MS else 'NOT met'}")
    parts = []
    for peer in ("podman", "docker"):
        if peer not in added:
            parts.append(f"{peer}: not measured")
        elif added[peer] <= 0 or b <= 0:
            parts.append(f"{peer}'s bridge adds {added[peer]:.1f} ms (no ratio of "
                         "a difference at or below 0)")
        else:
            parts.append(f"{b / added[peer]:.2f}× {peer}'s ({added[peer]:.1f} ms)")
    print("berth's added ms against each peer's: " + "; ".join(parts))


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--berth", required=True)
    p.add_argument("--berth-shim", required=True)
    p.add_argument("--berth-runtime", required=True)
    p.add_argument("--runs", type=int, default=30, help="timed rounds (after one warm-up)")
    p.add_argument("--no-podman", action="store_true", help="skip podman")
    p.add_argument("--no-docker", action="store_true", help="skip docker")
    p.add_argument("--seed", type=int, default=0, help="seed of the order within a round")
    p.add_argument("--timeout", type=float, default=120,
                   help="seconds before a process counts as hung")
    a = p.parse_args()
    if a.runs < 1:
        p.error("--runs must be >= 1")
    for attr in ("berth", "berth_shim", "berth_runtime"):
        path = os.path.abspath(getattr(a, attr))
        if not os.access(path, os.X_OK):
            p.error(f"--{attr.replace('_', '-')} {path}: not found or not executable")
        setattr(a, attr, path)
    return a


def interrupted(signum, _frame):
    raise KeyboardInterrupt(signal.Signals(signum).name)


def main():
    args = parse_args()
    if os.geteuid() != 0:
        sys.exit("bench/network.py: run as root")
    if ctr.LIBC.prctl(ctr.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:
        sys.exit(f"network.py: PR_SET_CHILD_SUBREAPER: {os.strerror(ctypes.get_errno())}")
    signal.signal(signal.SIGTERM, interrupted)
    absent = [p for p in (*ctr.HOST_TREES, *ctr.HOST_STATE_DIRS, CNI_CACHE)
              if not os.path.lexists(p)]
    netns_dir_was = (os.path.lexists(NETNS_DIR), is_mountpoint(NETNS_DIR))
    cgroup_entries = set(os.listdir(ctr.CGROUP_ROOT))
    host_before = ctr.snapshot_host()
    load0 = os.getloadavg()[0]
    token = secrets.token_hex(3)
    tmp = tempfile.mkdtemp(prefix="berth-bench-net-")
    engines, bench, failures = {}, None, []
    try:
        netns = os.path.join(tmp, "netns")
        open(netns, "w").close()
        subprocess.run(["unshare", f"--net={netns}", "ip", "link", "set", "lo", "up"],
                       check=True)
        bench = ctr.Bench(types.SimpleNamespace(timeout=args.timeout, parallel=1))
        tar = os.path.join(tmp, "busybox-rootfs.tar")
        ctr.busybox_rootfs_tar(tar)

        berth = engines["berth"] = ctr.Berth(tmp, args, netns)
        cases = [Case("berth", label, ctr.Tool(f"berth, {label}", "berth", berth.argv,
                                               berth.env, flags), bridged)
                 for label, flags, bridged in (
                     ("--network none", ["--network", "none"], False),
                     ("bridge (default)", [], True),
                     ("bridge, -p 8080:80", ["-p", "8080:80"], True))]
        bench.ok(cases[0].tool, "import", berth.argv("import", "-c", 'CMD ["sh"]', tar,
                                                     ctr.IMAGE))
        versions = [f"berth {ctr.version_of([berth.exe, '--version'])}",
                    f"runc {ctr.version_of([ctr.RUNC, '--version'])}"]
        for c in cases:
            check_network(bench, c)

        def peer(name, binaries, setup):
            if getattr(args, f"no_{name}"):
                print(f"note: {name}: skipped (--no-{name})")
                return
            missing = [b for b in binaries if not os.access(b, os.X_OK)]
            if missing:
                print(f"note: {name}: {', '.join(missing)} not installed: its rows are "
                      "left out")
                return
            try:
                got = setup()
                for c in got:
                    check_network(bench, c)
            except (ctr.ToolFailure, ctr.HarnessError, OSError,
                    subprocess.SubprocessError) as e:
                print(f"note: {name}: set-up failed, its rows are left out:\n"
                      f"{ctr.indent(str(e))}")
                return
            versions.append(f"{name}: {ctr.version_of([binaries[0], '--version'])}")
            cases.extend(got)

        def podman():
            pm = engines["podman"] = ctr.Podman(tmp, token, berth.runtime, netns)
            return setup_podman(pm, bench, tar)

        def docker():
            dk = engines["docker"] = ctr.Docker(tmp, token, berth.runtime, 60, netns)
            return setup_docker(dk, bench, tar)

        peer("podman", [ctr.PODMAN, ctr.RUNC], podman)
        peer("docker", [ctr.DOCKERD, ctr.DOCKER], docker)
        print(f"kernel {platform.release()}; " + "; ".join(versions))
        sys.stdout.flush()
        cases = measure(cases, args.runs, args.seed, bench, failures)
        report(cases, args.runs, load0)
        for f in failures:
            print(f"\nfailed while measured:\n{f}")
        return 1 if failures else 0
    except (ctr.ToolFailure, ctr.HarnessError, subprocess.CalledProcessError) as e:
        print(f"FAILED: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("network.py: interrupted", file=sys.stderr)
        return 130
    finally:
        # A second Ctrl-C must not cut the clean-up short.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)

        def before_host():
            notes = []
            # berth's store parent too (runc leaves it; berth-runtime removes it with
            # its last child).
            for rel in [f"/{ctr.BERTH_CGROUP}"] + [f"/berth-bench-ctr-{token}-{e}"
                                                   for e in ("podman", "docker")]:
                _, left = ctr.remove_cgroup(rel)
                if left:
                    notes.append("could not remove cgroups: " + ", ".join(left))
            notes += host_netns_cleanup(netns_dir_was)
            if CNI_CACHE in absent and os.path.isdir(CNI_CACHE):
                shutil.rmtree(CNI_CACHE, ignore_errors=True)
            return notes

        ctr.cleanup(tmp, engines, bench, absent, cgroup_entries, host_before, before_host)


if __name__ == "__main__":
    sys.exit(main())
