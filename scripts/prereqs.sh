#!/usr/bin/env bash
# Installs what the tests (or the demo) need and is missing, and fails
# loudly, naming it, when something cannot be had: a test run must never
# pass by skipping. Usage: scripts/prereqs.sh [test|demo]
set -euo pipefail
what=${1:-test}

if [ "$(id -u)" != 0 ]; then
    echo "prereqs: run as root: the $what runs real containers" >&2
    exit 1
fi

# command or file that must exist, and the Debian package that provides it.
# nft and ip: berth's bridge networks (rules in nftables; the demo's namespace).
needs=("/bin/busybox busybox-static" "nft nftables" "ip iproute2")
if [ "$what" = test ]; then
    # time: /usr/bin/time, which the soak test reads peak RSS with; criu:
    # checkpoint/restore (integration/tests/runc_flags.rs); tmux: the terminal
    # that drives podman's run -it and exec -it (integration/tests/shim_podman.rs).
    needs+=("/usr/bin/time time" "criu criu" "tmux tmux" "curl curl")
    # The image tests' real servers and peers (frontend/tests/registry_client.rs,
    # harness in integration/src/registry.rs): Debian's registry (plain, htpasswd,
    # token auth with an openssl-made key), skopeo to seed images, zstd layers, and
    # images made and unpacked by other tools (umoci, buildah).
    needs+=("docker-registry docker-registry" "htpasswd apache2-utils" "openssl openssl"
        "skopeo skopeo" "umoci umoci" "buildah buildah" "zstd zstd" "sha256sum coreutils" "getfattr attr")
    # berth daemon's service (frontend/tests/daemon_service.rs): the init script runs
    # on Debian's LSB functions and start-stop-daemon; python3 stands in for systemd
    # when passing sockets (fd://).
    needs+=("/lib/lsb/init-functions sysvinit-utils" "start-stop-daemon dpkg" "python3 python3")
fi

missing=()
for need in "${needs[@]}"; do
    set -- $need
    if [ "${1#/}" != "$1" ]; then
        [ -e "$1" ] || missing+=("$2")
    else
        command -v "$1" >/dev/null || missing+=("$2")
    fi
done

if [ ${#missing[@]} -gt 0 ]; then
    echo "prereqs: installing ${missing[*]}" >&2
    if ! command -v apt-get >/dev/null; then
        echo "prereqs: no apt-get here: install ${missing[*]} yourself" >&2
        exit 1
    fi
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq "${missing[@]}" >/dev/null
fi

for need in "${needs[@]}"; do
    set -- $need
    if ! { [ -e "$1" ] || command -v "$1" >/dev/null; }; then
        echo "prereqs: $1 is still missing after installing $2" >&2
        exit 1
    fi
done

# Docker's Python SDK, which frontend/tests/daemon_sdk.rs drives berth daemon with,
# in a venv of the checkout's own (PyPI is reachable where the tests run).
if [ "$what" = test ]; then
    venv="$(dirname "$0")/../target/sdk-venv"
    if ! "$venv/bin/python" -c 'import docker' 2>/dev/null; then
        rm -rf "$venv"
        if ! python3 -m venv "$venv" 2>/dev/null; then
            apt-get install -y -qq python3-venv >/dev/null
            python3 -m venv "$venv"
        fi
        "$venv/bin/pip" install -q --disable-pip-version-check 'docker>=7,<8'
    fi
fi
