#!/usr/bin/env bash
# Create .venv from the hash-locked requirements on a CI runner.
#
#   scripts/ci-venv.sh            uses python3 from PATH (actions/setup-python's)
#   PYTHON=python3.11 scripts/ci-venv.sh
#
# The same steps as the venv part of scripts/setup-host.sh, without the rest:
# that script installs Debian 12 packages and starts daemons, which GitHub's
# Ubuntu runners neither need (Docker is preinstalled) nor suit.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

"${PYTHON:-python3}" -m venv .venv
.venv/bin/pip install -q --upgrade 'pip==25.3'
.venv/bin/pip install -q --require-hashes -r requirements/dev.txt
# --no-build-isolation: build with the locked setuptools from dev.txt instead
# of whatever version an isolated build would fetch unpinned.
.venv/bin/pip install -q --no-deps --no-build-isolation -e .
