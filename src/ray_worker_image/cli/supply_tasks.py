"""The supply-chain tasks: SBOM (needs the clone), and sign, verify, verify-tag (anywhere)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from invoke.context import Context

from .. import lazy, steps
from ..errors import CheckFailed
from ..preflight import check_out_dir
from ..release_tag import variant_for_tag
from .options import ACCESS, ALL_VARIANTS, COMMON, REGISTRY, Given
from .task import task

if TYPE_CHECKING:  # imported when one of these tasks runs (lazy.py)
    from .. import output
    from ..supply import steps as supply_steps
else:
    output = lazy.module("ray_worker_image.output")
    supply_steps = lazy.module("ray_worker_image.supply.steps")

REF_HELP = "REF: positional, or --ref; REGISTRY/REPO:TAG or REGISTRY/REPO@sha256:..."
DEFINITION_VARIANT = tuple(o for o in COMMON if o.name in ("definition", "variant"))


@task(
    clone=True,
    shared=COMMON + ALL_VARIANTS + REGISTRY + ACCESS,
    help={
        "out": "folder for sbom-<variant>.cdx.json (default: build/<variant>/)",
        "attach": "also attach it to the pushed digest in the registry (OCI referrer) and, "
        "when $RAY_IMAGE_SIGNING_KEY is set, sign the digest and attach the SBOM and SLSA "
        "provenance attestations (what release does after a push)",
        "sign": "require the signature and attestations: fail when $RAY_IMAGE_SIGNING_KEY "
        "is not set",
    },
)
def sbom(
    c: Context, given: Given, out: str | None = None, attach: bool = False, sign: bool = False
) -> None:
    """CycloneDX SBOM of the last pushed image's Python environment (cyclonedx-py, in a
    throwaway container of the image); --attach refers it to the digest in the registry."""
    check_out_dir(out, what="the SBOM")
    with given.sessions() as opened:
        for path in supply_steps.do_sbom(
            opened, username=given.username, out=out, attach=attach, require_signature=sign,
            registry=given.registry(),
        ):  # fmt: skip
            print(path)


@task(shared=ACCESS, help={"ref": REF_HELP})
def sign(c: Context, given: Given, ref: str) -> None:
    """Sign the digest REF names (cosign format, sha256-<hex>.sig) with the key in
    $RAY_IMAGE_SIGNING_KEY (path or PEM; passphrase $RAY_IMAGE_SIGNING_KEY_PASSPHRASE)."""
    print(
        supply_steps.do_sign(
            supply_steps.require_ref(ref, "sign"), username=given.username,
            registry_ca=given.registry_ca, insecure=given.insecure_registry,
        )
    )  # fmt: skip


@task(
    shared=ACCESS,
    help={
        "ref": REF_HELP,
        "public_key": "PEM public key file (default: $RAY_IMAGE_VERIFY_KEY, path or PEM)",
        "signed_identity": "REGISTRY/REPO the signatures name, when REF is a mirror",
        "json": "print {image, ok, checks: [{name, ok, detail}]} as JSON on stdout",
    },
)
def verify(
    c: Context,
    given: Given,
    ref: str,
    public_key: str | None = None,
    signed_identity: str | None = None,
    json: bool = False,
) -> None:
    """Check REF's signature (public key), its signed SBOM and provenance attestations
    (provenance = labels), that an SBOM refers to its digest (with nats-py), and its labels
    (revision, base, stand-in): one line per check, exit 1 on any failure."""
    name, checks = supply_steps.verify_checks(
        supply_steps.require_ref(ref, "verify"), public_key=public_key,
        username=given.username, registry_ca=given.registry_ca, insecure=given.insecure_registry,
        signed_identity=signed_identity,
    )  # fmt: skip
    ok = all(check.ok for check in checks)
    if json:
        rows = [{"name": k.name, "ok": k.ok, "detail": k.detail} for k in checks]
        output.print_json({"image": name, "ok": ok, "checks": rows})
    else:
        print(name)
        for check in checks:
            print(check.line())
    if not ok:
        failed = ", ".join(k.name for k in checks if not k.ok)
        raise CheckFailed(f"{name}: verification failed: {failed}")


@task(
    shared=DEFINITION_VARIANT,
    help={
        "tag": "the git tag being released, e.g. v2.49.2-nats.1",
        "variant": "the variant the tag releases (default: the one whose target tag the "
        "release tag carries; needed only when several fit)",
        "json": "print {tag, variant, target_tag, release} as JSON on stdout",
    },
)
def verify_tag(c: Context, given: Given, tag: str, json: bool = False) -> None:
    """Refuse a release tag that does not match the variant's target tag (v<tag>.N).

    Without --variant, the variant is the one whose target tag the release tag carries.
    Prints `<tag>: release N of <target tag>` (or --json) on stdout.
    """
    fixed = {}
    if given.setting("variant", given.variant) is None:
        found = given.definition()
        fixed["variant"] = variant_for_tag(tag, {v.variant: v.target.tag for v in found.variants})
    with given.session(**fixed) as s:
        number = steps.do_verify_tag(s, tag)
        target = s.definition.target.tag
    if json:
        output.print_json(
            {"tag": tag, "variant": s.variant, "target_tag": target, "release": number}
        )
    else:
        print(f"{tag}: release {number} of {target}")


@task(
    shared=tuple(o for o in COMMON if o.name == "definition") + REGISTRY,
    help={
        "format": "policy-controller (a sigstore ClusterImagePolicy; the default and only one)",
        "public_key": "PEM public key of the release key (default: $RAY_IMAGE_VERIFY_KEY)",
        "mode": "enforce (refuse, the default) or warn (admit with a warning)",
        "out": "file to write the YAML to (default: standard output)",
        "registry": "HOST[:PORT] the images are pulled from (default: $RAY_IMAGE_REGISTRY, "
        "invoke.yaml)",
    },
)
def policy(
    c: Context,
    given: Given,
    format: str | None = None,
    public_key: str | None = None,
    mode: str | None = None,
    out: str | None = None,
) -> None:
    """Admission policy for the cluster: admit this project's images only when signed by
    the release key and carrying its provenance attestation (docs/supply-chain.md)."""
    found = given.definition()
    printed = supply_steps.do_policy(
        fmt=format, mode=mode, public_key=public_key, out=out,
        registry=given.setting("registry", given.values.get("registry")) or "",
        repositories=sorted({v.target.repository for v in found.variants}),
    )  # fmt: skip
    print(printed, end="" if printed.endswith("\n") else "\n")
