"""Build, test, push and roll out the Ray worker image (`invoke --list`).

Each task parses its options and calls one function of `ray_worker_image.pipeline`.
Settings resolve as: command-line flag, then environment (RAY_IMAGE_*), then the
`ray_image:` section of invoke.yaml, then the default.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from invoke.context import Context
from invoke.tasks import task as invoke_task

from ray_worker_image import pipeline
from ray_worker_image.pipeline import Options
from ray_worker_image.standin import DEFAULT_STAND_IN_REGISTRY

ROOT = Path(__file__).resolve().parent


def task(**kwargs):
    # Long flags only: invoke's generated one-letter flags collide and confuse more than help.
    return invoke_task(auto_shortflags=False, **kwargs)


COMMON_HELP = {
    "engine": "podman, docker or auto (default: $RAY_IMAGE_ENGINE, invoke.yaml, else podman)",
    "definition": "image definition YAML (default: images/ray-swe-fleet/image.yaml)",
    "stand_in": "offline mode: use the stand-in base from the loopback registry, not Docker Hub",
    "stand_in_registry": "registry serving the stand-in base (default: 127.0.0.1:5000)",
    "ca_cert": "PEM bundle pip needs inside the build (default: $PIP_CERT, $REQUESTS_CA_BUNDLE)",
}


def _setting(c: Context, key: str, env: str, default: object = None) -> object:
    if env in os.environ:
        return os.environ[env]
    section = c.config.get("ray_image", {}) or {}
    return section.get(key, default)


def _flag(value: object) -> bool:
    return str(value).lower() in ("1", "true", "yes", "on")


def _options(
    c: Context,
    engine: str | None,
    definition: str | None,
    stand_in: bool,
    stand_in_registry: str | None,
    ca_cert: str | None,
) -> Options:
    return Options(
        root=ROOT,
        definition_path=Path(definition) if definition else Options.definition_path,
        engine=engine,
        configured_engine=str((c.config.get("ray_image", {}) or {}).get("engine") or "") or None,
        stand_in=stand_in or _flag(_setting(c, "stand_in", "RAY_IMAGE_STAND_IN", False)),
        stand_in_registry=stand_in_registry
        or str(
            _setting(
                c, "stand_in_registry", "RAY_IMAGE_STAND_IN_REGISTRY", DEFAULT_STAND_IN_REGISTRY
            )
        ),
        ca_cert=ca_cert,
        build_dir=Path(os.environ["RAY_IMAGE_BUILD_DIR"])
        if os.environ.get("RAY_IMAGE_BUILD_DIR")
        else None,
    )


@task(
    help=COMMON_HELP | {"check": "only verify: exit 1 naming what changed if the locks are stale"}
)
@pipeline.entry
def lock(
    c,
    check=False,
    engine=None,
    definition=None,
    stand_in=False,
    stand_in_registry=None,
    ca_cert=None,
):
    """Lock requirements/ray-worker.in with pip-compile inside the base image (Python 3.9).

    Also rewrites constraints.txt from the base's own `pip list`, so the lock can never move
    a package the base ships. --check changes nothing and fails if anything is stale.
    """
    with pipeline.session(
        _options(c, engine, definition, stand_in, stand_in_registry, ca_cert)
    ) as s:
        pipeline.do_lock(s, check=check)


@task(help=COMMON_HELP)
@pipeline.entry
def render(c, engine=None, definition=None, stand_in=False, stand_in_registry=None, ca_cert=None):
    """Render images/ray-swe-fleet/Dockerfile.j2 into build/context/ (base pinned by digest)."""
    with pipeline.session(
        _options(c, engine, definition, stand_in, stand_in_registry, ca_cert)
    ) as s:
        print(pipeline.do_render(s) / "Dockerfile")


@task(help=COMMON_HELP)
@pipeline.entry
def build(c, engine=None, definition=None, stand_in=False, stand_in_registry=None, ca_cert=None):
    """Render, then build the image with podman or Docker; prints the image id and tags."""
    with pipeline.session(
        _options(c, engine, definition, stand_in, stand_in_registry, ca_cert)
    ) as s:
        built = pipeline.do_build(s)
        print(built.image_id)


@task(help=COMMON_HELP | {"image": "image id or name to test (default: the last build)"})
@pipeline.entry
def test(
    c,
    image=None,
    engine=None,
    definition=None,
    stand_in=False,
    stand_in_registry=None,
    ca_cert=None,
):
    """Run the in-image tests (tests/image/, pytest-testinfra) against a container of the image."""
    with pipeline.session(
        _options(c, engine, definition, stand_in, stand_in_registry, ca_cert)
    ) as s:
        pipeline.do_test(s, image)


@task(
    help=COMMON_HELP
    | {
        "registry": "HOST[:PORT] to push to (default: $RAY_IMAGE_REGISTRY, invoke.yaml)",
        "username": "registry user; the password is read from $RAY_IMAGE_REGISTRY_PASSWORD",
        "skip_tests": "push even without passing in-image tests (warns loudly)",
        "allow_stand_in": "allow pushing a stand-in-based image to a non-loopback registry",
        "dry_run": "print what would be pushed, push nothing",
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
    engine=None,
    definition=None,
    stand_in=False,
    stand_in_registry=None,
    ca_cert=None,
):
    """Push the last built, tested image under both tags; record the registry's digest."""
    registry = registry or str(_setting(c, "registry", "RAY_IMAGE_REGISTRY", ""))
    with pipeline.session(
        _options(c, engine, definition, stand_in, stand_in_registry, ca_cert)
    ) as s:
        record = pipeline.do_push(
            s,
            registry=registry,
            username=username,
            skip_tests=skip_tests,
            allow_stand_in=allow_stand_in,
            dry_run=dry_run,
        )
        if record:
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
    defaults = (c.config.get("ray_image", {}) or {}).get("cluster", {}) or {}
    if groups is not None:
        chosen: tuple[str, ...] | None = tuple(g for g in groups.split(",") if g)
    elif from_:
        chosen = None
    else:
        chosen = tuple(defaults.get("groups", ()))
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
    | {
        "image": "REF or GROUP=REF (repeat; head=REF for the head): image by digest, "
        "REPO[:TAG]@sha256:... (default: the last push, for every group)",
        "format": "what to print on stdout: json (the patch), yaml, shell (rollout.sh), or "
        "helm-values (image.repository/image.tag for the KubeRay ray-cluster chart)",
        "out": "also write rollout.sh (and with --from patch.json, rollback.json) into this folder",
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
    definition=None,
    engine=None,
    stand_in=False,
    stand_in_registry=None,
    ca_cert=None,
):
    """Print the RayCluster JSON patch (head + worker groups -> the pushed image by digest).

    Groups are found by groupName, the Ray container is containers[0], and `test` ops guard
    every change, so a patch made from a stale view fails instead of clobbering. --out adds
    rollback.json and rollout.sh (restart, race-free wait, per-pod nats-py check, rollback).
    """
    with pipeline.session(
        _options(c, engine, definition, stand_in, stand_in_registry, ca_cert)
    ) as s:
        pipeline.do_patch(
            s,
            _cluster(
                c,
                from_ or write,
                name,
                namespace,
                groups,
                restart,
                current_image,
                image,
                force,
                kind,
            ),
            fmt=format,
            out=out,
            write=write,
            check=check,
        )


