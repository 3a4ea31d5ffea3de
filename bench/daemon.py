#!/usr/bin/env python3
"""`berth daemon` next to dockerd 20.10, both driven by the same docker CLI.

    python3 bench/daemon.py --berth B --berth-shim S --berth-runtime R [--runs N]
        [--warmup N] [--ps-containers N] [--parallel N] [--clients N]
        [--http-seconds S] [--http-rounds N] [--bridge] [--quick] [--seed N]
        [--timeout S] [--json FILE]

Python 3 standard library only; must run as root. berth, berth-shim and berth-runtime
are copied into one bin dir of a temp dir (bench/containers.py's Berth), and
`berth daemon -H unix://TMP/berth.sock --data-root STORE` runs from there on a store of
the temp dir. Beside it, a dockerd 20.10 of the bench's own (bench/containers.py's
Docker: data root, exec root, containerd, socket and cgroup parent of its own, runc by
default and berth-runtime added as `--runtime berth`). The same busybox rootfs (Debian's
busybox-static) is imported into both. The docker CLI (/usr/local/bin/docker 28.x, else
Debian's) then times, against each daemon, interleaved (the order shuffled each round):

    docker run --rm --network none busybox true    (dockerd also with --runtime berth)
    docker ps -a          over --ps-containers exited containers (made by `docker run`,
                          --parallel at a time; that set-up is timed once, as a row too)
    docker inspect ID     of one of them

then --clients concurrent keep-alive connections of raw HTTP/1.1 over each unix socket
(asyncio, in two forked client processes) ask `GET /_ping` and then
`GET /v1.41/containers/ID/json` for --http-seconds, --http-rounds times per daemon
(interleaved, after a short warm-up burst): latency per request (median, p99), requests
per second and the daemon's CPU time per request. VmRSS of each daemon (dockerd's plus
its containerd's) right after it answers, and after the runs, and their VmHWM.

Containers run with `--network none`: setting up a bridge would dominate `run` and is
bench/network.py's subject. With --bridge, both daemons run in a network namespace the
bench makes and containers get each daemon's default bridge instead.

Exits 0 whatever the figures, 1 if a daemon or a command fails (its command, exit status
and output are printed) or the harness does. Leaves no process, mount, cgroup, namespace
or temp dir behind, also on failure or Ctrl-C.
"""

import argparse
import asyncio
import concurrent.futures
import ctypes
import http.client
import json
import math
import multiprocessing
import os
import platform
import random
import secrets
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import types

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.dont_write_bytecode = True  # no bench/__pycache__ in the work tree
import containers as ctr  # noqa: E402  (bench/containers.py: the engines and cleanup)

# The docker CLI a user has: 28.x where installed, else Debian's 20.10.
DOCKER_CLI = "/usr/local/bin/docker" if os.access("/usr/local/bin/docker", os.X_OK) \
    else "/usr/bin/docker"
HTTP_PROCS = 2  # client processes sharing --clients connections (the machine has 2 CPUs)
FULL = {"runs": 20, "warmup": 2, "ps_containers": 200, "http_seconds": 3.0, "http_rounds": 3}
QUICK = {"runs": 5, "warmup": 1, "ps_containers": 50, "http_seconds": 1.0, "http_rounds": 1}


# ---------------------------------------------------------------------------
# The daemons
# ---------------------------------------------------------------------------
def unix_get(sock, path, timeout=5):
    """(status, body) of one GET over a unix socket, or None if nothing answers."""
    try:
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(timeout)
        s.connect(sock)
        conn = http.client.HTTPConnection("docker", timeout=timeout)
        conn.sock = s
        conn.request("GET", path)
        r = conn.getresponse()
        body = r.read()
        conn.close()
        return r.status, body
    except OSError:
        return None


def memory_kib(pid):
    """(VmRSS, VmHWM) in KiB, or None when the process is gone."""
    try:
        with open(f"/proc/{pid}/status") as f:
            fields = dict(line.split(":", 1) for line in f if ":" in line)
        return int(fields["VmRSS"].split()[0]), int(fields["VmHWM"].split()[0])
    except (OSError, KeyError, ValueError):
        return None


def comm(pid):
    try:
        with open(f"/proc/{pid}/comm") as f:
            return f.read().strip()
    except OSError:
        return "?"


