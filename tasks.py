"""Build, test, push and roll out the Ray worker image (`invoke --list`).

Each task parses its options and calls one function of `ray_worker_image.pipeline`.
Settings resolve as: command-line flag, then environment (RAY_IMAGE_*), then the
`ray_image:` section of invoke.yaml, then the default.
"""

from __future__ import annotations

import dataclasses
import functools
import os
import sys
from pathlib import Path

from invoke.context import Context
from invoke.tasks import task as invoke_task

import devtasks
from ray_worker_image import console, pipeline, preflight, settings
from ray_worker_image.definition import DEFAULT_DEFINITION, load_definition
from ray_worker_image.errors import PipelineError
from ray_worker_image.pipeline import Options
from ray_worker_image.release_tag import variant_for_tag
from ray_worker_image.supply import steps as supply_steps

ROOT = Path(__file__).resolve().parent

try:  # invoke parses invoke.yaml right after importing this file, with a traceback if broken
    settings.check_project_file(ROOT)
except PipelineError as exc:
    console.error(str(exc))
    raise SystemExit(1) from None


def task(**kwargs):
    """invoke's @task with long flags only (generated one-letter flags collide and confuse).

    invoke gives a positional argument the next word even when it is ``--help``
    (``invoke sign --help`` would sign a reference named "--help"); such a call shows the
    task's help instead, exactly as ``invoke --help sign`` does.
    """

    def decorate(func):
        @functools.wraps(func)
        def guarded(c, *args, **kwargs_):
            if any(v in ("-h", "--help") for v in (*args, *kwargs_.values())):
                name = func.__name__.replace("_", "-")
                sys.stdout.flush()
                os.execv(sys.executable, [sys.executable, "-m", "invoke", "--help", name])  # noqa: S606 - fixed argv
            return func(c, *args, **kwargs_)

        return invoke_task(auto_shortflags=False, **kwargs)(guarded)

    return decorate


COMMON_HELP = {
    "engine": "podman, docker or auto (default: $RAY_IMAGE_ENGINE, invoke.yaml, else podman)",
    "definition": "image definition YAML, from the current directory (default: "
    "$RAY_IMAGE_DEFINITION, invoke.yaml, else the repository's images/ray-swe-fleet/image.yaml)",
    "variant": "variant of the definition, by base tag, e.g. 2.52.1-py311 "
    "(default: $RAY_IMAGE_VARIANT, invoke.yaml, else the definition's default_variant)",
    "stand_in": "offline mode: use the stand-in base from the loopback registry, not Docker Hub",
    "stand_in_registry": "registry serving the stand-in base (default: 127.0.0.1:5000)",
    "ca_cert": "PEM bundle pip needs inside the build (default: $PIP_CERT, $REQUESTS_CA_BUNDLE)",
}
ALL_VARIANTS_HELP = {"all_variants": "every variant of the definition, in file order"}


def _config(c: Context) -> dict[str, object]:
    return settings.config_section(c.config.get("ray_image"))  # validated, one-line errors


def _setting(c: Context, name: str, flag: object = None) -> object:
    """flag, then environment, then invoke.yaml, then default (ray_image.settings)."""
    return settings.resolve(name, flag, os.environ, _config(c))


def _options(
    c: Context,
    engine: str | None = None,
    definition: str | None = None,
    stand_in: bool = False,
    stand_in_registry: str | None = None,
    ca_cert: str | None = None,
    variant: str | None = None,
    all_variants: bool = False,
) -> Options:
    preflight.check_variant_flags(variant, all_variants)
    given = {
        "engine": engine,
        "definition": definition,
        "stand_in": stand_in,
        "stand_in_registry": stand_in_registry,
        "variant": variant,
    }
    config = _config(c)
    resolved = settings.resolve_all(given, os.environ, config)
    where = settings.definition_path(
        definition, os.environ, config, root=ROOT, cwd=Path.cwd(), default=DEFAULT_DEFINITION
    )
    return Options(
        root=ROOT,
        definition_path=where,
        engine=str(resolved["engine"]),
        stand_in=bool(resolved["stand_in"]),
        stand_in_registry=str(resolved["stand_in_registry"]),
        ca_cert=ca_cert,
        build_dir=Path(resolved["build_dir"]) if resolved["build_dir"] else None,
        variant=None if all_variants else resolved["variant"],
        all_variants=all_variants,
    )


