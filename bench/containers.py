#!/usr/bin/env python3
"""berth's containers end to end next to podman and docker: run --rm, ps -a, run -d.

    python3 bench/containers.py --berth target/release/berth
        [--berth-runtime PATH] [--berth-shim PATH] [--runs N] [--warmup N]
        [--ps-containers N] [--batch N] [--parallel N] [--batch-runs N]
        [--only run,ps,batch] [--no-podman] [--no-docker] [--json FILE]

Python 3.11 standard library only; must run as root. berth, berth-shim and berth-runtime
are copied into one bin dir of a temp dir (berth finds the other two beside itself), so
the bench runs exactly the binaries given. The same busybox rootfs tarball (Debian's
busybox-static, as scripts/busybox-rootfs.sh makes it) is imported as `busybox` into a
berth store, a podman store and a dockerd (Debian's 20.10, started by the bench on a unix
socket with its data, exec root, containerd and cgroup parent of its own), all under the
temp dir, and then, round-robin (shuffled each round), each engine with its default
runtime (runc for the peers) and with berth-runtime:

    berth run --rm busybox true          (also --runtime runc)
    podman --runtime RUNC|BERTH-RUNTIME run --rm busybox true
    docker run --rm [--runtime berth] busybox true   (dockerd --add-runtime berth=PATH)

then `ps -a` over --ps-containers containers made by `create` (berth, podman, docker),
then --batch `run -d busybox sleep 1000`, --parallel at a time, per engine (wall time of
the batch, then `rm -f` of them all, also timed). Every engine must first run
`sh -c 'echo ok-$(id -u); exit 3'` and print ok-0 and exit 3. Peers are optional (a note
when not installed); berth is required.

Prints medians (min), CPU time and berth's ratio to each, and whether berth's `run --rm`
takes at most 0.2x of podman's and docker's (each with runc). CPU time is everything the
bench can account for: the client and what it reaped, the processes that outlive it (the
bench is a child subreaper, so shims, monitors and podman's cleanup come back to it and
are waited for before the next run) and dockerd's and containerd's own time. Exits 0
whatever the figures, 1 if a tool fails (its command, exit status and stderr are
printed). Leaves no process, mount, cgroup or temp dir behind, also on failure or Ctrl-C.
"""

import argparse
import concurrent.futures
import ctypes
import hashlib
import http.client
import io
import json
import os
import platform
import random
import resource
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time

BUSYBOX = "/bin/busybox"
PODMAN = "/usr/bin/podman"
DOCKERD = "/usr/sbin/dockerd"
# Debian's client, from the same docker.io package as the daemon (the 28.2 client first
# in PATH also talks to it, through one more API version negotiation).
DOCKER = "/usr/bin/docker"
RUNC = "/usr/sbin/runc"
IMAGE = "busybox"
TARGET_RATIO = 0.2
CGROUP_ROOT = "/sys/fs/cgroup"
TMPFS_MAGIC = 0x01021994
MNT_DETACH = 2
PR_SET_CHILD_SUBREAPER = 36
# berth names each container's cgroup <parent>/<id> in every hierarchy, the parent
# being its store's (`default_cgroup_parent` in frontend/src/container/spec.rs):
# /berth for the default store, /berth-<12 hex of sha256(store path)> for any other.
# Set once the bench's store is known.
BERTH_CGROUP = "berth"


def store_cgroup_parent(root):
    root = os.path.abspath(root)
    if root == "/var/lib/berth":
        return "berth"
    return "berth-" + hashlib.sha256(root.encode()).hexdigest()[:12]
# What the peers create outside our dirs whatever their flags (removed at the end if
# absent at the start): whole trees, and runtime state dirs (podman passes runc no
# --root; dockerd makes /run/docker/plugins, containerd's shims /run/containerd/s),
# of which only empty dirs are removed: another user may have state in them meanwhile.
HOST_TREES = ("/var/lib/containers", "/dev/shm/libpod_lock")
HOST_STATE_DIRS = ("/run/docker", "/run/containerd", "/run/runc", "/run/berth-runtime",
                   "/run/libpod")
# Top-level entries compared before and after: anything new there is reported.
WATCHED_DIRS = ("/run", "/var/lib", "/dev/shm", "/etc")
LIBC = ctypes.CDLL(None, use_errno=True)


class HarnessError(Exception):
    pass


class ToolFailure(Exception):
    def __init__(self, tool, what, proc=None):
        detail = ""
        if proc is not None:
            detail = (f"\n  command: {' '.join(proc.args)}\n  exit: {proc.returncode}"
                      f"\n  stdout: {proc.stdout.strip()[-500:]!r}\n  stderr:\n"
                      + indent(proc.stderr.strip()[-4000:] or "(empty)"))
        super().__init__(f"{tool}: {what}{detail}")


def indent(text, pad="    "):
    return "\n".join(pad + line for line in text.splitlines())