class BerthDaemon:
    """`berth daemon` on the Berth harness's store, stopped by its pid."""

    def __init__(self, tmp, berth, timeout):
        self.sock = os.path.join(tmp, "berth.sock")
        self.log = os.path.join(tmp, "berth-daemon.log")
        config = os.path.join(tmp, "berth-daemon.json")
        with open(config, "w") as f:  # not /etc/berth/daemon.json, whatever it holds
            f.write("{}\n")
        # berth.argv runs it in the bench's network namespace, if any.
        argv = berth.argv("daemon", "-H", f"unix://{self.sock}", "--data-root", berth.root,
                          "-p", os.path.join(tmp, "berth-daemon.pid"),
                          "--config-file", config)
        with open(self.log, "ab") as logf:
            # nsenter execs berth: self.proc.pid is the daemon's.
            self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=logf,
                                         stderr=logf, env=berth.env)
        deadline = time.monotonic() + timeout
        while unix_get(self.sock, "/_ping", 2) is None:
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise ctr.HarnessError(f"berth daemon did not answer on {self.sock}:\n"
                                       f"{ctr.indent(self.log_text())}")
            time.sleep(0.02)
        got = unix_get(self.sock, "/version")
        name = ""
        if got is not None and got[0] == 200:
            name = json.loads(got[1]).get("Platform", {}).get("Name", "")
        if name != "berth":  # whatever answers there, it is not the daemon we started
            raise ctr.HarnessError(f"{self.sock}: /version names {name!r}, not berth")

    def log_text(self):
        try:
            with open(self.log, errors="replace") as f:
                return f.read()[-4000:].strip() or "(empty log)"
        except OSError:
            return "(no log)"

    def pids(self):
        return {"berth daemon": self.proc.pid} if self.proc.poll() is None else {}

    def stop(self):
        if self.proc.poll() is not None:
            return
        self.proc.terminate()
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def dockerd_pids(dk):
    """dockerd and the containerd it started (its child named containerd)."""
    pids = dk.daemon_pids()
    if not pids:
        return {}
    out = {"dockerd": pids[0]}
    for p in pids[1:]:
        if comm(p) == "containerd":
            out["containerd"] = p
    return out


def cli_argv(sock):
    def argv(*a):
        return [DOCKER_CLI, "-H", f"unix://{sock}", *a]
    return argv


def memory_of(pids):
    """{name: (VmRSS, VmHWM)} KiB of the named daemon processes."""
    return {n: memory_kib(p) for n, p in pids.items() if memory_kib(p) is not None}


# ---------------------------------------------------------------------------
# Measuring
# ---------------------------------------------------------------------------
def pct(xs, q):
    """Nearest-rank percentile."""
    s = sorted(xs)
    return s[max(0, math.ceil(q * len(s)) - 1)]


def interleave(label, fns, runs, warmup, rng, res):
    """fns: {tool: fn() -> (wall, user, sys) ns}. Rounds of one call each, shuffled;
    the warm-up rounds are thrown away. A failure ends the bench (ToolFailure)."""
    print(f"[{label}] {runs} runs + {warmup} warm-up each: {', '.join(fns)}",
          file=sys.stderr, flush=True)
    got = {t: [] for t in fns}
    for i in range(warmup + runs):
        order = list(fns)
        rng.shuffle(order)
        for t in order:
            s = fns[t]()
            if i >= warmup:
                got[t].append(s)
    for t, samples in got.items():
        ms = [s[0] / 1e6 for s in samples]
        cpu = [(s[1] + s[2]) / 1e6 for s in samples]
        res.setdefault(label, {})[t] = {
            "median_ms": statistics.median(ms), "p90_ms": pct(ms, 0.9),
            "median_cpu_ms": statistics.median(cpu), "ms": [round(x, 2) for x in ms],
            "cpu_ms": [round(x, 2) for x in cpu]}