@task(
    help=COMMON_HELP
    | ALL_VARIANTS_HELP
    | {
        "check": "only verify: exit 1 naming the variant of every stale entry",
        "variant": "lock only this variant, by base tag, e.g. 2.52.1-py311 (default: "
        "$RAY_IMAGE_VARIANT, invoke.yaml; with none of them, every variant)",
    }
)
@pipeline.entry
def lock(
    c,
    check=False,
    variant=None,
    all_variants=False,
    engine=None,
    definition=None,
    stand_in=False,
    stand_in_registry=None,
    ca_cert=None,
):
    """Lock each variant's requirements with pip-compile inside that variant's base image.

    Without a variant (no --variant, $RAY_IMAGE_VARIANT or invoke.yaml variant) every
    variant is locked (or checked). Also rewrites each
    requirements/<variant>/constraints.txt from the base's own `pip list`, so the lock can
    never move a package the base ships. --check changes nothing and fails if anything is stale.
    """
    every = all_variants or not (variant or _setting(c, "variant"))
    options = _options(c, engine, definition, stand_in, stand_in_registry, ca_cert, variant, every)
    with pipeline.sessions(options) as opened:
        if check:
            pipeline.do_lock_check(opened)
            return
        for s in opened:
            pipeline.do_lock(s)


@task(help=COMMON_HELP)
@pipeline.entry
def render(
    c,
    variant=None,
    engine=None,
    definition=None,
    stand_in=False,
    stand_in_registry=None,
    ca_cert=None,
):
    """Render images/ray-swe-fleet/Dockerfile.j2 into build/<variant>/context/ (base by digest)."""
    options = _options(c, engine, definition, stand_in, stand_in_registry, ca_cert, variant)
    with pipeline.session(options) as s:
        print(pipeline.do_render(s) / "Dockerfile")


@task(
    help=COMMON_HELP
    | ALL_VARIANTS_HELP
    | {
        "force": "build even when the engine holds this revision's image with the same inputs",
        "no_cache": "build every step afresh (implies --force)",
    }
)
@pipeline.entry
def build(
    c,
    force=False,
    no_cache=False,
    variant=None,
    all_variants=False,
    engine=None,
    definition=None,
    stand_in=False,
    stand_in_registry=None,
    ca_cert=None,
):
    """Render, then build the variant's image with podman or Docker; prints the image id.

    An image of this revision with the same input key (label) is already built: nothing runs.
    """
    options = _options(
        c, engine, definition, stand_in, stand_in_registry, ca_cert, variant, all_variants
    )
    with pipeline.sessions(options) as opened:
        for s in opened:
            print(pipeline.do_build(s, force=force, no_cache=no_cache).image_id)


@task(
    help=COMMON_HELP
    | ALL_VARIANTS_HELP
    | {"image": "image id or name to test (default: the variant's last build)"}
)
@pipeline.entry
def test(
    c,
    image=None,
    variant=None,
    all_variants=False,
    engine=None,
    definition=None,
    stand_in=False,
    stand_in_registry=None,
    ca_cert=None,
):
    """Run the in-image tests (tests/image/, pytest-testinfra) against a container of the image."""
    preflight.check_image(image, allow_id=True)
    options = _options(
        c, engine, definition, stand_in, stand_in_registry, ca_cert, variant, all_variants
    )
    with pipeline.sessions(options) as opened:
        for s in opened:
            pipeline.do_test(s, image)


