#!/usr/bin/env python3
"""Whole-process benchmark of berth-runtime against runc and crun.

    python3 bench/bench.py --runtime target/release/berth-runtime [--runs N]
        [--warmup N] [--only NAME[,NAME]] [--json FILE]

See bench/README.md. Python 3.11 standard library only; must run as root.
"""

import argparse
import ctypes
import fcntl
import gc
import json
import os
import platform
import random
import secrets
import select
import selectors
import shutil
import statistics
import struct
import signal
import subprocess
import sys
import tempfile
import time
from collections import deque
from dataclasses import dataclass

PEERS = (("runc", "/usr/sbin/runc"), ("crun", "/usr/bin/crun"))
BUSYBOX = "/bin/busybox"
CGROUP_ROOT = "/sys/fs/cgroup"
CGROUP_PARENT = "berth-bench"
HYBRID_UNIFIED = "/sys/fs/cgroup/unified"
TARGET_RATIO = 0.8
ENV_TOKEN = "BERTH_BENCH_TOKEN"
ENV_HOST_MNTNS = "BERTH_BENCH_HOST_MNTNS"
SPAWN_ENV = {
    "PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    "HOME": "/root",
    "LC_ALL": "C",
}
PR_SET_CHILD_SUBREAPER = 36


# ---------------------------------------------------------------------------
# Spawn server
#
# ru_maxrss of a child includes the high-water RSS of the address space it
# exec'd from: Linux folds the old mm's hiwater_rss into the process's maxrss at
# execve, and posix_spawn's vfork child execs from Python's own mm. Spawned from
# this script, even `busybox true` reports ~13 MB. So every timed process is
# forked by a tiny static server (a few pages of RSS) that this script drives
# over pipes; the figure wait4 gives the server is then the runtime's own.
# It also keeps the harness identical for all runtimes and costs no extra exec
# per measurement.
#
# Protocol: fd 3 gets u32 length + that many bytes of NUL-terminated argv
# strings; the server vforks, execs (env = its own), wait4s, and writes to fd 4
# the i32 wait status, 4 bytes padding and the 144-byte struct rusage. It exits
# at EOF on fd 3. The child inherits fds 0-2; 3 and 4 are made close-on-exec.
#
# Built from this source (x86-64) with
#   as --64 -o s.o s.S && objcopy -O binary -j .text s.o s.bin
# and wrapped in a minimal ELF header by spawn_server_elf():
#
#   _start: mov (%rsp),%rax; lea 16(%rsp,%rax,8),%r15      # r15 = envp
#           sub $0x12000,%rsp; mov %rsp,%rbp                # 0:reply 256:len
#           mov $3,%edi; call cloexec                       # 512:argv 8192:buf
#           mov $4,%edi; call cloexec
#   next:   lea 256(%rbp),%rsi; mov $4,%edx; call readn
#           test %eax,%eax; jnz eof
#           mov 256(%rbp),%edx; test %edx,%edx; jz bad
#           cmp $65536,%edx; ja bad
#           lea 8192(%rbp),%rsi; call readn; test %eax,%eax; jnz eof
#           lea 8192(%rbp),%rsi; mov 256(%rbp),%r8d; add %rsi,%r8
#           lea 512(%rbp),%rdi; xor %r9d,%r9d; mov %rsi,%r10
#   scan:   cmp %r8,%rsi; jae scanned
#           cmpb $0,(%rsi); jne 1f
#           cmp $510,%r9d; jae bad
#           mov %r10,(%rdi,%r9,8); inc %r9d; lea 1(%rsi),%r10
#   1:      inc %rsi; jmp scan
#   scanned:test %r9d,%r9d; jz bad; movq $0,(%rdi,%r9,8)
#           mov $58,%eax; syscall                           # vfork
#           test %rax,%rax; jz child; js forkfail
#           mov %rax,%rdi
#   wait:   mov %rbp,%rsi; xor %edx,%edx; lea 8(%rbp),%r10
#           mov $61,%eax; syscall                           # wait4
#           cmp $-4,%rax; je wait; test %rax,%rax; js bad
#   reply:  mov %rbp,%rsi; mov $152,%edx
#   1:      mov $4,%edi; mov $1,%eax; syscall               # write
#           cmp $-4,%rax; je 1b; test %rax,%rax; jle bad
#           add %rax,%rsi; sub %rax,%rdx; jnz 1b; jmp next
#   forkfail: movl $-1,(%rbp); jmp reply
#   child:  mov 512(%rbp),%rdi; lea 512(%rbp),%rsi; mov %r15,%rdx
#           mov $59,%eax; syscall                           # execve
#           mov $127,%edi; mov $60,%eax; syscall
#   eof:    xor %edi,%edi; mov $60,%eax; syscall
#   bad:    mov $2,%edi; mov $60,%eax; syscall
#   readn:  mov $3,%edi; xor %eax,%eax; syscall             # read
#           cmp $-4,%rax; je readn; test %rax,%rax; jle 1f
#           add %rax,%rsi; sub %rax,%rdx; jnz readn; xor %eax,%eax; ret
#   1:      mov $1,%eax; ret
#   cloexec:mov $2,%esi; mov $1,%edx; mov $72,%eax; syscall; ret  # F_SETFD
# ---------------------------------------------------------------------------
SPAWN_SERVER_CODE = bytes.fromhex(
    "488b04244c8d7cc4104881ec002001004889e5bf03000000e866010000bf04000000e8"
    "5c010000488db500010000ba04000000e82601000085c00f85090100008b9500010000"
    "85d20f840401000081fa000001000f87f8000000488db500200000e8f800000085c00f"
    "85db000000488db500200000448b85000100004901f0488dbd000200004531c94989f2"
    "4c39c67322803e0075184181f9fe0100000f83af0000004e8914cf41ffc14c8d560148"
    "ffc6ebd94585c90f84960000004ac704cf00000000b83a0000000f054885c07455784a"
    "4889c74889ee31d24c8d5508b83d0000000f054883f8fc74ea4885c078624889eeba98"
    "000000bf04000000b8010000000f054883f8fc74ee4885c07e434801c64829c275e1e9"
    "0bffffffc74500ffffffffebcb488bbd00020000488db5000200004c89fab83b000000"
    "0f05bf7f000000b83c0000000f0531ffb83c0000000f05bf02000000b83c0000000f05"
    "bf0300000031c00f054883f8fc74f14885c07e0b4801c64829c275e431c0c3b8010000"
    "00c3be02000000ba01000000b8480000000f05c3"
)
REPLY_SIZE = 8 + 144


