#!/usr/bin/env python3
"""berth's image pull and `images` next to skopeo + umoci and podman, from a local registry.

    python3 bench/images.py --berth target/release/berth [--runs N] [--warmup N]
        [--layers N] [--layer-mb N] [--images N] [--no-zstd] [--only NAME[,NAME]]
        [--json FILE] [--churn]

Python 3.11 standard library only; must run as root. It builds a test image by hand (an
OCI layout: --layers layers of --layer-mb MB of files each, source-like text and random
bytes, gzip and, where zstd is installed, zstd), starts Debian's docker-registry on
127.0.0.1 with its config and storage in a temp dir, pushes the image with skopeo, and
times, round-robin, each in a fresh store removed after it (the page cache is not dropped;
each run's dir starts in an ext4 block group of its own unless --churn is given):

    berth --root FRESH pull 127.0.0.1:PORT/bench/image:TAG
    skopeo --insecure-policy copy --src-tls-verify=false docker://... oci:FRESH/layout:TAG
      then umoci unpack --image FRESH/layout:TAG FRESH/bundle (one figure, and each alone)
    podman --root FRESH/root --runroot FRESH/run pull --tls-verify=false 127.0.0.1:...
    tar --gzip|--zstd -xf BLOB -C FRESH for each layer blob from local files (the floor)

then `berth --root STORE images` over --images images made by `berth import`, next to
`podman images` over the same images (`berth save` of them all, `podman load`). After
every pull the probe files (a text and a binary one per layer) must be in the fresh dir
with their content. Prints medians (min), CPU time and ratios, and whether berth's pull
takes at most 0.5 of the faster peer's median. Exits 0 whatever the figures, 1 if a tool
fails (its command, exit status and stderr are printed). Leaves no process, mount or
temp dir behind: the registry is stopped by its pid, whatever is mounted under the temp
dir is unmounted.
"""

import argparse
import ctypes
import gzip
import hashlib
import io
import itertools
import json
import math
import os
import platform
import random
import resource
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
import urllib.error
import urllib.request

PEERS = (("skopeo", "/usr/bin/skopeo"), ("umoci", "/usr/bin/umoci"), ("podman", "/usr/bin/podman"))
REGISTRY = "/usr/bin/docker-registry"
ZSTD = "/usr/bin/zstd"
REPO = "bench/image"
TAG_GZIP, TAG_ZSTD = "bench", "zstd"
GZIP_LEVEL = 6    # Go's compress/gzip default, which image builders use
ZSTD_LEVEL = 3    # containers/image's and zstd's default
TARGET_RATIO = 0.5
MTIME = 1767225600  # 2026-01-01: every run builds the same bytes, so the same digests
# What podman or skopeo create outside our dirs whatever their flags: removed at the end
# if absent at the start (skopeo's blob-info cache, podman's lock).
HOST_PATHS = ("/var/lib/containers/cache", "/var/lib/containers", "/dev/shm/libpod_lock")
PROXY_VARS = ("http_proxy", "https_proxy", "all_proxy", "no_proxy",
              "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY")
MNT_DETACH = 2
LIBC = ctypes.CDLL(None, use_errno=True)


class HarnessError(Exception):
    pass


class ToolFailure(Exception):
    def __init__(self, tool, what, proc=None):
        detail = ""
        if proc is not None:
            detail = (f"\n  command: {' '.join(proc.args)}\n  exit: {proc.returncode}"
                      f"\n  stderr:\n" + indent(proc.stderr.strip() or "(empty)"))
        super().__init__(f"{tool}: {what}{detail}")


class Unsupported(Exception):
    """A peer that cannot do this row at all (umoci 0.4.7 and zstd layers): a note, not a
    failure."""


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


# ---------------------------------------------------------------------------
# The test image: an OCI layout written by hand
#
# Each layer is a tree of a few hundred files of log-normal sizes (median ~20 kB):
# three in four are source-like text (indented lines of Zipf-distributed made-up
# words, ~3.3:1 under gzip), the rest random bytes (incompressible), so that
# decompression, hashing and writing all weigh as they do for a real image.
# ---------------------------------------------------------------------------
LETTERS = "etaoinshrdlucmfwypvbgkqjxz"
LETTER_WEIGHTS = (12, 9, 8, 7.5, 7, 6.7, 6.3, 6, 6, 4.3, 4, 2.8, 2.4, 2.2, 2.2, 2, 2, 1.9,
                  1.5, 1.3, 1, 0.8, 0.2, 0.15, 0.15, 0.1)
BINARY_SHARE = 0.25


def make_vocabulary(rng, n=3000):
    words = set()
    while len(words) < n:
        k = rng.choice((2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 8, 9, 10, 12))
        words.add("".join(rng.choices(LETTERS, LETTER_WEIGHTS, k=k)))
    return sorted(words)


