#!/usr/bin/env python3
"""berth-shim next to conmon, both under podman: idle memory, log throughput, start-up cost.

    python3 bench/shim.py --shim target/x86_64-unknown-linux-gnu/release/berth-shim
        [--conmon /usr/bin/conmon] [--runtime /usr/sbin/runc] [--runs N]
        [--flood-mb N] [--quick] [--json FILE]

See bench/README.md ("berth-shim"). Python 3.11 standard library only; must run as root.
"""

import argparse
import ctypes
import datetime
import hashlib
import io
import json
import os
import platform
import random
import secrets
import shutil
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time

BUSYBOX = "/bin/busybox"
CGROUP_ROOT = "/sys/fs/cgroup"
IMAGE_TAG = "berth-shim-bench:latest"
IMAGE = f"localhost/{IMAGE_TAG}"
TMPFS_MAGIC = 0x01021994
# What podman creates outside its own dirs whatever its flags: removed at the end if absent
# at the start (the runtime's default state dir is added at run time: podman passes no --root).
HOST_PATHS = ("/var/lib/containers/cache", "/var/lib/containers", "/dev/shm/libpod_lock")
# One flood line: 99 characters and a newline, so that a flood of N bytes (N a multiple of
# 100) is exactly N / 100 lines.
FLOOD_LINE = "berth-shim-bench " + "x" * 82
TARGET_PSS_RATIO = 0.5
TARGET_THROUGHPUT_RATIO = 1.0
IDLE_SETTLE_S = 1.0
MNT_DETACH = 2


class HarnessError(Exception):
    pass


class MonitorFailure(Exception):
    def __init__(self, monitor, what, proc=None):
        detail = ""
        if proc is not None:
            detail = (f"\n  command: {' '.join(proc.args)}\n  exit: {proc.returncode}"
                      f"\n  stdout: {proc.stdout.strip()!r}\n  stderr:\n"
                      + indent(proc.stderr.strip() or "(empty)"))
        who = f"{monitor.name} ({monitor.path})" if monitor else "podman"
        super().__init__(f"{who}: {what}{detail}")


def indent(text, pad="    "):
    return "\n".join(pad + line for line in text.splitlines())


class Monitor:
    def __init__(self, name, path):
        self.name = name
        self.path = os.path.realpath(path)
        v = subprocess.run([self.path, "--version"], capture_output=True, text=True,
                           stdin=subprocess.DEVNULL, timeout=10)
        self.version = " / ".join(v.stdout.strip().splitlines()) if v.returncode == 0 else "?"