def fill(bench, tool, n, parallel):
    """Untimed as rows go (its wall time is returned): n exited containers, made by
    `docker run IMAGE true` `parallel` at a time. A container whose run exited 0 but
    that ps -a does not list is a failure."""
    def one(_):
        bench.ok(tool, "run (no --rm)", tool.run_argv("run", ctr.IMAGE, "true"))

    keep = set(ctr.children())  # the daemons
    t0 = time.perf_counter_ns()
    ex = concurrent.futures.ThreadPoolExecutor(parallel)
    try:
        list(ex.map(one, range(n)))
    finally:  # on Ctrl-C, the runs not started yet are not started
        ex.shutdown(wait=True, cancel_futures=True)
    ns = time.perf_counter_ns() - t0
    ctr.settle(keep, 5)
    ids = bench.ok(tool, "ps -a -q", tool.argv("ps", "-a", "-q", "--no-trunc")).stdout.split()
    exited = bench.ok(tool, "ps -a -q --filter status=exited", tool.argv(
        "ps", "-a", "-q", "--no-trunc", "--filter", "status=exited")).stdout.split()
    if len(ids) != n or set(exited) != set(ids):
        raise ctr.ToolFailure(tool.label, f"after {n} × run (exit 0 each), ps -a lists "
                                          f"{len(ids)} containers, {len(exited)} exited")
    return ns, ids


def preflight(bench, tool, bridged):
    """A stub that exits 0 at once would benchmark beautifully: the container must run,
    as root, and its exit status come back, first without --rm, then with it (where a
    wrong status is a note: the row times the whole `run --rm` all the same)."""
    script = ["sh", "-c", "echo ok-$(id -u); exit 3"]
    p = bench.ok(tool, "preflight run", tool.run_argv("run", "--name", f"preflight-"
                 f"{secrets.token_hex(4)}", ctr.IMAGE, *script), ok_codes=(3,))
    if p.stdout.strip() != "ok-0":
        raise ctr.ToolFailure(tool.label, f"preflight: `run {ctr.IMAGE} sh -c ...` printed "
                                          f"{p.stdout.strip()!r}, not 'ok-0'", p)
    ids = bench.ok(tool, "ps -a -q", tool.argv("ps", "-a", "-q")).stdout.split()
    bench.ok(tool, "rm", tool.argv("rm", *ids))
    p = bench.ok(tool, "preflight run --rm", tool.run_argv("run", "--rm", ctr.IMAGE, *script),
                 ok_codes=range(256))
    if p.stdout.strip() != "ok-0":
        raise ctr.ToolFailure(tool.label, f"preflight: `run --rm {ctr.IMAGE} sh -c ...` "
                                          f"printed {p.stdout.strip()!r}, not 'ok-0'", p)
    notes = []
    if p.returncode != 3:
        notes.append(f"{tool.label}: `docker run --rm` of a container that exits 3 exited "
                     f"{p.returncode} (without --rm: 3)")
    if bridged:
        p = bench.ok(tool, "preflight ip addr", tool.run_argv(
            "run", "--rm", ctr.IMAGE, "ip", "-o", "-4", "addr"))
        addrs = [w for ln in p.stdout.splitlines() for w in ln.split()[3:4]]
        if not [a for a in addrs if not a.startswith("127.")]:
            raise ctr.ToolFailure(tool.label, f"--bridge: the container has {addrs}, no "
                                              "address beyond loopback", p)
    return notes


def ps_a(bench, tool, n):
    got, out = bench.call(tool, "ps -a", tool.argv("ps", "-a"), settle_s=0)
    rows = len(out.splitlines()) - 1
    if rows != n:
        raise ctr.ToolFailure(tool.label, f"ps -a lists {rows} containers, not {n}")
    return got


def inspect(bench, tool, cid):
    got, out = bench.call(tool, "inspect", tool.argv("inspect", cid), settle_s=0)
    try:
        ok = json.loads(out)[0]["Id"] == cid
    except (ValueError, LookupError, TypeError):
        ok = False
    if not ok:
        raise ctr.ToolFailure(tool.label, f"inspect {cid[:12]} did not describe it: "
                                          f"{out[:300]!r}")
    return got


# -- raw HTTP under load ----------------------------------------------------
async def one_request(reader, writer, request):
    """Sends `request` and reads one response (Content-Length or chunked, as Go's
    net/http sends bodies over 2 KiB): (status, body)."""
    writer.write(request)
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {k.strip().lower(): v.strip() for k, _, v in
               (ln.partition(":") for ln in lines[1:] if ln)}
    if "content-length" in headers:
        return status, await reader.readexactly(int(headers["content-length"]))
    if headers.get("transfer-encoding", "").lower() == "chunked":
        body = bytearray()
        while True:
            size = int((await reader.readline()).split(b";")[0], 16)
            chunk = await reader.readexactly(size + 2)
            if size == 0:
                return status, bytes(body)
            body += chunk[:-2]
    raise ValueError(f"response with neither Content-Length nor chunked: {lines[0]}")


