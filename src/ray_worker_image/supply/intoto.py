"""Pure shapes of signed attestations: in-toto Statements in DSSE envelopes, cosign's layout.

Sources of the shapes:
- DSSE v1.0 (secure-systems-lab/dsse ``envelope.md``, ``protocol.md``): the envelope
  ``{"payloadType", "payload" (base64), "signatures": [{"keyid", "sig" (base64)}]}``; what is
  signed is the pre-authentication encoding
  ``PAE(type, body) = "DSSEv1" SP LEN(type) SP type SP LEN(body) SP body`` (LEN in ASCII
  decimal bytes), never the payload alone.
- in-toto attestation ``spec/v1/statement.md`` and ``envelope.md``: ``payloadType`` is
  ``application/vnd.in-toto+json``; a Statement is ``{"_type":
  "https://in-toto.io/Statement/v1", "subject": [{"name", "digest": {"sha256": hex}}],
  "predicateType", "predicate"}``. cosign 2.x writes ``_type``
  ``https://in-toto.io/Statement/v0.1`` (in-toto-golang ``in_toto.Statement``), same fields:
  both are read.
- cosign ``pkg/types/media.go`` (``DssePayloadType`` =
  ``application/vnd.dsse.envelope.v1+json``), ``cmd/cosign/cli/attest/attest.go`` (one layer
  per attestation, the annotation ``predicateType``, an empty
  ``dev.cosignproject.cosign/signature`` annotation: the signature travels inside the
  envelope) and ``pkg/oci/remote`` (the tag ``sha256-<hex>.att``, config as for ``.sig``).
- Predicate type URIs: CycloneDX ``https://cyclonedx.org/bom`` (cosign ``pkg/cosign/attestation``
  ``CosignCycloneDXPredicateType`` = what ``--type cyclonedx`` means), SLSA
  ``https://slsa.dev/provenance/v1`` (slsa.dev ``spec/v1.0/provenance``; cosign
  ``--type slsaprovenance1``).
Every function here is pure.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from typing import Any

from ..registry import content
from . import oci

INTOTO_PAYLOAD = "application/vnd.in-toto+json"
DSSE_ENVELOPE = "application/vnd.dsse.envelope.v1+json"
STATEMENT_V1 = "https://in-toto.io/Statement/v1"
STATEMENT_V01 = "https://in-toto.io/Statement/v0.1"
STATEMENT_TYPES = (STATEMENT_V1, STATEMENT_V01)
CYCLONEDX = "https://cyclonedx.org/bom"
SLSA_PROVENANCE_V1 = "https://slsa.dev/provenance/v1"
PREDICATE_ANNOTATION = "predicateType"
# cosign ``--type`` names of the predicate types (cosign ``pkg/cosign/attestation``)
COSIGN_TYPES = {CYCLONEDX: "cyclonedx", SLSA_PROVENANCE_V1: "slsaprovenance1"}


@dataclass(frozen=True)
class Statement:
    """A parsed in-toto Statement: its ``_type``, subject sha256 digests, predicate."""

    type: str
    subjects: tuple[str, ...]  # "sha256:<hex>" of each subject with a sha256 digest
    predicate_type: str
    predicate: dict[str, Any]


def pae(payload_type: str, body: bytes) -> bytes:
    """DSSE v1 pre-authentication encoding: the bytes a DSSE signature is over."""
    kind = payload_type.encode()
    return b"DSSEv1 %d %s %d %s" % (len(kind), kind, len(body), body)


def statement(
    subject_name: str, digest: str, predicate_type: str, predicate: dict[str, Any]
) -> bytes:
    """The canonical bytes of an in-toto Statement v1 about one image digest."""
    hex_digest = content.check_digest(digest).partition(":")[2]
    return content.canonical(
        {
            "_type": STATEMENT_V1,
            "subject": [{"name": subject_name, "digest": {"sha256": hex_digest}}],
            "predicateType": predicate_type,
            "predicate": predicate,
        }
    )


def envelope(payload: bytes, signature_b64: str, keyid: str = "") -> bytes:
    """The DSSE envelope bytes (JSON) of an in-toto payload and its base64 signature."""
    return content.canonical(
        {
            "payloadType": INTOTO_PAYLOAD,
            "payload": base64.b64encode(payload).decode(),
            "signatures": [{"keyid": keyid, "sig": signature_b64}],
        }
    )


def parse_envelope(data: bytes) -> tuple[str, bytes, list[str]]:
    """(payloadType, payload bytes, base64 signatures) of a DSSE envelope; ValueError."""
    try:
        document = json.loads(data)
        payload = base64.b64decode(document["payload"], validate=True)
        signatures = [str(entry["sig"]) for entry in document["signatures"]]
        return str(document["payloadType"]), payload, signatures
    except (KeyError, TypeError, ValueError, binascii.Error) as exc:
        raise ValueError(f"not a DSSE envelope ({type(exc).__name__})") from None


def parse_statement(payload: bytes) -> Statement:
    """The Statement (v1 or v0.1) in ``payload``; ValueError naming what is wrong."""
    try:
        document = json.loads(payload)
        kind = str(document["_type"])
        subjects = tuple(
            "sha256:" + str(entry["digest"]["sha256"])
            for entry in document["subject"]
            if "sha256" in (entry.get("digest") or {})
        )
        predicate_type = str(document["predicateType"])
        predicate = document.get("predicate") or {}
    except (KeyError, TypeError, AttributeError, ValueError) as exc:
        raise ValueError(f"not an in-toto Statement ({type(exc).__name__})") from None
    if kind not in STATEMENT_TYPES:
        raise ValueError(f"unknown Statement _type {kind!r}")
    if not isinstance(predicate, dict):
        raise ValueError("the Statement's predicate is not an object")
    return Statement(kind, subjects, predicate_type, predicate)


def attestation_layer(envelope_bytes: bytes, predicate_type: str) -> dict[str, Any]:
    """The ``.att`` manifest's layer descriptor of one envelope (cosign's annotations)."""
    return content.descriptor(
        DSSE_ENVELOPE,
        envelope_bytes,
        annotations={oci.COSIGN_SIGNATURE_ANNOTATION: "", PREDICATE_ANNOTATION: predicate_type},
    )


def layers_config(layers: list[dict[str, Any]]) -> bytes:
    """The small image config cosign writes for a ``.att`` (or ``.sig``) manifest."""
    return content.canonical(
        {
            "architecture": "",
            "os": "",
            "config": {},
            "rootfs": {"type": "layers", "diff_ids": [str(layer["digest"]) for layer in layers]},
        }
    )


def attestation_manifest(layers: list[dict[str, Any]]) -> dict[str, Any]:
    """The manifest under ``sha256-<hex>.att``: one DSSE layer per attestation."""
    return {
        "schemaVersion": 2,
        "mediaType": content.OCI_MANIFEST,
        "config": content.descriptor(oci.OCI_CONFIG, layers_config(layers)),
        "layers": list(layers),
    }


def attestation_tag(digest: str) -> str:
    """cosign's attestation tag of a digest: ``sha256-<hex>.att``."""
    return content.fallback_tag(digest) + ".att"