# ---------------------------------------------------------------------------
# podman with a temp root, its own config and a busybox image
# ---------------------------------------------------------------------------
class Podman:
    def __init__(self, tmp, token, runtime, timeout):
        self.tmp = tmp
        self.timeout = timeout
        self.runtime = os.path.realpath(runtime)
        self.cgroup_parent = f"/berth-bench-shim-{token}"
        self.seq = 0
        os.makedirs(self.p("podman/net"))
        os.makedirs(self.p("podman/tmp"))
        base = os.path.basename(self.runtime)
        with open(self.p("containers.conf"), "w") as f:
            f.write(f"""[containers]
netns = "none"
log_driver = "k8s-file"
# podman's default nofile=1048576 is above some hosts' hard limit.
default_ulimits = ["nofile=20000:20000", "nproc=32768:32768"]

[network]
network_backend = "cni"
network_config_dir = "{self.p('podman/net')}"

[engine]
cgroup_manager = "cgroupfs"
events_logger = "file"
events_logfile_path = "{self.p('podman/events.log')}"
tmp_dir = "{self.p('podman/tmp')}"
volume_path = "{self.p('podman/volumes')}"
image_copy_tmp_dir = "{self.p('podman/tmp')}"
lock_type = "file"
runtime_supports_json = ["crun", "runc", "{base}"]
""")
        with open(self.p("storage.conf"), "w") as f:
            f.write(f'[storage]\ndriver = "overlay"\ngraphroot = "{self.p("root")}"\n'
                    f'runroot = "{self.p("run")}"\n')
        with open(self.p("registries.conf"), "w") as f:
            f.write("unqualified-search-registries = []\n")
        self.env = dict(os.environ, CONTAINERS_CONF=self.p("containers.conf"),
                        CONTAINERS_STORAGE_CONF=self.p("storage.conf"),
                        CONTAINERS_REGISTRIES_CONF=self.p("registries.conf"),
                        TMPDIR=self.p("podman/tmp"))

    def p(self, rel):
        return os.path.join(self.tmp, rel)

    def argv(self, monitor, *args):
        a = ["podman", "--root", self.p("root"), "--runroot", self.p("run"),
             "--runtime", self.runtime]
        if monitor is not None:
            a += ["--conmon", monitor.path]
        return a + list(args)

    def run(self, monitor, *args, timeout=None):
        try:
            return subprocess.run(self.argv(monitor, *args), env=self.env, capture_output=True,
                                  text=True, stdin=subprocess.DEVNULL,
                                  timeout=timeout or self.timeout)
        except subprocess.TimeoutExpired:
            who = monitor.name if monitor else "podman"
            raise HarnessError(f"{who}: podman {' '.join(args)} did not finish in "
                               f"{timeout or self.timeout} s")

    def ok(self, monitor, *args):
        p = self.run(monitor, *args)
        if p.returncode != 0:
            raise MonitorFailure(monitor, f"podman {args[0]} failed", p)
        return p.stdout

    def new_name(self, what, monitor):
        self.seq += 1
        return f"{what}-{monitor.name}-{self.seq}"

    def run_args(self, name, *rest):
        return ("run", "--name", name, "--cgroup-parent", self.cgroup_parent, *rest)

    def inspect(self, monitor, name, fmt):
        return self.ok(monitor, "inspect", "--format", fmt, name).strip()

    def monitor_pid(self, monitor, name):
        """The pid of the container's monitor, after checking that it is the binary asked
        for: podman quietly uses a conmon of its own when it dislikes the one given."""
        pid = int(self.inspect(monitor, name, "{{.State.ConmonPid}}") or 0)
        if pid <= 0:
            raise MonitorFailure(monitor, f"podman reports no monitor pid for {name}")
        try:
            exe = os.readlink(f"/proc/{pid}/exe")
        except OSError as e:
            raise MonitorFailure(monitor, f"monitor {pid} of {name}: {e}")
        if exe != monitor.path:
            raise MonitorFailure(monitor, f"podman runs {name} under {exe}, not the monitor "
                                          "it was given")
        return pid

    def remove(self, monitor, *names):
        if names:
            self.run(monitor, "rm", "--force", "--time", "0", *names)


def build_image(dir_):
    """A docker-archive (`podman load` reads it) with one layer: static busybox and a link
    per applet; PATH=/bin."""
    layer = io.BytesIO()
    with tarfile.open(fileobj=layer, mode="w", format=tarfile.GNU_FORMAT) as t:
        def add_dir(name, mode=0o755):
            ti = tarfile.TarInfo(name)
            ti.type, ti.mode = tarfile.DIRTYPE, mode
            t.addfile(ti)
        for d in ("bin", "etc", "proc", "sys", "dev", "root"):
            add_dir(d)
        add_dir("tmp", 0o1777)
        with open(BUSYBOX, "rb") as f:
            data = f.read()
        ti = tarfile.TarInfo("bin/busybox")
        ti.size, ti.mode = len(data), 0o755
        t.addfile(ti, io.BytesIO(data))
        applets = subprocess.run([BUSYBOX, "--list"], capture_output=True, text=True,
                                 check=True).stdout.split()
        for a in applets:
            if a != "busybox" and "/" not in a:
                ti = tarfile.TarInfo(f"bin/{a}")
                ti.type, ti.linkname = tarfile.SYMTYPE, "busybox"
                t.addfile(ti)
        for name, text in (("etc/passwd", "root:x:0:0:root:/root:/bin/sh\n"),
                           ("etc/group", "root:x:0:\n")):
            ti = tarfile.TarInfo(name)
            ti.size = len(text)
            t.addfile(ti, io.BytesIO(text.encode()))
    layer = layer.getvalue()
    diff_id = hashlib.sha256(layer).hexdigest()
    config = json.dumps({
        "architecture": {"x86_64": "amd64", "aarch64": "arm64"}.get(platform.machine(),
                                                                    platform.machine()),
        "os": "linux",
        "config": {"Env": ["PATH=/bin"], "Cmd": ["sh"]},
        "rootfs": {"type": "layers", "diff_ids": [f"sha256:{diff_id}"]},
    }).encode()
    config_name = hashlib.sha256(config).hexdigest() + ".json"
    manifest = json.dumps([{"Config": config_name, "RepoTags": [IMAGE_TAG],
                            "Layers": [f"{diff_id}/layer.tar"]}]).encode()
    out = os.path.join(dir_, "image.tar")
    with tarfile.open(out, "w") as t:
        for name, data in ((config_name, config), (f"{diff_id}/layer.tar", layer),
                           ("manifest.json", manifest)):
            ti = tarfile.TarInfo(name)
            ti.size = len(data)
            t.addfile(ti, io.BytesIO(data))
    return out


