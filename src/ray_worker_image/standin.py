"""The offline mode: a faithful stand-in for a variant's base, served from a loopback registry.

Docker Hub is out of reach on the machines this project is built and tested on, so
``rayproject/ray:<variant>`` is rebuilt from the Debian release that ships the variant's
Python (11 bullseye: 3.9, 12 bookworm: 3.11, 13 trixie: 3.13) and the ``ray`` wheel from
PyPI, pushed to a local registry under the same repository name, and then used exactly like
the real one: pulled, pinned by digest, built upon. It is rebuilt only when its inputs change
(the key is a label on the image in the registry).

A Python no Debian release ships (3.10, 3.12), a GPU platform and aarch64 have no stand-in:
:func:`stand_in_refusal` says why, before anything slow starts.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from . import console, proc
from .context import context_tar
from .contract import check_image, expected_for, failures, summary_error
from .definition import ImageDefinition
from .engine import Engine
from .errors import PipelineError
from .refs import ImageRef
from .registry import Destination, Repository
from .render import template_env

STAND_IN_DIR = Path("images/stand-in")
DEFAULT_STAND_IN_REGISTRY = "127.0.0.1:5000"
STAND_IN_LABEL = "io.github.ray-worker-image.stand-in"
KEY_LABEL = "io.github.ray-worker-image.stand-in.key"
# The Python each Debian release ships as python3 (packages.debian.org: python3-defaults).
DEBIAN_SUITES = {
    "3.9": ("bullseye", "Debian 11"),
    "3.11": ("bookworm", "Debian 12"),
    "3.13": ("trixie", "Debian 13"),
}
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


def stand_in_refusal(definition: ImageDefinition) -> str | None:
    """Why this variant has no offline stand-in (one line), or None when it has one. Pure."""
    tag = definition.ray_tag
    if tag.is_gpu:
        return (
            f"variant {definition.variant} runs on GPU platform {tag.platform}; a CPU stand-in "
            "must not pass for a GPU base, so it builds against a real registry only "
            "(drop --stand-in)"
        )
    if tag.arch != "x86_64":
        return (
            f"variant {definition.variant} is for {tag.arch}; the stand-in is x86_64 only, "
            "so it builds against a real registry only (drop --stand-in)"
        )
    if tag.python not in DEBIAN_SUITES:
        shipped = ", ".join(f"{py} ({name})" for py, (_, name) in DEBIAN_SUITES.items())
        return (
            f"variant {definition.variant} needs Python {tag.python}, which no Debian release "
            f"ships as python3 (stand-ins exist for {shipped}), so it builds against a real "
            "registry only (drop --stand-in)"
        )
    return None


def check_stand_in(definition: ImageDefinition) -> None:
    """Raise the refusal of :func:`stand_in_refusal` (offline mode), else do nothing."""
    why = stand_in_refusal(definition)
    if why:
        raise PipelineError(f"offline mode: {why}")


def stand_in_dir(definition: ImageDefinition) -> Path:
    """``images/stand-in/<variant>/``: pins.txt and, where known, requirements_compiled.txt."""
    return definition.root / STAND_IN_DIR / definition.variant


def stand_in_files(definition: ImageDefinition) -> dict[str, bytes]:
    """The variant's constraints for ``ray[default]``; a missing compiled file is a comment."""
    folder = stand_in_dir(definition)
    pins = folder / "pins.txt"
    if not pins.exists():
        rel = pins.relative_to(definition.root)
        raise PipelineError(
            f"stand-in for {definition.variant}: {rel} is missing; resolve ray[default]=="
            f"{definition.base.ray_version} with pip for Python {definition.base.python} and "
            "commit the result there (README 'Offline mode')"
        )
    compiled = folder / "requirements_compiled.txt"
    return {
        "requirements_compiled.txt": compiled.read_bytes()
        if compiled.exists()
        else f"# Ray's requirements_compiled.txt for {definition.variant} is not known "
        "offline; pins.txt holds pip's resolution.\n".encode(),
        "pins.txt": pins.read_bytes(),
    }


