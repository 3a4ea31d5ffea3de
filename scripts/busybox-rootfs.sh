#!/usr/bin/env bash
# Writes a busybox rootfs tarball (Debian's busybox-static, its applets as
# relative links, /etc/passwd and /etc/group) to $1: what `berth import` makes
# the offline `busybox` image from. Usage: scripts/busybox-rootfs.sh OUT.tar
set -euo pipefail
out=$(realpath -m "$1")
rootfs=$(mktemp -d /tmp/berth-rootfs.XXXXXX)
trap 'rm -rf "$rootfs"' EXIT
mkdir -p "$rootfs"/{bin,etc,proc,sys,dev,tmp,root}
chmod 1777 "$rootfs/tmp"
cp /bin/busybox "$rootfs/bin/busybox"
# Relative links: `busybox --install -s` would point them at the host path.
for applet in $(/bin/busybox --list); do
    [ "$applet" = busybox ] || ln -s busybox "$rootfs/bin/$applet"
done
echo 'root:x:0:0:root:/root:/bin/sh' >"$rootfs/etc/passwd"
echo 'root:x:0:' >"$rootfs/etc/group"
tar --numeric-owner --owner=0 --group=0 -C "$rootfs" -cf "$out" .
