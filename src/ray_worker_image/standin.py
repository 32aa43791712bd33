"""The offline mode: a faithful stand-in for the base image, served from a loopback registry.

Docker Hub is out of reach on the machines this project is built and tested on, so
``rayproject/ray:2.49.2`` is rebuilt from Debian 11 (Python 3.9) and the ``ray`` wheel
from PyPI, pushed to a local registry under the same repository name, and then used
exactly like the real one: pulled, pinned by digest, built upon. It is rebuilt only
when its inputs change (the key is a label on the image in the registry).
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from . import console
from .context import context_tar
from .contract import check_image, expected_for, failures, summary_error
from .definition import ImageDefinition
from .engine import Engine
from .errors import PipelineError
from .refs import ImageRef
from .registry import RegistryClient
from .render import template_env

STAND_IN_DIR = Path("images/stand-in")
DEFAULT_STAND_IN_REGISTRY = "127.0.0.1:5000"
STAND_IN_LABEL = "io.github.ray-worker-image.stand-in"
KEY_LABEL = "io.github.ray-worker-image.stand-in.key"
DEBIAN_SUITE = "bullseye"  # Debian 11 ships Python 3.9, the base image's Python
DEBIAN_PACKAGES = ("python3", "python3-venv", "ca-certificates", "sudo", "tzdata", "procps")
PIP_VERSION = "24.3.1"  # what Miniforge 24.11.3 ships in the real image


@dataclass(frozen=True)
class StandIn:
    ref: ImageRef  # registry/repository:tag@digest
    key: str
    rebuilt: bool


def stand_in_ref(definition: ImageDefinition, registry: str) -> ImageRef:
    """Where the stand-in lives: the base's repository and tag, on the loopback registry."""
    return definition.base.image.with_registry(registry)


def render_stand_in(definition: ImageDefinition) -> str:
    env = template_env(definition.root / STAND_IN_DIR)
    base = definition.base
    return env.get_template("Dockerfile.j2").render(
        base=base,
        prefix=str(Path(base.python_path).parent.parent),
        python_bin=str(Path(base.python_path).parent),
        pip_version=PIP_VERSION,
    )


def input_key(definition: ImageDefinition) -> str:
    """Everything that shapes the stand-in, hashed; the CA bundle is deliberately left out."""
    digest = hashlib.sha256()
    digest.update(render_stand_in(definition).encode())
    for name in ("requirements_compiled.txt", "pins.txt"):
        digest.update((definition.root / STAND_IN_DIR / name).read_bytes())
    digest.update(json.dumps([DEBIAN_SUITE, DEBIAN_PACKAGES, PIP_VERSION]).encode())
    return digest.hexdigest()[:32]


def _mmdebstrap(target: Path) -> None:
    if not shutil.which("mmdebstrap"):
        raise PipelineError(
            "stand-in: mmdebstrap is not installed; run scripts/setup-host.sh "
            "(or apt-get install mmdebstrap)"
        )
    argv = [
        "mmdebstrap",
        "--quiet",
        "--variant=minbase",
        f"--include={','.join(DEBIAN_PACKAGES)}",
        DEBIAN_SUITE,
        str(target),
    ]
    result = subprocess.run(argv, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        tail = result.stderr.strip().splitlines()[-1:] or ["(no output)"]
        raise PipelineError(f"stand-in: mmdebstrap failed: {tail[0]}")


def ensure_stand_in(
    definition: ImageDefinition,
    engine: Engine,
    *,
    registry: str = DEFAULT_STAND_IN_REGISTRY,
    ca_cert: Path | None,
    force: bool = False,
) -> StandIn:
    """The stand-in in ``registry``, built and pushed first if it is missing or stale."""
    ref = stand_in_ref(definition, registry)
    key = input_key(definition)
    client = RegistryClient(registry)
    if not client.ping():
        raise PipelineError(
            f"stand-in: no registry answers at {registry}; start one with scripts/setup-host.sh "
            "or pass --stand-in-registry HOST:PORT"
        )
    if not force and client.labels(ref).get(KEY_LABEL) == key:
        digest = client.manifest_digest(ref)
        if digest:
            console.info(f"stand-in {ref} is current (key {key[:12]}), reusing it")
            return StandIn(ref.with_digest(digest), key, rebuilt=False)

    console.step(f"building the stand-in base {ref} (key {key[:12]})")
    with tempfile.TemporaryDirectory(prefix="stand-in-") as tmp:
        rootfs = Path(tmp) / "rootfs.tar"
        console.info(f"mmdebstrap {DEBIAN_SUITE} -> rootfs.tar")
        _mmdebstrap(rootfs)
        tar = context_tar(
            {
                "Dockerfile": render_stand_in(definition).encode(),
                "rootfs.tar": rootfs,
                "requirements_compiled.txt": definition.root
                / STAND_IN_DIR
                / "requirements_compiled.txt",
                "pins.txt": definition.root / STAND_IN_DIR / "pins.txt",
                "ca-bundle.pem": ca_cert.read_bytes() if ca_cert else b"",
            }
        )
    labels = {
        STAND_IN_LABEL: "true",
        KEY_LABEL: key,
        "org.opencontainers.image.title": f"stand-in for {definition.base.image}",
    }
    image_id = engine.build(tar, str(ref), labels=labels, on_line=console.info)
    console.info(f"built {image_id[:19]}; checking the base contract")
    outcomes = check_image(engine, image_id, expected_for(definition.base))
    if failures(outcomes):
        engine.untag(str(ref))
        raise summary_error(f"stand-in {ref}", outcomes)
    console.info(f"all {len(outcomes)} contract rows hold; pushing {ref}")
    reported = engine.push(ref, auth=None, on_line=lambda _line: None)
    digest = client.manifest_digest(ref)
    if not digest or (reported and reported != digest):
        raise PipelineError(
            f"stand-in: registry {registry} reports {digest} for {ref}, engine said {reported}"
        )
    return StandIn(ref.with_digest(digest), key, rebuilt=True)