def version_of(argv):
    try:
        v = subprocess.run(argv, capture_output=True, text=True, stdin=subprocess.DEVNULL,
                           timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return "?"
    out = (v.stdout.strip() or v.stderr.strip()).splitlines()
    return out[0] if v.returncode == 0 and out else "?"


def busybox_rootfs_tar(path):
    """What scripts/busybox-rootfs.sh writes: /bin/busybox, its applets as relative links,
    /etc/passwd and /etc/group, owned by 0:0."""
    def entry(name, type_, mode, size=0):
        ti = tarfile.TarInfo(name)
        ti.type, ti.mode, ti.size, ti.mtime = type_, mode, size, 1767225600
        ti.uid = ti.gid = 0
        return ti

    applets = subprocess.run([BUSYBOX, "--list"], capture_output=True, text=True,
                             check=True).stdout.split()
    with tarfile.open(path, "w") as t:
        for d in ("bin", "etc", "proc", "sys", "dev", "root"):
            t.addfile(entry(d, tarfile.DIRTYPE, 0o755))
        t.addfile(entry("tmp", tarfile.DIRTYPE, 0o1777))
        with open(BUSYBOX, "rb") as f:
            data = f.read()
        t.addfile(entry("bin/busybox", tarfile.REGTYPE, 0o755, len(data)), io.BytesIO(data))
        for a in applets:
            if a != "busybox":
                ti = entry(f"bin/{a}", tarfile.SYMTYPE, 0o777)
                ti.linkname = "busybox"
                t.addfile(ti)
        for name, text in (("etc/passwd", "root:x:0:0:root:/root:/bin/sh\n"),
                           ("etc/group", "root:x:0:\n")):
            t.addfile(entry(name, tarfile.REGTYPE, 0o644, len(text)), io.BytesIO(text.encode()))


# ---------------------------------------------------------------------------
# Processes: the bench is a child subreaper, so what a client leaves running (shims,
# conmon, podman's exit command) is reparented to it, waited for and counted.
# ---------------------------------------------------------------------------
def proc_stat(pid):
    """(state, ppid, user ticks, sys ticks) with its reaped children's, or None."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            s = f.read()
    except OSError:
        return None
    rest = s[s.rfind(")") + 2:].split()
    return (rest[0], int(rest[1]), int(rest[11]) + int(rest[13]),
            int(rest[12]) + int(rest[14]))


def children():
    """{pid: state} of the bench's children, orphans it adopted included."""
    me, out = os.getpid(), {}
    for d in os.listdir("/proc"):
        if d.isdigit():
            st = proc_stat(d)
            if st is not None and st[1] == me:
                out[int(d)] = st[0]
    return out


def settle(keep, wait_s):
    """Reaps the exited children not in `keep` and waits up to wait_s for the others
    to exit; returns the pids still running."""
    deadline = time.monotonic() + wait_s
    while True:
        kids = {p: s for p, s in children().items() if p not in keep}
        for p, s in kids.items():
            if s == "Z":
                try:
                    os.waitpid(p, os.WNOHANG)
                except ChildProcessError:
                    pass
        alive = [p for p, s in kids.items() if s != "Z"]
        if not alive or time.monotonic() >= deadline:
            return alive
        time.sleep(0.005)


def children_cpu_ns():
    """(user, sys) ns of every child reaped so far, their reaped descendants included."""
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return int(ru.ru_utime * 1e9), int(ru.ru_stime * 1e9)


def daemons_cpu_ns(pids):
    """(user, sys) ns of running daemons and the children they reaped (10 ms ticks)."""
    tick = 1e9 / os.sysconf("SC_CLK_TCK")
    user = sys_ = 0
    for pid in pids:
        st = proc_stat(pid)
        if st is not None:
            user += st[2]
            sys_ += st[3]
    return int(user * tick), int(sys_ * tick)


def add(a, b):
    return tuple(x + y for x, y in zip(a, b))


def sub(a, b):
    return tuple(x - y for x, y in zip(a, b))


def mounts():
    with open("/proc/self/mountinfo") as f:
        return [line.split()[4].replace("\\040", " ") for line in f]


def mounts_under(path):
    return [m for m in mounts() if m == path or m.startswith(path + "/")]


def unmount_under(path):
    found = mounts_under(path)
    for m in sorted(found, key=len, reverse=True):
        if LIBC.umount2(os.fsencode(m), MNT_DETACH) != 0:
            print(f"containers.py: umount {m}: {os.strerror(ctypes.get_errno())}",
                  file=sys.stderr)
    return len(found)


# ---------------------------------------------------------------------------
# The engines
# ---------------------------------------------------------------------------
class Tool:
    """One column: an engine with one runtime. argv(*args) is its command line; run_flags
    go after `run`/`create`; daemons are pids whose CPU time counts as the tool's."""

    def __init__(self, label, family, argv, env, run_flags=(), daemons=()):
        self.label, self.family, self.argv, self.env = label, family, argv, env
        self.run_flags, self.daemons = list(run_flags), daemons

    def run_argv(self, verb, *rest):
        return self.argv(verb, *self.run_flags, *rest)


def in_netns(netns):
    """The prefix that runs a command in the network namespace bound at `netns` (None:
    the bench's own), as bench/network.py runs every engine."""
    return ["nsenter", f"--net={netns}", "--"] if netns else []


class Berth:
    def __init__(self, tmp, args, netns=None):
        self.wrap = in_netns(netns)
        self.bin = os.path.join(tmp, "bin")
        os.makedirs(self.bin)
        # Copies, not links: berth looks beside its own resolved path for the other two.
        for name, src in (("berth", args.berth), ("berth-shim", args.berth_shim),
                          ("berth-runtime", args.berth_runtime)):
            shutil.copy2(src, os.path.join(self.bin, name))
        self.exe = os.path.join(self.bin, "berth")
        self.runtime = os.path.join(self.bin, "berth-runtime")
        self.root = os.path.join(tmp, "berth", "root")
        global BERTH_CGROUP
        BERTH_CGROUP = store_cgroup_parent(self.root)
        self.runroot = os.path.join(tmp, "berth", "run")
        os.makedirs(os.path.join(tmp, "berth", "tmp"))
        self.env = dict(os.environ, TMPDIR=os.path.join(tmp, "berth", "tmp"),
                        DOCKER_CONFIG=os.path.join(tmp, "berth", "docker-config"))

    def argv(self, *a):
        return [*self.wrap, self.exe, "--root", self.root, "--runroot", self.runroot, *a]

    def tools(self):
        # --network none, as for the peers: their bridges would be the host's.
        # bench/network.py measures the three bridges inside a namespace of its own.
        none = ["--network", "none"]
        return [Tool("berth (berth-runtime)", "berth", self.argv, self.env, none),
                Tool("berth (runc)", "berth", self.argv, self.env, [*none, "--runtime", "runc"])]


class Podman:
    def __init__(self, tmp, token, berth_runtime, netns=None):
        self.d = os.path.join(tmp, "podman")
        self.wrap = in_netns(netns)
        self.cgroup_parent = f"/berth-bench-ctr-{token}-podman"
        for sub_ in ("net", "tmp"):
            os.makedirs(self.p(sub_))
        with open(self.p("containers.conf"), "w") as f:
            f.write(f"""[containers]
netns = "none"
log_driver = "k8s-file"
# podman's default nofile=1048576 is above some hosts' hard limit.
default_ulimits = ["nofile=20000:20000", "nproc=32768:32768"]

[network]
network_backend = "cni"
network_config_dir = "{self.p('net')}"

[engine]
cgroup_manager = "cgroupfs"
events_logger = "file"
events_logfile_path = "{self.p('events.log')}"
tmp_dir = "{self.p('tmp')}"
volume_path = "{self.p('volumes')}"
image_copy_tmp_dir = "{self.p('tmp')}"
lock_type = "file"
runtime_supports_json = ["crun", "runc", "{os.path.basename(berth_runtime)}"]
""")
        with open(self.p("storage.conf"), "w") as f:
            f.write(f'[storage]\ndriver = "overlay"\ngraphroot = "{self.p("root")}"\n'
                    f'runroot = "{self.p("run")}"\n')
        with open(self.p("registries.conf"), "w") as f:
            f.write("unqualified-search-registries = []\n")
        self.env = dict(os.environ, CONTAINERS_CONF=self.p("containers.conf"),
                        CONTAINERS_STORAGE_CONF=self.p("storage.conf"),
                        CONTAINERS_REGISTRIES_CONF=self.p("registries.conf"),
                        TMPDIR=self.p("tmp"))
        self.berth_runtime = berth_runtime

    def p(self, rel):
        return os.path.join(self.d, rel)

    def argv_for(self, runtime):
        def argv(*a):
            return [*self.wrap, PODMAN, "--root", self.p("root"), "--runroot", self.p("run"),
                    "--runtime", runtime, *a]
        return argv

    def tools(self):
        flags = ["--network", "none", "--cgroup-parent", self.cgroup_parent]
        return [Tool("podman (runc)", "podman", self.argv_for(RUNC), self.env, flags),
                Tool("podman (berth-runtime)", "podman", self.argv_for(self.berth_runtime),
                     self.env, flags)]


class Docker:
    """dockerd 20.10 with everything of its own under the temp dir, stopped by its pid.
    With `netns`, it runs in that network namespace with its bridge and iptables on
    (bench/network.py); without, on the host's with no networking of its own."""

    def __init__(self, tmp, token, berth_runtime, timeout, netns=None):
        self.d = os.path.join(tmp, "docker")
        self.cgroup_parent = f"/berth-bench-ctr-{token}-docker"
        os.makedirs(self.p("config"))
        self.sock = self.p("docker.sock")
        with open(self.p("daemon.json"), "w") as f:
            json.dump({"deprecated-key-path": self.p("key.json")}, f)
        self.env = dict(os.environ, DOCKER_CONFIG=self.p("config"))
        self.log = self.p("dockerd.log")
        no_net = [] if netns else ["--iptables=false", "--ip-masq=false", "--bridge=none"]
        # nsenter execs dockerd: self.proc.pid is dockerd's.
        argv = [*in_netns(netns), DOCKERD, "-H", f"unix://{self.sock}",
                "--data-root", self.p("root"), "--exec-root", self.p("x"),
                "-p", self.p("dockerd.pid"), "--config-file", self.p("daemon.json"),
                "--storage-driver", "overlay2", *no_net, "--ip6tables=false",
                "--userland-proxy=false", "--cgroup-parent", self.cgroup_parent,
                "--add-runtime", f"berth={berth_runtime}"]
        with open(self.log, "ab") as logf:
            self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=logf,
                                         stderr=logf, env=self.env)
        if not self.wait_ready(timeout):
            self.stop()
            raise HarnessError(f"dockerd did not answer on {self.sock}:\n"
                               f"{indent(self.log_text())}")

    def p(self, rel):
        return os.path.join(self.d, rel)

    def wait_ready(self, timeout):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                return False
            try:
                s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                s.settimeout(2)
                s.connect(self.sock)
                conn = http.client.HTTPConnection("localhost", timeout=2)
                conn.sock = s
                conn.request("GET", "/_ping")
                if conn.getresponse().status == 200:
                    conn.close()
                    return True
                conn.close()
            except OSError:
                pass
            time.sleep(0.1)
        return False

    def log_text(self):
        try:
            with open(self.log, errors="replace") as f:
                return f.read()[-4000:].strip() or "(empty log)"
        except OSError:
            return "(no log)"

    def daemon_pids(self):
        """dockerd and the containerd it started (its child)."""
        if self.proc.poll() is not None:
            return []
        pids = [self.proc.pid]
        for d in os.listdir("/proc"):
            if d.isdigit():
                st = proc_stat(d)
                if st is not None and st[1] == self.proc.pid:
                    pids.append(int(d))
        return pids

    def argv(self, *a):
        return [DOCKER, "-H", f"unix://{self.sock}", *a]

    def tools(self):
        pids = self.daemon_pids()
        return [Tool("docker (runc)", "docker", self.argv, self.env, ["--network", "none"],
                     pids),
                Tool("docker (berth-runtime)", "docker", self.argv, self.env,
                     ["--network", "none", "--runtime", "berth"], pids)]

    def stop(self):
        if self.proc.poll() is not None:
            return
        self.proc.terminate()
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def berth_cgroups():
    """Names under /berth in every cgroup hierarchy (berth-runtime's and runc's
    containers of berth)."""
    found = set()
    for h in os.listdir(CGROUP_ROOT):
        try:
            found.update(os.listdir(os.path.join(CGROUP_ROOT, h, BERTH_CGROUP)))
        except OSError:
            continue
    return {n for n in found if len(n) == 64 and all(c in "0123456789abcdef" for c in n)}


