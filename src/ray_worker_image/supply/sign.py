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
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from .. import console
from ..errors import PipelineError, PushError, UsageError
from ..registry import Repository, content
from . import oci
from .identity import same_repository

KEY_ENV = "RAY_IMAGE_SIGNING_KEY"
PASSPHRASE_ENV = "RAY_IMAGE_SIGNING_KEY_PASSPHRASE"  # noqa: S105 - a variable's name
VERIFY_KEY_ENV = "RAY_IMAGE_VERIFY_KEY"
# cosign's own private key format (cosign pkg/cosign/keys.go: SigstorePrivateKeyPemType; the
# older CosignPrivateKeyPemType "ENCRYPTED COSIGN PRIVATE KEY" is the same scrypt + secretbox)
COSIGN_ENCRYPTED = (b"ENCRYPTED SIGSTORE PRIVATE KEY", b"ENCRYPTED COSIGN PRIVATE KEY")


def _material(value: str, source: str) -> bytes:
    """PEM bytes from a path or from the PEM text itself (never echoed; paths may be).

    PipelineError naming ``source`` and the case: no such file, a folder, an empty file.
    """
    if value.lstrip().startswith("-----BEGIN"):
        return value.encode()
    if not value.strip():
        raise UsageError(f"{source} is empty: give a PEM key file's path (or the PEM itself)")
    if "\n" in value or "-----" in value:  # PEM-like text, never a path: never echoed
        raise UsageError(f"{source}: not a PEM key and not a file path; give a key file's path")
    path = Path(value)
    if path.is_dir():
        raise UsageError(f"{source}: {path} is a folder, not a key file; give a PEM key file")
    if not path.exists():
        raise UsageError(f"{source}: no such file {path}; give a PEM key file's path")
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise UsageError(f"{source}: cannot read {path} ({exc.strerror})") from None
    if not data.strip():
        raise UsageError(f"{source}: {path} is empty; give a PEM key file")
    return data


def load_private_key(environ: dict[str, str] | None = None) -> ec.EllipticCurvePrivateKey:
    """The signing key from the environment; PipelineError (naming variables only) otherwise."""
    env = os.environ if environ is None else environ
    if KEY_ENV not in env:
        raise UsageError(
            f"${KEY_ENV} is not set: export the path of the PEM signing key "
            "(README: Supply chain, key generation)"
        )
    value = env[KEY_ENV]
    if not value.strip():
        raise UsageError(
            f"${KEY_ENV} is empty: export the path of the PEM signing key "
            "(README: Supply chain, key generation)"
        )
    data = _material(value, f"${KEY_ENV}")
    if b"PUBLIC KEY-----" in data and b"PRIVATE KEY-----" not in data:
        raise UsageError(f"${KEY_ENV} is a public key; give the private (signing) key")
    cosign_format = next((kind for kind in COSIGN_ENCRYPTED if kind in data), None)
    if cosign_format is not None:
        raise UsageError(
            f"${KEY_ENV} is a cosign-encrypted key ({cosign_format.decode()}, scrypt + "
            "nacl secretbox), a format this tool does not read; give a PKCS#8 PEM key, made "
            "as docs/supply-chain.md says"
        )
    passphrase = env.get(PASSPHRASE_ENV) or None
    encrypted = b"ENCRYPTED" in data
    if passphrase and not encrypted:
        raise UsageError(
            f"${PASSPHRASE_ENV} is set but ${KEY_ENV} is not encrypted; unset ${PASSPHRASE_ENV}"
        )
    if encrypted and not passphrase:
        raise UsageError(f"${KEY_ENV} is encrypted: export its passphrase in ${PASSPHRASE_ENV}")
    try:
        key = serialization.load_pem_private_key(
            data, password=passphrase.encode() if passphrase else None
        )
    except TypeError:  # never the library's text: it may quote input
        raise UsageError(
            f"${KEY_ENV}: the passphrase in ${PASSPHRASE_ENV} does not match the key's "
            "encryption (set it only for an encrypted key)"
        ) from None
    except Exception:  # ValueError, UnsupportedAlgorithm: the text may quote input
        raise UsageError(
            f"${KEY_ENV}: cannot load the private key (not a PEM private key, or wrong "
            f"${PASSPHRASE_ENV})"
        ) from None
    if not isinstance(key, ec.EllipticCurvePrivateKey) or key.curve.name != "secp256r1":
        raise UsageError(f"${KEY_ENV}: not an ECDSA P-256 key; make one as the README says")
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
        raise UsageError(f"no public key: pass --public-key FILE or export ${VERIFY_KEY_ENV}")
    data = _material(value, source)
    if b"PRIVATE KEY-----" in data:
        raise UsageError(
            f"{source} is a private key; give the public key (openssl ec -in KEY -pubout)"
        )
    try:
        key = serialization.load_pem_public_key(data)
    except Exception:  # ValueError, UnsupportedAlgorithm: the text may quote input
        raise UsageError(f"{source}: not a PEM public key") from None
    if not isinstance(key, ec.EllipticCurvePublicKey):
        raise UsageError(f"{source}: not an ECDSA public key")
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


