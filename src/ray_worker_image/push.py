"""Push a tested image and record the digest the registry stored."""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Callable
from dataclasses import dataclass

from tenacity import (
    Retrying,
    retry_if_exception,
    stop_after_attempt,
    stop_after_delay,
    wait_exponential,
)

from . import console
from .definition import ImageDefinition
from .engine import Engine
from .errors import PipelineError, PushError
from .refs import ImageRef
from .registry import Credentials, Destination, RegistryAccess, Repository
from .state import BuiltImage, PushRecord, TestRecord

PASSWORD_ENV = "RAY_IMAGE_REGISTRY_PASSWORD"  # noqa: S105 - the variable's name, not a password
PUSH_ATTEMPTS = 3  # engine pushes, the first included (each engine also retries layers)
PUSH_RETRY_SECONDS = 60.0


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
    """``refs[0]`` is the floating tag (moved last), the rest are immutable tags."""

    image_id: str
    refs: tuple[ImageRef, ...]
    stand_in: bool
    engine: str = ""  # the engine that built the image

    @property
    def floating(self) -> ImageRef:
        return self.refs[0]

    @property
    def immutable(self) -> tuple[ImageRef, ...]:
        return self.refs[1:]

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
    if built.base.stand_in and not RegistryAccess(registry).loopback and not allow_stand_in:
        raise PushError(
            f"image {built.image_id[:19]} is built on the offline STAND-IN base; refusing to push "
            f"it to {registry}. Build on the real base, or pass --allow-stand-in"
        )
    refs = tuple(ImageRef.parse(tag).with_registry(registry) for tag in built.tags)
    return PushPlan(built.image_id, refs, built.base.stand_in, built.engine)


def _retrying(
    attempts: int,
    max_seconds: float,
    client: Repository,
    sleep: Callable[[float], None] = time.sleep,
) -> Retrying:
    """Retry a transient push failure, but only while the registry answers at all:
    a registry that is gone stays gone, and the engine already retried its layers.
    Waits 1, 2, 4 ... (at most 10) seconds between attempts, through ``sleep``."""
    return Retrying(
        sleep=sleep,
        stop=stop_after_attempt(attempts) | stop_after_delay(max_seconds),
        wait=wait_exponential(multiplier=1, max=10),
        retry=retry_if_exception(lambda exc: getattr(exc, "transient", False) and client.ping()),
        reraise=True,
    )


def check_immutable(client: Repository, plan: PushPlan, *, force: bool) -> dict[str, str | None]:
    """Refuse (before anything moves) an immutable tag that holds a different image.

    Compares the config digest of what the tag serves with the local image id (both
    are sha256 of the image config). Returns each ref's digest before the push.
    """
    before: dict[str, str | None] = {}
    for ref in plan.refs:
        before[str(ref)] = client.manifest_digest(ref)
    for ref in plan.immutable:
        if before[str(ref)] is None:
            continue
        holds = client.config_digest(ref)
        if holds != plan.image_id and not force:
            raise PushError(
                f"{ref} already holds another image ({holds or 'unknown config'} is not "
                f"{plan.image_id[:19]}); a release tag never moves: commit and rebuild for a "
                "new tag, or pass --force to overwrite it"
            )
    return before


def push_image(
    engine: Engine,
    plan: PushPlan,
    destination: Destination | None,
    *,
    force: bool = False,
    attempts: int = PUSH_ATTEMPTS,
    max_retry_seconds: float = PUSH_RETRY_SECONDS,
    only_immutable: bool = False,
    sleep: Callable[[float], None] = time.sleep,
) -> PushRecord:
    """Push the plan's image: immutable tag(s) first, the floating tag last.

    ``only_immutable``: push the immutable tags alone (a release of several variants
    pushes every variant's immutable tags before any floating tag moves).

    A tag counts only when this push made it: the engine must report a digest without
    an error event, and the registry must serve exactly that digest afterwards.
    Transient failures (resets, 429, 5xx) are retried ``attempts`` times within
    ``max_retry_seconds``, waiting through ``sleep`` (seconds; tests inject it). Raises
    PushError/EngineError (one line); on failure the local registry-qualified names this
    call added are removed again.
    """
    destination = destination or Destination.of(plan.refs[0].registry)
    access = destination.access
    client = destination.repository(plan.refs[0].repository)
    # Checked before anything is tagged, so a dead registry leaves no trace behind.
    client.check()
    engine.check_registry_access(access)
    if not engine.image_exists(plan.image_id):
        built_with = (
            f"; it was built with {plan.engine}: pass --engine {plan.engine}"
            if (plan.engine and plan.engine != engine.name)
            else "; run `invoke build` again"
        )
        raise PushError(f"image {plan.image_id[:19]} is not in {engine.name}'s storage{built_with}")
    check_immutable(client, plan, force=force)
    auth = destination.engine_auth()  # the engine uploads itself, as the destination says
    digests: dict[str, str] = {}
    targets = plan.immutable if only_immutable else (*plan.immutable, plan.floating)
    created = [ref for ref in targets if not engine.image_exists(str(ref))]
    try:
        for ref in targets:
            engine.tag(plan.image_id, ref)
            console.step(f"pushing {ref} with {engine.name}")
            reported = _retrying(attempts, max_retry_seconds, client, sleep)(
                engine.push, ref, auth=auth, on_line=console.info, access=access
            )
            if not reported:
                raise PushError(
                    f"{engine.name} reported no digest for the push of {ref}; "
                    "the push is not trusted, rerun `invoke push`"
                )
            stored = client.manifest_digest(ref)
            if stored != reported:
                raise PushError(
                    f"{engine.name} reported {reported} for {ref} but the registry serves "
                    f"{stored or 'nothing'}; rerun `invoke push`"
                )
            digests[str(ref)] = stored
            console.info(f"{ref} -> {stored}")
    except BaseException:
        for ref in created:  # local names this call added; the built image keeps its own
            with contextlib.suppress(PipelineError):
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
        tags=tuple(ref.tag or "" for ref in (targets if only_immutable else plan.refs)),
        digest=next(iter(digests.values())),
    )