# ---------------------------------------------------------------------------
# Timing
# ---------------------------------------------------------------------------
class Bench:
    def __init__(self, args):
        self.args = args
        self.timeout = args.timeout
        # berth cgroups that appeared during a berth command: ours, checked at the end.
        self.berth_cgroups = set()
        # Per tool: how many commands left a process running beyond the settle time.
        self.lingering = {}

    def call(self, tool, what, argv, settle_s=5.0, keep=None):
        """(wall, user, sys) ns of one process, and its stdout. CPU time includes what
        it leaves running, waited for (up to settle_s) after the wall time is taken,
        and the tool's daemons'. The bench's children but `keep` (default: those
        running before) must exit in that time."""
        before_kids = set(children()) if keep is None else keep
        before_cg = berth_cgroups() if tool.family == "berth" else None
        cpu0, d0 = children_cpu_ns(), daemons_cpu_ns(tool.daemons)
        t0 = time.perf_counter_ns()
        try:
            p = subprocess.run(argv, env=tool.env, stdin=subprocess.DEVNULL,
                               capture_output=True, timeout=self.timeout)
        except subprocess.TimeoutExpired:
            raise ToolFailure(tool.label, f"{what} did not finish in {self.timeout} s: "
                                          f"{' '.join(argv)}")
        ns = time.perf_counter_ns() - t0
        if settle(before_kids, settle_s) and settle_s:
            self.lingering[tool.label] = self.lingering.get(tool.label, 0) + 1
        cpu = add(sub(children_cpu_ns(), cpu0), sub(daemons_cpu_ns(tool.daemons), d0))
        if before_cg is not None:
            self.berth_cgroups |= berth_cgroups() - before_cg
        p.stdout, p.stderr = (p.stdout.decode(errors="replace"),
                              p.stderr.decode(errors="replace"))
        if p.returncode != 0:
            raise ToolFailure(tool.label, f"{what} failed", p)
        return (ns, *cpu), p.stdout

    def ok(self, tool, what, argv, timeout=None, ok_codes=(0,)):
        """Untimed: the completed process."""
        try:
            p = subprocess.run(argv, env=tool.env, stdin=subprocess.DEVNULL,
                               capture_output=True, text=True,
                               timeout=timeout or self.timeout)
        except subprocess.TimeoutExpired:
            raise ToolFailure(tool.label, f"{what} did not finish: {' '.join(argv)}")
        if p.returncode not in ok_codes:
            raise ToolFailure(tool.label, f"{what} failed", p)
        return p

    def preflight(self, tool):
        """A stub that exits 0 at once would benchmark beautifully."""
        p = self.ok(tool, "preflight run", tool.run_argv(
            "run", "--rm", IMAGE, "sh", "-c", "echo ok-$(id -u); exit 3"), ok_codes=(3,))
        if p.stdout.strip() != "ok-0":
            raise ToolFailure(tool.label, f"preflight: `run --rm {IMAGE} sh -c ...` printed "
                                          f"{p.stdout.strip()!r}, not 'ok-0'", p)

    # -- scenarios ----------------------------------------------------------
    def run_rm(self, tool):
        got, _ = self.call(tool, "run --rm", tool.run_argv("run", "--rm", IMAGE, "true"))
        return {"": got}

    def ps(self, tool, n):
        got, out = self.call(tool, "ps -a", tool.argv("ps", "-a"), settle_s=0)
        rows = len(out.splitlines()) - 1
        if rows != n:
            raise ToolFailure(tool.label, f"ps -a lists {rows} containers, not {n}")
        return {"": got}

    def fill(self, tool, n):
        """Untimed: n containers made by `create`, --parallel at a time. Returns the
        containers that `create` reported (exit 0, an id) and `ps -a` does not list: they
        are made up for one at a time, so that `ps -a` is still measured over n."""
        def one(_):
            return self.ok(tool, "create", tool.run_argv("create", IMAGE, "true")).stdout

        with concurrent.futures.ThreadPoolExecutor(self.args.parallel) as ex:
            made = {out.strip().splitlines()[-1] for out in ex.map(one, range(n))}
        settle(set(), 0)
        listed = set(self.ok(tool, "ps -a -q", tool.argv("ps", "-a", "-q", "--no-trunc"))
                     .stdout.split())
        lost = sorted(made - listed)
        for _ in lost:
            one(None)
        return lost

    def batch(self, tool, n):
        """n `run -d sleep`, --parallel in flight: the batch's wall time; then all
        removed with one `rm -f`, timed too."""
        def one(_):
            p = subprocess.run(tool.run_argv("run", "-d", IMAGE, "sleep", "1000"),
                               env=tool.env, stdin=subprocess.DEVNULL, capture_output=True,
                               text=True, timeout=self.timeout)
            if p.returncode != 0:
                raise ToolFailure(tool.label, "run -d failed", p)
            return p.stdout.strip().splitlines()[-1]

        before_cg = berth_cgroups() if tool.family == "berth" else None
        # The batch's shims must be gone after its `rm -f`: their CPU is that row's, not
        # the next tool's.
        before_kids = set(children())
        cpu0, d0 = children_cpu_ns(), daemons_cpu_ns(tool.daemons)
        ids, errors = [], []
        t0 = time.perf_counter_ns()
        with concurrent.futures.ThreadPoolExecutor(self.args.parallel) as ex:
            for f in [ex.submit(one, i) for i in range(n)]:
                try:
                    ids.append(f.result())
                except (ToolFailure, subprocess.TimeoutExpired) as e:
                    errors.append(e)
        ns = time.perf_counter_ns() - t0
        settle(set(), 0)
        run_cpu = add(sub(children_cpu_ns(), cpu0), sub(daemons_cpu_ns(tool.daemons), d0))
        try:
            if not errors:
                out = self.ok(tool, "ps -q", tool.argv("ps", "-q", "--no-trunc")).stdout
                running = set(out.split())
                if not set(ids) <= running:
                    errors.append(ToolFailure(tool.label, f"after {n} run -d, "
                                              f"{len(set(ids) - running)} are not running"))
        finally:
            rm = ["rm", "-f", "--time", "0"] if tool.family == "podman" else ["rm", "-f"]
            removed = None
            if ids:
                removed, _ = self.call(tool, f"rm -f of {len(ids)}", tool.argv(*rm, *ids),
                                       settle_s=30, keep=before_kids)
            if before_cg is not None:
                self.berth_cgroups |= berth_cgroups() - before_cg
        if errors:
            raise errors[0]
        return {"run -d": (ns, *run_cpu), "rm -f": removed}


