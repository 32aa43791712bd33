"""Build, test, push and roll out the Ray worker image (`invoke --list`).

Each task parses its options and calls one function of `ray_worker_image.pipeline`.
Settings resolve as: command-line flag, then environment (RAY_IMAGE_*), then the
`ray_image:` section of invoke.yaml, then the default.
"""

from __future__ import annotations

import os
from pathlib import Path

from invoke import Context, task

from ray_worker_image import pipeline
from ray_worker_image.pipeline import Options

ROOT = Path(__file__).resolve().parent

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
        or str(_setting(c, "stand_in_registry", "RAY_IMAGE_STAND_IN_REGISTRY", "127.0.0.1:5000")),
        ca_cert=ca_cert,
    )


@task(help=COMMON_HELP | {"check": "only verify: exit 1 naming what changed if the locks are stale"})
@pipeline.entry
def lock(c, check=False, engine=None, definition=None, stand_in=False, stand_in_registry=None,
         ca_cert=None):
    """Lock requirements/ray-worker.in with pip-compile inside the base image (Python 3.9).

    Also rewrites constraints.txt from the base's own `pip list`, so the lock can never move
    a package the base ships. --check changes nothing and fails if anything is stale.
    """
    with pipeline.session(_options(c, engine, definition, stand_in, stand_in_registry, ca_cert)) as s:
        pipeline.do_lock(s, check=check)


@task(help=COMMON_HELP)
@pipeline.entry
def render(c, engine=None, definition=None, stand_in=False, stand_in_registry=None, ca_cert=None):
    """Render images/ray-swe-fleet/Dockerfile.j2 into build/context/ (base pinned by digest)."""
    with pipeline.session(_options(c, engine, definition, stand_in, stand_in_registry, ca_cert)) as s:
        print(pipeline.do_render(s) / "Dockerfile")


@task(help=COMMON_HELP)
@pipeline.entry
def build(c, engine=None, definition=None, stand_in=False, stand_in_registry=None, ca_cert=None):
    """Render, then build the image with podman or Docker; prints the image id and tags."""
    with pipeline.session(_options(c, engine, definition, stand_in, stand_in_registry, ca_cert)) as s:
        built = pipeline.do_build(s)
        print(built.image_id)


@task(help=COMMON_HELP | {"image": "image id or name to test (default: the last build)"})
@pipeline.entry
def test(c, image=None, engine=None, definition=None, stand_in=False, stand_in_registry=None,
         ca_cert=None):
    """Run the in-image tests (tests/image/, pytest-testinfra) against a container of the image."""
    with pipeline.session(_options(c, engine, definition, stand_in, stand_in_registry, ca_cert)) as s:
        pipeline.do_test(s, image)


@task(help=COMMON_HELP | {
    "registry": "HOST[:PORT] to push to (default: $RAY_IMAGE_REGISTRY, invoke.yaml)",
    "username": "registry user; the password is read from $RAY_IMAGE_REGISTRY_PASSWORD",
    "skip_tests": "push even without passing in-image tests (warns loudly)",
    "allow_stand_in": "allow pushing an image built on the stand-in base to a non-loopback registry",
    "dry_run": "print what would be pushed, push nothing",
})
@pipeline.entry
def push(c, registry=None, username=None, skip_tests=False, allow_stand_in=False, dry_run=False,
         engine=None, definition=None, stand_in=False, stand_in_registry=None, ca_cert=None):
    """Push the last built, tested image under both tags; record the registry's digest."""
    registry = registry or str(_setting(c, "registry", "RAY_IMAGE_REGISTRY", ""))
    with pipeline.session(_options(c, engine, definition, stand_in, stand_in_registry, ca_cert)) as s:
        record = pipeline.do_push(s, registry=registry, username=username, skip_tests=skip_tests,
                                  allow_stand_in=allow_stand_in, dry_run=dry_run)
        if record:
            print(record.by_tag_and_digest)
