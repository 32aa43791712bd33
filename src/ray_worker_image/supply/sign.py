"""cosign-compatible signatures made with a key: ECDSA P-256 over the simple-signing payload.

The mechanism (why not ``podman push --sign-by-sigstore-private-key``): podman signs only
what podman itself pushes, so an image built and pushed by Docker Engine would need a
second push; the signature is about the digest, so the pipeline makes it itself, the same
way for either engine: the cosign payload (:func:`.oci.simple_signing_payload`), signed with
``cryptography`` (ECDSA P-256, SHA-256, ASN.1 DER, base64), uploaded as cosign does under
``sha256-<hex>.sig``. cosign (``cosign verify --key``) and containers/image (podman, skopeo,
CRI-O with a ``sigstoreSigned`` policy and ``use-sigstore-attachments: true``) verify it.

Keys: ``$RAY_IMAGE_SIGNING_KEY`` is a path to a PEM private key (PKCS#8, encrypted or not)
or the PEM itself (a CI secret); ``$RAY_IMAGE_SIGNING_KEY_PASSPHRASE`` its passphrase. The
public key for verification: ``--public-key FILE`` or ``$RAY_IMAGE_VERIFY_KEY`` (path or
PEM). Key material and passphrases never appear in a message, a log line or argv.
"""

from __future__ import annotations

import base64
import os
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from ..errors import PipelineError, PushError
from . import oci
from .transport import ArtifactStore

KEY_ENV = "RAY_IMAGE_SIGNING_KEY"
PASSPHRASE_ENV = "RAY_IMAGE_SIGNING_KEY_PASSPHRASE"  # noqa: S105 - a variable's name
VERIFY_KEY_ENV = "RAY_IMAGE_VERIFY_KEY"


def _material(value: str, source: str) -> bytes:
    """PEM bytes from a path or from the PEM text itself (never echoed)."""
    if value.lstrip().startswith("-----BEGIN"):
        return value.encode()
    path = Path(value)
    if not path.is_file():
        raise PipelineError(f"{source}: not a file and not a PEM key; give a key file's path")
    return path.read_bytes()


def load_private_key(environ: dict[str, str] | None = None) -> ec.EllipticCurvePrivateKey:
    """The signing key from the environment; PipelineError (naming variables only) otherwise."""
    env = os.environ if environ is None else environ
    value = env.get(KEY_ENV, "")
    if not value:
        raise PipelineError(
            f"${KEY_ENV} is empty: export the path of the PEM signing key "
            "(README: Supply chain, key generation)"
        )
    data = _material(value, f"${KEY_ENV}")
    passphrase = env.get(PASSPHRASE_ENV) or None
    try:
        key = serialization.load_pem_private_key(
            data, password=passphrase.encode() if passphrase else None
        )
    except (ValueError, TypeError, Exception):  # never the library's text: it may quote input
        raise PipelineError(
            f"${KEY_ENV}: cannot load the private key (not PEM, or wrong/missing ${PASSPHRASE_ENV})"
        ) from None
    if not isinstance(key, ec.EllipticCurvePrivateKey) or key.curve.name != "secp256r1":
        raise PipelineError(f"${KEY_ENV}: not an ECDSA P-256 key; make one as the README says")
    return key


def load_public_key(
    option: str | None, environ: dict[str, str] | None = None
) -> ec.EllipticCurvePublicKey:
    """``--public-key FILE``, else ``$RAY_IMAGE_VERIFY_KEY`` (path or PEM)."""
    env = os.environ if environ is None else environ
    source, value = (
        ("--public-key", option) if option else (f"${VERIFY_KEY_ENV}", env.get(VERIFY_KEY_ENV, ""))
    )
    if not value:
        raise PipelineError(f"no public key: pass --public-key FILE or export ${VERIFY_KEY_ENV}")
    try:
        key = serialization.load_pem_public_key(_material(value, source))
    except ValueError:
        raise PipelineError(f"{source}: not a PEM public key") from None
    if not isinstance(key, ec.EllipticCurvePublicKey):
        raise PipelineError(f"{source}: not an ECDSA public key")
    return key


def public_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def sign_payload(key: ec.EllipticCurvePrivateKey, payload: bytes) -> str:
    """base64 of the ASN.1 DER ECDSA-SHA256 signature of ``payload``."""
    return base64.b64encode(key.sign(payload, ec.ECDSA(hashes.SHA256()))).decode()


def signature_valid(key: ec.EllipticCurvePublicKey, payload: bytes, signature_b64: str) -> bool:
    try:
        key.verify(
            base64.b64decode(signature_b64, validate=True), payload, ec.ECDSA(hashes.SHA256())
        )
    except (InvalidSignature, ValueError):
        return False
    return True


def docker_reference(store: ArtifactStore) -> str:
    """The identity signed: ``HOST[:PORT]/REPOSITORY`` (no tag), as cosign signs it."""
    return f"{store.access.registry}/{store.repository}"


def sign_digest(store: ArtifactStore, digest: str, key: ec.EllipticCurvePrivateKey) -> str:
    """Sign ``digest`` and upload the signature under ``sha256-<hex>.sig``; returns that tag.

    Signatures already there for other payloads or keys are kept (cosign appends too).
    Raises PushError when the image is not in the repository.
    """
    if store.manifest(oci.check_digest(digest)) is None:
        raise PushError(f"{docker_reference(store)}@{digest} does not exist; push it first")
    payload = oci.simple_signing_payload(docker_reference(store), digest)
    signature = sign_payload(key, payload)
    manifest = oci.signature_manifest(payload, signature)
    tag = oci.signature_tag(digest)
    existing = store.manifest(tag)
    new_layer = manifest["layers"][0]
    if existing:
        kept = [
            layer
            for layer in existing[1].get("layers") or []
            if layer.get("mediaType") == oci.SIMPLE_SIGNING and layer != new_layer
        ]
        manifest["layers"] = [*kept, new_layer]
    store.push_blob(payload, oci.SIMPLE_SIGNING)
    store.push_blob(oci.signature_config(payload), oci.OCI_CONFIG)
    store.push_manifest(manifest, tag)
    return tag


def verify_digest(store: ArtifactStore, digest: str, key: ec.EllipticCurvePublicKey) -> str:
    """A one-line description of the valid signature of ``digest``; PipelineError when none.

    A signature counts when its payload names this repository and this digest and the
    ECDSA signature over the payload's bytes verifies with ``key``.
    """
    tag = oci.signature_tag(digest)
    found = store.manifest(tag)
    if found is None:
        raise PipelineError(f"no signature: {docker_reference(store)}:{tag} does not exist")
    reasons: list[str] = []
    for layer in found[1].get("layers") or []:
        if layer.get("mediaType") != oci.SIMPLE_SIGNING:
            continue
        payload = store.blob(str(layer["digest"]))
        try:
            reference, signed = oci.parse_payload(payload)
        except ValueError as exc:
            reasons.append(str(exc))
            continue
        if signed != digest:
            reasons.append(f"signs {signed[:19]}, not this digest")
        elif reference != docker_reference(store):
            reasons.append(f"signs repository {reference}")
        elif not signature_valid(
            key,
            payload,
            str((layer.get("annotations") or {}).get(oci.COSIGN_SIGNATURE_ANNOTATION, "")),
        ):
            reasons.append("signature does not verify with the public key")
        else:
            return f"cosign signature ({tag}) by the given key, identity {reference}"
    raise PipelineError(
        f"no valid signature in {tag}: " + ("; ".join(reasons) or "no simple-signing layer")
    )