def _suite(definition: ImageDefinition) -> tuple[str, str]:
    check_stand_in(definition)
    return DEBIAN_SUITES[definition.base.python]


def render_stand_in(definition: ImageDefinition) -> str:
    env = template_env(definition.root / STAND_IN_DIR)
    base = definition.base
    return env.get_template("Dockerfile.j2").render(
        base=base,
        debian=_suite(definition)[1],
        prefix=str(Path(base.python_path).parent.parent),
        python_bin=str(Path(base.python_path).parent),
        pip_version=PIP_VERSION,
    )


def input_key(definition: ImageDefinition) -> str:
    """Everything that shapes the stand-in, hashed; the CA bundle is deliberately left out."""
    digest = hashlib.sha256()
    digest.update(render_stand_in(definition).encode())
    for data in stand_in_files(definition).values():
        digest.update(data)
    digest.update(json.dumps([_suite(definition)[0], DEBIAN_PACKAGES, PIP_VERSION]).encode())
    return digest.hexdigest()[:32]


def _mmdebstrap(target: Path, suite: str) -> None:
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
        suite,
        str(target),
    ]
    result = proc.run(
        argv,
        timeout=proc.STAND_IN_TIMEOUT,
        hint="check that the Debian archive is reachable and rerun `invoke standin`",
        capture_output=True,
        text=True,
    )
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
    """The stand-in in ``registry``, built and pushed first if it is missing or stale.

    Built once per machine for concurrent callers (:func:`one_builder`): a second pipeline
    needing the same stand-in waits for the first and reuses it. Raises PipelineError."""
    ref = stand_in_ref(definition, registry)
    key = input_key(definition)
    client = Destination.of(registry).repository(ref.repository)
    if not client.ping():
        raise PipelineError(
            f"stand-in: no registry answers at {registry}; start one with scripts/setup-host.sh "
            "or pass --stand-in-registry HOST:PORT"
        )
    with one_builder(ref):  # another pipeline building it now: wait, then reuse it
        if not force and client.labels(ref).get(KEY_LABEL) == key:
            digest = client.manifest_digest(ref)
            if digest:
                console.info(f"stand-in {ref} is current (key {key[:12]}), reusing it")
                return StandIn(ref.with_digest(digest), key, rebuilt=False)
        return _build_and_push(definition, engine, ref, key, client, ca_cert)


@contextmanager
def one_builder(ref: ImageRef) -> Iterator[None]:
    """Hold this machine's lock for the stand-in ``ref`` (flock(2) on a file in the temp
    folder, released when the block ends or the process dies): two pipelines that need the
    same missing stand-in build it once, and the second reuses what the first pushed."""
    name = hashlib.sha256(str(ref).encode()).hexdigest()[:16]
    with proc.file_lock(Path(tempfile.gettempdir()) / f"ray-image-stand-in-{name}.lock"):
        yield


def _build_and_push(
    definition: ImageDefinition,
    engine: Engine,
    ref: ImageRef,
    key: str,
    client: Repository,
    ca_cert: Path | None,
) -> StandIn:
    console.step(f"building the stand-in base {ref} (key {key[:12]})")
    with tempfile.TemporaryDirectory(prefix="stand-in-") as tmp:
        rootfs = Path(tmp) / "rootfs.tar"
        suite = _suite(definition)[0]
        console.info(f"mmdebstrap {suite} -> rootfs.tar")
        _mmdebstrap(rootfs, suite)
        tar = context_tar(
            {
                "Dockerfile": render_stand_in(definition).encode(),
                "rootfs.tar": rootfs,
                **stand_in_files(definition),
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
    reported = engine.push(ref, auth=None, on_line=lambda _line: None, access=client.access)
    digest = client.manifest_digest(ref)
    if not digest or (reported and reported != digest):
        raise PipelineError(
            f"stand-in: registry {ref.registry} reports {digest} for {ref}, engine said {reported}"
        )
    return StandIn(ref.with_digest(digest), key, rebuilt=True)