# ---------------------------------------------------------------------------
# Measurements
# ---------------------------------------------------------------------------
def smaps_rollup(pid):
    """(Rss, Pss) in KiB."""
    got = {}
    with open(f"/proc/{pid}/smaps_rollup") as f:
        for line in f:
            key, _, rest = line.partition(":")
            if key in ("Rss", "Pss"):
                got[key] = int(rest.split()[0])
    return got["Rss"], got["Pss"]


def vm_rss(pid):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def idle_memory(pm, monitor, count):
    """Sum of Rss and Pss (KiB) over the monitors of `count` idle containers (`sleep`), read
    once all of them run and have settled."""
    names = [pm.new_name("idle", monitor) for _ in range(count)]
    try:
        for n in names:
            pm.ok(monitor, *pm.run_args(n, "--detach", IMAGE, "sleep", "100000"))
        pids = [pm.monitor_pid(monitor, n) for n in names]
        time.sleep(IDLE_SETTLE_S)
        rss = pss = 0
        for pid in pids:
            r, p = smaps_rollup(pid)
            rss, pss = rss + r, pss + p
        return {"rss_kib": rss, "pss_kib": pss}
    finally:
        pm.remove(monitor, *names)


def parse_time(s):
    """podman's RFC 3339 time with nanoseconds (`2026-12-05 12:11:17.909447435 +0000 UTC`
    from a Go template, or `...T...Z`) → ns since the epoch."""
    s = s.strip()
    parts = s.replace("T", " ").split()
    date, clock = parts[0], parts[1]
    whole, _, frac = clock.partition(".")
    offset = parts[2] if len(parts) > 2 and parts[2][0] in "+-" else "+0000"
    if clock.endswith("Z"):
        whole, frac = whole.rstrip("Z"), frac.rstrip("Z")
    dt = datetime.datetime.strptime(f"{date} {whole} {offset.replace(':', '')}",
                                    "%Y-%m-%d %H:%M:%S %z")
    return int(dt.timestamp()) * 10**9 + int((frac + "000000000")[:9])


def check_log(path, line, lines):
    """None if the k8s-file log holds exactly `lines` stdout lines equal to `line` (a line
    may come in partial records, `P`, closed by a full one, `F`), else what is wrong: a
    monitor that loses or mangles lines must not look fast."""
    want = line.encode()
    got, partial = 0, b""
    with open(path, "rb") as f:
        for n, rec in enumerate(f, 1):
            parts = rec.rstrip(b"\n").split(b" ", 3)
            if len(parts) != 4 or parts[1] != b"stdout" or parts[2] not in (b"P", b"F"):
                return f"record {n} is not a CRI stdout record: {rec[:120]!r}"
            partial += parts[3]
            if parts[2] == b"F":
                if partial != want:
                    return f"line {got + 1} (record {n}) is {partial[:120]!r}"
                got, partial = got + 1, b""
    if got != lines or partial:
        return f"{got} whole lines (and {len(partial)} bytes unfinished) of the {lines} written"
    return None


