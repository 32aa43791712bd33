"""The supply-chain tasks: ``invoke sbom``, ``sign``, ``verify`` and ``policy``."""

from __future__ import annotations

from pathlib import Path

import yaml
from cryptography.hazmat.primitives import serialization

from .. import console
from ..errors import PipelineError, UsageError
from ..preflight import check_listening, check_out_dir, check_registry
from ..push import credentials_from_env
from ..refs import ImageRef
from ..registry import Destination, RegistryAccess, Repository
from ..session import Session
from ..state import PushRecord
from . import after_push, policy, sign
from .sbom import generate_sbom, sbom_filename
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
                s.destination(pushed.registry, credentials_from_env(username)),
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
) -> Repository:
    if registry_ca and not Path(registry_ca).is_file():
        raise UsageError(f"--registry-ca {registry_ca}: no such file; give the CA's PEM")
    check_listening(ref.registry, "REF's registry")
    access = RegistryAccess(ref.registry, Path(registry_ca) if registry_ca else None, insecure)
    store = Destination(access, credentials_from_env(username)).repository(ref.repository)
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
    digest = store.manifest_digest(ref)
    if not digest or (ref.digest and digest != ref.digest):
        raise PipelineError(f"{ref}: not in the registry; check the reference")
    return sign.sign_digest(store, digest, key)


def verify_checks(
    ref_text: str,
    *,
    public_key: str | None,
    username: str | None,
    registry_ca: str | None,
    insecure: bool,
    signed_identity: str | None = None,
) -> tuple[str, list[Check]]:
    """``REPO@sha256:...`` of REF and its checks (signature, attestations, SBOM, labels),
    nothing printed. ``signed_identity``: the repository the signatures name when REF is a
    mirror."""
    key = sign.load_public_key(public_key)
    ref = ImageRef.parse(ref_text, what="REF")
    if signed_identity is not None and not signed_identity.strip():
        raise UsageError("--signed-identity is empty: give the signed REGISTRY/REPO")
    store = _store_for(ref, username, registry_ca, insecure)
    digest, checks = run_checks(store, ref, key, identity=signed_identity)
    return f"{ref.name}@{digest}", list(checks)


class _BlockDumper(yaml.SafeDumper):
    """Multi-line strings (the PEM key) as YAML literal blocks, as a person writes them."""


_BlockDumper.add_representer(
    str,
    lambda dumper, value: dumper.represent_scalar(
        "tag:yaml.org,2002:str", value, style="|" if "\n" in value else None
    ),
)


def do_policy(
    *,
    fmt: str | None,
    mode: str | None,
    public_key: str | None,
    out: str | None,
    registry: str,
    repositories: list[str],
) -> str:
    """The admission policy YAML (:mod:`.policy`) for each ``registry/repository`` (the
    variants share one in the project's definition), signed by the
    public key of ``--public-key`` / ``$RAY_IMAGE_VERIFY_KEY``; written to ``out`` when
    given (returns the path), else returned as text. Engine-free. Raises PipelineError
    (one line) before writing anything."""
    _, chosen_mode = policy.check_options(fmt, mode)
    if not registry:
        raise UsageError(
            "no registry for the policy's image glob: pass --registry HOST[:PORT] "
            "(or $RAY_IMAGE_REGISTRY, invoke.yaml ray_image.registry)"
        )
    check_registry(registry)  # HOST[:PORT]: a glob of anything else matches no image
    if out and Path(out).is_dir():
        raise UsageError(f"--out {out} is a folder; give a file path for the policy")
    if out and not Path(out).absolute().parent.is_dir():
        raise UsageError(f"--out {out}: its folder does not exist; create it or give another path")
    if out:
        check_out_dir(str(Path(out).absolute().parent), what="the policy")
    key = sign.load_public_key(public_key)
    pem = key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode()
    documents = [
        document
        for repository in repositories
        for document in policy.cluster_image_policies(
            registry=registry, repository=repository, public_pem=pem, mode=chosen_mode
        )
    ]
    text = yaml.dump_all(documents, Dumper=_BlockDumper, sort_keys=False)
    if not out:
        return text
    Path(out).write_text(text)
    console.info(f"wrote {out}: {len(documents)} ClusterImagePolicy ({chosen_mode})")
    return out