@task(
    help=COMMON_HELP
    | ALL_VARIANTS_HELP
    | {
        "registry": "HOST[:PORT] to push to (default: $RAY_IMAGE_REGISTRY, invoke.yaml)",
        "username": "registry user; the password is read from $RAY_IMAGE_REGISTRY_PASSWORD",
        "skip_tests": "push even without passing in-image tests (warns loudly)",
        "allow_stand_in": "allow pushing a stand-in-based image to a non-loopback registry",
        "dry_run": "print what would be pushed, push nothing",
        "registry_ca": "PEM file of the registry's private CA (HTTPS; engines need it in certs.d)",
        "insecure_registry": "allow plain HTTP to a non-loopback registry (explicit opt-in)",
        "force": "let the immutable tag point at a different image (overwrite a release tag)",
    }
)
@pipeline.entry
def push(
    c,
    registry=None,
    username=None,
    skip_tests=False,
    allow_stand_in=False,
    dry_run=False,
    registry_ca=None,
    insecure_registry=False,
    force=False,
    variant=None,
    all_variants=False,
    engine=None,
    definition=None,
    stand_in=False,
    stand_in_registry=None,
    ca_cert=None,
):
    """Push the variant's last built, tested image under both tags; record the digest.

    With --all-variants every variant's image must be built and tested before any is pushed.
    """
    options = _options(
        c, engine, definition, stand_in, stand_in_registry, ca_cert, variant, all_variants
    )
    options = dataclasses.replace(
        options, registry_ca=registry_ca, insecure_registry=insecure_registry
    )
    target = str(_setting(c, "registry", registry))
    preflight.check_registry(target)  # before the engine is asked for the last build
    preflight.check_pem(registry_ca, "--registry-ca")
    with pipeline.sessions(options) as opened:
        records = pipeline.do_push_all(
            opened,
            registry=target,
            username=username,
            skip_tests=skip_tests,
            allow_stand_in=allow_stand_in,
            dry_run=dry_run,
            force=force,
        )
        for record in records:
            print(record.by_tag_and_digest)


CLUSTER_HELP = {
    "from_": "live RayCluster, RayJob or RayService (file or - for stdin, YAML or JSON, "
    "multi-document or a List): kubectl get raycluster NAME -n NS -o json",
    "name": "object name (with --from: picks one of several; default: invoke.yaml)",
    "namespace": "namespace (with --from: fills a missing one, refuses a different one; "
    "default: invoke.yaml ray_image.cluster.namespace)",
    "kind": "without --from: RayCluster, RayJob or RayService (default: invoke.yaml, "
    "else RayCluster); with --from: the kind expected in the file",
    "force": "go on despite a variant mismatch, an unknown Ray version or an owned "
    "RayCluster (each becomes a loud warning)",
    "groups": "comma-separated worker groups to move (default: all with --from, "
    "else invoke.yaml); '' = head only",
    "restart": "pods to restart after the patch: workers, head, all or none (default: workers)",
    "current_image": "without --from: the image the cluster runs now (guard and rollback; "
    "default: the base image)",
    "registry": "HOST[:PORT] holding this revision's push (default: $RAY_IMAGE_REGISTRY, "
    "invoke.yaml); release: where to push",
    "registry_ca": "PEM file of the registry's private CA (HTTPS; engines need it in certs.d)",
    "insecure_registry": "allow plain HTTP to a non-loopback registry (explicit opt-in)",
    "username": "registry user; the password is read from $RAY_IMAGE_REGISTRY_PASSWORD",
}


def _cluster(
    c: Context,
    from_: str | None,
    name: str | None,
    namespace: str | None,
    groups: str | None,
    restart: str,
    current_image: str | None,
    images: list[str] | tuple[str, ...] = (),
    force: bool = False,
    kind: str | None = None,
) -> pipeline.ClusterOptions:
    defaults = _config(c).get("cluster") or {}
    assert isinstance(defaults, dict)
    if groups is not None:
        chosen: tuple[str, ...] | None = tuple(g for g in groups.split(",") if g)
        preflight.check_groups(chosen)
    elif from_:
        chosen = None
    else:
        chosen = tuple(defaults.get("groups") or ())
    return pipeline.ClusterOptions(
        source=from_,
        name=name or (None if from_ else defaults.get("name")),
        namespace=namespace or (None if from_ else defaults.get("namespace")),
        groups=chosen,
        restart=restart,
        current_image=current_image,
        images=tuple(images or ()),
        force=force,
        kind=kind or (None if from_ else defaults.get("kind")),
    )


