"""`invoke verify REF`: signature, attestations, SBOM and labels of a pushed image, checked
from the registry.

One line per check (``ok`` or ``FAIL``), each independent of the others, so a user sees
everything that is wrong at once; the caller exits 1 when any failed. The checks:
``signature`` (``.sig``, else a cosign v3 bundle referrer), ``sbom`` (the CycloneDX
referrer), ``attestation cyclonedx`` and ``attestation provenance`` (each envelope's
signature, subject = the digest, predicate type: :func:`.attest.find_statement`),
``provenance labels`` (base, lock and definition digests and revision stated = the
image's labels), then the labels every pipeline image carries.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from cryptography.hazmat.primitives.asymmetric import ec

from ..errors import PipelineError
from ..records import BASE_DIGEST, BASE_NAME, REVISION, STAND_IN
from ..refs import ImageRef
from ..registry import Repository
from . import artifacts, attest, intoto, provenance, sign
from .bundle import bundle_signature
from .sbom import packages, parse_sbom

_DIGEST = re.compile(r"^sha256:[0-9a-f]{64}$")
_REVISION = re.compile(r"^[0-9a-f]{7,40}(-dirty)?$")


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str

    def line(self) -> str:
        return f"{'ok  ' if self.ok else 'FAIL'} {self.name}: {self.detail}"


def label_checks(labels: dict[str, str]) -> list[Check]:
    """The labels every pipeline image carries (pure): revision, base name and digest,
    stand-in flag."""
    out = []
    revision = labels.get(REVISION, "")
    detail = revision or "missing"
    if revision.endswith("-dirty"):
        detail += " (built from a work tree with uncommitted changes)"
    out.append(Check("label revision", bool(_REVISION.match(revision)), detail))
    base = labels.get(BASE_NAME, "")
    out.append(Check("label base name", bool(base), base or "missing"))
    digest = labels.get(BASE_DIGEST, "")
    out.append(Check("label base digest", bool(_DIGEST.match(digest)), digest or "missing"))
    stand_in = labels.get(STAND_IN)
    out.append(
        Check(
            "label stand-in",
            stand_in in ("true", "false"),
            {"true": "true (offline stand-in base)", "false": "false"}.get(
                stand_in or "", stand_in or "missing"
            ),
        )
    )
    return out


def resolve(store: Repository, ref: ImageRef) -> str:
    """The digest ``ref`` names (its own, or what its tag serves); PipelineError when absent."""
    digest = store.manifest_digest(ref)
    if not digest:
        raise PipelineError(f"{ref}: not in the registry; check the reference")
    if ref.digest and digest != ref.digest:
        raise PipelineError(f"{ref}: the registry serves {digest} for it")
    return digest


def signature_check(
    store: Repository, digest: str, key: ec.EllipticCurvePublicKey, identity: str | None
) -> Check:
    """The ``.sig`` signature; when there is none, a cosign v3 bundle referrer (verified,
    or named as such when it cannot be)."""
    try:
        return Check("signature", True, sign.verify_digest(store, digest, key, identity))
    except PipelineError as exc:
        if not str(exc).startswith("no signature:"):
            return Check("signature", False, str(exc))
        bundle = bundle_signature(store, digest, key)
        if bundle is None:
            return Check("signature", False, str(exc))
        return Check("signature", bundle[0], bundle[1])


def attestation_checks(
    store: Repository,
    digest: str,
    key: ec.EllipticCurvePublicKey,
    labels: dict[str, str],
    expect: str,
) -> list[Check]:
    """The signed SBOM and provenance attestations, and the provenance against the labels."""
    checks = []
    try:
        sbom = attest.find_statement(store, digest, intoto.CYCLONEDX, key)
        version = packages(sbom.predicate).get(expect)
        checks.append(
            Check(
                "attestation cyclonedx",
                version is not None,
                f"signed {sbom.type.rsplit('/', 1)[-1]} statement, {expect} "
                + (version or "MISSING"),
            )
        )
    except PipelineError as exc:
        checks.append(Check("attestation cyclonedx", False, str(exc)))
    try:
        stated = attest.find_statement(store, digest, intoto.SLSA_PROVENANCE_V1, key)
    except PipelineError as exc:
        checks.append(Check("attestation provenance", False, str(exc)))
        return checks
    builder = (stated.predicate.get("runDetails") or {}).get("builder") or {}
    checks.append(
        Check("attestation provenance", True, f"signed, builder {builder.get('id', 'missing')}")
    )
    problems = provenance.label_checks(stated.predicate, labels)
    checks.append(
        Check(
            "provenance labels",
            not problems,
            "; ".join(problems) or "base, locks, definition and revision equal the labels",
        )
    )
    return checks


def run_checks(
    store: Repository,
    ref: ImageRef,
    key: ec.EllipticCurvePublicKey,
    expect: str = "nats-py",
    identity: str | None = None,
) -> tuple[str, list[Check]]:
    """(digest, checks) for ``ref``; ``identity``: the repository the signature names when
    ``ref`` is a mirror. Only the resolution of ``ref`` raises."""
    digest = resolve(store, ref)
    checks: list[Check] = [signature_check(store, digest, key, identity)]
    try:
        found = artifacts.find_sbom(store, digest)
        if found is None:
            checks.append(Check("sbom", False, f"no CycloneDX SBOM refers to {digest[:19]}"))
        else:
            data, source = found
            names = packages(parse_sbom(data, "SBOM"))
            version = names.get(expect)
            checks.append(
                Check(
                    "sbom",
                    version is not None,
                    f"{len(names)} distributions via {source}, {expect} " + (version or "MISSING"),
                )
            )
    except PipelineError as exc:
        checks.append(Check("sbom", False, str(exc)))
    try:
        labels = store.labels(ref.with_digest(digest))
    except PipelineError as exc:
        return digest, [*checks, Check("labels", False, str(exc))]
    checks += attestation_checks(store, digest, key, labels, expect)
    return digest, checks + label_checks(labels)
