"""cosign v3 bundle referrers: found and verified, or named as such.

cosign 3 can store a signature as a Sigstore bundle (protobuf-specs ``bundle.proto``,
media type ``application/vnd.dev.sigstore.bundle.v0.3+json``) in an OCI referrer of the
image (artifactType the same) instead of the ``.sig`` tag. :func:`bundle_signature`
verifies a bundle's DSSE form with the key; its ``messageSignature`` form (over a payload
the bundle does not carry) is named as such, never "no signature".
"""

from __future__ import annotations

import json
from typing import Any

from cryptography.hazmat.primitives.asymmetric import ec

from ..registry import Repository, referrers
from . import attest, intoto

BUNDLE_V03 = "application/vnd.dev.sigstore.bundle.v0.3+json"


def bundle_signature(
    store: Repository, digest: str, key: ec.EllipticCurvePublicKey
) -> tuple[bool, str] | None:
    """(verified, one-line description) of the cosign v3 bundle referrers of ``digest``;
    None when there is none."""
    index, source = referrers.referrers(store, digest)
    entries = [
        entry
        for entry in (index or {}).get("manifests") or []
        if isinstance(entry, dict) and entry.get("artifactType") == BUNDLE_V03
    ]
    if not entries:
        return None
    reasons = []
    for entry in entries:
        found = store.manifest(str(entry.get("digest")))
        if found is None or (found[1].get("subject") or {}).get("digest") != digest:
            reasons.append("a bundle referrer about another digest")
            continue
        for layer in found[1].get("layers") or []:
            verified, why = _check_bundle(store.blob(str(layer["digest"])), digest, key)
            if verified:
                return True, f"cosign v3 bundle ({BUNDLE_V03}) via {source}, {why}"
            reasons.append(why)
    return False, f"cosign v3 bundle ({BUNDLE_V03}) via {source}: " + "; ".join(reasons)


def _check_bundle(data: bytes, digest: str, key: ec.EllipticCurvePublicKey) -> tuple[bool, str]:
    try:
        bundle: dict[str, Any] = json.loads(data)
    except ValueError:
        return False, "not JSON"
    if not isinstance(bundle, dict):
        return False, "not a bundle"
    if isinstance(bundle.get("dsseEnvelope"), dict):
        envelope = bundle["dsseEnvelope"]
        statement, why = (
            attest.open_envelope(json.dumps(envelope).encode(), key)
            if envelope.get("payloadType") == intoto.INTOTO_PAYLOAD
            else (None, "not in-toto")
        )
        if statement is None:
            return False, f"DSSE form: {why}"
        if digest not in statement.subjects:
            return False, "DSSE form: a statement about another digest"
        return True, "DSSE envelope verified with the public key"
    if isinstance(bundle.get("messageSignature"), dict):
        return False, (
            "messageSignature form (signs a payload the bundle does not carry): not "
            "verified here; check it with `cosign verify`"
        )
    return False, "neither a dsseEnvelope nor a messageSignature"
