#!/usr/bin/env bash
# Start a long-running service so that it outlives the folder and the terminal it was
# started from (used by setup-host.sh and self-check.sh; tests/engine/test_services.py).
#
#   scripts/start-service.sh LOG COMMAND [ARG...]
#
# It runs from / (podman's conmon fails with "Failed to get working directory", and every
# container with "write child: broken pipe", once the service's folder is deleted) in its
# own session (setsid -f: no hangup or Ctrl-C of this terminal reaches it), stdin from
# /dev/null, stdout and stderr appended to LOG. Returns at once.
set -euo pipefail
[ $# -ge 2 ] || { echo "usage: start-service.sh LOG COMMAND [ARG...]" >&2; exit 2; }
log=$(realpath -m -- "$1")
shift
cd /
setsid -f "$@" >>"$log" 2>&1 </dev/null
