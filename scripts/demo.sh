#!/usr/bin/env bash
# Builds a busybox bundle with `berth-runtime spec` and runs it: the
# smallest real use of the runtime, offline. Then makes the local `busybox`
# image with `berth import` (into berth's default store, /var/lib/berth, or
# $BERTH_ROOT), lists it, and runs a container from it with `berth run`.
# Needs root.
set -euo pipefail
runtime=$(realpath "${1:-target/release/berth-runtime}")
berth=$(realpath "${2:-target/release/berth}")
here=$(cd "$(dirname "$0")" && pwd)
# berth finds berth-shim and berth-runtime beside itself, else in PATH: the
# Makefile builds them into another target dir than berth.
export PATH="$(dirname "$runtime"):$PATH"

"$here/prereqs.sh" demo

bundle=$(mktemp -d /tmp/berth-demo.XXXXXX)
state=$bundle/state
trap 'rm -rf "$bundle"' EXIT
mkdir -p "$bundle/rootfs/bin" "$bundle/rootfs/proc" "$bundle/rootfs/sys" \
    "$bundle/rootfs/dev" "$bundle/rootfs/tmp" "$bundle/rootfs/etc"
cp /bin/busybox "$bundle/rootfs/bin/busybox"
# Relative links: `busybox --install -s` would point them at the host path.
for applet in $(/bin/busybox --list); do
    [ "$applet" = busybox ] || ln -s busybox "$bundle/rootfs/bin/$applet"
done

cd "$bundle"
"$runtime" spec
# A non-interactive command instead of the default interactive shell.
sed -i 's/"terminal": true/"terminal": false/' config.json
sed -i 's|^      "sh"$|      "sh", "-c", "echo hello from $(hostname), pid $$, as uid $(id -u); ls /dev"|' config.json

id=demo-$$
echo "+ berth-runtime run $id" >&2
"$runtime" --root "$state" run "$id"

# The offline default image: no registry needed.
root=${BERTH_ROOT:-/var/lib/berth}
"$here/busybox-rootfs.sh" "$bundle/busybox-rootfs.tar"
echo "+ berth import busybox-rootfs.tar busybox" >&2
"$berth" --root "$root" import -c 'CMD ["sh"]' "$bundle/busybox-rootfs.tar" busybox
echo "+ berth images" >&2
"$berth" --root "$root" images
# The container's bridge and veth are made in a network namespace of the demo's
# own, not on the host's interfaces.
netns=$bundle/netns
touch "$netns"
trap 'umount -l "$netns" 2>/dev/null; rm -rf "$bundle"' EXIT
unshare --net="$netns" ip link set lo up
echo "+ berth run --rm busybox sh -c 'echo hello from \$(hostname) at <its address>'" >&2
nsenter --net="$netns" -- "$berth" --root "$root" run --rm busybox \
    sh -c 'echo hello from $(hostname) at $(ip -4 -o addr show eth0 | awk "{print \$4}"), a container of busybox'