def summarize(samples):
    """[(wall, user, sys) ns] -> stats in ms."""
    ms, user, sys_ = ([s[i] / 1e6 for s in samples] for i in range(3))
    cpu = [u + k for u, k in zip(user, sys_)]
    return {"median_ms": statistics.median(ms), "min_ms": min(ms),
            "median_cpu_ms": statistics.median(cpu), "median_user_ms": statistics.median(user),
            "median_sys_ms": statistics.median(sys_), "n": len(ms),
            "ms": [round(x, 2) for x in ms], "user_ms": [round(x, 2) for x in user],
            "sys_ms": [round(x, 2) for x in sys_]}


def measure(label, tools, runs, warmup, rng, res, failures):
    """tools: {label: fn() -> {row: (wall, user, sys) ns}}, row "" being the scenario
    itself. Round-robin, shuffled each round; warm-up rounds thrown away; a tool that
    fails is out of the scenario (its message kept) and the others go on."""
    print(f"[{label}] {runs} runs + {warmup} warm-up each: {', '.join(tools)}",
          file=sys.stderr)
    got = {t: {} for t in tools}
    out = set()
    for i in range(warmup + runs):
        order = list(tools)
        rng.shuffle(order)
        for t in order:
            if t in out:
                continue
            try:
                r = tools[t]()
            except ToolFailure as e:
                out.add(t)
                failures[f"{label} ({t})"] = str(e)
                print(f"FAILED: {e}", file=sys.stderr)
                continue
            if i >= warmup:
                for k, s in r.items():
                    got[t].setdefault(k, []).append(s)
    for t in tools:
        if t not in out:
            for k, v in got[t].items():
                res.setdefault(f"{label}: {k}" if k else label, {})[t] = summarize(v)