def make_line_pool(rng, words, n=40000):
    """Source-like lines to draw text files from."""
    cum = list(itertools.accumulate(1 / (i + 1) for i in range(len(words))))
    pool = []
    for _ in range(n):
        w = rng.choices(words, cum_weights=cum, k=6)
        ind = "    " * rng.choice((0, 1, 1, 2, 2, 2, 3, 3, 4))
        kind = rng.randrange(9)
        if kind == 0:
            s = f"{ind}def {w[0]}_{w[1]}(self, {w[2]}, {w[3]}={rng.randrange(100)}):"
        elif kind == 1:
            s = f"{ind}{w[0]} = self.{w[1]}({w[2]}, {w[3]})"
        elif kind == 2:
            s = f"{ind}if {w[0]} is not None and {w[1]}.{w[2]} > {rng.randrange(1000)}:"
        elif kind == 3:
            s = f"{ind}return {w[0]}.{w[1]}({w[2]}[{rng.randrange(16)}])"
        elif kind == 4:
            s = f"{ind}# {' '.join(w)}"
        elif kind == 5:
            s = ""
        elif kind == 6:
            s = f"{ind}for {w[0]} in {w[1]}.{w[2]}():"
        elif kind == 7:
            s = f'{ind}raise {w[0].capitalize()}Error("{w[1]} {w[2]} {w[3]}")'
        else:
            s = f"{ind}{w[0]}.{w[1]} = {w[2]}"
        pool.append(s)
    return pool


def make_layer(rng, n, pool, words, target):
    """One layer's uncompressed tar (about `target` bytes of file content), its file
    count, and probes: (path, sha256) of one text and one binary file in it."""
    buf = io.BytesIO()
    files, content, probes, dirs = 0, 0, {}, set()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as t:
        def entry(name, type_, mode, size=0):
            ti = tarfile.TarInfo(name)
            ti.type, ti.mode, ti.size, ti.mtime = type_, mode, size, MTIME
            ti.uid = ti.gid = 0
            ti.uname = ti.gname = "root"
            return ti

        def mkdirs(path):
            parts = path.split("/")
            for i in range(1, len(parts) + 1):
                d = "/".join(parts[:i])
                if d not in dirs:
                    dirs.add(d)
                    t.addfile(entry(d, tarfile.DIRTYPE, 0o755))

        packages = [f"{rng.choice(words)}{n}{k}" for k in range(12)]
        while content < target:
            binary = rng.random() < BINARY_SHARE
            size = min(max(int(rng.lognormvariate(math.log(20000), 1.0)), 200), 600000)
            size = min(size, max(target - content, 200))
            pkg = rng.choice(packages)
            if binary:
                d = f"usr/lib/bench{n}/{pkg}"
                name = f"lib{rng.choice(words)}-{files}.so"
                data = rng.randbytes(size)
            else:
                d = f"usr/share/bench{n}/{pkg}/{rng.choice(words[:40])}"
                name = f"{rng.choice(words)}_{files}.py"
                lines, got = [], 0
                while got < size:
                    more = rng.choices(pool, k=64)
                    lines += more
                    got += sum(len(s) + 1 for s in more)
                data = ("\n".join(lines) + "\n").encode()[:size]
            mkdirs(d)
            path = f"{d}/{name}"
            t.addfile(entry(path, tarfile.REGTYPE, 0o755 if binary else 0o644, len(data)),
                      io.BytesIO(data))
            probes["binary" if binary else "text"] = (path, hashlib.sha256(data).hexdigest())
            files += 1
            content += len(data)
        # Every layer also touches a shared directory, as real layers do.
        mkdirs("etc/bench")
        note = f"layer {n}\n".encode()
        t.addfile(entry(f"etc/bench/layer-{n}", tarfile.REGTYPE, 0o644, len(note)),
                  io.BytesIO(note))
    return buf.getvalue(), files, list(probes.values())


def write_blob(layout, data):
    digest = hashlib.sha256(data).hexdigest()
    with open(os.path.join(layout, "blobs", "sha256", digest), "wb") as f:
        f.write(data)
    return f"sha256:{digest}"