async def clients(sock, path, conns, start_at, end_at, expect):
    request = f"GET {path} HTTP/1.1\r\nHost: docker\r\nUser-Agent: berth-bench\r\n\r\n" \
        .encode()
    opened = [await asyncio.open_unix_connection(sock) for _ in range(conns)]
    await asyncio.sleep(max(0.0, start_at - time.monotonic()))

    async def loop(reader, writer):
        lat, errors, last = [], [], start_at
        while time.monotonic() < end_at:
            t0 = time.perf_counter_ns()
            try:
                status, body = await one_request(reader, writer, request)
            except (OSError, ValueError, asyncio.IncompleteReadError) as e:
                errors.append(f"{type(e).__name__}: {e}")
                break
            lat.append(time.perf_counter_ns() - t0)
            last = time.monotonic()
            if status != 200 or expect not in body:
                errors.append(f"status {status}, body {body[:200]!r}")
                break
        writer.close()
        return lat, errors, last

    got = await asyncio.gather(*(loop(r, w) for r, w in opened))
    return ([x for g in got for x in g[0]], [e for g in got for e in g[1]],
            max(g[2] for g in got))


def client_process(sock, path, conns, start_at, end_at, expect, pipe):
    try:
        pipe.send(asyncio.run(clients(sock, path, conns, start_at, end_at, expect)))
    except Exception as e:  # noqa: BLE001  (anything goes back to the parent as an error)
        pipe.send(([], [f"client process: {type(e).__name__}: {e}"], start_at))
    pipe.close()


def burst(sock, path, conns, seconds, expect, daemon_pids):
    """conns closed-loop keep-alive connections for `seconds`: (latencies ns, requests,
    elapsed s, daemon CPU ns, errors)."""
    ctx = multiprocessing.get_context("fork")
    start_at = time.monotonic() + 0.3 + conns * 0.002  # once every connection is open
    end_at = start_at + seconds
    procs = []
    for k in range(HTTP_PROCS):
        share = conns // HTTP_PROCS + (1 if k < conns % HTTP_PROCS else 0)
        if share == 0:
            continue
        rx, tx = ctx.Pipe(duplex=False)
        p = ctx.Process(target=client_process,
                        args=(sock, path, share, start_at, end_at, expect, tx))
        p.start()
        tx.close()
        procs.append((p, rx))
    while time.monotonic() < start_at:
        time.sleep(0.001)
    cpu0 = sum(ctr.daemons_cpu_ns(daemon_pids))
    lat, errors, last = [], [], start_at
    for p, rx in procs:
        try:
            got = rx.recv()
        except EOFError:
            got = ([], ["client process died"], start_at)
        p.join()
        lat += got[0]
        errors += got[1]
        last = max(last, got[2])
    cpu = sum(ctr.daemons_cpu_ns(daemon_pids)) - cpu0
    return lat, len(lat), max(last - start_at, 1e-9), cpu, errors


def http_load(label, targets, args, rng, res):
    """targets: {engine: (sock, path, expect, daemon pids)}; a warm-up burst each, then
    --http-rounds bursts each, interleaved."""
    print(f"[{label}] {args.clients} clients, {args.http_rounds} × {args.http_seconds} s "
          f"each after a warm-up burst: {', '.join(targets)}", file=sys.stderr, flush=True)
    got = {e: {"lat": [], "n": 0, "s": 0.0, "cpu": 0} for e in targets}
    for i in range(1 + args.http_rounds):
        order = list(targets)
        rng.shuffle(order)
        for e in order:
            sock, path, expect, pids = targets[e]
            lat, n, secs, cpu, errors = burst(sock, path, args.clients,
                                              args.http_seconds if i else 0.5, expect, pids)
            if errors:
                raise ctr.ToolFailure(e, f"GET {path} with {args.clients} clients: "
                                         f"{len(errors)} failed, e.g. {errors[0]}")
            if i:
                g = got[e]
                g["lat"] += lat
                g["n"] += n
                g["s"] += secs
                g["cpu"] += cpu
    for e, g in got.items():
        us = [x / 1e3 for x in g["lat"]]
        res.setdefault(label, {})[e] = {
            "median_us": statistics.median(us), "p99_us": pct(us, 0.99),
            "req_per_s": g["n"] / g["s"], "requests": g["n"],
            "cpu_us_per_req": g["cpu"] / 1e3 / g["n"]}


