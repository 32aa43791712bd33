"""Push a tested image and record the digest the registry stored."""

from __future__ import annotations

import os
from dataclasses import dataclass

from . import console
from .definition import ImageDefinition
from .engine import Engine
from .errors import PushError
from .refs import ImageRef
from .registry import Credentials, RegistryClient, scheme_for
from .state import BuiltImage, PushRecord, TestRecord

PASSWORD_ENV = "RAY_IMAGE_REGISTRY_PASSWORD"  # noqa: S105 - the variable's name, not a password


def credentials_from_env(username: str | None) -> Credentials | None:
    """The password only ever comes from the environment, never from argv (ps, shell history)."""
    if not username:
        return None
    password = os.environ.get(PASSWORD_ENV)
    if not password:
        raise PushError(f"--username {username} given but ${PASSWORD_ENV} is empty; export it")
    return Credentials(username, password)


@dataclass(frozen=True)
class PushPlan:
    image_id: str
    refs: tuple[ImageRef, ...]
    stand_in: bool

    def describe(self) -> list[str]:
        return [f"{self.image_id[:19]} -> {ref}" for ref in self.refs]


def plan_push(
    definition: ImageDefinition,
    built: BuiltImage,
    tests: TestRecord | None,
    *,
    registry: str,
    skip_tests: bool,
    allow_stand_in: bool,
) -> PushPlan:
    """Decide what would be pushed where, refusing what must not be pushed. No side effects."""
    if not registry or "/" in registry:
        raise PushError(f"--registry {registry!r}: give HOST[:PORT] only, e.g. 127.0.0.1:5000")
    if tests is None or tests.image_id != built.image_id or not tests.passed:
        if not skip_tests:
            why = (
                "has no test record"
                if tests is None or tests.image_id != built.image_id
                else f"failed {tests.failed} of {tests.count} in-image tests"
            )
            raise PushError(
                f"image {built.image_id[:19]} {why}; run `invoke test` "
                "(or pass --skip-tests to push it untested)"
            )
        console.loud_warning(
            f"--skip-tests: pushing {built.image_id[:19]} WITHOUT passing in-image tests"
        )
    if built.base.stand_in and scheme_for(registry) != "http" and not allow_stand_in:
        raise PushError(
            f"image {built.image_id[:19]} is built on the offline STAND-IN base; refusing to push "
            f"it to {registry}. Build on the real base, or pass --allow-stand-in"
        )
    refs = tuple(ImageRef.parse(tag).with_registry(registry) for tag in built.tags)
    return PushPlan(built.image_id, refs, built.base.stand_in)


def push_image(
    engine: Engine,
    plan: PushPlan,
    credentials: Credentials | None,
) -> PushRecord:
    client = RegistryClient(plan.refs[0].registry, credentials)
    if not client.ping():
        # Checked before anything is tagged, so a dead registry leaves no trace behind.
        raise PushError(
            f"registry {client.registry}: no registry answers at {client.base}; "
            "check --registry and that it is running"
        )
    auth = credentials.as_auth_config() if credentials else None
    digests: dict[str, str] = {}
    created = [ref for ref in plan.refs if not engine.image_exists(str(ref))]
    # The immutable tag goes first: if anything fails after it, the floating tag
    # (the one clusters follow) has not moved.
    try:
        for ref in reversed(plan.refs):
            engine.tag(plan.image_id, ref)
            console.step(f"pushing {ref} with {engine.name}")
            reported = engine.push(ref, auth=auth, on_line=console.info)
            stored = client.manifest_digest(ref)
            if stored is None:
                raise PushError(f"registry {ref.registry} has no {ref.tag} after the push of {ref}")
            if reported and reported != stored:
                raise PushError(
                    f"{engine.name} reported {reported} for {ref} but the registry serves {stored}"
                )
            digests[str(ref)] = stored
            console.info(f"{ref} -> {stored}")
    except BaseException:
        for ref in created:  # local names this call added; the built image keeps its own
            engine.untag(str(ref))
        raise
    if len(set(digests.values())) != 1:
        raise PushError(f"tags of one image got different digests: {digests}")
    first = plan.refs[0]
    return PushRecord(
        image_id=plan.image_id,
        engine=engine.name,
        registry=first.registry,
        repository=first.repository,
        tags=tuple(ref.tag or "" for ref in plan.refs),
        digest=next(iter(digests.values())),
    )
