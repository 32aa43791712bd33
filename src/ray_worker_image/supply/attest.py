"""Signed in-toto attestations of a pushed digest, in cosign's ``sha256-<hex>.att`` layout.

Each attestation is an in-toto Statement v1 (:func:`.intoto.statement`) about the digest,
in a DSSE envelope signed with the release key (ECDSA P-256 over the DSSE PAE, as cosign
``attest --key`` signs), one layer of the manifest tagged ``sha256-<hex>.att``; cosign's
``verify-attestation --key`` reads exactly that. Written through a registry
:class:`..registry.Repository`.

The ``.att`` manifest is shared by every attestation of the digest (other keys', other
predicate types): :func:`attest_digest` keeps those layers, replaces only this key's layer
of the same predicate type, and returns the manifest the tag held before, so a failed
release puts that back (:func:`restore`) instead of deleting the tag.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from cryptography.hazmat.primitives.asymmetric import ec

from .. import console
from ..errors import PipelineError, PushError
from ..registry import Repository, content
from . import intoto, oci, sign


@dataclass(frozen=True)
class Attested:
    """What :func:`attest_digest` wrote: the tag, the manifest it now holds, and the one it
    held before (None when the tag did not exist)."""

    tag: str
    manifest_digest: str
    previous: str | None


def signed_envelope(payload: bytes, key: ec.EllipticCurvePrivateKey) -> bytes:
    """A DSSE envelope of an in-toto ``payload``, signed over its PAE with ``key``."""
    return intoto.envelope(
        payload, sign.sign_payload(key, intoto.pae(intoto.INTOTO_PAYLOAD, payload))
    )


def open_envelope(
    data: bytes, key: ec.EllipticCurvePublicKey
) -> tuple[intoto.Statement | None, str]:
    """(the Statement, "") when a signature of the envelope ``data`` verifies with ``key``;
    (None, why not) otherwise."""
    try:
        payload_type, payload, signatures = intoto.parse_envelope(data)
    except ValueError as exc:
        return None, str(exc)
    if payload_type != intoto.INTOTO_PAYLOAD:
        return None, f"payloadType {payload_type!r}, not in-toto"
    signed = intoto.pae(payload_type, payload)
    if not any(sign.signature_valid(key, signed, signature) for signature in signatures):
        return None, "envelope signature does not verify with the public key"
    try:
        return intoto.parse_statement(payload), ""
    except ValueError as exc:
        return None, str(exc)


def _layers(store: Repository, digest: str) -> tuple[str | None, list[dict[str, Any]]]:
    found = store.manifest(intoto.attestation_tag(digest))
    if found is None:
        return None, []
    layers = [
        layer
        for layer in found[1].get("layers") or []
        if isinstance(layer, dict) and layer.get("mediaType") == intoto.DSSE_ENVELOPE
    ]
    return content.sha256(found[0]), layers


def attest_digest(
    store: Repository,
    digest: str,
    key: ec.EllipticCurvePrivateKey,
    statements: list[tuple[str, dict[str, Any]]],
) -> Attested:
    """Attach one signed attestation per (predicate type, predicate) about ``digest``.

    The subject's name is the repository (``HOST[:PORT]/PATH``). This key's earlier
    layers of the same predicate types are replaced; every other layer is kept. Raises
    PushError (one line) when the image is not in the repository.
    """
    if store.manifest(content.check_digest(digest)) is None:
        raise PushError(f"{sign.docker_reference(store)}@{digest} does not exist; push it first")
    tag = intoto.attestation_tag(digest)
    previous, existing = _layers(store, digest)
    types = {predicate_type for predicate_type, _ in statements}
    public = key.public_key()
    kept = []
    for layer in existing:
        annotations = layer.get("annotations") or {}
        if annotations.get(intoto.PREDICATE_ANNOTATION) in types:
            statement, _ = open_envelope(store.blob(str(layer["digest"])), public)
            if statement is not None:
                continue  # this key's earlier attestation of the same type: replaced
        kept.append(layer)
    added = []
    for predicate_type, predicate in statements:
        payload = intoto.statement(sign.docker_reference(store), digest, predicate_type, predicate)
        envelope = signed_envelope(payload, key)
        store.push_blob(envelope, intoto.DSSE_ENVELOPE)
        added.append(intoto.attestation_layer(envelope, predicate_type))
    manifest = intoto.attestation_manifest([*kept, *added])
    store.push_blob(intoto.layers_config(manifest["layers"]), oci.OCI_CONFIG)
    written = store.push_manifest(manifest, tag)
    names = ", ".join(intoto.COSIGN_TYPES.get(t, t) for t in sorted(types))
    console.info(f"attested {sign.docker_reference(store)}@{digest[:19]} ({names}): {tag}")
    return Attested(tag, written, previous)


def restore(store: Repository, digest: str, attested: Attested) -> None:
    """Undo :func:`attest_digest`: the tag back on the manifest it held before, or the
    manifest this release wrote deleted when the tag did not exist."""
    if attested.previous is not None:
        store.put_tag(attested.previous, attested.tag)
    else:
        store.delete_manifest(attested.manifest_digest)


def find_statement(
    store: Repository, digest: str, predicate_type: str, key: ec.EllipticCurvePublicKey
) -> intoto.Statement:
    """The newest attestation of ``predicate_type`` about ``digest`` signed by ``key``.

    Each layer counts only when its envelope's signature verifies, its Statement (v1 or
    v0.1) names ``digest`` as a subject and its predicateType is the one asked for.
    PipelineError says why none does (one line).
    """
    tag = intoto.attestation_tag(digest)
    previous, layers = _layers(store, digest)
    if previous is None:
        raise PipelineError(f"no attestation: {sign.docker_reference(store)}:{tag} does not exist")
    reasons: list[str] = []
    for layer in reversed(layers):
        statement, why = open_envelope(store.blob(str(layer["digest"])), key)
        if statement is None:
            reasons.append(why)
        elif statement.predicate_type != predicate_type:
            continue
        elif digest not in statement.subjects:
            reasons.append(f"a {predicate_type} statement about another digest")
        else:
            return statement
    raise PipelineError(
        f"no valid {intoto.COSIGN_TYPES.get(predicate_type, predicate_type)} attestation in "
        f"{tag}: " + ("; ".join(dict.fromkeys(reasons)) or f"none of type {predicate_type}")
    )