def flood(pm, monitor, nbytes):
    """A container writes `nbytes` of FLOOD_LINE lines to stdout as fast as the pipe takes
    them (k8s-file). The time is from the container's start to its exit file (podman's
    StartedAt and FinishedAt; the latter is the exit file's time); the monitor's RSS is
    sampled meanwhile."""
    name = pm.new_name("flood", monitor)
    script = f"yes '{FLOOD_LINE}' | head -c {nbytes}"
    try:
        pm.ok(monitor, *pm.run_args(name, "--detach", "--log-driver", "k8s-file", IMAGE,
                                    "sh", "-c", script))
        peak = 0
        try:
            pid = pm.monitor_pid(monitor, name)
        except MonitorFailure:
            # Finished before it could be asked: too small a flood to sample its memory.
            pid = 0
        deadline = time.monotonic() + pm.timeout
        while True:
            if pid:
                peak = max(peak, vm_rss(pid))
            if pm.inspect(monitor, name, "{{.State.Status}}") in ("exited", "stopped"):
                break
            if time.monotonic() > deadline:
                raise MonitorFailure(monitor, f"the flood of {nbytes} bytes did not end in "
                                              f"{pm.timeout} s")
            time.sleep(0.05)
        state = json.loads(pm.inspect(monitor, name, "{{json .State}}"))
        if state.get("ExitCode") != 0:
            raise MonitorFailure(monitor, f"flood container exited {state.get('ExitCode')}")
        ns = parse_time(state["FinishedAt"]) - parse_time(state["StartedAt"])
        log = pm.inspect(monitor, name, "{{.HostConfig.LogConfig.Path}}")
        lines = nbytes // (len(FLOOD_LINE) + 1)
        wrong = check_log(log, FLOOD_LINE, lines)
        if wrong:
            raise MonitorFailure(monitor, f"the flood's log {log}: {wrong}")
        return {"ns": ns, "mb_s": nbytes / (ns / 1e9) / 1e6, "peak_rss_kib": peak}
    finally:
        pm.remove(monitor, name)


def startup(pm, monitor):
    """`podman run --rm IMAGE true`, the whole process."""
    t0 = time.perf_counter_ns()
    p = pm.run(monitor, *pm.run_args(pm.new_name("start", monitor), "--rm", IMAGE, "true"))
    ns = time.perf_counter_ns() - t0
    if p.returncode != 0:
        raise MonitorFailure(monitor, "run --rm true failed", p)
    return ns


def preflight(pm, monitor):
    """Untimed: the monitor really runs containers (output, exit code), and podman really
    uses it."""
    p = pm.run(monitor, *pm.run_args(pm.new_name("pre", monitor), "--rm", IMAGE,
                                     "sh", "-c", "echo hi; exit 3"))
    if p.returncode != 3 or p.stdout != "hi\n":
        raise MonitorFailure(monitor, "preflight: `run --rm sh -c 'echo hi; exit 3'` should "
                                      "print hi and exit 3", p)
    name = pm.new_name("pre", monitor)
    try:
        pm.ok(monitor, *pm.run_args(name, "--detach", IMAGE, "sleep", "100000"))
        pm.monitor_pid(monitor, name)
    finally:
        pm.remove(monitor, name)


# ---------------------------------------------------------------------------
# Driver and report
# ---------------------------------------------------------------------------
def p90(xs):
    if len(xs) < 2:
        return xs[0]
    return statistics.quantiles(xs, n=10, method="inclusive")[8]