def spawn_server_elf():
    base, ehsize, phsize, phnum = 0x400000, 64, 56, 2
    hdr = ehsize + phsize * phnum
    size = hdr + len(SPAWN_SERVER_CODE)
    ident = b"\x7fELF" + bytes([2, 1, 1, 0]) + bytes(8)
    ehdr = struct.pack("<16sHHIQQQIHHHHHH", ident, 2, 62, 1, base + hdr, ehsize,
                       0, 0, ehsize, phsize, phnum, 64, 0, 0)
    text = struct.pack("<IIQQQQQQ", 1, 5, 0, base, base, size, size, 0x1000)
    stack = struct.pack("<IIQQQQQQ", 0x6474E551, 6, 0, 0, 0, 0, 0, 16)
    return ehdr + text + stack + SPAWN_SERVER_CODE


@dataclass
class Result:
    ns: int
    status: int
    maxrss: int  # KiB
    cpu_ns: int
    argv: list
    t0: int
    stderr: str = ""
    killed: bool = False

    @property
    def ok(self):
        return self.status == 0 and not self.killed


class HarnessError(Exception):
    pass


class SpawnServer:
    def __init__(self, path, errpath):
        self.errfd = os.open(errpath, os.O_RDWR | os.O_CREAT | os.O_TRUNC
                             | os.O_APPEND | os.O_CLOEXEC, 0o600)
        req_r, self.req_w = os.pipe()
        self.resp_r, resp_w = os.pipe()
        devnull = os.open(os.devnull, os.O_RDWR | os.O_CLOEXEC)
        # Move every source fd above 2..4 so that the dup2s cannot clobber one
        # another.
        src = [fcntl_dupfd(fd) for fd in (devnull, devnull, self.errfd, req_r, resp_w)]
        actions = [(os.POSIX_SPAWN_DUP2, s, t) for t, s in enumerate(src)]
        try:
            self.pid = os.posix_spawn(path, [path], SPAWN_ENV, file_actions=actions)
        finally:
            for fd in src + [req_r, resp_w, devnull]:
                os.close(fd)
        self.argv = None
        self.t0 = 0
        self.killed = False

    def send(self, argv):
        blob = b"".join(os.fsencode(a) + b"\0" for a in argv)
        msg = struct.pack("<I", len(blob)) + blob
        os.ftruncate(self.errfd, 0)
        self.argv = argv
        self.t0 = time.perf_counter_ns()
        os.write(self.req_w, msg)

    def recv(self, timeout=None):
        if timeout is not None and not select.select([self.resp_r], [], [], timeout)[0]:
            self.kill_stuck()
        buf = b""
        while len(buf) < REPLY_SIZE:
            chunk = os.read(self.resp_r, REPLY_SIZE - len(buf))
            if not chunk:
                raise HarnessError(f"spawn server {self.pid} died")
            buf += chunk
        ns = time.perf_counter_ns() - self.t0
        status, = struct.unpack_from("<i", buf, 0)
        ru = struct.unpack_from("<18q", buf, 8)
        cpu_ns = (ru[0] + ru[2]) * 10**9 + (ru[1] + ru[3]) * 1000
        code = -1 if status == -1 else os.waitstatus_to_exitcode(status)
        res = Result(ns, code, ru[4], cpu_ns, self.argv, self.t0, killed=self.killed)
        self.killed = False
        if not res.ok:
            res.stderr = self.stderr()
        return res

    def run(self, argv, timeout=None):
        self.send(argv)
        return self.recv(timeout)

    def kill_stuck(self):
        """SIGKILL the runtime process the server is waiting for, so that the
        server replies and stays usable."""
        self.killed = True
        for pid in children_of(self.pid):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass

    def stderr(self):
        os.lseek(self.errfd, 0, os.SEEK_SET)
        return os.read(self.errfd, 1 << 16).decode(errors="replace")

    def close(self):
        if self.pid is None:
            return
        os.close(self.req_w)
        try:
            os.waitpid(self.pid, 0)
        except ChildProcessError:
            pass
        os.close(self.resp_r)
        os.close(self.errfd)
        self.pid = None