def build_image(layout, layers, layer_mb, want_zstd, seed):
    """An OCI layout with the image as `bench` (gzip layers) and, if asked, as `zstd`
    (the same tars under zstd). Returns a description and the probes."""
    rng = random.Random(seed)
    os.makedirs(os.path.join(layout, "blobs", "sha256"))
    with open(os.path.join(layout, "oci-layout"), "w") as f:
        json.dump({"imageLayoutVersion": "1.0.0"}, f)
    words = make_vocabulary(rng)
    pool = make_line_pool(rng, words)
    tars, files, probes = [], 0, []
    for n in range(layers):
        tar, count, p = make_layer(rng, n, pool, words, layer_mb * 10**6)
        tars.append(tar)
        files += count
        probes += p
    diff_ids = [f"sha256:{hashlib.sha256(t).hexdigest()}" for t in tars]
    arch = {"x86_64": "amd64", "aarch64": "arm64"}.get(platform.machine(), platform.machine())
    config = json.dumps({
        "created": "2026-01-01T00:00:00Z",
        "architecture": arch,
        "os": "linux",
        "config": {"Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
                   "Cmd": ["/bin/sh"], "WorkingDir": "/"},
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
        "history": [{"created": "2026-01-01T00:00:00Z",
                     "created_by": f"bench/images.py layer {n}"} for n in range(layers)],
    }, separators=(",", ":")).encode()
    config_desc = {"mediaType": "application/vnd.oci.image.config.v1+json",
                   "digest": write_blob(layout, config), "size": len(config)}
    variants = [("gzip", TAG_GZIP, "application/vnd.oci.image.layer.v1.tar+gzip",
                 lambda t: gzip.compress(t, GZIP_LEVEL, mtime=0))]
    if want_zstd:
        variants.append(("zstd", TAG_ZSTD, "application/vnd.oci.image.layer.v1.tar+zstd",
                         zstd_compress))
    manifests, desc = [], {"layers": layers, "files": files,
                           "tar_bytes": sum(len(t) for t in tars), "variants": {}}
    for name, tag, media_type, compress in variants:
        blobs = [compress(t) for t in tars]
        layer_descs = [{"mediaType": media_type, "digest": write_blob(layout, b),
                        "size": len(b)} for b in blobs]
        manifest = json.dumps({
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": config_desc,
            "layers": layer_descs,
        }, separators=(",", ":")).encode()
        digest = write_blob(layout, manifest)
        manifests.append({"mediaType": "application/vnd.oci.image.manifest.v1+json",
                          "digest": digest, "size": len(manifest),
                          "annotations": {"org.opencontainers.image.ref.name": tag}})
        desc["variants"][name] = {"tag": tag, "digest": digest,
                                  "blob_bytes": sum(len(b) for b in blobs),
                                  "layer_digests": [d["digest"] for d in layer_descs]}
    with open(os.path.join(layout, "index.json"), "w") as f:
        json.dump({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
                   "manifests": manifests}, f)
    return desc, probes


def zstd_compress(data):
    return subprocess.run([ZSTD, f"-{ZSTD_LEVEL}", "-q", "-c"], input=data,
                          capture_output=True, check=True).stdout


# ---------------------------------------------------------------------------
# Debian's docker-registry on 127.0.0.1, its config and storage in our temp dir
# ---------------------------------------------------------------------------
class Registry:
    def __init__(self, tmp, timeout):
        self.dir = os.path.join(tmp, "registry")
        os.makedirs(os.path.join(self.dir, "data"))
        self.proc = None
        self.log = os.path.join(self.dir, "registry.log")
        for _ in range(3):  # a free port can be taken between our probe and its bind
            self.port = free_port()
            config = os.path.join(self.dir, "config.yml")
            with open(config, "w") as f:
                f.write(f"""version: 0.1
log:
  level: error
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: {self.dir}/data
  delete:
    enabled: true
http:
  addr: 127.0.0.1:{self.port}
""")
            with open(self.log, "ab") as logf:
                self.proc = subprocess.Popen([REGISTRY, "serve", config], stdin=subprocess.DEVNULL,
                                             stdout=logf, stderr=logf, env=tool_env())
            if self.wait_ready(timeout):
                return
            self.stop()
        raise HarnessError(f"docker-registry did not answer on /v2/:\n{indent(self.log_text())}")

    @property
    def host(self):
        return f"127.0.0.1:{self.port}"

    def wait_ready(self, timeout):
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                return False
            try:
                with opener.open(f"http://{self.host}/v2/", timeout=2) as r:
                    if r.status == 200:
                        return True
            except (urllib.error.URLError, OSError):
                pass
            time.sleep(0.05)
        return False

    def log_text(self):
        try:
            with open(self.log, errors="replace") as f:
                return f.read()[-4000:].strip() or "(empty log)"
        except OSError:
            return "(no log)"

    def stop(self):
        """By its pid: SIGTERM, then SIGKILL."""
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def tool_env(**extra):
    """The caller's environment less any proxy (the registry is on loopback)."""
    env = {k: v for k, v in os.environ.items() if k not in PROXY_VARS}
    env.update(extra)
    return env


# ---------------------------------------------------------------------------
# Timing: whole processes, wall time and the CPU time of their reaped trees
# ---------------------------------------------------------------------------
def children_cpu_ns():
    """(user, sys) ns of every child reaped so far, their reaped descendants included."""
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return int(ru.ru_utime * 1e9), int(ru.ru_stime * 1e9)


def add(a, b):
    return tuple(x + y for x, y in zip(a, b))


def timed(tool, what, argv, env, timeout, stdin_data=None):
    """(wall, user, sys) ns of one process, stdout to /dev/null; ToolFailure if it fails."""
    cpu0 = children_cpu_ns()
    t0 = time.perf_counter_ns()
    try:
        p = subprocess.run(argv, env=env, input=stdin_data,
                           stdin=None if stdin_data is not None else subprocess.DEVNULL,
                           stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, timeout=timeout)
    except subprocess.TimeoutExpired:
        raise ToolFailure(tool, f"{what} did not finish in {timeout} s: {' '.join(argv)}")
    ns = time.perf_counter_ns() - t0
    user, sys_ = (b - a for a, b in zip(cpu0, children_cpu_ns()))
    if p.returncode != 0:
        p.stderr = p.stderr.decode(errors="replace")
        raise ToolFailure(tool, f"{what} failed", p)
    return ns, user, sys_


