"""A CycloneDX SBOM of an image's Python environment, made inside the image.

``cyclonedx-py environment PYTHON`` (PyPI ``cyclonedx-bom``, the CycloneDX project's own
generator) reads the distributions the image's interpreter really has installed, the
base's included. It runs in a throwaway container of the image (removed afterwards: the
image does not change), from its own venv under ``/tmp`` installed with
``--require-hashes`` from ``requirements/sbom-py<X.Y>.txt`` (one lock per Python minor of
the variants), pointed at the base interpreter (``base.python_path``). pip in the container
gets the CA bundle as ``invoke lock`` does (``--ca-cert``, ``$PIP_CERT``, ...), through the
container's ``/tmp``, never through an image layer.

With ``$RAY_IMAGE_SBOM_CACHE`` naming a folder (the test suite sets one per run), the SBOM of
an image id is made once and kept there under :func:`cache_key` (the image id, the generator
lock, the interpreter, the user, the CA bundle): :mod:`..runcache`. Unset, every call makes it.
"""

from __future__ import annotations

import hashlib
import json
import os
import shlex
from pathlib import Path
from typing import Any

from .. import console
from ..context import context_tar
from ..definition import ImageDefinition
from ..engine import Engine
from ..errors import PipelineError
from ..lock import normalize
from ..runcache import kept_or_computed

LOCK_PATTERN = "requirements/sbom-py{python}.txt"
WORKDIR = "/tmp/sbom"
CACHE_ENV = "RAY_IMAGE_SBOM_CACHE"


def sbom_lock(definition: ImageDefinition) -> Path:
    """The hash lock of cyclonedx-bom for the variant's Python; PipelineError when missing."""
    rel = LOCK_PATTERN.format(python=definition.base.python)
    path = definition.root / rel
    if not path.is_file():
        raise PipelineError(
            f"{rel}: missing; lock cyclonedx-bom for Python {definition.base.python} "
            "(requirements/sbom.in, README: Supply chain)"
        )
    return path


def sbom_filename(variant: str) -> str:
    return f"sbom-{variant}.cdx.json"


def script(python: str, with_ca: bool) -> str:
    """The shell run in the container (pure): venv, hash-checked install, generate."""
    cert = f"export PIP_CERT={WORKDIR}/ca-bundle.pem; " if with_ca else ""
    venv = f"{WORKDIR}/venv"
    return (
        f"{cert}{shlex.quote(python)} -m venv {venv} && {venv}/bin/pip install -q "
        "--disable-pip-version-check --no-cache-dir --require-hashes --no-deps "
        f"-r {WORKDIR}/requirements.txt && {venv}/bin/cyclonedx-py environment "
        f"--output-reproducible --output-format JSON --output-file {WORKDIR}/bom.json "
        f"{shlex.quote(python)}"
    )


def parse_sbom(data: bytes, what: str) -> dict[str, Any]:
    """The SBOM as a dict; PipelineError unless it is a CycloneDX JSON document."""
    try:
        document = json.loads(data)
    except ValueError:
        raise PipelineError(f"{what}: not JSON") from None
    if not isinstance(document, dict) or document.get("bomFormat") != "CycloneDX":
        raise PipelineError(f"{what}: not a CycloneDX document (bomFormat)")
    return document


def packages(document: dict[str, Any]) -> dict[str, str]:
    """Normalised distribution name -> version of the SBOM's components (pure)."""
    out: dict[str, str] = {}
    for component in document.get("components") or []:
        if isinstance(component, dict) and component.get("name") and component.get("version"):
            out[normalize(str(component["name"]))] = str(component["version"])
    return out


def cache_key(definition: ImageDefinition, image_id: str, ca_cert: Path | None) -> str:
    """sha256 hex of what the SBOM of ``image_id`` depends on: the image (its id is the digest
    of its config, which names every layer), the generator's lock, the interpreter and user it
    runs as, and the CA bundle pip trusts. Raises OSError if the lock or CA file is missing."""
    base = definition.base
    document = {
        "image": image_id,
        "lock": hashlib.sha256(sbom_lock(definition).read_bytes()).hexdigest(),
        "ca": hashlib.sha256(ca_cert.read_bytes()).hexdigest() if ca_cert else "",
        "python": base.python_path,
        "user": [base.user.uid, base.user.gid],
    }
    text = json.dumps(document, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def generate_sbom(
    definition: ImageDefinition, engine: Engine, image: str, ca_cert: Path | None
) -> bytes:
    """The SBOM (JSON bytes) of ``image`` (an id or reference present in ``engine``); kept
    for the run by image id when ``$RAY_IMAGE_SBOM_CACHE`` names a folder.

    Raises PipelineError/EngineError (one line) when the generator cannot be installed
    or fails; the container is removed in every case.
    """
    folder = os.environ.get(CACHE_ENV, "")
    if not folder:
        return _make_sbom(definition, engine, image, ca_cert)
    image_id = str(engine.image_attrs(image)["Id"])
    data, reused = kept_or_computed(
        folder,
        f"sbom-{cache_key(definition, image_id, ca_cert)}.json",
        lambda: _make_sbom(definition, engine, image_id, ca_cert),
        valid=_is_sbom,
    )
    if reused:
        console.info(f"SBOM of {image_id[:19]}: reused from this run (${CACHE_ENV})")
    return data


def _is_sbom(data: bytes) -> bool:
    try:
        parse_sbom(data, "kept SBOM")
    except PipelineError:
        return False
    return True


def _make_sbom(
    definition: ImageDefinition, engine: Engine, image: str, ca_cert: Path | None
) -> bytes:
    """:func:`generate_sbom`'s work: cyclonedx-py in a throwaway container of ``image``."""
    lock = sbom_lock(definition)
    files: dict[str, bytes] = {"sbom/requirements.txt": lock.read_bytes()}
    if ca_cert:
        files["sbom/ca-bundle.pem"] = ca_cert.read_bytes()
    user = definition.base.user
    python = definition.base.python_path
    console.step(f"SBOM of {image[:40]}: cyclonedx-py environment {python} (throwaway container)")
    with engine.container(image, ["sleep", "infinity"], name_prefix="ray-image-sbom") as box:
        box.put_archive("/tmp", context_tar(files, uid=user.uid, gid=user.gid))
        code, output = box.exec(["/bin/bash", "-c", script(python, ca_cert is not None)])
        if code != 0:
            tail = [line for line in output.strip().splitlines() if line.strip()][-2:]
            raise PipelineError(
                f"cyclonedx-py in {image[:40]} failed (exit {code}): {' | '.join(tail)}; "
                "check pip's access to the index (--ca-cert)"
            )
        code, output = box.exec(["/bin/cat", f"{WORKDIR}/bom.json"])
        if code != 0:
            raise PipelineError(f"cyclonedx-py in {image[:40]} wrote no SBOM")
    data = output.encode()
    document = parse_sbom(data, f"SBOM of {image[:40]}")
    console.info(f"SBOM: {len(packages(document))} Python distributions")
    return data
