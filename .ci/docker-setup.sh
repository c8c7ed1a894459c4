#!/usr/bin/env bash
# Prepare a clean Debian 12 VM (run as root) to build and run Beaker's images without a container registry:
# Docker engine, Compose v2, a running dockerd, and locally built debian:<suite>-slim base images.
# Idempotent: every step first checks whether its result is already there.
set -euo pipefail

DOCKERD_LOG=${DOCKERD_LOG:-/var/log/dockerd.log}
BASE_SUITES=(bookworm bullseye)

log() { printf '[docker-setup] %s\n' "$*"; }

# The Debian mirror the host already uses for bookworm, so trixie packages and debootstrap fetch from the same
# place (which is the only one that answers here). Handles deb822 (*.sources) and one-line (*.list) formats.
host_mirror() {
    local uri
    uri=$(awk '
        /^URIs:/    { uris = $2 }
        /^Suites:/  { for (i = 2; i <= NF; i++) if ($i == "bookworm") { print uris; exit } }
        /^deb[ \t]/ { for (i = 2; i <= NF; i++) if ($i == "bookworm") { print $(i - 1); exit } }
    ' /etc/apt/sources.list.d/*.sources /etc/apt/sources.list.d/*.list /etc/apt/sources.list 2>/dev/null | head -n 1)
    echo "${uri:-http://deb.debian.org/debian}"
}

export DEBIAN_FRONTEND=noninteractive NEEDRESTART_SUSPEND=1
MIRROR=$(host_mirror)
log "Debian mirror: $MIRROR"

if command -v dockerd >/dev/null && command -v debootstrap >/dev/null; then
    log "docker.io and debootstrap present"
else
    log "installing docker.io and debootstrap"
    apt-get update -qq
    apt-get install -y -qq docker.io debootstrap >/dev/null
fi

# Compose v2 is only packaged in trixie. The pin keeps every other package on bookworm; -t trixie lifts the
# pin for this one install.
if docker compose version >/dev/null 2>&1; then
    log "compose present: $(docker compose version)"
else
    log "installing Compose v2 from trixie"
    cat > /etc/apt/sources.list.d/trixie.list <<SOURCES
deb $MIRROR trixie main
SOURCES
    cat > /etc/apt/preferences.d/trixie-pin <<PIN
Package: *
Pin: release n=trixie
Pin-Priority: 100
PIN
    apt-get update -qq
    apt-get install -y -qq -t trixie docker-compose >/dev/null
    log "compose installed: $(docker compose version)"
fi

if docker info >/dev/null 2>&1; then
    log "dockerd already running"
else
    log "starting dockerd (log: $DOCKERD_LOG)"
    # In a session of its own, so that the engine outlives the shell or job that ran this script (a job
    # control that stops a process group would otherwise take dockerd with it).
    setsid dockerd >>"$DOCKERD_LOG" 2>&1 </dev/null &
    for _ in $(seq 60); do
        docker info >/dev/null 2>&1 && break
        sleep 1
    done
    if ! docker info >/dev/null 2>&1; then
        log "dockerd did not answer within 60 s; last lines of $DOCKERD_LOG:"
        tail -n 20 "$DOCKERD_LOG" >&2
        exit 1
    fi
    log "dockerd is up"
fi

# No registry answers, so the official base image names are built from Debian packages instead; Dockerfiles
# that say FROM debian:<suite>-slim then resolve locally (and pull the real image where a registry exists).
for suite in "${BASE_SUITES[@]}"; do
    image="debian:${suite}-slim"
    if docker image inspect "$image" >/dev/null 2>&1; then
        log "$image present"
        continue
    fi
    log "building $image with debootstrap"
    rootfs=$(mktemp -d "/tmp/rootfs-${suite}.XXXXXX")
    debootstrap --variant=minbase "$suite" "$rootfs" "$MIRROR" >"/tmp/debootstrap-${suite}.log" 2>&1 || {
        log "debootstrap $suite failed; see /tmp/debootstrap-${suite}.log"
        rm -rf "$rootfs"
        exit 1
    }
    tar -C "$rootfs" -c . | docker import - "$image" >/dev/null
    rm -rf "$rootfs"
    log "$image imported"
done

log "done"