@task(
    iterable=["image"],
    help=COMMON_HELP
    | CLUSTER_HELP
    | ALL_VARIANTS_HELP
    | {
        "image": "REF or GROUP=REF (repeat; head=REF for the head): image by digest, "
        "REPO[:TAG]@sha256:... (default: this revision's push in --registry, for every group)",
        "format": "what to print on stdout: json (the patch), yaml, shell (rollout.sh), or "
        "helm-values (image.repository/image.tag for the KubeRay ray-cluster chart)",
        "out": "also write rollout.sh (and with --from patch.json, rollback.json) into this folder "
        "(with --all-variants: one subfolder per variant)",
        "write": "GitOps: put the image into this manifest file in place (diff on stderr)",
        "check": "with --write: change nothing, exit 1 when the file is not on the image",
    },
)
@pipeline.entry
def patch(
    c,
    from_=None,
    image=None,
    name=None,
    namespace=None,
    groups=None,
    restart="workers",
    current_image=None,
    format="json",
    out=None,
    write=None,
    check=False,
    force=False,
    kind=None,
    variant=None,
    all_variants=False,
    definition=None,
    engine=None,
    stand_in=False,
    stand_in_registry=None,
    ca_cert=None,
    registry=None,
    username=None,
    registry_ca=None,
    insecure_registry=False,
):
    """Print the RayCluster JSON patch (head + worker groups -> the pushed image by digest).

    Groups are found by groupName, the Ray container is containers[0], and `test` ops guard
    every change, so a patch made from a stale view fails instead of clobbering. --out adds
    rollback.json and rollout.sh (restart, race-free wait, per-pod nats-py check, rollback).
    """
    options = _options(
        c, engine, definition, stand_in, stand_in_registry, ca_cert, variant, all_variants
    )
    options = dataclasses.replace(
        options, registry_ca=registry_ca, insecure_registry=insecure_registry
    )
    cluster = _cluster(
        c, from_ or write, name, namespace, groups, restart, current_image, image, force, kind
    )
    preflight.check_patch_inputs(
        cluster, all_variants=all_variants, out=out, write=write, check=check
    )
    where = str(_setting(c, "registry", registry))
    credentials = pipeline.credentials_from_env(username)
    with pipeline.sessions(options) as opened:
        if all_variants and cluster.source:  # one patch, each group on the variant it runs
            pipeline.do_patch_variants(
                list(opened), cluster, fmt=format, out=out, write=write, check=check,
                registry=where, credentials=credentials,
            )  # fmt: skip
            return
        for s in opened:
            folder = f"{out}/{s.variant}" if out and all_variants else out
            pipeline.do_patch(
                s,
                cluster,
                fmt=format,
                out=folder,
                write=write,
                check=check,
                registry=where,
                credentials=credentials,
            )