@task(
    help=COMMON_HELP
    | CLUSTER_HELP
    | {
        "registry": "HOST[:PORT] to push to (default: $RAY_IMAGE_REGISTRY, invoke.yaml)",
        "username": "registry user; the password is read from $RAY_IMAGE_REGISTRY_PASSWORD",
        "allow_stand_in": "allow pushing a stand-in-based image to a non-loopback registry",
        "json": "print one JSON document on stdout (image, digest, base, tests, patch...)",
        "dry_run": "run every step that does not publish; print the push plan instead of pushing",
        "out": "write patch.json, rollback.json and rollout.sh into this folder",
    }
)
@pipeline.entry
def release(
    c,
    registry=None,
    username=None,
    allow_stand_in=False,
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
    engine=None,
    definition=None,
    stand_in=False,
    stand_in_registry=None,
    ca_cert=None,
):
    """The whole pipeline: lock --check, render, build, test, push, patch; stops at a failure.

    Progress goes to stderr; stdout gets the rollout script, or with --json one JSON document.
    """
    registry = registry or str(_setting(c, "registry", "RAY_IMAGE_REGISTRY", ""))
    cluster = _cluster(
        c, from_, name, namespace, groups, restart, current_image, force=force, kind=kind
    )
    with pipeline.session(
        _options(c, engine, definition, stand_in, stand_in_registry, ca_cert)
    ) as s:
        result = pipeline.do_release(
            s,
            cluster,
            registry=registry,
            username=username,
            allow_stand_in=allow_stand_in,
            dry_run=dry_run,
            out=out,
        )
        if json:
            pipeline.print_json(result.document)
        elif result.plan is not None:
            pipeline.print_rollout(result.plan, result.out_dir)