# ---------------------------------------------------------------------------
# Report
# ---------------------------------------------------------------------------
def fmt_ratio(a, b, key):
    if a is None or b is None or not b[key]:
        return "-"
    r = a[key] / b[key]
    return f"{r:.3f}×" if r < 0.1 else f"{r:.2f}×"


def report(res, order, args):
    w = max([len(t) + 2 for row in res.values() for t in row] + [40])
    head = (f"{'':<{w}}{'wall ms':>16}{'CPU ms, u + s':>18}{'berth/this':>12}"
            f"{'CPU ratio':>11}")
    print()
    print(f"median (min); CPU: medians of user + sys of the client, what it left running "
          f"and the daemons")
    print(head)
    for row in order:
        per = res.get(row)
        if not per:
            print(f"{row}: not measured")
            continue
        print(row)
        base = per.get("berth (berth-runtime)") or per.get("berth")
        for t, st in per.items():
            wall = f"{st['median_ms']:.0f} ({st['min_ms']:.0f})"
            if st["median_ms"] < 100:
                wall = f"{st['median_ms']:.1f} ({st['min_ms']:.1f})"
            cpu = f"{st['median_user_ms']:.0f} + {st['median_sys_ms']:.0f}"
            same = st is base
            print(f"  {t:<{w - 2}}{wall:>16}{cpu:>18}"
                  f"{'-' if same else fmt_ratio(base, st, 'median_ms'):>12}"
                  f"{'-' if same else fmt_ratio(base, st, 'median_cpu_ms'):>11}")

    per = res.get("run --rm busybox true", {})
    base = per.get("berth (berth-runtime)")
    parts, verdicts = [], []
    for peer in ("podman (runc)", "docker (runc)"):
        st = per.get(peer)
        if base is None or st is None:
            parts.append(f"{peer}: not measured")
            verdicts.append(None)
            continue
        r = base["median_ms"] / st["median_ms"]
        ok = r <= TARGET_RATIO
        verdicts.append(ok)
        parts.append(f"{r:.2f}× {peer} (want ≤ {TARGET_RATIO}: {'yes' if ok else 'NO'})")
    met = False if False in verdicts else (None if None in verdicts else True)
    verdict = {True: "target holds", False: "target NOT met",
               None: "target not fully evaluated"}[met]
    text = "target (berth's `run --rm` median against each peer's with runc): " \
        + "; ".join(parts) + f" -> {verdict}"
    print()
    print(text)
    print(f"load average at the end: {os.getloadavg()[0]:.1f}")
    return {"met": met, "text": text}


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--berth", default="target/release/berth", help="the berth binary")
    p.add_argument("--berth-runtime", help="berth-runtime (default: beside --berth, else "
                   "target/<host>/release/berth-runtime, else in PATH)")
    p.add_argument("--berth-shim", help="berth-shim (found as --berth-runtime is)")
    p.add_argument("--runs", type=int, default=10, help="timed runs per tool for run and ps")
    p.add_argument("--warmup", type=int, default=1, help="untimed runs first, per tool")
    p.add_argument("--ps-containers", type=int, default=200,
                   help="containers in each store for ps -a")
    p.add_argument("--batch", type=int, default=50, help="run -d containers per batch")
    p.add_argument("--parallel", type=int, default=8, help="run -d (and create) in flight")
    p.add_argument("--batch-runs", type=int, default=3, help="batches per tool")
    p.add_argument("--only", default="", help="run, ps, batch (comma separated; default all)")
    p.add_argument("--no-podman", action="store_true", help="skip podman")
    p.add_argument("--no-docker", action="store_true", help="skip docker")
    p.add_argument("--seed", type=int, default=0, help="seed for the order within a round")
    p.add_argument("--timeout", type=float, default=120,
                   help="seconds before a process counts as hung")
    p.add_argument("--json", metavar="FILE", help="also write every sample as JSON")
    a = p.parse_args()
    if min(a.runs, a.ps_containers, a.batch, a.parallel, a.batch_runs) < 1 or a.warmup < 0:
        p.error("--runs, --ps-containers, --batch, --parallel and --batch-runs must be >= 1, "
                "--warmup >= 0")
    a.only = {w.strip() for w in a.only.split(",") if w.strip()} or {"run", "ps", "batch"}
    if a.only - {"run", "ps", "batch"}:
        p.error(f"unknown --only {', '.join(sorted(a.only - {'run', 'ps', 'batch'}))}; "
                "choose from: run, ps, batch")
    a.berth = os.path.abspath(a.berth)
    if not os.access(a.berth, os.X_OK):
        p.error(f"--berth {a.berth}: not found or not executable (build it first: make build)")
    host = subprocess.run(["rustc", "-vV"], capture_output=True, text=True).stdout \
        if shutil.which("rustc") else ""
    triple = next((ln.split(": ", 1)[1] for ln in host.splitlines()
                   if ln.startswith("host: ")), "")
    for attr, name in (("berth_runtime", "berth-runtime"), ("berth_shim", "berth-shim")):
        given = getattr(a, attr)
        if given is None:
            here = os.path.dirname(a.berth)
            candidates = [os.path.join(here, name)]
            if triple:
                candidates.append(os.path.join(os.path.dirname(here), triple, "release", name))
            given = next((c for c in candidates if os.access(c, os.X_OK)), shutil.which(name))
        if given is None or not os.access(given, os.X_OK):
            p.error(f"{name} not found: pass --{name} (make build puts it in "
                    "target/<host>/release)")
        setattr(a, attr, os.path.abspath(given))
    return a