@task(
    help=COMMON_HELP
    | CLUSTER_HELP
    | ALL_VARIANTS_HELP
    | {
        "registry": "HOST[:PORT] to push to (default: $RAY_IMAGE_REGISTRY, invoke.yaml)",
        "username": "registry user; the password is read from $RAY_IMAGE_REGISTRY_PASSWORD",
        "allow_stand_in": "allow pushing a stand-in-based image to a non-loopback registry",
        "json": "print JSON on stdout: one document (one variant) or a list of them",
        "dry_run": "run every step that does not publish; print the push plan instead of pushing",
        "out": "write patch.json, rollback.json and rollout.sh into this folder "
        "(with --all-variants: one subfolder per variant)",
        "registry_ca": "PEM file of the registry's private CA (HTTPS; engines need it in certs.d)",
        "insecure_registry": "allow plain HTTP to a non-loopback registry (explicit opt-in)",
    }
)
@pipeline.entry
def release(
    c,
    registry=None,
    username=None,
    allow_stand_in=False,
    registry_ca=None,
    insecure_registry=False,
    json=False,
    dry_run=False,
    out=None,
    from_=None,
    name=None,
    namespace=None,
    groups=None,
    restart="workers",
    current_image=None,
    force=False,
    kind=None,
    variant=None,
    all_variants=False,
    engine=None,
    definition=None,
    stand_in=False,
    stand_in_registry=None,
    ca_cert=None,
):
    """The whole pipeline: plan (every input checked), then lock --check, build, test, push, patch.

    Nothing slow starts before the plan holds; with --all-variants every variant is built and
    tested before any is pushed. Progress goes to stderr; stdout gets the patch and the rollout
    commands for a human (the runnable script is written to build/<variant>/rollout/rollout.sh),
    or with --json one JSON document (a JSON list of them with --all-variants).
    """
    cluster = _cluster(
        c, from_, name, namespace, groups, restart, current_image, force=force, kind=kind
    )
    options = _options(
        c, engine, definition, stand_in, stand_in_registry, ca_cert, variant, all_variants
    )
    options = dataclasses.replace(
        options, registry_ca=registry_ca, insecure_registry=insecure_registry
    )
    with pipeline.sessions(options) as opened:
        plan = pipeline.plan_release(
            opened,
            cluster,
            registry=str(_setting(c, "registry", registry)),
            username=username,
            allow_stand_in=allow_stand_in,
            dry_run=dry_run,
            out=out,
        )
        results = pipeline.execute(plan)
        documents = [r.document for r in results]
        if json:
            pipeline.print_json(documents if all_variants else documents[0])
            return
        for result in results:
            if result.plan is not None:
                pipeline.print_rollout(result.plan, result.out_dir)


@task(
    help=COMMON_HELP
    | CLUSTER_HELP
    | ALL_VARIANTS_HELP
    | {"json": "print the JSON document (as `invoke release --json`) instead of a summary"}
)
@pipeline.entry
def report(
    c,
    json=False,
    from_=None,
    name=None,
    namespace=None,
    groups=None,
    restart="workers",
    current_image=None,
    force=False,
    kind=None,
    variant=None,
    all_variants=False,
    definition=None,
    engine=None,
    stand_in=False,
    stand_in_registry=None,
    ca_cert=None,
    registry=None,
    username=None,
    registry_ca=None,
    insecure_registry=False,
):
    """The release record of this revision's image: the build (engine labels), the push
    (registry HEAD) and the in-image test verdict (the one record kept in build/<variant>/).

    Rebuilds and pushes nothing. --json prints the same document as `invoke release --json`
    (a JSON list of them with --all-variants).
    """
    cluster = _cluster(
        c, from_, name, namespace, groups, restart, current_image, force=force, kind=kind
    )
    options = _options(
        c, engine, definition, stand_in, stand_in_registry, ca_cert, variant, all_variants
    )
    options = dataclasses.replace(
        options, registry_ca=registry_ca, insecure_registry=insecure_registry
    )
    where = str(_setting(c, "registry", registry))
    with pipeline.sessions(options) as opened:
        credentials = pipeline.credentials_from_env(username)
        documents = [pipeline.do_report(s, cluster, where, credentials) for s in opened]
        if json:
            pipeline.print_json(documents if all_variants else documents[0])
            return
        for document in documents:
            pipeline.print_summary(document)


@task(
    help={k: v for k, v in COMMON_HELP.items() if k != "stand_in"}
    | {"force": "rebuild even when the registry holds a current stand-in"}
)
@pipeline.entry
def standin(
    c, force=False, variant=None, engine=None, definition=None, stand_in_registry=None, ca_cert=None
):
    """Build (or reuse) the variant's offline stand-in for rayproject/ray in the registry."""
    options = _options(c, engine, definition, True, stand_in_registry, ca_cert, variant)
    with pipeline.session(options) as s:
        print(pipeline.do_standin(s, force=force))