def fcntl_dupfd(fd, low=100):
    return fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, low)


# ---------------------------------------------------------------------------
# Bundle
# ---------------------------------------------------------------------------
def build_rootfs(path):
    for d in ("bin", "proc", "sys", "dev", "tmp"):
        os.makedirs(os.path.join(path, d))
    shutil.copy2(BUSYBOX, os.path.join(path, "bin", "busybox"))
    os.symlink("busybox", os.path.join(path, "bin", "true"))


def oci_config(rootfs, cgroups_path, args=("/bin/true",)):
    """runc 1.1.5's `runc spec`, minus the terminal, resources and the cgroup
    mount, running /bin/true in its own cgroup."""
    caps = ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"]
    nosuid_noexec_nodev = ["nosuid", "noexec", "nodev"]
    return {
        "ociVersion": "1.0.2-dev",
        "process": {
            "terminal": False,
            "user": {"uid": 0, "gid": 0},
            "args": list(args),
            "env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
                    "TERM=xterm"],
            "cwd": "/",
            "capabilities": {k: caps for k in ("bounding", "effective", "permitted", "ambient")},
            "rlimits": [{"type": "RLIMIT_NOFILE", "hard": 1024, "soft": 1024}],
            "noNewPrivileges": True,
        },
        "root": {"path": rootfs, "readonly": True},
        "hostname": "berth-bench",
        "mounts": [
            {"destination": "/proc", "type": "proc", "source": "proc"},
            {"destination": "/dev", "type": "tmpfs", "source": "tmpfs",
             "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]},
            {"destination": "/dev/pts", "type": "devpts", "source": "devpts",
             "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"]},
            {"destination": "/dev/shm", "type": "tmpfs", "source": "shm",
             "options": nosuid_noexec_nodev + ["mode=1777", "size=65536k"]},
            {"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue",
             "options": nosuid_noexec_nodev},
            {"destination": "/sys", "type": "sysfs", "source": "sysfs",
             "options": nosuid_noexec_nodev + ["ro"]},
        ],
        "linux": {
            "cgroupsPath": cgroups_path,
            "namespaces": [{"type": t} for t in ("pid", "network", "ipc", "uts", "mount")],
            "maskedPaths": [
                "/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys",
                "/proc/latency_stats", "/proc/timer_list", "/proc/timer_stats",
                "/proc/sched_debug", "/sys/firmware", "/proc/scsi",
            ],
            "readonlyPaths": [
                "/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger",
            ],
        },
    }


# ---------------------------------------------------------------------------
# Runtimes and the shared bench context
# ---------------------------------------------------------------------------
@dataclass
class Runtime:
    name: str
    path: str
    state: str
    version: str = ""
    failure: str = ""

    def argv(self, *args):
        return [self.path, "--root", self.state, *args]

    def stored_ids(self):
        """Containers the runtime still keeps state for, assuming the usual
        layout of one `<id>` (or `<id>.<ext>`) entry per container under --root."""
        try:
            return {e.split(".", 1)[0] for e in os.listdir(self.state)}
        except FileNotFoundError:
            return set()


def force_delete(rt, cid, timeout):
    try:
        subprocess.run(rt.argv("delete", "--force", cid), stdin=subprocess.DEVNULL,
                       stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, timeout=timeout)
    except subprocess.TimeoutExpired:
        print(f"bench.py: {rt.name} delete --force {cid} hung", file=sys.stderr)


class RuntimeFailure(Exception):
    def __init__(self, rt, what, result=None):
        detail = ""
        if result is not None:
            exit = (f"killed after {result.ns / 1e9:.0f} s without finishing" if result.killed
                    else result.status)
            detail = (f"\n  command: {' '.join(result.argv)}\n  exit: {exit}"
                      f"\n  stderr:\n" + indent(result.stderr.strip() or "(empty)"))
        super().__init__(f"{rt.name} ({rt.path}): {what}{detail}")
        self.rt = rt


def indent(text, pad="    "):
    return "\n".join(pad + line for line in text.splitlines())


