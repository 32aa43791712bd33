"""The tasks that build and check images: they need the clone (its template, locks, tests),
except ``contract``, which checks any image against the (shipped) definition."""

from __future__ import annotations

from typing import TYPE_CHECKING

from invoke.context import Context

from .. import lazy, preflight, steps
from .options import ALL_VARIANTS, COMMON, Given
from .task import task

if TYPE_CHECKING:  # imported when a task that needs them runs (lazy.py)
    from .. import addvariant, output
else:
    addvariant = lazy.module("ray_worker_image.addvariant")
    output = lazy.module("ray_worker_image.output")

NO_STAND_IN = tuple(o for o in COMMON if o.name != "stand_in")


@task(
    clone=True,
    shared=COMMON + ALL_VARIANTS,
    help={
        "check": "only verify: exit 1 naming the variant of every stale entry",
        "json": "with --check: print {variant: [stale entries]} as JSON on stdout",
        "variant": "lock only this variant, by base tag, e.g. 2.52.1-py311 (default: "
        "$RAY_IMAGE_VARIANT, invoke.yaml; with none of them, every variant)",
    },
)
def lock(c: Context, given: Given, check: bool = False, json: bool = False) -> None:
    """Lock each variant's requirements with pip-compile inside that variant's base image.

    Without a variant (no --variant, $RAY_IMAGE_VARIANT or invoke.yaml variant) every
    variant is locked (or checked). Also rewrites each
    requirements/<variant>/constraints.txt from the base's own `pip list`, so the lock can
    never move a package the base ships. --check changes nothing and fails if anything is stale.
    """
    preflight.check_json_flag(json, check, "--check")
    every = given.all_variants or not (given.variant or given.setting("variant"))
    with given.sessions(all_variants=every) as opened:
        if not check:
            for s in opened:
                steps.do_lock(s)
            return
        stale = steps.lock_check(opened)
        if json:
            output.print_json({"stale": stale, "ok": not any(stale.values())})
        error = steps.stale_error(stale)
        if error:
            raise error


@task(clone=True, shared=COMMON)
def render(c: Context, given: Given) -> None:
    """Render images/ray-swe-fleet/Dockerfile.j2 into build/<variant>/context/ (base by digest)."""
    with given.session() as s:
        print(steps.do_render(s) / "Dockerfile")


@task(
    clone=True,
    shared=COMMON + ALL_VARIANTS,
    help={
        "force": "build even when the engine holds this revision's image with the same inputs",
        "no_cache": "build every step afresh (implies --force)",
    },
)
def build(c: Context, given: Given, force: bool = False, no_cache: bool = False) -> None:
    """Render, then build the variant's image with podman or Docker; prints the image id.

    An image of this revision with the same input key (label) is already built: nothing runs.
    """
    with given.sessions() as opened:
        for s in opened:
            print(steps.do_build(s, force=force, no_cache=no_cache).image_id)


@task(
    clone=True,
    shared=COMMON + ALL_VARIANTS,
    help={"image": "image id or name to test (default: the variant's last build)"},
)
def test(c: Context, given: Given, image: str | None = None) -> None:
    """Run the in-image tests (tests/image/, pytest-testinfra) against a container of the image."""
    preflight.check_image(image, allow_id=True)
    with given.sessions() as opened:
        for s in opened:
            steps.do_test(s, image)


@task(
    clone=True,
    shared=NO_STAND_IN,
    help={"force": "rebuild even when the registry holds a current stand-in"},
)
def standin(c: Context, given: Given, force: bool = False) -> None:
    """Build (or reuse) the variant's offline stand-in for rayproject/ray in the registry."""
    with given.session(stand_in=True) as s:
        print(steps.do_standin(s, force=force))


@task(
    clone=True,
    shared=NO_STAND_IN,
    help={
        "image": "image to run the cluster from (default: the last build; then its base must fail)",
        "from_": "RayCluster manifest to start as KubeRay would (default: deploy/k8s/ray-gpu.yaml)",
        "name": "RayCluster name when the file holds several",
        "namespace": "RayCluster namespace when the file holds several of one name",
        "tasks": "agent tasks in the job, spread over the GPU group's workers (default: 4)",
        "login_shell": "start Ray as an operator with ENABLE_LOGIN_SHELL=true (bash -lc)",
    },
)
def e2e(
    c: Context,
    given: Given,
    image: str | None = None,
    from_: str | None = None,
    name: str | None = None,
    namespace: str | None = None,
    tasks: str = "4",
    login_shell: bool = False,
) -> None:
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
    with given.session(stand_in=False) as s:
        steps.do_e2e(
            s, image=image, manifest=from_, name=name, namespace=namespace, tasks=count,
            login_shell=login_shell,
        )  # fmt: skip


@task(
    clone=True,
    shared=tuple(o for o in COMMON if o.name != "variant"),
    help={"name": "the new variant's base tag in Ray's grammar, e.g. 2.53.0-py311"},
)
def add_variant(c: Context, given: Given, name: str) -> None:
    """Add a variant: resolve its base, read its constraints, lock it, add it to the definition.

    With --stand-in the base is its offline stand-in (pins resolved by pip where missing).
    Leaves the changes (image.yaml, requirements/NAME/, images/stand-in/NAME/) as a diff to
    review and commit; on a failure nothing is left behind.
    """
    addvariant.add_variant(given.options(variant=None), given.definition(), name)


@task(
    shared=COMMON,
    help={
        "image": "image to check (default: the base: the stand-in with --stand-in, else pulled)",
        "json": "print {image, ok, rows: [{row, ok, detail}]} as JSON on stdout",
    },
)
def contract(c: Context, given: Given, image: str | None = None, json: bool = False) -> None:
    """Check the base contract (what KubeRay and Ray jobs rely on) on an image, row by row.

    Rows: bash -c and bash -lc find python/pip/ray first on PATH; Shell bash, no Entrypoint,
    Cmd bash; USER 1000 (1000:100 users) with passwordless sudo; HOME/WORKDIR; TZ/LANG/LC_ALL; the
    Python prefix owned by the user; pip-freeze.txt and requirements_compiled.txt; Ray version;
    Python minor. Exits 1 naming every broken row. Works on the stand-in, the built image and
    the real rayproject/ray where a registry serves it.
    """
    preflight.check_image(image, allow_id=True)
    with given.session() as s:
        checked, outcomes = steps.do_contract(s, image, strict=not json)
    if json:
        rows = [{"row": o.row, "ok": o.ok, "detail": o.detail} for o in outcomes]
        output.print_json({"image": checked, "ok": all(o.ok for o in outcomes), "rows": rows})
        steps.raise_contract(checked, outcomes)