@task(
    help={k: v for k, v in COMMON_HELP.items() if k != "stand_in"}
    | {
        "image": "image to run the cluster from (default: the last build; then its base must fail)",
        "from_": "RayCluster manifest to start as KubeRay would (default: deploy/k8s/ray-gpu.yaml)",
        "name": "RayCluster name when the file holds several",
        "namespace": "RayCluster namespace when the file holds several of one name",
        "tasks": "agent tasks in the job, spread over the GPU group's workers (default: 4)",
        "login_shell": "start Ray as an operator with ENABLE_LOGIN_SHELL=true (bash -lc)",
    }
)
@pipeline.entry
def e2e(
    c,
    image=None,
    from_=None,
    name=None,
    namespace=None,
    tasks="4",
    login_shell=False,
    variant=None,
    engine=None,
    definition=None,
    stand_in_registry=None,
    ca_cert=None,
):
    """A Ray cluster of the image, started as KubeRay v1.7 starts it, delivers over JetStream.

    Reads a RayCluster manifest (multi-document files and --name as in `invoke patch`) and
    starts its head and worker groups (replicas capped at 2, said so) with KubeRay's container
    command, args, env and the workers' wait-gcs-ready step, plus NATS and an HTTP model
    service. A driver in its own container connects with the Ray Client to
    ray://<cluster>-head-svc...:10001 and submits agent tasks that ask for one GPU (a logical
    resource here); each calls the service with aiohttp and requests and publishes to
    agent.response.completed; a durable pull consumer must get each result exactly once.
    Then the same on the plain base must fail with ModuleNotFoundError. All removed after.
    """
    preflight.check_image(image, allow_id=True)
    count = preflight.positive_int(tasks, "--tasks")
    options = _options(c, engine, definition, False, stand_in_registry, ca_cert, variant)
    with pipeline.session(options) as s:
        pipeline.do_e2e(
            s,
            image=image,
            manifest=from_,
            name=name,
            namespace=namespace,
            tasks=count,
            login_shell=login_shell,
        )


@task(
    help={k: v for k, v in COMMON_HELP.items() if k != "variant"}
    | {"name": "the new variant's base tag in Ray's grammar, e.g. 2.53.0-py311"}
)
@pipeline.entry
def add_variant(
    c,
    name,
    engine=None,
    definition=None,
    stand_in=False,
    stand_in_registry=None,
    ca_cert=None,
):
    """Add a variant: resolve its base, read its constraints, lock it, add it to the definition.

    With --stand-in the base is its offline stand-in (pins resolved by pip where missing).
    Leaves the changes (image.yaml, requirements/NAME/, images/stand-in/NAME/) as a diff to
    review and commit; on a failure nothing is left behind.
    """
    from ray_worker_image.addvariant import add_variant as add

    options = _options(c, engine, definition, stand_in, stand_in_registry, ca_cert)
    add(options, load_definition(options.definition_path, ROOT), name)


@task(
    help={
        "tag": "the git tag being released, e.g. v2.49.2-nats.1",
        "definition": COMMON_HELP["definition"],
        "variant": "the variant the tag releases (default: the one whose target tag the "
        "release tag carries; needed only when several fit)",
    }
)
@pipeline.entry
def verify_tag(c, tag, variant=None, definition=None):
    """Refuse a release tag that does not match the variant's target tag (v<tag>.N).

    Without --variant, the variant is the one whose target tag the release tag carries.
    """
    options = _options(c, definition=definition, variant=variant)
    if options.variant is None:
        found = load_definition(options.definition_path, ROOT)
        chosen = variant_for_tag(tag, {v.variant: v.target.tag for v in found.variants})
        options = dataclasses.replace(options, variant=chosen)
    with pipeline.session(options) as s:
        pipeline.do_verify_tag(s, tag)