# ---------------------------------------------------------------------------
# Report
# ---------------------------------------------------------------------------
def ratio(a, b):
    if not b:
        return "-"
    r = a / b
    return f"{r:.3f}×" if r < 0.1 else f"{r:.2f}×"


def fmt(x):
    return f"{x:.0f}" if x >= 100 else f"{x:.1f}"


def mem_cell(m, key):
    """MiB of one engine's processes: the sum, and its parts when there are several."""
    i = 0 if key == "rss" else 1
    parts = [v[i] / 1024 for v in m.values()]
    if len(parts) == 1:
        return sum(parts), f"{parts[0]:.1f}"
    return sum(parts), f"{sum(parts):.1f} ({' + '.join(f'{p:.1f}' for p in parts)})"


def report(res, mem, fill_ns, args, load0):
    rows = []
    for label, per in res.items():
        if "median_ms" in next(iter(per.values())):
            b = per["berth"]
            for peer in [t for t in per if t != "berth"]:
                d = per[peer]
                name = label if peer == "dockerd" else f"{label}, dockerd {peer[8:]}"
                rows.append((f"{name}, ms", f"{fmt(b['median_ms'])} ({fmt(b['p90_ms'])})",
                             f"{fmt(d['median_ms'])} ({fmt(d['p90_ms'])})",
                             ratio(b["median_ms"], d["median_ms"])))
            if label.startswith("run --rm"):
                d = per["dockerd"]
                rows.append(("  CPU of it (client, shims, daemons), ms",
                             fmt(b["median_cpu_ms"]), fmt(d["median_cpu_ms"]),
                             ratio(b["median_cpu_ms"], d["median_cpu_ms"])))
        else:
            b, d = per["berth"], per["dockerd"]
            rows.append((f"{label}: µs per request", f"{fmt(b['median_us'])} "
                         f"({fmt(b['p99_us'])})", f"{fmt(d['median_us'])} "
                         f"({fmt(d['p99_us'])})", ratio(b["median_us"], d["median_us"])))
            rows.append(("  requests/s", f"{b['req_per_s']:.0f}", f"{d['req_per_s']:.0f}",
                         ratio(b["req_per_s"], d["req_per_s"])))
            rows.append(("  daemon CPU per request, µs", fmt(b["cpu_us_per_req"]),
                         fmt(d["cpu_us_per_req"]),
                         ratio(b["cpu_us_per_req"], d["cpu_us_per_req"])))
    if fill_ns:
        b, d = fill_ns["berth"] / 1e6, fill_ns["dockerd"] / 1e6
        rows.append((f"set-up: {args.ps_containers} × run, {args.parallel} at a time "
                     "(once), ms", fmt(b), fmt(d), ratio(b, d)))
    for when, key, what in (("start", "rss", "VmRSS after start"),
                            ("end", "rss", "VmRSS after the runs"),
                            ("end", "hwm", "VmHWM (peak) at the end")):
        b, btxt = mem_cell(mem[when]["berth"], key)
        d, dtxt = mem_cell(mem[when]["dockerd"], key)
        rows.append((f"{what}, MiB", btxt, dtxt, ratio(b, d)))
    w = max(len(r[0]) for r in rows) + 2
    cols = [max(len(r[i]) for r in rows + [("", "berth", "dockerd", "berth/dockerd")]) + 3
            for i in (1, 2, 3)]
    print()
    net = "each daemon's default bridge, in a namespace of the bench's" if args.bridge \
        else "--network none (a bridge's set-up would dominate; bench/network.py times it)"
    print(f"containers: {net}; CLI rows: median (p90) of {args.runs} runs; HTTP rows: "
          f"median (p99) over every request of {args.http_rounds} × {args.http_seconds} s "
          f"with {args.clients} keep-alive clients; dockerd = dockerd + its containerd")
    print(f"{'':<{w}}{'berth':>{cols[0]}}{'dockerd':>{cols[1]}}{'berth/dockerd':>{cols[2]}}")
    for r in rows:
        print(f"{r[0]:<{w}}{r[1]:>{cols[0]}}{r[2]:>{cols[1]}}{r[3]:>{cols[2]}}")
    print(f"(load average {load0:.1f} at the start, {os.getloadavg()[0]:.1f} at the end; "
          f"{os.cpu_count()} CPUs shared with whatever else runs: compare ratios from one "
          "run)")