def measure(pm, monitors, args):
    """Every scenario for every monitor; a scenario in which a monitor fails is reported as
    failed (the message kept) and the others still run."""
    res = {m.name: {} for m in monitors}
    failures = {}
    rng = random.Random(args.seed)

    def rounds(n):
        for i in range(n):
            order = list(monitors)
            rng.shuffle(order)
            yield i, order

    def scenario(key, banner, body):
        """Runs `body(m)` per round for each monitor still standing in it; a monitor that
        fails is out of this scenario (its message kept), the other goes on."""
        print(banner, file=sys.stderr)
        out = set()
        for i, order in body.rounds():
            for m in order:
                if m.name in out:
                    continue
                try:
                    body(m, i)
                except MonitorFailure as e:
                    out.add(m.name)
                    failures[f"{key} ({m.name})"] = str(e)
                    print(f"FAILED: {e}", file=sys.stderr)
        for m in monitors:
            if m.name not in out:
                body.finish(m)

    class Idle:
        def rounds(self):
            return [(0, monitors)]

        def __call__(self, m, i):
            res[m.name]["idle_1"] = idle_memory(pm, m, 1)
            res[m.name][f"idle_{args.idle}"] = idle_memory(pm, m, args.idle)

        def finish(self, m):
            pass

    class Floods:
        def __init__(self):
            self.got = {m.name: [] for m in monitors}

        def rounds(self):
            return rounds(args.flood_runs)

        def __call__(self, m, i):
            self.got[m.name].append(flood(pm, m, args.flood_mb * 10**6))

        def finish(self, m):
            fs = self.got[m.name]
            res[m.name]["flood"] = {
                "mb_s": statistics.median(f["mb_s"] for f in fs),
                "peak_rss_kib": max(f["peak_rss_kib"] for f in fs),
                "samples": fs,
            }

    class Startups:
        def __init__(self):
            self.times = {m.name: [] for m in monitors}

        def rounds(self):
            return rounds(args.warmup + args.runs)

        def __call__(self, m, i):
            ns = startup(pm, m)
            if i >= args.warmup:
                self.times[m.name].append(ns / 1e6)

        def finish(self, m):
            ts = self.times[m.name]
            res[m.name]["startup"] = {"median_ms": statistics.median(ts), "p90_ms": p90(ts),
                                      "samples_ms": ts}

    scenario("idle", f"[idle] resident memory of the monitors of 1 and of {args.idle} idle "
                     "containers", Idle())
    scenario("flood", f"[flood] {args.flood_mb} MB of {len(FLOOD_LINE) + 1}-byte lines into "
                      f"k8s-file, {args.flood_runs} run(s) each", Floods())
    scenario("startup", f"[startup] podman run --rm true, {args.runs} runs + {args.warmup} "
                        "warm-up each", Startups())
    return res, failures


def fmt_ratio(a, b):
    return f"{a / b:.2f}×" if b else "-"


def get(res, name, *path):
    v = res.get(name, {})
    for k in path:
        if not isinstance(v, dict) or k not in v:
            return None
        v = v[k]
    return v