@task(help={"definition": COMMON_HELP["definition"]})
@pipeline.entry
def lint(c, definition=None):
    """ruff, mypy --strict, hadolint on every variant's Dockerfile, shellcheck on rollout.sh."""
    options = _options(c, definition=definition)
    devtasks.lint(load_definition(options.definition_path, ROOT))


@task()
@pipeline.entry
def unit(c):
    """The fast tests: no engine, no registry (tests/unit, tests/rollout, tests/workflow)."""
    devtasks.unit(ROOT)


@task(
    help=COMMON_HELP
    | {"image": "image to check (default: the base: the stand-in with --stand-in, else pulled)"}
)
@pipeline.entry
def contract(
    c,
    image=None,
    variant=None,
    engine=None,
    definition=None,
    stand_in=False,
    stand_in_registry=None,
    ca_cert=None,
):
    """Check the base contract (what KubeRay and Ray jobs rely on) on an image, row by row.

    Rows: bash -c and bash -lc find python/pip/ray first on PATH; Shell bash, no Entrypoint,
    Cmd bash; USER 1000 (1000:100 users) with passwordless sudo; HOME/WORKDIR; TZ/LANG/LC_ALL; the
    Python prefix owned by the user; pip-freeze.txt and requirements_compiled.txt; Ray version;
    Python minor. Exits 1 naming every broken row. Works on the stand-in, the built image and
    the real rayproject/ray where a registry serves it.
    """
    preflight.check_image(image, allow_id=True)
    options = _options(c, engine, definition, stand_in, stand_in_registry, ca_cert, variant)
    with pipeline.session(options) as s:
        pipeline.do_contract(s, image)


SUPPLY_HELP = {
    "username": "registry user (password: $RAY_IMAGE_REGISTRY_PASSWORD, never a flag)",
    "registry_ca": "PEM CA of a registry with a private CA",
    "insecure_registry": "plain HTTP to a non-loopback registry",
}


@task(
    help=COMMON_HELP
    | SUPPLY_HELP
    | ALL_VARIANTS_HELP
    | {
        "out": "folder for sbom-<variant>.cdx.json (default: build/<variant>/)",
        "attach": "also attach it to the pushed digest in the registry (OCI referrer) and, "
        "when $RAY_IMAGE_SIGNING_KEY is set, sign the digest and attach the SBOM and SLSA "
        "provenance attestations (what release does after a push)",
        "sign": "require the signature and attestations: fail when $RAY_IMAGE_SIGNING_KEY "
        "is not set",
        "registry": "HOST[:PORT] holding this revision's push (default: $RAY_IMAGE_REGISTRY, "
        "invoke.yaml)",
    }
)
@pipeline.entry
def sbom(
    c,
    out=None,
    attach=False,
    sign=False,
    username=None,
    variant=None,
    all_variants=False,
    engine=None,
    definition=None,
    stand_in=False,
    stand_in_registry=None,
    ca_cert=None,
    registry_ca=None,
    insecure_registry=False,
    registry=None,
):
    """CycloneDX SBOM of the last pushed image's Python environment (cyclonedx-py, in a
    throwaway container of the image); --attach refers it to the digest in the registry."""
    options = _options(
        c, engine, definition, stand_in, stand_in_registry, ca_cert, variant, all_variants
    )
    options = dataclasses.replace(
        options, registry_ca=registry_ca, insecure_registry=insecure_registry
    )
    preflight.check_out_dir(out, what="the SBOM")
    with pipeline.sessions(options) as opened:
        for path in supply_steps.do_sbom(
            opened, username=username, out=out, attach=attach, require_signature=sign,
            registry=str(_setting(c, "registry", registry)),
        ):  # fmt: skip
            print(path)


REF_HELP = "REF: positional, or --ref; REGISTRY/REPO:TAG or REGISTRY/REPO@sha256:..."