# ---------------------------------------------------------------------------
def parse_args():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--berth", required=True, help="the berth binary")
    p.add_argument("--berth-shim", required=True)
    p.add_argument("--berth-runtime", required=True)
    p.add_argument("--runs", type=int, default=None, help="timed CLI runs per daemon")
    p.add_argument("--warmup", type=int, default=None, help="untimed CLI runs first")
    p.add_argument("--ps-containers", type=int, default=None,
                   help="exited containers present for ps -a (and the rest)")
    p.add_argument("--parallel", type=int, default=8, help="runs in flight while filling")
    p.add_argument("--clients", type=int, default=50, help="concurrent HTTP connections")
    p.add_argument("--http-seconds", type=float, default=None, help="length of a burst")
    p.add_argument("--http-rounds", type=int, default=None, help="bursts per daemon and path")
    p.add_argument("--bridge", action="store_true",
                   help="daemons in a network namespace of the bench's, containers on "
                        "their default bridge (default: --network none on the host's)")
    p.add_argument("--quick", action="store_true",
                   help="short: 5 runs, 1 warm-up, 50 containers, one 1 s burst (counts given "
                        "outright still count)")
    p.add_argument("--seed", type=int, default=0, help="seed of the order within a round")
    p.add_argument("--timeout", type=float, default=120,
                   help="seconds before a command counts as hung")
    p.add_argument("--json", metavar="FILE", help="also write every figure as JSON")
    a = p.parse_args()
    # --quick changes the defaults; a count given outright wins.
    sizes = QUICK if a.quick else FULL
    for k, v in sizes.items():
        if getattr(a, k) is None:
            setattr(a, k, v)
    if min(a.runs, a.ps_containers, a.parallel, a.clients, a.http_rounds) < 1 \
            or a.warmup < 0 or a.http_seconds <= 0:
        p.error("counts must be >= 1, --warmup >= 0, --http-seconds > 0")
    for attr in ("berth", "berth_shim", "berth_runtime"):
        path = os.path.abspath(getattr(a, attr))
        if not os.access(path, os.X_OK):
            p.error(f"--{attr.replace('_', '-')} {path}: not found or not executable "
                    "(make build)")
        setattr(a, attr, path)
    return a


def interrupted(signum, _frame):
    raise KeyboardInterrupt(signal.Signals(signum).name)


