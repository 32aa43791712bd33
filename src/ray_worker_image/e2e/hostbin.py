"""Host binaries inside containers: NATS from the host's ``nats-server``, pip's CA bundle.

No NATS image is reachable offline, so the host's binary runs inside a container of the
image under test, with the host's loader and libraries bind-mounted next to it.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

from ..errors import PipelineError

NATS_SERVER_ENV = "RAY_IMAGE_NATS_SERVER"
_HOST_BINARIES = "/opt/e2e-host-bin"
CA_IN_CONTAINER = "/etc/ray-e2e/ca-bundle.pem"


class E2EError(PipelineError):
    """The miniature cluster could not be started or reached."""


# -- NATS from the host's binary --------------------------------------------------------


def find_nats_server() -> Path:
    """$RAY_IMAGE_NATS_SERVER, else nats-server on PATH (Debian puts it in /usr/sbin)."""
    configured = os.environ.get(NATS_SERVER_ENV)
    candidates = (
        [configured]
        if configured
        else [shutil.which("nats-server"), "/usr/sbin/nats-server", "/usr/bin/nats-server"]
    )
    for candidate in candidates:
        if candidate and Path(candidate).is_file() and os.access(candidate, os.X_OK):
            return Path(candidate).resolve()
    raise E2EError(
        f"no nats-server executable at {configured}"
        if configured
        else "no nats-server on this host; install the Debian/Ubuntu package `nats-server` "
        f"(scripts/setup-host.sh does) or point ${NATS_SERVER_ENV} at the binary"
    )


_LDD_LIB = re.compile(r"=>\s*(/\S+)")
_LDD_LOADER = re.compile(r"^\s*(/\S+)\s+\(0x")


def _dynamic_deps(binary: Path) -> tuple[Path | None, list[Path]]:
    """(program interpreter, shared libraries) of ``binary``; (None, []) if it is static."""
    try:
        out = subprocess.run(
            ["ldd", str(binary)], capture_output=True, text=True, check=False, timeout=30
        )
    except (OSError, subprocess.TimeoutExpired):
        return None, []
    if out.returncode != 0:  # "not a dynamic executable"
        return None, []
    loader: Path | None = None
    libs: list[Path] = []
    for line in out.stdout.splitlines():
        if match := _LDD_LIB.search(line):
            libs.append(Path(match.group(1)))
        elif match := _LDD_LOADER.match(line):
            loader = Path(match.group(1))
    return loader, libs


def host_binary_in_container(binary: Path) -> tuple[dict[str, dict[str, str]], list[str]]:
    """Bind mounts and argv prefix that run a host executable inside any Linux image.

    Debian's nats-server is a cgo build linked against the host's glibc (2.36
    symbols); the image's glibc may be older (the stand-in base has 2.31). So a
    dynamic binary runs through the host's own loader and libraries, mounted
    next to it, and never touches the image's libc.
    """
    mounts = {str(binary): {"bind": f"{_HOST_BINARIES}/{binary.name}", "mode": "ro"}}
    loader, libs = _dynamic_deps(binary)
    if loader is None:
        return mounts, [f"{_HOST_BINARIES}/{binary.name}"]
    for lib in (loader, *libs):
        mounts[str(lib.resolve())] = {"bind": f"{_HOST_BINARIES}/{lib.name}", "mode": "ro"}
    argv = [
        f"{_HOST_BINARIES}/{loader.name}",
        "--library-path",
        _HOST_BINARIES,
        f"{_HOST_BINARIES}/{binary.name}",
    ]
    return mounts, argv


def pip_access(ca_cert: Path | None) -> dict[str, Any]:
    """``miniature_cluster`` arguments that let pip on the Ray nodes reach PyPI.

    For ``runtime_env={"pip": [...]}`` (the alternative the benchmark measures):
    Ray's agent runs pip on each node, and behind an intercepting proxy pip
    trusts only the bundle it is given. The bundle is bind-mounted read-only
    for the run, never written into an image.
    """
    if ca_cert is None:
        return {}
    return {
        "node_volumes": {str(ca_cert.resolve()): {"bind": CA_IN_CONTAINER, "mode": "ro"}},
        "node_environment": {"PIP_CERT": CA_IN_CONTAINER},
    }
