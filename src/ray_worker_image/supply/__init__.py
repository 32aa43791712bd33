"""Supply chain: an SBOM attached to every pushed digest, and a cosign-compatible signature.

- :mod:`.oci`: pure shapes (descriptors, SBOM manifest, referrers index, signing payload);
- the registry requests go through the registry seam (:mod:`..registry`: repositories, referrers);
- :mod:`.sbom`: ``cyclonedx-py environment`` in a throwaway container of the image;
- :mod:`.artifacts`: attach an SBOM as a referrer (API or tag-schema fallback), find it;
- :mod:`.sign`: keys from the environment, sign and verify ``sha256-<hex>.sig``;
- :mod:`.intoto`, :mod:`.provenance`, :mod:`.attest`: the SBOM and the SLSA provenance as
  signed in-toto attestations under ``sha256-<hex>.att`` (cosign's layout);
- :mod:`.policy`: the admission policy (``invoke policy``);
- :mod:`.verify`: ``invoke verify REF``.

:func:`after_push` is the release flow's hook: SBOM, attach, sign, attest.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric import ec

from .. import console
from ..definition import ImageDefinition
from ..engine import Engine
from ..errors import PipelineError
from ..registry import Destination, Repository
from ..render import provenance_labels
from ..state import PushRecord
from . import artifacts, attest, intoto, oci, provenance, sign
from .sbom import generate_sbom, parse_sbom, sbom_filename, sbom_lock


def signing_key_configured() -> bool:
    return bool(os.environ.get(sign.KEY_ENV))


def check_sbom_lock(definition: ImageDefinition) -> None:
    """The SBOM generator's lock for the variant's Python exists (release planning)."""
    sbom_lock(definition)


def check_signing_key() -> None:
    """Load the signing key when one is configured (release planning: fails before building)."""
    if signing_key_configured():
        sign.load_private_key()


def after_push(
    definition: ImageDefinition,
    engine: Engine,
    pushed: PushRecord,
    destination: Destination,
    *,
    ca_cert: Path | None,
    out_dir: Path | None,
    require_signature: bool = False,
) -> dict[str, Any]:
    """SBOM of the pushed image (from its local id), attached to its digest, then signed,
    then the SBOM and the SLSA provenance attached as signed attestations (``.att``).

    Writes ``sbom-<variant>.cdx.json`` into ``out_dir`` when given. Returns the release
    document's ``supply`` part (``attestations``: :func:`attestations_part`). Without
    ``$RAY_IMAGE_SIGNING_KEY`` nothing is signed or attested and a loud warning says so
    (``require_signature``: an error, before anything is made). Raises PipelineError.
    """
    key = sign.load_private_key() if require_signature or signing_key_configured() else None
    store = destination.repository(pushed.repository)
    store.check()
    labels = _provenance_labels(store, definition, pushed) if key is not None else {}
    sbom, data = _attach_sbom(store, definition, engine, pushed, ca_cert, out_dir)
    result: dict[str, Any] = {"sbom": sbom, "signature": None, "attestations": None}
    if key is not None:
        result["signature"] = sign.sign_digest(store, pushed.digest, key)
        result["attestations"] = _attest(store, definition, engine, pushed, key, data, labels)
    else:
        _warn_unsigned(pushed.digest)
    return result


def attestations_part(attested: attest.Attested) -> dict[str, Any]:
    """The release document's ``supply.attestations``: the ``.att`` tag, the manifest it
    holds, the one it held before (a failed release puts it back), the predicate types."""
    return {
        "tag": attested.tag,
        "manifest": attested.manifest_digest,
        "previous": attested.previous,
        "types": [intoto.CYCLONEDX, intoto.SLSA_PROVENANCE_V1],
    }


def _provenance_labels(
    store: Repository, definition: ImageDefinition, pushed: PushRecord
) -> dict[str, str]:
    """The pushed image's labels, checked to state the work tree's lock and definition
    digests (the provenance is made from them). Raises PipelineError (one line)."""
    labels = store.labels(pushed.digest)
    for label, value in provenance_labels(definition).items():
        if labels.get(label) != value:
            raise PipelineError(
                f"{pushed.digest[:19]}: label {label} is {labels.get(label) or 'missing'}, the "
                f"work tree's is {value[:19]}: its provenance cannot be stated; rebuild it "
                "(`invoke release`) from this work tree"
            )
    return labels


def _attest(
    store: Repository,
    definition: ImageDefinition,
    engine: Engine,
    pushed: PushRecord,
    key: ec.EllipticCurvePrivateKey,
    sbom: bytes,
    labels: dict[str, str],
) -> dict[str, Any]:
    """Both attestations (CycloneDX SBOM, SLSA v1 provenance), signed, under ``.att``."""
    predicate = provenance.predicate(
        labels=labels,
        definition_path=_relative(definition.path, definition.root),
        variant=definition.variant,
        repository=pushed.repository,
        source=definition.target.source,
        engine=engine.name,
        env=dict(os.environ),
    )
    attested = attest.attest_digest(
        store,
        pushed.digest,
        key,
        [
            (intoto.CYCLONEDX, parse_sbom(sbom, "SBOM")),
            (intoto.SLSA_PROVENANCE_V1, predicate),
        ],
    )
    return attestations_part(attested)


def _relative(path: Path, root: Path) -> str:
    return path.relative_to(root).as_posix() if path.is_relative_to(root) else path.name


def complete_released(
    definition: ImageDefinition,
    engine: Engine,
    pushed: PushRecord,
    destination: Destination,
    *,
    ca_cert: Path | None,
    out_dir: Path | None,
) -> tuple[dict[str, Any], list[str]]:
    """A release found by its inputs (nothing rebuilt or pushed): add what it lacks.

    The SBOM: when one refers to the digest it is written to ``out_dir`` again; when none
    does it is made and attached if the image is in ``engine`` (else a loud warning names
    `invoke sbom --attach`). The signature: with ``$RAY_IMAGE_SIGNING_KEY`` set and no valid
    signature by that key, the digest is signed; unsigned without a key: a loud warning.
    Returns (the document's ``supply`` part, what was done). Raises PipelineError.
    """
    key = sign.load_private_key() if signing_key_configured() else None
    store = destination.repository(pushed.repository)
    done: list[str] = []
    filename = sbom_filename(definition.variant)
    sbom: dict[str, Any] | None = None
    data: bytes | None = None
    found = artifacts.find_sbom(store, pushed.digest)
    if found is not None:
        data = found[0]
        sbom = {"found": found[1], "file": filename, "path": _write(out_dir, filename, data)}
    elif engine.image_exists(pushed.image_id):
        sbom, data = _attach_sbom(store, definition, engine, pushed, ca_cert, out_dir)
        done.append("SBOM attached")
    else:
        console.loud_warning(
            f"no SBOM refers to {pushed.digest[:19]} and its image {pushed.image_id[:19]} is not "
            f"in {engine.name}'s storage: run `invoke sbom --attach` where it was built"
        )
    signature: str | None = oci.signature_tag(pushed.digest)
    if key is not None:
        try:
            sign.verify_digest(store, pushed.digest, key.public_key())
        except PipelineError:
            signature = sign.sign_digest(store, pushed.digest, key)
            done.append("signed")
    elif store.manifest(oci.signature_tag(pushed.digest)) is None:
        signature = None
        _warn_unsigned(pushed.digest)
    attestations: dict[str, Any] | None = None
    if key is not None and data is not None and not _attested(store, pushed.digest, key):
        labels = _provenance_labels(store, definition, pushed)
        attestations = _attest(store, definition, engine, pushed, key, data, labels)
        done.append("attested")
    return {"sbom": sbom, "signature": signature, "attestations": attestations}, done


def _attested(store: Repository, digest: str, key: ec.EllipticCurvePrivateKey) -> bool:
    """Both attestations of ``digest`` are there, signed by ``key``."""
    try:
        for predicate_type in (intoto.CYCLONEDX, intoto.SLSA_PROVENANCE_V1):
            attest.find_statement(store, digest, predicate_type, key.public_key())
    except PipelineError:
        return False
    return True


def _attach_sbom(
    store: Repository,
    definition: ImageDefinition,
    engine: Engine,
    pushed: PushRecord,
    ca_cert: Path | None,
    out_dir: Path | None,
) -> tuple[dict[str, Any], bytes]:
    data = generate_sbom(definition, engine, pushed.image_id, ca_cert)
    filename = sbom_filename(definition.variant)
    attached = artifacts.attach_sbom(
        store,
        pushed.digest,
        data,
        filename=filename,
        annotations={"org.opencontainers.image.title": filename},
    )
    console.info(f"SBOM attached to {pushed.digest[:19]}: {attached.manifest_digest}")
    part = {
        "manifest": attached.manifest_digest,
        "fallback_tag": attached.fallback_tag,
        "file": filename,
        "path": _write(out_dir, filename, data),
    }
    return part, data


def _write(out_dir: Path | None, filename: str, data: bytes) -> str | None:
    """Write the SBOM into ``out_dir`` (when given); its path, for the release document."""
    if out_dir is None:
        return None
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / filename).write_bytes(data)
    console.info(f"wrote {out_dir / filename}")
    return str(out_dir / filename)


def _warn_unsigned(digest: str) -> None:
    console.loud_warning(
        f"${sign.KEY_ENV} is not set: {digest[:19]} is NOT signed (README: Supply chain)"
    )