# ---------------------------------------------------------------------------
# Cleanup: nothing of ours is left, nothing else is touched
# ---------------------------------------------------------------------------
def strays(tmp):
    """Processes whose command line names the temp dir (shims, monitors, containerd) or
    whose root is under it (containers)."""
    needle = (tmp + "/").encode()
    me, found = os.getpid(), []
    for d in os.listdir("/proc"):
        if not d.isdigit() or int(d) == me:
            continue
        try:
            with open(f"/proc/{d}/cmdline", "rb") as f:
                cmdline = f.read()
            root = os.readlink(f"/proc/{d}/root")
        except OSError:
            continue
        if needle in cmdline or root.startswith(tmp + "/"):
            found.append(int(d))
    return found


def fs_magic(path):
    class Statfs(ctypes.Structure):
        _fields_ = [("f_type", ctypes.c_long), ("rest", ctypes.c_byte * 112)]
    st = Statfs()
    if LIBC.statfs(os.fsencode(path), ctypes.byref(st)) != 0:
        return None
    return st.f_type


def remove_cgroup(rel):
    """`rel` in every hierarchy: rmdir depth first on cgroupfs (it fails on a cgroup with
    processes), plain directories that conmon makes on the /sys/fs/cgroup tmpfs for
    controllers the host does not mount. Returns (removed, left) paths."""
    removed, left = [], []
    for h in sorted(os.listdir(CGROUP_ROOT)):
        root = os.path.join(CGROUP_ROOT, h, rel.lstrip("/"))
        if not os.path.isdir(root):
            continue
        if fs_magic(root) == TMPFS_MAGIC:
            shutil.rmtree(root, ignore_errors=True)
        else:
            for _ in range(50):
                for d, _, _ in sorted(os.walk(root), key=lambda w: -w[0].count("/")):
                    try:
                        os.rmdir(d)
                    except OSError:
                        pass
                if not os.path.exists(root):
                    break
                time.sleep(0.1)
        (left if os.path.exists(root) else removed).append(root)
    return removed, left


def remove_empty_dirs(top):
    """Empty directories under and including `top`, deepest first; what remains."""
    for d, _, _ in sorted(os.walk(top), key=lambda w: -w[0].count("/")):
        try:
            os.rmdir(d)
        except OSError:
            pass
    return os.path.exists(top)


