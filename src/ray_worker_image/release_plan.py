"""`invoke release`, its first half: the plan, every cheap input checked before a slow step.

Planning (:func:`plan_release`) touches no engine and no remote registry: the definition and
the variants (stand-in refusals included), the registry reference, the credentials, the
lock files, and the cluster (file, groups, restart, Ray version) through the rollout's own
planning with a placeholder digest. Any failure is one line; nothing was built. The steps
that follow are in :mod:`.release`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from . import preflight, rollout, supply
from .patching import plan_patch
from .preflight import check_registry
from .push import PushPlan, credentials_from_env, plan_push
from .refs import ImageRef
from .registry import Credentials, Destination
from .render import lock_digest
from .rollout import ClusterOptions
from .rollout.identity import Identity, known
from .session import Session
from .state import BuiltImage, TestRecord

PLACEHOLDER_DIGEST = "sha256:" + "0" * 64


@dataclass(frozen=True)
class ReleasePlan:
    """Everything checked before the first slow step."""

    sessions: tuple[Session, ...]
    destination: Destination  # the registry, its TLS settings and credentials, resolved once
    cluster: ClusterOptions
    allow_stand_in: bool
    dry_run: bool
    out: str | None
    force: bool = False  # --force: the immutable tag may point at a different image

    @property
    def registry(self) -> str:
        return self.destination.registry

    @property
    def credentials(self) -> Credentials | None:
        return self.destination.credentials


def plan_release(
    sessions: list[Session],
    cluster: ClusterOptions,
    *,
    registry: str,
    username: str | None,
    allow_stand_in: bool,
    dry_run: bool,
    out: str | None,
    force: bool = False,
) -> ReleasePlan:
    """Check every input of the release; raises PipelineError (one line) on the first bad one."""
    check_registry(registry)
    check_release_inputs(sessions, cluster, registry, allow_stand_in, out)
    credentials = None if dry_run else credentials_from_env(username)
    # A stand-in build goes into the cluster given with --from only with --allow-stand-in.
    cluster = dataclasses.replace(cluster, allow_stand_in=allow_stand_in or not cluster.source)
    placeholders = []
    builds = []
    for s in sessions:
        lock_digest(s.definition)  # every lock file present
        supply.check_sbom_lock(s.definition)  # the SBOM generator's lock for its Python
        ref = ImageRef(registry, s.definition.target.repository, s.definition.target.tag)
        placeholders.append(f"{ref}@{PLACEHOLDER_DIGEST}")
        builds.append(Identity(placeholders[-1], s.definition.ray_tag, "build", s.options.stand_in))
    own = known(builds)  # nothing is pushed yet: the builds are what the definitions say
    for s, placeholder in zip(sessions, placeholders, strict=True):
        if not (cluster.source and len(sessions) > 1):
            # file, groups, restart, Ray, stand-in, the canary's NATS URL
            rollout.check_runnable(plan_patch(s, placeholder, cluster, own))
    if cluster.source and len(sessions) > 1:  # one patch: each group on the variant it runs
        rollout.check_runnable(
            rollout.plan_for_variants(
                [s.definition for s in sessions], placeholders, cluster, read=own
            )
        )
    # --registry-ca names a file; every session shares the options, so one destination
    destination = (
        sessions[0].destination(registry, credentials)
        if sessions
        else Destination.of(registry, credentials)
    )
    if not dry_run:
        supply.check_signing_key()  # a configured key that does not load stops here
        preflight.check_listening(registry)  # before the base is pulled
    return ReleasePlan(tuple(sessions), destination, cluster, allow_stand_in, dry_run, out, force)


def check_release_inputs(
    sessions: Sequence[Session],
    cluster: ClusterOptions,
    registry: str,
    allow_stand_in: bool,
    out: str | None,
) -> None:
    """What ``release`` would otherwise refuse only after the build: the stand-in push,
    ``--out``, ``--registry-ca`` and ``--groups``."""
    options = sessions[0].options if sessions else None
    if options is not None:
        preflight.check_stand_in_push(
            stand_in=options.stand_in, registry=registry, allow_stand_in=allow_stand_in
        )
        preflight.check_pem(options.registry_ca, "--registry-ca")
    preflight.check_out_dir(out)
    preflight.check_groups(cluster.groups)


def variant_out_dir(plan: ReleasePlan, s: Session) -> Path:
    """Where a variant's rollout files and SBOM go: --out (per variant when several)."""
    if plan.out:
        return Path(plan.out) / s.variant if len(plan.sessions) > 1 else Path(plan.out)
    return s.build_dir / "rollout"


def variant_push(plan: ReleasePlan, s: Session, built: BuiltImage, tests: TestRecord) -> PushPlan:
    """:func:`.push.plan_push` for one variant's tested build, to the release's registry."""
    return plan_push(
        s.definition,
        built,
        tests,
        registry=plan.registry,
        skip_tests=False,
        allow_stand_in=plan.allow_stand_in,
    )