@task(help=SUPPLY_HELP | {"ref": REF_HELP})
@pipeline.entry
def sign(c, ref, username=None, registry_ca=None, insecure_registry=False):
    """Sign the digest REF names (cosign format, sha256-<hex>.sig) with the key in
    $RAY_IMAGE_SIGNING_KEY (path or PEM; passphrase $RAY_IMAGE_SIGNING_KEY_PASSPHRASE)."""
    print(
        supply_steps.do_sign(
            supply_steps.require_ref(ref, "sign"),
            username=username,
            registry_ca=registry_ca,
            insecure=insecure_registry,
        )
    )


@task(
    help=SUPPLY_HELP
    | {
        "ref": REF_HELP,
        "public_key": "PEM public key file (default: $RAY_IMAGE_VERIFY_KEY, path or PEM)",
        "signed_identity": "REGISTRY/REPO the signatures name, when REF is a mirror",
    },
)
@pipeline.entry
def verify(
    c,
    ref,
    public_key=None,
    username=None,
    registry_ca=None,
    insecure_registry=False,
    signed_identity=None,
):
    """Check REF's signature (public key), its signed SBOM and provenance attestations
    (provenance = labels), that an SBOM refers to its digest (with nats-py), and its labels
    (revision, base, stand-in): one line per check, exit 1 on any failure."""
    ok = supply_steps.do_verify(
        supply_steps.require_ref(ref, "verify"),
        public_key=public_key,
        username=username,
        registry_ca=registry_ca,
        insecure=insecure_registry,
        signed_identity=signed_identity,
    )
    if not ok:
        raise SystemExit(1)


@task(
    help={
        "format": "policy-controller (a sigstore ClusterImagePolicy; the default and only one)",
        "public_key": "PEM public key of the release key (default: $RAY_IMAGE_VERIFY_KEY)",
        "mode": "enforce (refuse, the default) or warn (admit with a warning)",
        "out": "file to write the YAML to (default: standard output)",
        "registry": "HOST[:PORT] the images are pulled from (default: $RAY_IMAGE_REGISTRY, "
        "invoke.yaml)",
        "definition": COMMON_HELP["definition"],
    }
)
@pipeline.entry
def policy(c, format=None, public_key=None, mode=None, out=None, registry=None, definition=None):
    """Admission policy for the cluster: admit this project's images only when signed by
    the release key and carrying its provenance attestation (docs/supply-chain.md)."""
    options = _options(c, definition=definition)
    found = load_definition(options.definition_path, ROOT)
    printed = supply_steps.do_policy(
        fmt=format,
        mode=mode,
        public_key=public_key,
        out=out,
        registry=str(_setting(c, "registry", registry) or ""),
        repositories=sorted({v.target.repository for v in found.variants}),
    )
    print(printed, end="" if printed.endswith("\n") else "\n")


@task(
    help={
        "runs": "runs per timed figure (medians); default 2",
        "sections": "comma-separated of cold,size,latency,warm,docker (default: all)",
        "variant": COMMON_HELP["variant"],
        "registry": "loopback registry the warm/lock sections push to (default 127.0.0.1:5000)",
        "render": "measure nothing: write the outputs from a saved results JSON (e.g. "
        "build/bench-partial.json of an interrupted run)",
    }
)
@pipeline.entry
def bench(c, runs=2, sections=None, variant=None, registry="127.0.0.1:5000", render=None):
    """Benchmark the pipeline against the hand Dockerfile and runtime_env (podman, offline).

    Writes bench/results.json, bench/RESULTS.md, bench/chart.png and README's Benchmarks table.
    Takes the shared engine lock itself per command: do not run it under flock.
    """
    from bench.main import (
        SECTIONS,
        BenchOptions,
        parse_runs,
        parse_sections,
        render_saved,
        run_bench,
        write_outputs,
    )

    chosen = parse_sections(sections) if sections else SECTIONS
    options = BenchOptions(
        runs=parse_runs(runs), sections=chosen, variant=variant, registry=registry
    )
    results = render_saved(Path(render)) if render else run_bench(options)
    for path in write_outputs(results, options.out):
        print(path)
