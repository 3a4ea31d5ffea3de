#!/usr/bin/env python3
"""What berth's networking adds to `berth run --rm busybox true` (issue #13): the
default bridge next to `--network none`, and with a published port, interleaved,
in a network namespace the bench makes (never on the host's interfaces).

Usage: bench/network.py --berth B --berth-shim S --berth-runtime R [--runs N]
Run as root. Target: the bridge adds under 5 ms to the median.
"""

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--berth", required=True)
    parser.add_argument("--berth-shim", required=True)
    parser.add_argument("--berth-runtime", required=True)
    parser.add_argument("--runs", type=int, default=30)
    args = parser.parse_args()
    if os.geteuid() != 0:
        sys.exit("bench/network.py: run as root")
    tmp = tempfile.mkdtemp(prefix="berth-bench-net-")
    netns = os.path.join(tmp, "netns")
    open(netns, "w").close()
    try:
        subprocess.run(["unshare", f"--net={netns}", "ip", "link", "set", "lo", "up"],
                       check=True)
        bindir = os.path.join(tmp, "bin")
        os.makedirs(bindir)
        # Copies side by side: berth finds the shim and the runtime next to itself.
        for name, src in (("berth", args.berth), ("berth-shim", args.berth_shim),
                          ("berth-runtime", args.berth_runtime)):
            shutil.copy(src, os.path.join(bindir, name))
        root = os.path.join(tmp, "root")

        def berth(*a):
            return ["nsenter", f"--net={netns}", "--",
                    os.path.join(bindir, "berth"), "--root", root, *a]

        rootfs_tar = os.path.join(tmp, "busybox.tar")
        subprocess.run([os.path.join(HERE, "..", "scripts", "busybox-rootfs.sh"), rootfs_tar],
                       check=True, stdout=subprocess.DEVNULL)
        subprocess.run(berth("import", rootfs_tar, "busybox"), check=True,
                       stdout=subprocess.DEVNULL)
        cases = [
            ("--network none", ["--network", "none"]),
            ("bridge (default)", []),
            ("bridge, -p 8080:80", ["-p", "8080:80"]),
        ]
        times = {label: [] for label, _ in cases}
        for i in range(args.runs + 1):
            for label, flags in cases:
                start = time.perf_counter()
                subprocess.run(berth("run", "--rm", *flags, "busybox", "true"), check=True)
                if i > 0:  # the first round warms the caches
                    times[label].append((time.perf_counter() - start) * 1000)
        base = statistics.median(times[cases[0][0]])
        print(f"berth run --rm busybox true, {args.runs} runs each, interleaved")
        print(f"{'network':<22} {'median ms':>10} {'min ms':>8} {'added ms':>9}")
        for label, _ in cases:
            median = statistics.median(times[label])
            print(f"{label:<22} {median:>10.1f} {min(times[label]):>8.1f} "
                  f"{median - base:>9.1f}")
    finally:
        subprocess.run(["umount", "-l", netns], stderr=subprocess.DEVNULL)
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