def report(res, failures, monitors, args):
    c, s = (m.name for m in monitors)
    n = args.idle
    rows = [
        ("idle, 1 container: Rss KiB", ("idle_1", "rss_kib"), "{:.0f}"),
        ("idle, 1 container: Pss KiB", ("idle_1", "pss_kib"), "{:.0f}"),
        (f"idle, {n} containers: Rss KiB (sum)", (f"idle_{n}", "rss_kib"), "{:.0f}"),
        (f"idle, {n} containers: Pss KiB (sum)", (f"idle_{n}", "pss_kib"), "{:.0f}"),
        (f"log flood into k8s-file, MB/s (median of {args.flood_runs})", ("flood", "mb_s"),
         "{:.1f}"),
        ("  monitor's peak RSS meanwhile, KiB", ("flood", "peak_rss_kib"), "{:.0f}"),
        (f"podman run --rm true, median ms ({args.runs} runs)", ("startup", "median_ms"),
         "{:.1f}"),
        ("podman run --rm true, p90 ms", ("startup", "p90_ms"), "{:.1f}"),
    ]
    w = max(len(r[0]) for r in rows)
    print()
    print(f"{'':<{w}}  {c:>12}  {s:>12}  {s + '/' + c:>18}")
    for label, path, f in rows:
        a, b = get(res, c, *path), get(res, s, *path)
        cell = lambda v: "failed" if v is None else f.format(v)  # noqa: E731
        ratio = fmt_ratio(b, a) if a is not None and b is not None else "-"
        print(f"{label:<{w}}  {cell(a):>12}  {cell(b):>12}  {ratio:>18}")
    a, b = get(res, c, "startup", "median_ms"), get(res, s, "startup", "median_ms")
    if a is not None and b is not None:
        print(f"\nstart-up cost of {s} against {c} (medians of podman run --rm): "
              f"{b - a:+.1f} ms")

    verdicts, parts = [], []
    for key, label in (("idle_1", "1 container"), (f"idle_{n}", f"{n} containers")):
        a, b = get(res, c, key, "pss_kib"), get(res, s, key, "pss_kib")
        if a is None or b is None:
            verdicts.append(None)
            parts.append(f"Pss {label}: not measured")
            continue
        ok = b / a <= TARGET_PSS_RATIO
        verdicts.append(ok)
        parts.append(f"Pss {label} {b / a:.2f}× (want ≤ {TARGET_PSS_RATIO}: "
                     f"{'yes' if ok else 'NO'})")
    a, b = get(res, c, "flood", "mb_s"), get(res, s, "flood", "mb_s")
    if a is None or b is None:
        verdicts.append(None)
        parts.append("throughput: not measured")
    else:
        ok = b / a >= TARGET_THROUGHPUT_RATIO
        verdicts.append(ok)
        parts.append(f"throughput {b / a:.2f}× (want ≥ {TARGET_THROUGHPUT_RATIO}: "
                     f"{'yes' if ok else 'NO'})")
    met = False if False in verdicts else (None if None in verdicts else True)
    verdict = {True: "targets hold", False: "targets NOT met",
               None: "targets not fully evaluated"}[met]
    text = f"targets ({s} vs {c}): " + "; ".join(parts) + f" -> {verdict}"
    print(text)
    for key, why in failures.items():
        print(f"\n{key} failed:\n{why}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"args": {k: v for k, v in vars(args).items() if k != "json"},
                       "kernel": platform.release(), "cpus": os.cpu_count(),
                       "monitors": {m.name: {"path": m.path, "version": m.version}
                                    for m in monitors},
                       "results": res, "failures": failures,
                       "targets": {"met": met, "text": text}},
                      f, indent=1, ensure_ascii=False)
            f.write("\n")


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--shim", required=True, help="berth-shim binary")
    p.add_argument("--conmon", default="/usr/bin/conmon", help="conmon, the reference")
    p.add_argument("--runtime", default="/usr/sbin/runc",
                   help="runc-compatible runtime podman runs under both monitors")
    p.add_argument("--runs", type=int, default=20, help="podman run --rm timings per monitor")
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--flood-mb", type=int, default=256, help="MB (10^6 bytes) per flood")
    p.add_argument("--flood-runs", type=int, default=3)
    p.add_argument("--idle", type=int, default=10, help="containers in the second idle row")
    p.add_argument("--quick", action="store_true",
                   help="CI size: 5 start-ups, one 32 MB flood, 1 warm-up")
    p.add_argument("--seed", type=int, default=0, help="seed for the order within rounds")
    p.add_argument("--timeout", type=float, default=120,
                   help="seconds before a podman command counts as hung")
    p.add_argument("--json", metavar="FILE", help="also write every sample as JSON")
    a = p.parse_args()
    if a.quick:
        a.runs, a.warmup, a.flood_mb, a.flood_runs = 5, 1, 32, 1
    if a.runs < 1 or a.warmup < 0 or a.flood_runs < 1 or a.idle < 1 or a.flood_mb < 1:
        p.error("--runs, --flood-runs, --idle and --flood-mb must be >= 1, --warmup >= 0")
    for what, path in (("--shim", a.shim), ("--conmon", a.conmon), ("--runtime", a.runtime)):
        if not os.access(path, os.X_OK):
            p.error(f"{what} {path}: not found or not executable"
                    + (" (build it first: make build)" if what == "--shim" else ""))
    if shutil.which("podman") is None:
        p.error("podman not found (apt-get install podman)")
    return a


# ---------------------------------------------------------------------------
# Cleanup: nothing of ours is left, nothing else is touched
# ---------------------------------------------------------------------------
def strays(tmp):
    """Processes whose command line names the temp dir (monitors, podman's cleanup
    processes) or whose root is under it (containers)."""
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