class Bench:
    def __init__(self, tmp, token, runtimes, pool_size, timeout):
        self.tmp = tmp
        self.timeout = timeout
        self.token = token
        self.rootfs = os.path.join(tmp, "rootfs")
        self.bundles = os.path.join(tmp, "bundles")
        os.makedirs(self.bundles)
        build_rootfs(self.rootfs)
        self.seq = 0
        server = os.path.join(tmp, "spawn-server")
        with open(server, "wb") as f:
            f.write(spawn_server_elf())
        os.chmod(server, 0o755)
        self.pool = [SpawnServer(server, os.path.join(tmp, f"stderr-{i}"))
                     for i in range(pool_size)]

    @property
    def spawner(self):
        return self.pool[0]

    def new_container(self, rt, args=("/bin/true",)):
        """A fresh id and bundle: each container gets its own cgroup, so
        concurrent ones never share (or delete) each other's."""
        self.seq += 1
        cid = f"{rt.name}-{self.token}-{self.seq}"
        bundle = os.path.join(self.bundles, cid)
        os.mkdir(bundle)
        cfg = oci_config(self.rootfs, f"/{CGROUP_PARENT}/{cid}", args)
        with open(os.path.join(bundle, "config.json"), "w") as f:
            json.dump(cfg, f)
        return cid, bundle

    def timed(self, rt, argv, what):
        res = self.spawner.run(rt.argv(*argv), self.timeout)
        if not res.ok:
            raise RuntimeFailure(rt, f"{what} failed", res)
        return res

    def preflight(self, rt):
        """Untimed: prove that `run` really runs the container (a stub that
        exits 0 would otherwise benchmark beautifully)."""
        cid, bundle = self.new_container(
            rt, ["/bin/busybox", "sh", "-c", "echo $$ $(hostname); exit 3"])
        try:
            p = subprocess.run(rt.argv("run", "--bundle", bundle, cid), stdin=subprocess.DEVNULL,
                               capture_output=True, text=True, timeout=self.timeout)
        except subprocess.TimeoutExpired:
            raise RuntimeFailure(rt, f"preflight `run` did not finish in {self.timeout} s")
        finally:
            self.dispose(rt, cid, bundle)
        if p.returncode != 3 or p.stdout.split() != ["1", "berth-bench"]:
            raise RuntimeFailure(
                rt, "preflight: `run` of `sh -c 'echo $$ $(hostname); exit 3'` gave exit "
                f"{p.returncode} and stdout {p.stdout.strip()!r} (want 3 and '1 berth-bench')"
                "\n  stderr:\n" + indent(p.stderr.strip() or "(empty)"))

    def dispose(self, rt, cid, bundle):
        """Untimed: whatever the runtime left of the container goes away."""
        if cid in rt.stored_ids():
            force_delete(rt, cid, self.timeout)
        shutil.rmtree(bundle, ignore_errors=True)
        reap_orphans()

    def close(self):
        for s in self.pool:
            s.close()


def reap_orphans():
    """We are the subreaper of every detached container init."""
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


def wait_exit(pid, timeout):
    """True once `pid` has exited. A pidfd works whether the init was
    reparented to us or the runtime keeps a monitor process as its parent."""
    try:
        fd = os.pidfd_open(pid)
    except ProcessLookupError:
        return True
    try:
        if not select.select([fd], [], [], timeout)[0]:
            return False
    finally:
        os.close(fd)
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        pass
    return True


# ---------------------------------------------------------------------------
# Scenarios. Each iteration returns {row: Sample}; a row's RSS is the largest
# ru_maxrss among the processes that make it up in that iteration.
# ---------------------------------------------------------------------------
@dataclass
class Sample:
    ns: int
    rss: int
    cpu_ns: int = 0


class Scenario:
    name = ""
    rows = ()
    help = ""

    def iterate(self, b, rt, i):
        raise NotImplementedError


class RunScenario(Scenario):
    name = "run"
    rows = ("run",)
    help = "`run` of the true bundle in the foreground"

    def iterate(self, b, rt, i):
        cid, bundle = b.new_container(rt)
        try:
            r = b.timed(rt, ["run", "--bundle", bundle, cid], "run")
        finally:
            b.dispose(rt, cid, bundle)
        return {"run": Sample(r.ns, r.maxrss, r.cpu_ns)}


class LifecycleScenario(Scenario):
    name = "lifecycle"
    rows = ("create", "start", "start+wait", "delete", "create+start+delete")
    help = "create, start (then wait for the init to exit), delete as separate processes"

    def iterate(self, b, rt, i):
        cid, bundle = b.new_container(rt)
        pidfile = os.path.join(bundle, "init.pid")
        try:
            c = b.timed(rt, ["create", "--bundle", bundle, "--pid-file", pidfile, cid], "create")
            try:
                with open(pidfile) as f:
                    pid = int(f.read().strip())
            except (OSError, ValueError) as e:
                raise RuntimeFailure(rt, f"create left no usable --pid-file: {e}")
            s = b.timed(rt, ["start", cid], "start")
            if not wait_exit(pid, b.timeout):
                raise RuntimeFailure(rt, f"the init (pid {pid}) had not exited {b.timeout} s "
                                         "after start")
            waited = time.perf_counter_ns() - s.t0
            if i == 0:
                self.check_stopped(rt, cid, b.timeout)
            d = b.timed(rt, ["delete", cid], "delete")
        finally:
            b.dispose(rt, cid, bundle)
        return {
            "create": Sample(c.ns, c.maxrss, c.cpu_ns),
            "start": Sample(s.ns, s.maxrss, s.cpu_ns),
            "start+wait": Sample(waited, s.maxrss, s.cpu_ns),
            "delete": Sample(d.ns, d.maxrss, d.cpu_ns),
            "create+start+delete": Sample(c.ns + s.ns + d.ns, max(c.maxrss, s.maxrss, d.maxrss),
                                          c.cpu_ns + s.cpu_ns + d.cpu_ns),
        }

    @staticmethod
    def check_stopped(rt, cid, timeout):
        """Once per runtime: does the runtime agree that a reaped init means
        stopped? (Otherwise start+wait would measure the wrong thing.)"""
        p = subprocess.run(rt.argv("state", cid), capture_output=True, text=True,
                           timeout=timeout)
        try:
            status = json.loads(p.stdout)["status"]
        except (ValueError, KeyError, TypeError):
            status = None
        if status != "stopped":
            raise RuntimeFailure(rt, f"`state` after the init exited reports {status!r}, "
                                     f"not 'stopped' (stderr: {p.stderr.strip()})")