def run_ok(tool, what, argv, env, timeout, stdin_data=None):
    """Untimed: stdout as text."""
    try:
        p = subprocess.run(argv, env=env, input=stdin_data,
                           stdin=None if stdin_data is not None else subprocess.DEVNULL,
                           capture_output=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        raise ToolFailure(tool, f"{what} did not finish in {timeout} s: {' '.join(argv)}")
    p.stdout, p.stderr = (p.stdout.decode(errors="replace"), p.stderr.decode(errors="replace"))
    if p.returncode != 0:
        raise ToolFailure(tool, f"{what} failed", p)
    return p.stdout


def mounts_under(path):
    with open("/proc/self/mountinfo") as f:
        mounts = [line.split()[4].replace("\\040", " ") for line in f]
    return [m for m in mounts if m == path or m.startswith(path + "/")]


def unmount_under(path):
    """Unmounts (lazily) whatever is mounted at or under `path`, deepest first; returns
    how many there were."""
    found = mounts_under(path)
    for m in sorted(found, key=len, reverse=True):
        if LIBC.umount2(os.fsencode(m), MNT_DETACH) != 0:
            print(f"images.py: umount {m}: {os.strerror(ctypes.get_errno())}", file=sys.stderr)
    return len(found)


def dispose(path):
    """Untimed: a run's dir goes, with anything mounted in it. Returns the mount count."""
    n = unmount_under(path)
    shutil.rmtree(path, ignore_errors=True)
    return n


def spread_subdirectories(path):
    """`chattr +T`: each run's dir starts in an ext4 block group of its own. Without it
    every run unpacks into the group the previous runs just freed, and ext4 passes over
    each inode freed in the last minutes one by one when it allocates there: the bench
    would measure that scan (5-10x a tool's own time), caused by its own removals. A
    file system without the flag (tmpfs, xfs) is left as it is."""
    subprocess.run(["chattr", "+T", path], stdin=subprocess.DEVNULL,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)


def check_probes(tool, root, probes):
    """A puller that exits 0 without unpacking would benchmark beautifully: each probe
    file (a text and a binary one per layer) must be somewhere under `root` (as
    `.../<its path>`) with its content."""
    want = {os.path.basename(p): (p, h) for p, h in probes}
    found = set()
    for d, _, names in os.walk(root):
        for name in names:
            if name in want and name not in found:
                path, digest = want[name]
                full = os.path.join(d, name)
                if full.endswith("/" + path):
                    with open(full, "rb") as f:
                        if hashlib.sha256(f.read()).hexdigest() == digest:
                            found.add(name)
    missing = [want[n][0] for n in want if n not in found]
    if missing:
        raise ToolFailure(tool, f"after the pull, {len(missing)} of {len(want)} probe files "
                                f"are not under {root} with their content, e.g. {missing[0]}")


# ---------------------------------------------------------------------------
# The tools
# ---------------------------------------------------------------------------
class Bench:
    def __init__(self, args, tmp, registry, image, layout, probes):
        self.args = args
        self.image = image
        self.layout = layout
        self.tmp = tmp
        self.registry = registry
        self.probes = probes
        self.timeout = args.timeout
        self.seq = 0
        self.podman_mounts = 0
        for d in ("runs", "tmpdir", "docker-config", "containers/tmp", "containers/net"):
            os.makedirs(self.p(d))
        if not args.churn:
            spread_subdirectories(self.p("runs"))
        with open(self.p("containers/containers.conf"), "w") as f:
            f.write(f"""[containers]
netns = "none"

[network]
network_backend = "cni"
network_config_dir = "{self.p('containers/net')}"

[engine]
cgroup_manager = "cgroupfs"
events_logger = "file"
events_logfile_path = "{self.p('containers/events.log')}"
tmp_dir = "{self.p('containers/tmp')}"
volume_path = "{self.p('containers/volumes')}"
image_copy_tmp_dir = "{self.p('tmpdir')}"
lock_type = "file"
""")
        with open(self.p("containers/storage.conf"), "w") as f:
            f.write(f'[storage]\ndriver = "overlay"\ngraphroot = "{self.p("containers/root")}"\n'
                    f'runroot = "{self.p("containers/run")}"\n')
        with open(self.p("containers/registries.conf"), "w") as f:
            f.write("unqualified-search-registries = []\n")
        with open(self.p("containers/auth.json"), "w") as f:
            f.write("{}\n")
        self.berth_env = tool_env(DOCKER_CONFIG=self.p("docker-config"), TMPDIR=self.p("tmpdir"))
        self.containers_env = tool_env(
            CONTAINERS_CONF=self.p("containers/containers.conf"),
            CONTAINERS_STORAGE_CONF=self.p("containers/storage.conf"),
            CONTAINERS_REGISTRIES_CONF=self.p("containers/registries.conf"),
            REGISTRY_AUTH_FILE=self.p("containers/auth.json"),
            TMPDIR=self.p("tmpdir"))

    def p(self, rel):
        return os.path.join(self.tmp, rel)

    def fresh(self, who):
        self.seq += 1
        d = self.p(f"runs/{who}-{self.seq}")
        os.makedirs(d)
        return d

    def ref(self, tag):
        return f"{self.registry.host}/{REPO}:{tag}"

    # -- pull ---------------------------------------------------------------
    def pull_berth(self, tag):
        d = self.fresh("berth")
        try:
            got = timed("berth", "pull", [self.args.berth, "--root", d, "pull", self.ref(tag)],
                        self.berth_env, self.timeout)
            check_probes("berth", d, self.probes)
        finally:
            dispose(d)
        return {"pull": got}

    def pull_skopeo_umoci(self, tag):
        d = self.fresh("skopeo-umoci")
        layout = os.path.join(d, "layout")
        try:
            copy = timed("skopeo", "copy", [
                "skopeo", "--insecure-policy", "copy", "--src-tls-verify=false",
                f"docker://{self.ref(tag)}", f"oci:{layout}:{tag}"],
                self.containers_env, self.timeout)
            try:
                unpack = timed("umoci", "unpack", [
                    "umoci", "unpack", "--image", f"{layout}:{tag}", os.path.join(d, "bundle")],
                    self.containers_env, self.timeout)
            except ToolFailure as e:
                if "not correct mediatype" in str(e):
                    raise Unsupported(f"umoci cannot unpack these layers: "
                                      f"{str(e).splitlines()[-1].strip()}")
                raise
            check_probes("skopeo+umoci", os.path.join(d, "bundle", "rootfs"), self.probes)
        finally:
            dispose(d)
        return {"pull": add(copy, unpack), "copy": copy, "unpack": unpack}

    def podman_argv(self, d, *args):
        return ["podman", "--root", os.path.join(d, "root"), "--runroot",
                os.path.join(d, "run"), *args]

    def pull_podman(self, tag):
        d = self.fresh("podman")
        try:
            got = timed("podman", "pull", self.podman_argv(
                d, "pull", "--tls-verify=false", self.ref(tag)),
                self.containers_env, self.timeout)
            check_probes("podman", os.path.join(d, "root"), self.probes)
        finally:
            self.podman_mounts += dispose(d)
        return {"pull": got}

    def unpack_floor(self, variant):
        """What unpacking alone costs on this machine: GNU tar extracting the same layer
        blobs from local files, one after the other, into a fresh dir (no network, no
        digests, no store)."""
        d = self.fresh("tar")
        got = (0, 0, 0)
        try:
            for digest in self.image["variants"][variant]["layer_digests"]:
                blob = os.path.join(self.layout, "blobs", "sha256", digest.split(":", 1)[1])
                got = add(got, timed("tar", "-x", ["tar", f"--{variant}", "-xf", blob, "-C", d],
                                     self.containers_env, self.timeout))
            check_probes("tar", d, self.probes)
        finally:
            dispose(d)
        return {"pull": got}

    # -- images -------------------------------------------------------------
    def fill_berth_store(self, n):
        """Untimed: n distinct one-file images, bench/img:0..n-1, by `berth import`."""
        store = self.p("images/berth")
        os.makedirs(store)
        t0 = time.monotonic()
        for i in range(n):
            run_ok("berth", f"import #{i}", [self.args.berth, "--root", store, "import", "-",
                                             f"bench/img:{i}"],
                   self.berth_env, self.timeout, stdin_data=tiny_tar(i))
            if (i + 1) % 100 == 0:
                print(f"  {i + 1} of {n} imported ({time.monotonic() - t0:.0f} s)",
                      file=sys.stderr)
        out = run_ok("berth", "images", [self.args.berth, "--root", store, "images"],
                     self.berth_env, self.timeout)
        ids = run_ok("berth", "images -q", [self.args.berth, "--root", store, "images", "-q"],
                     self.berth_env, self.timeout).split()
        if len(out.splitlines()) != n + 1 or len(set(ids)) != n:
            raise ToolFailure("berth", f"after {n} imports `images` lists "
                                       f"{len(out.splitlines()) - 1} rows and {len(set(ids))} "
                                       "distinct ids")
        return store

    def fill_podman_store(self, berth_store, n):
        """Untimed: the same n images through `berth save` of them all and `podman load`."""
        archive = self.p("images/all.tar")
        run_ok("berth", "save", [self.args.berth, "--root", berth_store, "save", "-o", archive,
                                 *(f"bench/img:{i}" for i in range(n))],
               self.berth_env, self.timeout * 10)
        d = self.p("images/podman")
        os.makedirs(d)
        run_ok("podman", "load", self.podman_argv(d, "load", "--quiet", "--input", archive),
               self.containers_env, self.timeout * 10)
        os.unlink(archive)
        out = run_ok("podman", "images", self.podman_argv(d, "images"), self.containers_env,
                     self.timeout)
        if len(out.splitlines()) != n + 1:
            raise ToolFailure("podman", f"after loading {n} images `images` lists "
                                        f"{len(out.splitlines()) - 1} rows")
        return d

    def images_berth(self, store):
        return {"images": timed("berth", "images", [self.args.berth, "--root", store, "images"],
                                self.berth_env, self.timeout)}

    def images_podman(self, d):
        return {"images": timed("podman", "images", self.podman_argv(d, "images"),
                                self.containers_env, self.timeout)}


def tiny_tar(i):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as t:
        data = f"image {i}\n".encode()
        ti = tarfile.TarInfo("etc/bench-image")
        ti.size, ti.mtime = len(data), MTIME
        t.addfile(ti, io.BytesIO(data))
    return buf.getvalue()


# ---------------------------------------------------------------------------
# Driver and report
# ---------------------------------------------------------------------------
def summarize(samples):
    """[(wall, user, sys) ns] -> stats in ms."""
    ms, user, sys_ = ([s[i] / 1e6 for s in samples] for i in range(3))
    cpu = [u + k for u, k in zip(user, sys_)]
    return {"median_ms": statistics.median(ms), "min_ms": min(ms),
            "median_cpu_ms": statistics.median(cpu), "median_user_ms": statistics.median(user),
            "median_sys_ms": statistics.median(sys_), "n": len(ms),
            "ms": [round(x, 2) for x in ms], "user_ms": [round(x, 2) for x in user],
            "sys_ms": [round(x, 2) for x in sys_]}


def measure(rows, args, rng, res, failures, notes):
    """rows: {row label: {tool: fn() -> {key: (wall, user, sys) ns}}}. Round-robin, the
    tools shuffled in each round; warm-up rounds thrown away; a tool that fails is out of
    that row (its message kept) and the others go on; one that cannot do the row at all
    is noted."""
    for label, tools in rows.items():
        print(f"[{label}] {args.runs} runs + {args.warmup} warm-up each, "
              f"{', '.join(tools)}", file=sys.stderr)
        got = {t: {} for t in tools}
        out = set()
        for i in range(args.warmup + args.runs):
            order = list(tools)
            rng.shuffle(order)
            for t in order:
                if t in out:
                    continue
                try:
                    r = tools[t]()
                except Unsupported as e:
                    out.add(t)
                    notes[f"{label} ({t})"] = str(e)
                    print(f"note: {t}: {e}", file=sys.stderr)
                    continue
                except ToolFailure as e:
                    out.add(t)
                    failures[f"{label} ({t})"] = str(e)
                    print(f"FAILED: {e}", file=sys.stderr)
                    continue
                if i >= args.warmup:
                    for k, s in r.items():
                        got[t].setdefault(k, []).append(s)
        for t in tools:
            if t not in out:
                res.setdefault(label, {})[t] = {k: summarize(v) for k, v in got[t].items()}


def cell(st, key):
    if st is None:
        return "-"
    if key == "ms":
        return f"{st['median_ms']:.0f} ({st['min_ms']:.0f})"
    return f"{st['median_user_ms']:.0f} + {st['median_sys_ms']:.0f}"


def ratio(a, b, key="median_ms"):
    if a is None or b is None or not b[key]:
        return None
    return a[key] / b[key]


def fmt_ratio(r):
    if r is None:
        return "-"
    return f"{r:.3f}×" if r < 0.1 else f"{r:.2f}×"


def stat(res, label, tool, key="pull"):
    return res.get(label, {}).get(tool, {}).get(key)


def faster_peer(res, label):
    peers = [(t, stat(res, label, t, "pull")) for t in ("skopeo+umoci", "podman")]
    peers = [(t, s) for t, s in peers if s is not None]
    return min(peers, key=lambda p: p[1]["median_ms"]) if peers else (None, None)


def report(res, failures, args, labels):
    cols = ("berth", "skopeo+umoci", "podman")
    lines = []
    for label in labels:
        key = "images" if label.startswith("images") else "pull"
        lines.append((label, {t: stat(res, label, t, key) for t in cols}))
        if key == "pull" and stat(res, label, "skopeo+umoci", "copy"):
            lines.append(("  skopeo copy alone", {"skopeo+umoci": stat(res, label, "skopeo+umoci",
                                                                     "copy")}))
            lines.append(("  umoci unpack alone", {"skopeo+umoci": stat(res, label,
                                                                      "skopeo+umoci", "unpack")}))
    for title, key in ((f"ms: median (min) of {args.runs}", "ms"),
                       ("CPU ms, user + sys (ratios: sums)", "cpu")):
        w = max(len(title), *(len(ln[0]) for ln in lines)) + 2
        rkey = "median_ms" if key == "ms" else "median_cpu_ms"
        print()
        print(f"{title:<{w}}" + "".join(f"{c:>15}" for c in cols)
              + "".join(f"{h:>20}" for h in ("berth/skopeo+umoci", "berth/podman",
                                             "berth/faster peer")))
        for name, per in lines:
            row = f"{name:<{w}}" + "".join(f"{cell(per.get(c), key):>15}" for c in cols)
            if "berth" in per:
                rs = [ratio(per.get("berth"), per.get(c), rkey) for c in cols[1:]]
                peers = [per[c] for c in cols[1:] if per.get(c)]
                fast = min(peers, key=lambda s: s["median_ms"]) if peers else None
                rs.append(ratio(per.get("berth"), fast, rkey))
                row += "".join(f"{fmt_ratio(r):>20}" for r in rs)
            print(row)

    parts, verdicts = [], []
    for label in labels:
        if label.startswith("images"):
            continue
        b = stat(res, label, "berth")
        name, fast = faster_peer(res, label)
        r = ratio(b, fast)
        if r is None:
            verdicts.append(None)
            parts.append(f"{label}: not measured")
            continue
        ok = r <= TARGET_RATIO
        verdicts.append(ok)
        parts.append(f"{label} {r:.2f}× {name} (want ≤ {TARGET_RATIO}: {'yes' if ok else 'NO'})")
    met = False if False in verdicts else (None if None in verdicts or not verdicts else True)
    verdict = {True: "target holds", False: "target NOT met",
               None: "target not fully evaluated"}[met]
    text = "target (berth's median against the faster peer's): " + "; ".join(parts) \
        + f" -> {verdict}"
    floors = []
    for label in labels:
        f, b = stat(res, label, "tar -x"), stat(res, label, "berth")
        if f is not None:
            floors.append(f"{label.removeprefix('pull, ')} {f['median_ms']:.0f} "
                          f"({f['min_ms']:.0f}) ms, berth/floor {fmt_ratio(ratio(b, f))}")
    if floors:
        print()
        print("floor: GNU tar -x of the same layer blobs from local files, one after the "
              "other, into a fresh dir (no network, no digests, no store), median (min): "
              + "; ".join(floors))
    print()
    print(text)
    print(f"load average at the end: {os.getloadavg()[0]:.1f}")
    return {"met": met, "text": text}


def header(args, registry, image, tools):
    where = (" in the block group the previous runs freed (--churn)" if args.churn
             else " in a block group of its own")
    print(f"berth image bench: {args.runs} runs + {args.warmup} warm-up per tool, round-robin "
          f"(shuffled each round, seed {args.seed}); a fresh store for every pull{where}, "
          f"removed after it; the page cache is NOT dropped (the registry's blobs are read from "
          f"memory); kernel {platform.release()}, {os.cpu_count()} CPUs, load average "
          f"{os.getloadavg()[0]:.1f} at the start (other work on the machine slows all alike)")
    variants = ", ".join(f"{v['tag']}: {v['blob_bytes'] / 1e6:.1f} MB as {k} "
                         f"({image['tar_bytes'] / v['blob_bytes']:.2f}:1)"
                         for k, v in image["variants"].items())
    print(f"  image     {registry.host}/{REPO}: {image['layers']} layers, {image['files']} "
          f"files, {image['tar_bytes'] / 1e6:.1f} MB of tar; {variants}")
    version = version_of([REGISTRY, "--version"]).removeprefix(REGISTRY).strip()
    print(f"  registry  {REGISTRY}  ({version}) on {registry.host}")
    for name, (path, version) in tools.items():
        print(f"  {name:<9} {path}  ({version})")


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--berth", default="target/release/berth", help="the berth binary")
    p.add_argument("--runs", type=int, default=10, help="timed runs per tool and row")
    p.add_argument("--warmup", type=int, default=1, help="untimed runs first, per tool and row")
    p.add_argument("--layers", type=int, default=5)
    p.add_argument("--layer-mb", type=int, default=10,
                   help="MB (10^6 bytes) of file content per layer, uncompressed")
    p.add_argument("--images", type=int, default=500, help="images in the store for `images`")
    p.add_argument("--no-zstd", action="store_true", help="skip the zstd variant of the pull")
    p.add_argument("--only", default="", help="pull, images (comma separated; default both)")
    p.add_argument("--seed", type=int, default=0, help="seed for the image and the order")
    p.add_argument("--timeout", type=float, default=300,
                   help="seconds before a process counts as hung")
    p.add_argument("--json", metavar="FILE", help="also write every sample as JSON")
    p.add_argument("--churn", action="store_true",
                   help="every run's dir in the block group the previous runs freed, as on "
                        "a host that just removed images (default: a group of its own)")
    a = p.parse_args()
    if a.runs < 1 or a.warmup < 0 or a.layers < 1 or a.layer_mb < 1 or a.images < 1:
        p.error("--runs, --layers, --layer-mb and --images must be >= 1, --warmup >= 0")
    a.only = {w.strip() for w in a.only.split(",") if w.strip()} or {"pull", "images"}
    if a.only - {"pull", "images"}:
        p.error(f"unknown --only {', '.join(sorted(a.only - {'pull', 'images'}))}; "
                "choose from: pull, images")
    a.berth = os.path.abspath(a.berth)
    if not os.access(a.berth, os.X_OK):
        p.error(f"--berth {a.berth}: not found or not executable (build it first: make build)")
    if not os.access(REGISTRY, os.X_OK):
        p.error(f"{REGISTRY} not found (apt-get install docker-registry)")
    if not os.access(PEERS[0][1], os.X_OK):
        p.error("skopeo not found: it pushes the test image (apt-get install skopeo)")
    return a


# ---------------------------------------------------------------------------
# Cleanup: nothing of ours is left, nothing else is touched
# ---------------------------------------------------------------------------
def strays(tmp):
    """Processes whose command line names the temp dir."""
    needle = tmp.encode()
    me, found = os.getpid(), []
    for d in os.listdir("/proc"):
        if not d.isdigit() or int(d) == me:
            continue
        try:
            with open(f"/proc/{d}/cmdline", "rb") as f:
                if needle in f.read():
                    found.append(int(d))
        except OSError:
            continue
    return found


def cleanup(registry, tmp, absent):
    if registry is not None:
        registry.stop()
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
    else:
        print(f"images.py: processes survive SIGKILL: {strays(tmp)}", file=sys.stderr)
    unmount_under(tmp)
    shutil.rmtree(tmp, ignore_errors=True)
    for p in sorted(absent, key=len, reverse=True):
        if os.path.isdir(p) and not os.path.islink(p):
            shutil.rmtree(p, ignore_errors=True)
        elif os.path.lexists(p):
            os.unlink(p)


def main():
    args = parse_args()
    if os.geteuid() != 0:
        sys.exit("images.py: must run as root")
    absent = [p for p in HOST_PATHS if not os.path.lexists(p)]
    tmp = tempfile.mkdtemp(prefix="berth-bimg-")
    registry = None
    try:
        tools = {"berth": (args.berth, version_of([args.berth, "--version"]))}
        for name, path in PEERS:
            if os.access(path, os.X_OK):
                tools[name] = (path, version_of([path, "--version"]))
            else:
                print(f"note: {name} ({path}) is not installed: its column is skipped",
                      file=sys.stderr)
        want_zstd = "pull" in args.only and not args.no_zstd
        if want_zstd and not os.access(ZSTD, os.X_OK):
            print(f"note: {ZSTD} is not installed: no zstd variant", file=sys.stderr)
            want_zstd = False
        print("building the test image...", file=sys.stderr)
        layout = os.path.join(tmp, "layout")
        image, probes = build_image(layout, args.layers, args.layer_mb, want_zstd, args.seed)
        registry = Registry(tmp, 30)
        b = Bench(args, tmp, registry, image, layout, probes)
        for v in image["variants"].values():
            run_ok("skopeo", "push of the test image", [
                "skopeo", "--insecure-policy", "copy", "--quiet", "--preserve-digests",
                "--dest-tls-verify=false", f"oci:{layout}:{v['tag']}",
                f"docker://{b.ref(v['tag'])}"], b.containers_env, args.timeout)
        header(args, registry, image, tools)
        sys.stdout.flush()

        res, failures, notes, labels = {}, {}, {}, []
        rng = random.Random(args.seed)
        if "pull" in args.only:
            for name, v in image["variants"].items():
                label = f"pull, {args.layers} {name} layers"
                tag = v["tag"]
                row = {"berth": lambda tag=tag: b.pull_berth(tag)}
                if "skopeo" in tools and "umoci" in tools:
                    row["skopeo+umoci"] = lambda tag=tag: b.pull_skopeo_umoci(tag)
                if "podman" in tools:
                    row["podman"] = lambda tag=tag: b.pull_podman(tag)
                if shutil.which("tar"):
                    row["tar -x"] = lambda name=name: b.unpack_floor(name)
                labels.append(label)
                measure({label: row}, args, rng, res, failures, notes)
        if "images" in args.only:
            label = f"images, {args.images} images in the store"
            labels.append(label)
            print(f"[{label}] setting up: {args.images} × berth import", file=sys.stderr)
            row = {}
            try:
                store = b.fill_berth_store(args.images)
                row["berth"] = lambda: b.images_berth(store)
            except ToolFailure as e:
                failures[f"{label} (berth)"] = str(e)
                print(f"FAILED: {e}", file=sys.stderr)
            if row and "podman" in tools:
                print(f"[{label}] setting up: berth save of them all, podman load",
                      file=sys.stderr)
                try:
                    pstore = b.fill_podman_store(store, args.images)
                    row["podman"] = lambda: b.images_podman(pstore)
                except ToolFailure as e:
                    failures[f"{label} (podman)"] = str(e)
                    print(f"FAILED: {e}", file=sys.stderr)
            if row:
                measure({label: row}, args, rng, res, failures, notes)
        targets = report(res, failures, args, labels)
        if b.podman_mounts:
            print(f"note: podman left {b.podman_mounts} mount(s) behind over its pulls (its "
                  "overlay driver's private bind of its own dir), unmounted after each run",
                  file=sys.stderr)
        for key, why in notes.items():
            print(f"{key}: skipped, {why}")
        for key, why in failures.items():
            print(f"\n{key} failed:\n{why}")
        if args.json:
            with open(args.json, "w") as f:
                json.dump({"args": {k: (sorted(v) if isinstance(v, set) else v)
                                    for k, v in vars(args).items() if k != "json"},
                           "kernel": platform.release(), "cpus": os.cpu_count(),
                           "image": image,
                           "tools": {n: {"path": p, "version": v} for n, (p, v) in tools.items()},
                           "results": res, "failures": failures, "skipped": notes,
                           "targets": targets},
                          f, indent=1, ensure_ascii=False)
                f.write("\n")
        return 1 if failures else 0
    except (ToolFailure, HarnessError) as e:
        print(f"FAILED: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("images.py: interrupted", file=sys.stderr)
        return 130
    finally:
        cleanup(registry, tmp, absent)


if __name__ == "__main__":
    sys.exit(main())