def remove_cgroups(parent):
    """The cgroup parent in every hierarchy: rmdir depth first on cgroupfs, and the plain
    directories conmon makes on the /sys/fs/cgroup tmpfs for controllers the host does not
    mount. Returns what could not be removed."""
    left = []
    for h in sorted(os.listdir(CGROUP_ROOT)):
        root = os.path.join(CGROUP_ROOT, h, parent.lstrip("/"))
        if not os.path.isdir(root):
            continue
        if fs_magic(root) == TMPFS_MAGIC:
            shutil.rmtree(root, ignore_errors=True)
        else:
            for _ in range(100):
                for d, _, _ in sorted(os.walk(root), key=lambda w: -w[0].count("/")):
                    try:
                        os.rmdir(d)
                    except OSError:
                        pass
                if not os.path.exists(root):
                    break
                time.sleep(0.1)
        if os.path.exists(root):
            left.append(root)
    return left


def cleanup(pm, tmp, absent, cgroup_entries):
    if pm is not None:
        try:
            pm.run(None, "rm", "--all", "--force", "--time", "0", timeout=60)
        except HarnessError as e:
            print(f"shim.py: {e}", file=sys.stderr)
    for _ in range(50):
        pids = strays(tmp)
        if not pids:
            break
        for pid in pids:
            try:
                os.kill(pid, 9)
            except ProcessLookupError:
                pass
        time.sleep(0.1)
    else:
        print(f"shim.py: processes survive SIGKILL: {strays(tmp)}", file=sys.stderr)
    if pm is not None:
        left = remove_cgroups(pm.cgroup_parent)
        if left:
            print("shim.py: could not remove cgroups: " + ", ".join(left), file=sys.stderr)
    with open("/proc/self/mountinfo") as f:
        mounts = [line.split()[4].replace("\\040", " ") for line in f]
    for m in sorted((m for m in mounts if m.startswith(tmp + "/")), key=len, reverse=True):
        if LIBC.umount2(os.fsencode(m), MNT_DETACH) != 0:
            print(f"shim.py: umount {m}: {os.strerror(ctypes.get_errno())}", file=sys.stderr)
    shutil.rmtree(tmp, ignore_errors=True)
    for p in sorted(absent, key=len, reverse=True):
        if os.path.isdir(p) and not os.path.islink(p):
            shutil.rmtree(p, ignore_errors=True)
        elif os.path.lexists(p):
            os.unlink(p)
    for name in set(os.listdir(CGROUP_ROOT)) - cgroup_entries:
        path = os.path.join(CGROUP_ROOT, name)
        if fs_magic(path) == TMPFS_MAGIC:
            try:
                os.rmdir(path)
            except OSError:
                pass


LIBC = ctypes.CDLL(None, use_errno=True)


def main():
    args = parse_args()
    if os.geteuid() != 0:
        sys.exit("shim.py: must run as root")
    monitors = [Monitor("conmon", args.conmon), Monitor("berth-shim", args.shim)]
    token = secrets.token_hex(3)
    runtime_state = os.path.join("/run", os.path.basename(os.path.realpath(args.runtime)))
    absent = [p for p in (*HOST_PATHS, runtime_state) if not os.path.lexists(p)]
    cgroup_entries = set(os.listdir(CGROUP_ROOT))
    tmp = tempfile.mkdtemp(prefix="berth-bsh-")
    pm = None
    try:
        pm = Podman(tmp, token, args.runtime, args.timeout)
        pm.ok(None, "load", "--input", build_image(tmp))
        rt = subprocess.run([args.runtime, "--version"], capture_output=True, text=True)
        print(f"berth-shim bench: podman {pm.ok(None, 'version', '--format', '{{.Client.Version}}').strip()}"
              f", runtime {(rt.stdout.splitlines() or ['?'])[0]}; kernel {platform.release()}, "
              f"{os.cpu_count()} CPUs")
        for m in monitors:
            print(f"  {m.name:<10} {m.path}  ({m.version})")
        for m in monitors:
            preflight(pm, m)
        sys.stdout.flush()
        res, failures = measure(pm, monitors, args)
        report(res, failures, monitors, args)
        return 1 if failures else 0
    except MonitorFailure as e:
        print(f"FAILED: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("shim.py: interrupted", file=sys.stderr)
        return 130
    finally:
        cleanup(pm, tmp, absent, cgroup_entries)


if __name__ == "__main__":
    sys.exit(main())