class ParallelRunScenario(Scenario):
    total, width = 50, 8
    name = "parallel"
    rows = (f"{total} × run, {width} at a time",)
    help = f"wall time of {total} `run`s with unique ids, {width} concurrently"

    def iterate(self, b, rt, i):
        todo = deque(b.new_container(rt) for _ in range(self.total))
        made = list(todo)
        sel = selectors.DefaultSelector()
        rss, failures = [], []
        try:
            t0 = time.perf_counter_ns()
            for srv in b.pool[:self.width]:
                if todo:
                    cid, bundle = todo.popleft()
                    srv.send(rt.argv("run", "--bundle", bundle, cid))
                    sel.register(srv.resp_r, selectors.EVENT_READ, srv)
            while sel.get_map():
                events = sel.select(b.timeout)
                if not events:
                    for key in sel.get_map().values():
                        key.data.kill_stuck()
                for key, _ in events:
                    srv = key.data
                    r = srv.recv()
                    rss.append(r.maxrss)
                    if not r.ok:
                        failures.append(r)
                    if todo and not failures:
                        cid, bundle = todo.popleft()
                        srv.send(rt.argv("run", "--bundle", bundle, cid))
                    else:
                        sel.unregister(srv.resp_r)
            wall = time.perf_counter_ns() - t0
        finally:
            sel.close()
            for cid, bundle in made:
                b.dispose(rt, cid, bundle)
        if failures:
            raise RuntimeFailure(rt, f"{len(failures)} of {self.total} concurrent runs failed",
                                 failures[0])
        return {self.rows[0]: Sample(wall, max(rss))}


class ExecScenario(Scenario):
    name = "exec"
    rows = ("exec",)
    help = "`exec` of /bin/true into a running container, in the foreground"

    def iterate(self, b, rt, i):
        cid, bundle = b.new_container(rt, ("/bin/busybox", "sleep", "1000"))
        try:
            b.timed(rt, ["create", "--bundle", bundle, cid], "create")
            b.timed(rt, ["start", cid], "start")
            e = b.timed(rt, ["exec", cid, "/bin/true"], "exec")
        finally:
            b.dispose(rt, cid, bundle)
        return {"exec": Sample(e.ns, e.maxrss, e.cpu_ns)}


SCENARIOS = [RunScenario(), LifecycleScenario(), ExecScenario(), ParallelRunScenario()]


# ---------------------------------------------------------------------------
# Reporting
# ---------------------------------------------------------------------------
def p90(xs):
    if len(xs) < 2:
        return xs[0]
    return statistics.quantiles(xs, n=10, method="inclusive")[8]


def summarize(samples):
    """samples: {row: {rt: [Sample]}} -> {row: {rt: stats}}"""
    out = {}
    for row, per_rt in samples.items():
        out[row] = {}
        for rt, ss in per_rt.items():
            if not ss:
                continue
            ms = [s.ns / 1e6 for s in ss]
            rss = [s.rss for s in ss]
            out[row][rt] = {
                "median_ms": statistics.median(ms), "p90_ms": p90(ms),
                "median_rss_kib": statistics.median(rss), "n": len(ss),
                "ms": [round(x, 4) for x in ms], "rss_kib": rss,
                "cpu_ms": [round(s.cpu_ns / 1e6, 4) for s in ss],
            }
    return out


def ratio(stats, row, a, b, key):
    try:
        return stats[row][a][key] / stats[row][b][key]
    except (KeyError, ZeroDivisionError):
        return None


def fmt_ratio(r):
    return "-" if r is None else f"{r:.2f}×"


def print_tables(stats, rows, names):
    def ms(st):
        return f"{st['median_ms']:.1f} ({st['p90_ms']:.1f})"

    def kib(st):
        return str(round(st["median_rss_kib"]))

    print_table(stats, rows, names, "ms: median (p90)", ms, "median_ms")
    print()
    print_table(stats, rows, names, "peak RSS KiB: median", kib, "median_rss_kib")