@task(
    help=COMMON_HELP
    | CLUSTER_HELP
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
    definition=None,
    engine=None,
    stand_in=False,
    stand_in_registry=None,
    ca_cert=None,
):
    """The release record of the last build, test and push, read from build/state/.

    Rebuilds and pushes nothing. --json prints the same document as `invoke release --json`.
    """
    cluster = _cluster(
        c, from_, name, namespace, groups, restart, current_image, force=force, kind=kind
    )
    with pipeline.session(
        _options(c, engine, definition, stand_in, stand_in_registry, ca_cert)
    ) as s:
        document = pipeline.do_report(s, cluster)
        if json:
            pipeline.print_json(document)
        else:
            pipeline.print_summary(document)


@task(
    help={k: v for k, v in COMMON_HELP.items() if k != "stand_in"}
    | {"force": "rebuild even when the registry holds a current stand-in"}
)
@pipeline.entry
def standin(c, force=False, engine=None, definition=None, stand_in_registry=None, ca_cert=None):
    """Build (or reuse) the offline stand-in for rayproject/ray and serve it from the registry."""
    with pipeline.session(_options(c, engine, definition, True, stand_in_registry, ca_cert)) as s:
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
    tasks=4,
    login_shell=False,
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
    with pipeline.session(_options(c, engine, definition, False, stand_in_registry, ca_cert)) as s:
        pipeline.do_e2e(
            s,
            image=image,
            manifest=from_,
            name=name,
            namespace=namespace,
            tasks=int(tasks),
            login_shell=login_shell,
        )


@task(
    help={
        "tag": "the git tag being released, e.g. v2.49.2-nats.1",
        "definition": COMMON_HELP["definition"],
    }
)
@pipeline.entry
def verify_tag(c, tag, definition=None):
    """Refuse a release tag that does not match target.tag of the image definition."""
    with pipeline.session(_options(c, None, definition, False, None, None)) as s:
        pipeline.do_verify_tag(s, tag)


@task(help={"definition": COMMON_HELP["definition"]})
@pipeline.entry
def lint(c, definition=None):
    """ruff, mypy --strict, hadolint on the rendered Dockerfile, shellcheck on rollout.sh."""
    with pipeline.session(_options(c, None, definition, False, None, None)) as s:
        pipeline.do_lint(s)


@task()
def unit(c):
    """The fast tests: no engine, no registry (tests/unit, tests/rollout, tests/workflow)."""
    c.run(f"{sys.executable} -m pytest -q tests/unit tests/rollout tests/workflow", pty=False)


@task(
    help=COMMON_HELP
    | {"image": "image to check (default: the base: the stand-in with --stand-in, else pulled)"}
)
@pipeline.entry
def contract(
    c,
    image=None,
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
    with pipeline.session(
        _options(c, engine, definition, stand_in, stand_in_registry, ca_cert)
    ) as s:
        pipeline.do_contract(s, image)
