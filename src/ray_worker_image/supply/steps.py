"""The supply-chain tasks on a session: ``invoke sbom``, ``invoke sign``, ``invoke verify``."""

from __future__ import annotations

from pathlib import Path

from .. import console
from ..errors import PipelineError, UsageError
from ..preflight import check_listening, check_out_dir
from ..push import credentials_from_env
from ..refs import ImageRef
from ..registry import RegistryAccess
from ..session import Session
from ..state import PushRecord
from . import after_push, sign
from .sbom import generate_sbom, sbom_filename
from .transport import ArtifactStore
from .verify import Check, run_checks


def last_push(s: Session, registry: str, username: str | None = None) -> PushRecord:
    """This revision's push in ``registry``, derived (engine labels + registry HEAD,
    :meth:`.session.Session.pushed`); PipelineError names `invoke push` when absent."""
    if not registry:
        raise PipelineError(
            "no registry to find the pushed image in: pass --registry HOST[:PORT] "
            "(or $RAY_IMAGE_REGISTRY, invoke.yaml ray_image.registry)"
        )
    check_listening(registry)
    return s.pushed(registry, credentials=credentials_from_env(username))


def do_sbom(
    sessions: list[Session],
    *,
    username: str | None,
    out: str | None,
    attach: bool,
    require_signature: bool,
    registry: str = "",
) -> list[Path]:
    """SBOM of each variant's last pushed image (made from its local id), written into the
    folder ``out`` (default ``build/<variant>/``) as ``sbom-<variant>.cdx.json``; with
    ``attach`` also attached to the pushed digest and, when a key is configured (or
    ``require_signature``), the digest signed: what ``invoke release`` does after a push.

    Plans first: ``--out``, the key (when a signature is required) and every variant's
    push are checked before the first SBOM is made. Raises PipelineError (one line)."""
    check_out_dir(out, what="the SBOM")
    if require_signature:
        sign.load_private_key()
    pushes = [(s, last_push(s, registry, username)) for s in sessions]
    written = []
    for s, pushed in pushes:
        folder = Path(out) if out else s.build_dir  # the file name carries the variant
        if attach or require_signature:
            after_push(
                s.definition,
                s.engine,
                pushed,
                s.registry_access(pushed.registry),
                credentials_from_env(username),
                ca_cert=s.ca_cert,
                out_dir=folder,
                require_signature=require_signature,
            )
        else:
            data = generate_sbom(s.definition, s.engine, pushed.image_id, s.ca_cert)
            folder.mkdir(parents=True, exist_ok=True)
            (folder / sbom_filename(s.variant)).write_bytes(data)
            console.info(f"wrote {folder / sbom_filename(s.variant)}")
        written.append(folder / sbom_filename(s.variant))
    return written


def _store_for(
    ref: ImageRef, username: str | None, registry_ca: str | None, insecure: bool
) -> ArtifactStore:
    if registry_ca and not Path(registry_ca).is_file():
        raise UsageError(f"--registry-ca {registry_ca}: no such file; give the CA's PEM")
    check_listening(ref.registry, "REF's registry")
    access = RegistryAccess(ref.registry, Path(registry_ca) if registry_ca else None, insecure)
    store = ArtifactStore(access, credentials_from_env(username), ref.repository)
    store.check()
    return store


def require_ref(ref: str | None, task: str) -> str:
    """The REF of ``invoke sign``/``invoke verify`` (positional or ``--ref``); PipelineError
    saying how to give it when missing or blank."""
    if ref is None or not str(ref).strip():
        raise UsageError(
            f"give the image reference: invoke {task} REGISTRY/REPO@sha256:... (or --ref REF)"
        )
    return str(ref)


def do_sign(ref_text: str, *, username: str | None, registry_ca: str | None, insecure: bool) -> str:
    """Sign the digest ``ref_text`` names with ``$RAY_IMAGE_SIGNING_KEY``; returns the tag."""
    key = sign.load_private_key()  # before any network: a bad key stops here
    ref = ImageRef.parse(ref_text, what="REF")
    store = _store_for(ref, username, registry_ca, insecure)
    digest = store.client.manifest_digest(ref)
    if not digest or (ref.digest and digest != ref.digest):
        raise PipelineError(f"{ref}: not in the registry; check the reference")
    return sign.sign_digest(store, digest, key)


def do_verify(
    ref_text: str,
    *,
    public_key: str | None,
    username: str | None,
    registry_ca: str | None,
    insecure: bool,
) -> bool:
    """Print one line per check; True when every check passed."""
    name, checks = verify_checks(
        ref_text, public_key=public_key, username=username, registry_ca=registry_ca,
        insecure=insecure,
    )  # fmt: skip
    print(name)
    for check in checks:
        print(check.line())
    return all(check.ok for check in checks)


def verify_checks(
    ref_text: str,
    *,
    public_key: str | None,
    username: str | None,
    registry_ca: str | None,
    insecure: bool,
) -> tuple[str, list[Check]]:
    """``REPO@sha256:...`` of REF and its checks (signature, SBOM, labels), nothing printed."""
    key = sign.load_public_key(public_key)
    ref = ImageRef.parse(ref_text, what="REF")
    store = _store_for(ref, username, registry_ca, insecure)
    digest, checks = run_checks(store, ref, key)
    return f"{ref.name}@{digest}", list(checks)