def main():
    args = parse_args()
    if os.geteuid() != 0:
        sys.exit("daemon.py: must run as root")
    for b in (ctr.DOCKERD, DOCKER_CLI):
        if not os.access(b, os.X_OK):
            sys.exit(f"daemon.py: {b} is not installed (Debian's docker.io)")
    if ctr.LIBC.prctl(ctr.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:
        sys.exit(f"daemon.py: PR_SET_CHILD_SUBREAPER: {os.strerror(ctypes.get_errno())}")
    signal.signal(signal.SIGTERM, interrupted)
    absent = [p for p in (*ctr.HOST_TREES, *ctr.HOST_STATE_DIRS) if not os.path.lexists(p)]
    cgroup_entries = set(os.listdir(ctr.CGROUP_ROOT))
    host_before = ctr.snapshot_host()
    load0 = os.getloadavg()[0]
    token = secrets.token_hex(3)
    tmp = tempfile.mkdtemp(prefix="berth-bench-daemon-")
    engines, bench, daemon = {}, None, None
    try:
        netns = None
        if args.bridge:
            netns = os.path.join(tmp, "netns")
            open(netns, "w").close()
            subprocess.run(["unshare", f"--net={netns}", "ip", "link", "set", "lo", "up"],
                           check=True)
        bench = ctr.Bench(types.SimpleNamespace(timeout=args.timeout,
                                                parallel=args.parallel))
        tar = os.path.join(tmp, "busybox-rootfs.tar")
        ctr.busybox_rootfs_tar(tar)
        berth = engines["berth"] = ctr.Berth(tmp, args, netns)
        # The store is shared with the command line: the daemon serves no import yet.
        bench.ok(ctr.Tool("berth", "berth", berth.argv, berth.env), "import",
                 berth.argv("import", "-c", 'CMD ["sh"]', tar, ctr.IMAGE))
        daemon = BerthDaemon(tmp, berth, 60)
        mem = {"start": {"berth": memory_of(daemon.pids())}}
        dk = engines["docker"] = ctr.Docker(tmp, token, berth.runtime, 60, netns)
        mem["start"]["dockerd"] = memory_of(dockerd_pids(dk))
        flags = [] if args.bridge else ["--network", "none"]
        tb = ctr.Tool("berth", "berth", cli_argv(daemon.sock), berth.env, flags,
                      [daemon.proc.pid])
        dpids = list(dockerd_pids(dk).values())
        td = ctr.Tool("dockerd", "docker", cli_argv(dk.sock), dk.env, flags, dpids)
        tdb = ctr.Tool("dockerd (berth-runtime)", "docker", cli_argv(dk.sock), dk.env,
                       [*flags, "--runtime", "berth"], dpids)
        bench.ok(td, "import", td.argv("import", "--change", 'CMD ["sh"]', tar, ctr.IMAGE))
        print(f"berth daemon bench: kernel {platform.release()}, {os.cpu_count()} CPUs, "
              f"load average {load0:.1f}; docker CLI {DOCKER_CLI} "
              f"({ctr.version_of([DOCKER_CLI, '--version'])})")
        for what, argv in (("berth", [berth.exe, "--version"]),
                           ("dockerd", [ctr.DOCKERD, "--version"]),
                           ("runc", [ctr.RUNC, "--version"])):
            print(f"  {what:<8} {ctr.version_of(argv)}")
        sys.stdout.flush()
        notes = []
        for t in (tb, td, tdb):
            notes += preflight(bench, t, args.bridge)
        for n_ in notes:
            print(f"note: {n_}", flush=True)

        rng = random.Random(args.seed)
        res = {}
        interleave("run --rm busybox true",
                   {t.label: (lambda t=t: bench.run_rm(t)[""]) for t in (tb, td, tdb)},
                   args.runs, args.warmup, rng, res)
        n = args.ps_containers
        fill_ns, ids = {}, {}
        for name, t in (("berth", tb), ("dockerd", td)):
            print(f"[set-up] {n} × {name} run, {args.parallel} at a time", file=sys.stderr,
                  flush=True)
            fill_ns[name], ids[name] = fill(bench, t, n, args.parallel)
        interleave(f"ps -a, {n} exited containers",
                   {"berth": lambda: ps_a(bench, tb, n), "dockerd": lambda: ps_a(bench, td, n)},
                   args.runs, args.warmup, rng, res)
        interleave("inspect of one container",
                   {"berth": lambda: inspect(bench, tb, ids["berth"][0]),
                    "dockerd": lambda: inspect(bench, td, ids["dockerd"][0])},
                   args.runs, args.warmup, rng, res)
        socks = {"berth": (daemon.sock, tb.daemons), "dockerd": (dk.sock, dpids)}
        http_load("GET /_ping", {e: (s, "/_ping", b"OK", p) for e, (s, p) in socks.items()},
                  args, rng, res)
        http_load("GET /containers/ID/json",
                  {e: (s, f"/v1.41/containers/{ids[e][0]}/json", ids[e][0].encode(), p)
                   for e, (s, p) in socks.items()}, args, rng, res)
        mem["end"] = {"berth": memory_of(daemon.pids()), "dockerd": memory_of(dockerd_pids(dk))}
        for when in mem.values():
            for e, m in when.items():
                if not m:
                    raise ctr.HarnessError(f"{e}: its daemon is gone")
        report(res, mem, fill_ns, args, load0)
        for label, count in bench.lingering.items():
            print(f"note: {label}: {count} command(s) left a process running beyond the "
                  "settle time")
        if args.json:
            with open(args.json, "w") as f:
                json.dump({"args": vars(args), "results": res, "memory_kib": mem,
                           "fill_ns": fill_ns, "load": [load0, os.getloadavg()[0]]},
                          f, indent=1, ensure_ascii=False)
                f.write("\n")
        return 0
    except (ctr.ToolFailure, ctr.HarnessError, subprocess.CalledProcessError) as e:
        print(f"FAILED: {e}", file=sys.stderr)
        if daemon is not None:
            print(f"berth daemon's log:\n{ctr.indent(daemon.log_text())}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("daemon.py: interrupted", file=sys.stderr)
        return 130
    finally:
        # A second Ctrl-C must not cut the clean-up short.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        if daemon is not None:
            daemon.stop()
        ctr.cleanup(tmp, engines, bench, absent, cgroup_entries, host_before)


if __name__ == "__main__":
    sys.exit(main())
