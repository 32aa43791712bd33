#!/usr/bin/env bash
# Undo scripts/setup-host.sh: stop the services it started, purge the Debian packages it
# installed (with the dependencies they pulled in) and remove their state, so the next
# setup-host.sh runs as on a fresh Debian 12 machine. Used to prove the Quickstart from
# scratch. Destroys every image, container and registry repository on this host.
#
#   scripts/wipe-host.sh --yes
set -euo pipefail

if [ "${1:-}" != "--yes" ]; then
  sed -n '2,7p' "$0" >&2
  echo "wipe-host.sh: refusing without --yes" >&2
  exit 2
fi
if [ "$(id -u)" != 0 ]; then
  echo "wipe-host.sh: must run as root" >&2
  exit 1
fi

# What setup-host.sh installs (keep in step with its `packages=` line).
packages=(podman runc netavark aardvark-dns docker-registry nats-server mmdebstrap docker.io nginx)

for proc in 'podman system service' dockerd containerd docker-registry nats-server 'nginx: master'; do
  pkill -f "$proc" 2>/dev/null || true
done
sleep 2
if command -v podman >/dev/null; then podman system reset --force >/dev/null 2>&1 || true; fi

installed=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" && installed+=("$p")
done
if [ ${#installed[@]} -gt 0 ]; then
  DEBIAN_FRONTEND=noninteractive apt-get purge -y -qq --autoremove "${installed[@]}" >/dev/null
fi

# Engine storage, configuration, the registry and the pipeline's own state.
awk '$2 ~ "^/var/lib/(docker|containers)" {print $2}' /proc/mounts | sort -r \
  | while read -r mount; do umount -l "$mount" 2>/dev/null || true; done
rm -rf /var/lib/containers /var/lib/docker /var/lib/containerd /var/lib/cni \
  /etc/containers /etc/docker /etc/cni /run/containers /run/docker /run/docker.sock \
  /var/run/docker.sock /run/ray-worker-image /var/lib/ray-worker-image /var/log/ray-worker-image
echo "wipe-host.sh: purged ${installed[*]:-nothing}; engine storage and state removed" >&2