def print_table(stats, rows, names, title, cell, key):
    peers = [n for n in ("runc", "crun") if n in names]
    w0 = max(len(r) for r in rows + [title]) + 2
    print(f"{title:<{w0}}" + "".join(f"{n:>17}" for n in names)
          + "".join(f"{'berth/' + p:>13}" for p in peers))
    for row in rows:
        line = f"{row:<{w0}}"
        for n in names:
            st = stats.get(row, {}).get(n)
            line += f"{cell(st) if st else '-':>17}"
        for p in peers:
            line += f"{fmt_ratio(ratio(stats, row, 'berth', p, key)):>13}"
        print(line)


def evaluate_targets(stats, names):
    if "crun" not in names or "berth" not in names:
        return {"met": None, "text": "targets: crun not available, not evaluated"}
    parts, verdicts = [], []
    for row in ("run", "create+start+delete"):
        r = ratio(stats, row, "berth", "crun", "median_ms")
        ok = None if r is None else r <= TARGET_RATIO
        verdicts.append(ok)
        parts.append(f"{row}: not measured" if r is None else
                     f"{row} {r:.2f}× crun (want ≤ {TARGET_RATIO}: {'yes' if ok else 'NO'})")
    rss_rows = [r for r in ("run", "create", "start", "delete")
                if "berth" in stats.get(r, {}) and "crun" in stats.get(r, {})]
    worse = [r for r in rss_rows
             if stats[r]["berth"]["median_rss_kib"] >= stats[r]["crun"]["median_rss_kib"]]
    ok = (not worse) if rss_rows else None
    verdicts.append(ok)
    parts.append("peak RSS: not measured" if not rss_rows else
                 f"peak RSS below crun's in {', '.join(rss_rows)}: "
                 + ("yes" if ok else f"NO ({', '.join(worse)})"))
    met = False if False in verdicts else (None if None in verdicts else True)
    verdict = {True: "targets hold", False: "targets NOT met",
               None: "targets not fully evaluated"}[met]
    return {"met": met, "text": "targets (berth vs crun): " + "; ".join(parts) + f" -> {verdict}"}


# ---------------------------------------------------------------------------
# Namespace setup, driver, cleanup
# ---------------------------------------------------------------------------
def parse_args():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--runtime", required=True, help="berth-runtime binary")
    p.add_argument("--runs", type=int, default=30)
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--only", default="", help="scenarios or rows, comma separated: "
                   + ", ".join(s.name for s in SCENARIOS))
    p.add_argument("--json", metavar="FILE", help="write results as JSON")
    p.add_argument("--order", choices=("shuffle", "fixed"), default="shuffle",
                   help="order of the runtimes within each round (default: shuffle)")
    p.add_argument("--seed", type=int, default=0, help="seed for --order shuffle")
    p.add_argument("--timeout", type=float, default=60,
                   help="seconds before a runtime process counts as hung and is killed")
    a = p.parse_args()
    if a.runs < 1 or a.warmup < 0:
        p.error("--runs must be >= 1 and --warmup >= 0")
    a.scenarios = select_scenarios(p, a.only)
    return a


def select_scenarios(p, only):
    if not only:
        return list(SCENARIOS)
    wanted = {w.strip() for w in only.split(",") if w.strip()}
    chosen = [s for s in SCENARIOS if s.name in wanted or wanted & set(s.rows)]
    known = {s.name for s in SCENARIOS} | {r for s in SCENARIOS for r in s.rows}
    unknown = wanted - known
    if unknown or not chosen:
        p.error(f"unknown --only {', '.join(sorted(unknown)) or only}; "
                f"choose from: {', '.join(s.name for s in SCENARIOS)} "
                f"(or a row: {', '.join(r for s in SCENARIOS for r in s.rows)})")
    return chosen


def mntns():
    return os.readlink("/proc/self/ns/mnt")


def outer(args):
    """Host side: re-exec inside a private mount namespace, then sweep the
    cgroups this run named, as the host sees them (the namespace hides the
    unified hierarchy)."""
    if os.geteuid() != 0:
        sys.exit("bench.py: must run as root")
    token = secrets.token_hex(3)
    env = dict(os.environ, **{ENV_TOKEN: token, ENV_HOST_MNTNS: mntns()})
    cmd = ["unshare", "-m", "--propagation", "private",
           sys.executable, os.path.abspath(__file__), *sys.argv[1:]]
    proc = subprocess.Popen(cmd, env=env)
    while True:
        try:
            rc = proc.wait()
            break
        except KeyboardInterrupt:
            continue  # the inner run got the signal too and is cleaning up
    if rc < 0:
        rc = 128 - rc
    _, left = remove_cgroups(lambda name: f"-{token}-" in name)
    if left:
        print("bench.py: could not remove cgroups: " + ", ".join(left), file=sys.stderr)
    return rc