def snapshot_host():
    out = {}
    for d in WATCHED_DIRS:
        try:
            out[d] = set(os.listdir(d))
        except OSError:
            out[d] = set()
    return out


def cleanup(tmp, engines, bench, absent, cgroup_entries, host_before, before_host=None):
    """Every container removed through its engine, dockerd stopped, then by pid whatever
    is left of ours, cgroups, mounts, the temp dir and what the peers made on the host.
    before_host() (returning notes) runs once the temp dir is gone, before the host's
    dirs are seen to."""
    notes = []
    berth, podman, docker = engines.get("berth"), engines.get("podman"), engines.get("docker")
    berth_ids = set()
    if berth is not None and os.path.exists(os.path.join(berth.root, "berth.db")):
        env = berth.env
        try:
            ids = subprocess.run(berth.argv("ps", "-a", "-q", "--no-trunc"), env=env,
                                 capture_output=True, text=True, timeout=60).stdout.split()
            berth_ids.update(ids)
            if ids:
                subprocess.run(berth.argv("rm", "-f", *ids), env=env, capture_output=True,
                               timeout=300)
        except subprocess.TimeoutExpired:
            notes.append("berth rm -f of what was left did not finish")
        left = mounts_under(berth.root) + mounts_under(berth.runroot)
        if left:
            notes.append(f"berth left {len(left)} mount(s) after rm -f of every container, "
                         f"e.g. {left[0]} (unmounted)")
    if podman is not None:
        try:
            subprocess.run(podman.argv_for(RUNC)("rm", "--all", "--force", "--time", "0"),
                           env=podman.env, capture_output=True, timeout=300)
        except subprocess.TimeoutExpired:
            notes.append("podman rm --all did not finish")
    if docker is not None:
        try:
            ids = subprocess.run(docker.argv("ps", "-a", "-q"), env=docker.env,
                                 capture_output=True, text=True, timeout=60).stdout.split()
            if ids:
                subprocess.run(docker.argv("rm", "-f", *ids), env=docker.env,
                               capture_output=True, timeout=300)
        except subprocess.TimeoutExpired:
            notes.append("docker rm -f of what was left did not finish")
        docker.stop()
    settle(set(), 5)
    for _ in range(50):
        pids = strays(tmp)
        if not pids:
            break
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        time.sleep(0.1)
        settle(set(), 0)
    else:
        notes.append(f"processes survive SIGKILL: {strays(tmp)}")
    settle(set(), 1)
    for e in (podman, docker):
        if e is not None:
            _, left = remove_cgroup(e.cgroup_parent)
            if left:
                notes.append("could not remove cgroups: " + ", ".join(left))
    ours = berth_ids | (bench.berth_cgroups if bench is not None else set())
    stale = sorted(ours & berth_cgroups())
    for cid in stale:
        _, left = remove_cgroup(f"/{BERTH_CGROUP}/{cid}")
        if left:
            notes.append("could not remove cgroups: " + ", ".join(left))
    if stale:
        notes.append(f"berth left {len(stale)} container cgroup(s) under /{BERTH_CGROUP} "
                     f"after its containers were removed, e.g. {stale[0][:12]} (removed)")
    # The store's own parent: runc leaves it (berth-runtime removes it with its last
    # child).
    remove_cgroup(f"/{BERTH_CGROUP}")
    for name in set(os.listdir(CGROUP_ROOT)) - cgroup_entries:
        path = os.path.join(CGROUP_ROOT, name)
        if fs_magic(path) == TMPFS_MAGIC:
            remove_empty_dirs(path)
    unmount_under(tmp)
    shutil.rmtree(tmp, ignore_errors=True)
    if before_host is not None:
        notes += before_host()
    for p in absent:
        if p in HOST_TREES:
            if os.path.isdir(p) and not os.path.islink(p):
                shutil.rmtree(p, ignore_errors=True)
            elif os.path.lexists(p):
                os.unlink(p)
        elif os.path.isdir(p) and remove_empty_dirs(p):
            notes.append(f"{p} (absent at the start) is not empty: left as it is")
    after = snapshot_host()
    new = [os.path.join(d, n) for d in WATCHED_DIRS for n in sorted(after[d] - host_before[d])]
    if new:
        notes.append("new on the host since the start (not ours to remove, or another "
                     "user's): " + ", ".join(new))
    for n in notes:
        print(f"note: {n}", file=sys.stderr)
    return notes


def header(args, tools_info):
    print(f"berth container bench: {args.runs} runs + {args.warmup} warm-up per tool for "
          f"run and ps, round-robin (shuffled each round, seed {args.seed}); kernel "
          f"{platform.release()}, {os.cpu_count()} CPUs, load average "
          f"{os.getloadavg()[0]:.1f} at the start (other work on the machine slows all "
          f"alike: compare ratios from one run)")
    for name, (path, version) in tools_info.items():
        print(f"  {name:<14} {path}  ({version})")