def docker_reference(store: Repository) -> str:
    """The identity signed: ``HOST[:PORT]/REPOSITORY`` (no tag), as cosign signs it."""
    return f"{store.access.registry}/{store.repository}"


def _signed_by(
    store: Repository, layers: list[dict[str, Any]], digest: str, key: ec.EllipticCurvePublicKey
) -> bool:
    """Whether one of ``layers`` signs ``digest`` for this repository and verifies with ``key``."""
    for layer in layers:
        signature = (layer.get("annotations") or {}).get(oci.COSIGN_SIGNATURE_ANNOTATION)
        if not signature:
            continue
        payload = store.blob(str(layer["digest"]))
        try:
            reference, signed = oci.parse_payload(payload)
        except ValueError:
            continue
        if (
            signed == digest
            and same_repository(reference, docker_reference(store))
            and signature_valid(key, payload, str(signature))
        ):
            return True
    return False


def sign_digest(store: Repository, digest: str, key: ec.EllipticCurvePrivateKey) -> str:
    """Sign ``digest`` and upload the signature under ``sha256-<hex>.sig``; returns that tag.

    Idempotent per key: when a layer there already signs this digest for this repository
    and verifies with ``key``'s public key, nothing is uploaded ("already signed by this
    key"; ECDSA signatures are randomized, so re-signing would grow the manifest forever).
    Signatures already there for other payloads or keys are kept (cosign appends too).
    Says which it did (one line). Raises PushError when the image is not in the repository.
    """
    if store.manifest(content.check_digest(digest)) is None:
        raise PushError(f"{docker_reference(store)}@{digest} does not exist; push it first")
    tag = oci.signature_tag(digest)
    existing = store.manifest(tag)
    kept = [
        layer
        for layer in (existing[1].get("layers") or [] if existing else [])
        if layer.get("mediaType") == oci.SIMPLE_SIGNING
    ]
    if _signed_by(store, kept, digest, key.public_key()):
        console.info(f"{docker_reference(store)}@{digest[:19]}: already signed by this key ({tag})")
        return tag
    payload = oci.simple_signing_payload(docker_reference(store), digest)
    manifest = oci.signature_manifest(payload, sign_payload(key, payload))
    manifest["layers"] = [*kept, *manifest["layers"]]
    store.push_blob(payload, oci.SIMPLE_SIGNING)
    store.push_blob(oci.signature_config(payload), oci.OCI_CONFIG)
    store.push_manifest(manifest, tag)
    console.info(f"signed {docker_reference(store)}@{digest[:19]}: {tag}")
    return tag


def verify_digest(
    store: Repository,
    digest: str,
    key: ec.EllipticCurvePublicKey,
    identity: str | None = None,
) -> str:
    """A one-line description of the valid signature of ``digest``; PipelineError when none.

    A signature counts when its payload names this repository (``identity`` instead, for a
    mirror; compared by meaning: :func:`.identity.same_repository`) and this digest and
    the ECDSA signature over the payload's bytes verifies with ``key``.
    """
    expected = identity or docker_reference(store)
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
        elif not same_repository(reference, expected):
            reasons.append(f"signs repository {reference}, not {expected}")
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