def remove_cgroups(named):
    """rmdir the per-container cgroups we named (matched by `named`), then the
    shared parent if nothing else is in it. Returns (removed, left)."""
    removed, left = [], []
    try:
        hierarchies = sorted(os.listdir(CGROUP_ROOT))
        tmpfs_dev = os.stat(CGROUP_ROOT).st_dev
    except FileNotFoundError:
        return removed, left
    for h in hierarchies:
        parent = os.path.join(CGROUP_ROOT, h, CGROUP_PARENT)
        try:
            names = [n for n in os.listdir(parent) if named(n)]
        except (FileNotFoundError, NotADirectoryError):
            continue
        for n in names:
            path = os.path.join(parent, n)
            try:
                if os.stat(path).st_dev == tmpfs_dev:
                    unlink_plain_files(path)
                os.rmdir(path)
                removed.append((h, n))
            except FileNotFoundError:
                pass
            except OSError as e:
                left.append(f"{path} ({e.strerror})")
        try:
            os.rmdir(parent)
        except OSError:
            pass  # shared with another run, or not ours to judge
    return removed, left


def unlink_plain_files(path):
    """With the unified hierarchy unmounted, crun 1.8.1 still mkdirs the
    container's cgroup under /sys/fs/cgroup/unified and writes a cgroup.procs
    file there: plain files on the /sys/fs/cgroup tmpfs, which the host cannot
    see (they sit under its cgroup2 mount) and crun never removes."""
    for entry in os.scandir(path):
        if entry.is_file(follow_symlinks=False):
            os.unlink(entry.path)


def enter_bench_namespace():
    if mntns() == os.environ.get(ENV_HOST_MNTNS):
        sys.exit("bench.py: not in a private mount namespace; refusing to unmount anything")
    with open("/proc/self/mountinfo") as f:
        mounted = any(line.split()[4] == HYBRID_UNIFIED for line in f)
    if mounted:
        # crun 1.8.1 rejects the hybrid layout; unmounting it here (our private
        # namespace only) gives every runtime the same legacy v1 view.
        subprocess.run(["umount", HYBRID_UNIFIED], check=True)
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:
        sys.exit(f"bench.py: PR_SET_CHILD_SUBREAPER: {os.strerror(ctypes.get_errno())}")


def preseal(berth, tmp):
    """A copy of berth on a read-only bind mount (in our private namespace):
    it skips its CVE-2019-5736 re-exec, so berth minus this column is what
    that protection costs."""
    d = os.path.join(tmp, "presealed")
    os.makedirs(d)
    copy = os.path.join(d, "berth-runtime")
    shutil.copy2(berth, copy)
    subprocess.run(["mount", "--bind", copy, copy], check=True)
    subprocess.run(["mount", "-o", "remount,bind,ro", copy, copy], check=True)
    return copy


def find_runtimes(args, tmp):
    berth = os.path.abspath(args.runtime)
    if not os.access(berth, os.X_OK):
        sys.exit(f"bench.py: runtime {args.runtime} not found or not executable "
                 "(build it first: cargo build --release)")
    found = [("berth", berth), ("sealed", preseal(berth, tmp))]
    found += [(n, p) for n, p in PEERS if os.access(p, os.X_OK)]
    rts = []
    for name, path in found:
        state = os.path.join(tmp, "state", name)
        os.makedirs(state)
        v = subprocess.run([path, "--version"], capture_output=True, text=True)
        version = (v.stdout.strip().splitlines() or ["?"])[0] if v.returncode == 0 else "?"
        rts.append(Runtime(name, path, state, version))
    return rts


def header(runtimes, args):
    order = f"shuffled each round, seed {args.seed}" if args.order == "shuffle" else "fixed"
    print(f"berth-runtime bench: {args.runs} runs + {args.warmup} warm-up, round-robin "
          f"({order}); kernel {platform.release()}, {os.cpu_count()} CPUs")
    for rt in runtimes:
        print(f"  {rt.name:<6} {rt.path}  ({rt.version})")


def harness_floor(b, n=20):
    rs = [b.spawner.run([BUSYBOX, "true"]) for _ in range(n)]
    return {"ms": statistics.median(r.ns for r in rs) / 1e6,
            "rss_kib": round(statistics.median(r.maxrss for r in rs))}


def report(stats, runtimes, args, floor):
    names = [rt.name for rt in runtimes]
    rows = [r for s in args.scenarios for r in s.rows]
    print()
    print_tables(stats, rows, names)
    print()
    targets = evaluate_targets(stats, names)
    print(targets["text"])
    seal = [f"{row} {stats[row]['berth']['median_ms'] - stats[row]['sealed']['median_ms']:+.2f} ms"
            for row in ("run", "create", "exec")
            if "sealed" in stats.get(row, {}) and "berth" in stats[row]]
    if seal:
        print("cost of sealing the binary (CVE-2019-5736; berth minus the pre-sealed copy, "
              "'sealed'): " + ", ".join(seal))
    for rt in runtimes:
        if rt.failure:
            print(f"\n{rt.name} failed:\n{rt.failure}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({
                "runs": args.runs, "warmup": args.warmup,
                "order": args.order, "seed": args.seed,
                "kernel": platform.release(), "cpus": os.cpu_count(),
                "harness_floor": floor,
                "runtimes": {rt.name: {"path": rt.path, "version": rt.version,
                                       "failure": rt.failure or None} for rt in runtimes},
                "results": stats, "targets": targets,
            }, f, indent=1, ensure_ascii=False)
            f.write("\n")