def main():
    args = parse_args()
    if os.geteuid() != 0:
        sys.exit("containers.py: must run as root")
    if LIBC.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:
        sys.exit(f"containers.py: PR_SET_CHILD_SUBREAPER: {os.strerror(ctypes.get_errno())}")
    absent = [p for p in (*HOST_TREES, *HOST_STATE_DIRS) if not os.path.lexists(p)]
    cgroup_entries = set(os.listdir(CGROUP_ROOT))
    host_before = snapshot_host()
    token = secrets.token_hex(3)
    tmp = tempfile.mkdtemp(prefix="berth-bctr-")
    engines, bench, notes = {}, None, []
    try:
        bench = Bench(args)
        tar = os.path.join(tmp, "busybox-rootfs.tar")
        busybox_rootfs_tar(tar)
        berth = engines["berth"] = Berth(tmp, args)
        info = {"berth": (args.berth, version_of([berth.exe, "--version"])),
                "berth-runtime": (args.berth_runtime, version_of([berth.runtime, "--version"])),
                "berth-shim": (args.berth_shim, version_of([args.berth_shim, "--version"])),
                "runc": (RUNC, version_of([RUNC, "--version"]))}
        tools = berth.tools()
        bench.ok(tools[0], "import", berth.argv("import", "-c", 'CMD ["sh"]', tar, IMAGE))
        if args.no_podman:
            notes.append("podman: skipped (--no-podman)")
        elif not os.access(PODMAN, os.X_OK):
            notes.append(f"podman ({PODMAN}) is not installed: its rows are skipped")
        else:
            pm = engines["podman"] = Podman(tmp, token, berth.runtime)
            info["podman"] = (PODMAN, version_of([PODMAN, "--version"]))
            ptools = pm.tools()
            bench.ok(ptools[0], "import", ptools[0].argv(
                "import", "--quiet", "--change", 'CMD ["sh"]', tar, IMAGE))
            tools += ptools
        if args.no_docker:
            notes.append("docker: skipped (--no-docker)")
        elif not (os.access(DOCKERD, os.X_OK) and os.access(DOCKER, os.X_OK)):
            notes.append(f"docker ({DOCKERD}, {DOCKER}) is not installed: its rows are "
                         "skipped")
        else:
            dk = engines["docker"] = Docker(tmp, token, berth.runtime, 60)
            dtools = dk.tools()
            info["dockerd"] = (DOCKERD, version_of([DOCKERD, "--version"]))
            info["docker"] = (DOCKER, version_of([DOCKER, "--version"]))
            bench.ok(dtools[0], "import", dtools[0].argv(
                "import", "--change", 'CMD ["sh"]', tar, IMAGE))
            tools += dtools
        for n in notes:
            print(f"note: {n}", file=sys.stderr)
        header(args, info)
        sys.stdout.flush()

        res, failures, order = {}, {}, []
        live = []
        for t in tools:
            try:
                bench.preflight(t)
                live.append(t)
            except ToolFailure as e:
                if t.family == "berth" and t.run_flags == []:
                    raise
                failures[f"preflight ({t.label})"] = str(e)
                print(f"FAILED: {e}", file=sys.stderr)
        rng = random.Random(args.seed)
        if "run" in args.only:
            label = "run --rm busybox true"
            order.append(label)
            measure(label, {t.label: (lambda t=t: bench.run_rm(t)) for t in live},
                    args.runs, args.warmup, rng, res, failures)
        # One tool per engine from here on: the default runtime's (ps does not run one,
        # and a batch is long).
        firsts = [t for t in live if t.label in ("berth (berth-runtime)", "podman (runc)",
                                                 "docker (runc)")]
        if "ps" in args.only:
            n = args.ps_containers
            label = f"ps -a, {n} containers"
            order.append(label)
            ready = {}
            for t in firsts:
                print(f"[{label}] setting up: {n} × {t.family} create", file=sys.stderr)
                try:
                    lost = bench.fill(t, n)
                    if lost:
                        e = ToolFailure(t.label, f"{len(lost)} of {n} `create`s run "
                                        f"{args.parallel} at a time exited 0 and printed "
                                        f"an id, but ps -a does not list them (e.g. "
                                        f"{lost[0]}); made up for one at a time")
                        failures[f"{label}, setting up ({t.family})"] = str(e)
                        print(f"FAILED: {e}", file=sys.stderr)
                    ready[t.family] = lambda t=t: bench.ps(t, n)
                except ToolFailure as e:
                    failures[f"{label} ({t.family})"] = str(e)
                    print(f"FAILED: {e}", file=sys.stderr)
            measure(label, ready, args.runs, args.warmup, rng, res, failures)
            for t in firsts:  # the batch counts running containers in a store of its own
                ids = bench.ok(t, "ps -a -q", t.argv("ps", "-a", "-q", "--no-trunc")).stdout
                if ids.split():
                    bench.call(t, "rm -f", t.argv("rm", "-f", *ids.split()))
        if "batch" in args.only:
            n, k = args.batch, args.parallel
            label = f"{n} × run -d busybox sleep 1000, {k} at a time"
            order += [f"{label}: run -d", f"{label}: rm -f"]
            measure(label, {t.family: (lambda t=t: bench.batch(t, n)) for t in firsts},
                    args.batch_runs, 0, rng, res, failures)
        targets = report(res, order, args)
        for label, count in bench.lingering.items():
            notes.append(f"{label}: {count} command(s) left a process running beyond the "
                         "settle time (its CPU may count in a later row)")
            print(f"note: {notes[-1]}")
        for key, why in failures.items():
            print(f"\n{key} failed:\n{why}")
        if args.json:
            with open(args.json, "w") as f:
                json.dump({"args": {k: (sorted(v) if isinstance(v, set) else v)
                                    for k, v in vars(args).items() if k != "json"},
                           "kernel": platform.release(), "cpus": os.cpu_count(),
                           "tools": {n: {"path": p, "version": v} for n, (p, v) in info.items()},
                           "results": res, "failures": failures, "notes": notes,
                           "targets": targets},
                          f, indent=1, ensure_ascii=False)
                f.write("\n")
        return 1 if failures else 0
    except (ToolFailure, HarnessError) as e:
        print(f"FAILED: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("containers.py: interrupted", file=sys.stderr)
        return 130
    finally:
        cleanup(tmp, engines, bench, absent, cgroup_entries, host_before)


if __name__ == "__main__":
    sys.exit(main())
