"""The tasks that publish and roll out: push, release, report (need the clone) and patch
(runs anywhere: with ``--image`` it needs neither the clone nor a registry)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from invoke.context import Context

from .. import lazy, preflight, steps
from ..errors import UsageError
from .options import ACCESS, ALL_VARIANTS, CLONE_KEY, CLUSTER, COMMON, REGISTRY, Given
from .task import task

if TYPE_CHECKING:  # executed when one of these tasks runs (lazy.py)
    from .. import output, patching, release_plan
    from .. import release as releasing
    from .. import report as reporting
    from ..rollout import inputs as rollout_inputs
else:
    output = lazy.module("ray_worker_image.output")
    patching = lazy.module("ray_worker_image.patching")
    release_plan = lazy.module("ray_worker_image.release_plan")
    releasing = lazy.module("ray_worker_image.release")
    reporting = lazy.module("ray_worker_image.report")
    rollout_inputs = lazy.module("ray_worker_image.rollout.inputs")

PUBLISH_HELP = {
    "registry": "HOST[:PORT] to push to (default: $RAY_IMAGE_REGISTRY, invoke.yaml)",
    "allow_stand_in": "allow pushing a stand-in-based image to a non-loopback registry",
}
RELEASE_STAND_IN_HELP = {
    "allow_stand_in": "allow pushing a stand-in-based image to a non-loopback registry, "
    "and (with --from) putting it into the cluster",
}


@task(
    clone=True,
    shared=COMMON + ALL_VARIANTS + REGISTRY + ACCESS,
    help=PUBLISH_HELP
    | {
        "skip_tests": "push even without passing in-image tests (warns loudly)",
        "dry_run": "print what would be pushed, push nothing",
        "force": "let the immutable tag point at a different image (overwrite a release tag)",
    },
)
def push(
    c: Context,
    given: Given,
    skip_tests: bool = False,
    allow_stand_in: bool = False,
    dry_run: bool = False,
    force: bool = False,
) -> None:
    """Push the variant's last built, tested image under both tags; record the digest.

    With --all-variants every variant's image must be built and tested before any is pushed.
    """
    target = given.registry()
    preflight.check_registry(target)  # before the engine is asked for the last build
    preflight.check_pem(given.registry_ca, "--registry-ca")
    with given.sessions() as opened:
        records = steps.do_push_all(
            opened, registry=target, username=given.username, skip_tests=skip_tests,
            allow_stand_in=allow_stand_in, dry_run=dry_run, force=force,
        )  # fmt: skip
        for record in records:
            print(record.by_tag_and_digest)


@task(
    iterable=["image"],
    shared=COMMON + ALL_VARIANTS + CLUSTER + REGISTRY + ACCESS,
    help={
        "image": "REF or GROUP=REF (repeat; head=REF for the head): image by digest, "
        "REPO[:TAG]@sha256:... (default: this revision's push in --registry, for every group)",
        "format": "what to print on stdout: json (the patch), yaml, shell (rollout.sh), or "
        "helm-values (image.repository/image.tag for the KubeRay ray-cluster chart)",
        "out": "also write rollout.sh (and with --from patch.json, rollback.json) into this folder "
        "(with --all-variants: one subfolder per variant)",
        "write": "GitOps: put the image into this manifest file, or the images: entry of the "
        "kustomization that overrides it, or give a kustomization folder (diff on stderr)",
        "check": "with --write: change nothing, exit 1 when the file is not on the image",
        "allow_stand_in": "let an image built on the offline stand-in go into the cluster",
        "variant": "variant of the definition, by base tag, e.g. 2.52.1-py311 (default: "
        "$RAY_IMAGE_VARIANT, invoke.yaml, else the definition's default_variant); also what an "
        "--image is when neither its labels nor its tag can say",
    },
)
def patch(
    c: Context,
    given: Given,
    image: list[str] | None = None,
    format: str = "json",
    out: str | None = None,
    write: str | None = None,
    check: bool = False,
    allow_stand_in: bool = False,
) -> None:
    """Print the RayCluster JSON patch (head + worker groups -> the pushed image by digest).

    Groups are found by groupName, the Ray container is containers[0], and `test` ops guard
    every change, so a patch made from a stale view fails instead of clobbering. --out adds
    rollback.json and rollout.sh (restart, race-free wait, per-pod nats-py check, rollback).
    """
    cluster = given.cluster(
        image or (),
        source=given.from_ or write,
        allow_stand_in=allow_stand_in,
        declared_variant=given.values.get("variant"),
    )
    every = bool(given.all_variants)
    if not image and not c.config.get(CLONE_KEY):
        raise UsageError(
            "patch outside a clone has no build of this revision to look up: pass --image "
            "REF@sha256:... (the pushed image)"
        )
    rollout_inputs.check_patch_inputs(
        cluster, all_variants=every, out=out, write=write, check=check
    )
    where, credentials = given.registry(), given.credentials()
    with given.sessions() as opened:
        if every and cluster.source:  # one patch, each group on the variant it runs
            patching.do_patch_variants(
                list(opened), cluster, fmt=format, out=out, write=write, check=check,
                registry=where, credentials=credentials,
            )  # fmt: skip
            return
        for s in opened:
            patching.do_patch(
                s, cluster, fmt=format, out=f"{out}/{s.variant}" if out and every else out,
                write=write, check=check, registry=where, credentials=credentials,
            )  # fmt: skip


@task(
    clone=True,
    shared=COMMON + ALL_VARIANTS + CLUSTER + REGISTRY + ACCESS,
    help=PUBLISH_HELP
    | RELEASE_STAND_IN_HELP
    | {
        "json": "print JSON on stdout: one document (one variant) or a list of them",
        "dry_run": "run every step that does not publish; print the push plan instead of pushing",
        "out": "write patch.json, rollback.json and rollout.sh into this folder "
        "(with --all-variants: one subfolder per variant)",
    },
)
def release(
    c: Context,
    given: Given,
    allow_stand_in: bool = False,
    json: bool = False,
    dry_run: bool = False,
    out: str | None = None,
) -> None:
    """The whole pipeline: plan (every input checked), then lock --check, build, test, push, patch.

    Nothing slow starts before the plan holds; with --all-variants every variant is built and
    tested before any is pushed. Progress goes to stderr; stdout gets the patch and the rollout
    commands for a human (the runnable script is written to build/<variant>/rollout/rollout.sh),
    or with --json one JSON document (a JSON list of them with --all-variants).
    """
    cluster = given.cluster()
    with given.sessions() as opened:
        plan = release_plan.plan_release(
            opened, cluster, registry=given.registry(), username=given.username,
            allow_stand_in=allow_stand_in, dry_run=dry_run, out=out,
        )  # fmt: skip
        results = releasing.execute(plan)
        documents = [r.document for r in results]
        if json:
            output.print_json(documents if given.all_variants else documents[0])
            return
        for result in results:
            if result.plan is not None:
                output.print_rollout(result.plan, result.out_dir)


@task(
    clone=True,
    shared=COMMON + ALL_VARIANTS + CLUSTER + REGISTRY + ACCESS,
    help={"json": "print the JSON document (as `invoke release --json`) instead of a summary"},
)
def report(c: Context, given: Given, json: bool = False) -> None:
    """The release record of this revision's image: the build (engine labels), the push
    (registry HEAD) and the in-image test verdict (the one record kept in build/<variant>/).

    Rebuilds and pushes nothing. --json prints the same document as `invoke release --json`
    (a JSON list of them with --all-variants).
    """
    cluster = given.cluster()
    where = given.registry()
    with given.sessions() as opened:
        credentials = given.credentials()
        documents = [reporting.do_report(s, cluster, where, credentials) for s in opened]
        if json:
            output.print_json(documents if given.all_variants else documents[0])
            return
        for document in documents:
            output.print_summary(document)