def measure(b, runtimes, args):
    """Round-robin: iteration i of a scenario runs once per runtime before
    iteration i+1 starts, so drift hits every runtime alike. Stops at berth's
    first failure (nothing left to compare); a failing peer is dropped."""
    samples = {row: {rt.name: [] for rt in runtimes} for s in args.scenarios for row in s.rows}
    berth = runtimes[0]
    rng = random.Random(args.seed)
    gc.disable()
    try:
        for sc in args.scenarios:
            print(f"[{sc.name}] {sc.help}", file=sys.stderr)
            for i in range(args.warmup + args.runs):
                # Tearing down a runc container leaves the kernel ~10% of extra
                # work that slows whatever runs next; a fixed order would always
                # hand that to the same runtime.
                order = [rt for rt in runtimes if not rt.failure]
                if args.order == "shuffle":
                    rng.shuffle(order)
                for rt in order:
                    try:
                        got = sc.iterate(b, rt, i)
                    except RuntimeFailure as e:
                        rt.failure = str(e)
                        print(f"FAILED: {e}", file=sys.stderr)
                        if rt is berth:
                            return samples
                        continue
                    if i >= args.warmup:
                        for row, s in got.items():
                            samples[row][rt.name].append(s)
            gc.collect()
    finally:
        gc.enable()
    return samples


def inner(args):
    enter_bench_namespace()
    token = os.environ[ENV_TOKEN]
    if platform.machine() != "x86_64":
        sys.exit("bench.py: the spawn server is x86-64 machine code")
    tmp = tempfile.mkdtemp(prefix="berth-bench-")
    runtimes, b, failed = [], None, []
    try:
        runtimes = find_runtimes(args, tmp)
        pool = max((s.width for s in args.scenarios if hasattr(s, "width")), default=1)
        b = Bench(tmp, token, runtimes, pool, args.timeout)
        header(runtimes, args)
        for rt in runtimes:
            try:
                b.preflight(rt)
            except RuntimeFailure as e:
                rt.failure = str(e)
                print(f"FAILED: {e}", file=sys.stderr)
        failed = [rt for rt in runtimes if rt.failure]
        if runtimes[0].failure:
            return 1
        floor = harness_floor(b)
        print(f"  harness floor (static busybox true): {floor['ms']:.2f} ms, "
              f"{floor['rss_kib']} KiB")
        sys.stdout.flush()
        stats = summarize(measure(b, runtimes, args))
        failed = [rt for rt in runtimes if rt.failure]
        report(stats, runtimes, args, floor)
    finally:
        cleanup(b, runtimes, tmp, token)
    return 1 if failed else 0


def cleanup(b, runtimes, tmp, token):
    """Leave nothing: containers, their inits, cgroups, the temp dir. (Mounts
    die with the private namespace.)"""
    if b is not None:
        b.close()
    for rt in runtimes:
        for cid in rt.stored_ids():
            force_delete(rt, cid, 60)
        if rt.stored_ids():
            print(f"bench.py: {rt.name} kept state for {sorted(rt.stored_ids())}",
                  file=sys.stderr)
    strays = []
    for _ in range(50):  # an init killed by delete --force may still be exiting
        reap_orphans()
        strays = children_of(os.getpid())
        if not strays:
            break
        time.sleep(0.05)
    if strays:
        print(f"bench.py: processes left behind: {strays}", file=sys.stderr)
    removed, left = remove_cgroups(lambda name: f"-{token}-" in name)
    for rt in runtimes:
        per = {}
        for h, n in removed:
            if n.startswith(rt.name + "-"):
                per[h] = per.get(h, 0) + 1
        if per:
            # Worth knowing for berth: a runtime should remove what it made.
            where = ", ".join(f"{h} {c}" for h, c in sorted(per.items()))
            print(f"note: {rt.name} left cgroup dirs behind, now removed: {where}"
                  + (" (unified: plain dirs on the tmpfs, see README)" if "unified" in per else ""),
                  file=sys.stderr)
    if left:
        print("bench.py: could not remove cgroups: " + ", ".join(left), file=sys.stderr)
    sealed_copy = os.path.join(tmp, "presealed", "berth-runtime")
    if os.path.exists(sealed_copy):
        subprocess.run(["umount", sealed_copy], stderr=subprocess.DEVNULL)
    shutil.rmtree(tmp, ignore_errors=True)


def children_of(ppid):
    kids = []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/stat") as f:
                stat = f.read()
        except OSError:
            continue
        if int(stat.rsplit(")", 1)[1].split()[1]) == ppid:
            kids.append(int(d))
    return kids


def main():
    args = parse_args()
    if ENV_TOKEN not in os.environ:
        return outer(args)
    try:
        return inner(args)
    except KeyboardInterrupt:
        print("bench.py: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
