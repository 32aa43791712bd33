"""The fleet table, as a pure function: Ray objects and registry facts in, one row per group out.

Each RayCluster, RayJob (``spec.rayClusterSpec``) or RayService (``spec.rayClusterConfig``)
is read by the rollout's own reader (:func:`..rollout.read.view_from_object`: ``ray.io/v1``
and ``v1alpha1``), and each template (the head, then every worker group in spec order)
becomes a :class:`Row`:

- its **variant**, identified as every new image of a rollout is
  (:func:`..rollout.identity.identify`: the image's labels through the injected reader, else
  its tag in Ray's grammar or this project's ``<variant>-nats[-g<rev>]``);
- whether it is a **release of this project**: True when its labels (read from the registry)
  carry a label only this project's final image has (:data:`RELEASE_MARKS`); False for an
  official ``rayproject/*`` image on Docker Hub (by name) or readable labels without them;
  None (unknown) when the labels cannot be read;
- whether it carries **nats-py**: True for a release (its lock installs ``nats-py``, its
  in-image tests import ``nats``), False for an official ``rayproject/*`` image (no NATS
  client: ``docs/reference/ray-2.49.2/FACTS.md`` section "pip freeze", and README "The
  problem" for 2.52.1-py311), None otherwise;
- its **action** (:data:`ACTIONS`): ``up-to-date`` when it runs this revision's release of
  its variant (same repository and digest); ``roll-out`` that release otherwise;
  ``release`` when the variant is in the definition but this revision has no push in the
  registry; ``add-variant`` when the variant is not in the definition; ``unknown-image``
  when nothing tells its variant.

A RayJob that runs on an existing cluster (``spec.clusterSelector``) has no groups of its own,
and a RayCluster owned by a RayJob or RayService that is in the input too is that owner's
(its rows would repeat the owner's): both are skipped with a note. Pure apart from the
injected reader; malformed objects raise :class:`~ray_worker_image.errors.RolloutError`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Final

from .. import labels as L
from ..errors import PipelineError, RolloutError, Unavailable
from ..kuberay.crd import KINDS
from ..raytag import RayTag
from ..records import LOCK_SHA
from ..refs import ImageRef
from ..rollout.identity import LabelReader, identify
from ..rollout.model import GroupView
from ..rollout.read import view_from_object
from ..rollout.variants import official

# Labels only this project's final image carries (images/ray-swe-fleet/Dockerfile.j2); the
# stand-in base carries io.github.ray-worker-image.stand-in too, so the prefix alone is not one.
RELEASE_MARKS: Final = (L.VARIANT, L.INPUT_KEY, LOCK_SHA)
UP_TO_DATE: Final = "up-to-date"
ROLL_OUT: Final = "roll-out"
RELEASE: Final = "release"
ADD_VARIANT: Final = "add-variant"
UNKNOWN: Final = "unknown-image"
ACTIONS: Final = (UP_TO_DATE, ROLL_OUT, RELEASE, ADD_VARIANT, UNKNOWN)


@dataclass(frozen=True)
class Facts:
    """What the registry and the definition say, gathered before the rows are made.

    ``variants``: each variant of the definition -> its name there (``2.52.1-py311``).
    ``releases``: each of those names -> this revision's release, ``REG/REPO:TAG@sha256:...``
    (the reference ``invoke patch`` uses by default), or None when it was not pushed.
    ``read``: an image's config labels (:data:`..rollout.identity.LabelReader`).
    ``release_repository``: the definition's target repository (``swe-fleet/ray``).
    """

    variants: Mapping[RayTag, str]
    releases: Mapping[str, str | None]
    read: LabelReader
    release_repository: str


@dataclass(frozen=True)
class Row:
    """One Ray group of one object, and what to do about it (:data:`ACTIONS`)."""

    source: str  # the file, or "kubectl"
    kind: str
    namespace: str
    name: str
    group: str  # "headgroup" for the head, else the groupName
    image: str
    variant: RayTag | None
    how: str  # "labels" or "tag"; "" when unknown
    release: bool | None
    nats: bool | None
    action: str
    ref: str | None = None  # the release to roll out (roll-out, up-to-date)
    variant_name: str | None = None  # its name in the definition (add-variant: the name to add)
    why: str = ""  # why the variant or the labels are unknown
    stand_in: bool = False  # its labels say it was built on the offline stand-in

    @property
    def advice(self) -> str:
        """The action as the user reads it (the table's last column)."""
        return {
            UP_TO_DATE: "up to date",
            ROLL_OUT: f"roll out {self.ref}",
            RELEASE: f"invoke release --variant {self.variant_name}, then roll out",
            ADD_VARIANT: f"invoke add-variant {self.variant_name}, then release and roll out",
            UNKNOWN: "unknown image",
        }[self.action]

    def to_json(self) -> dict[str, Any]:
        """The stable JSON object of ``invoke status --json`` (docs/status.md lists its keys)."""
        return {
            "source": self.source,
            "kind": self.kind,
            "namespace": self.namespace,
            "name": self.name,
            "group": self.group,
            "image": self.image,
            "variant": self.variant.short if self.variant else None,
            "variant_from": self.how or None,
            "release": self.release,
            "nats_py": self.nats,
            "stand_in": self.stand_in,
            "action": self.action,
            "ref": self.ref,
            "advice": self.advice,
            "why": self.why or None,
        }


@dataclass
class Result:
    """The rows, and one note per object skipped (why)."""

    rows: list[Row] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def needs_action(self) -> list[Row]:
        return [r for r in self.rows if r.action != UP_TO_DATE]


def cached(read: LabelReader) -> LabelReader:
    """``read`` asked once per reference (its answer or its error kept for the run), and not
    again for any image of a registry that did not answer (:class:`Unavailable`): a fleet of
    many images on one dead registry waits for one timeout, not one each."""
    seen: dict[ImageRef, Mapping[str, str] | PipelineError | None] = {}
    dead: dict[str, PipelineError] = {}

    def once(ref: ImageRef) -> Mapping[str, str] | None:
        if ref not in seen:
            try:
                seen[ref] = dead[ref.registry] if ref.registry in dead else read(ref)
            except PipelineError as exc:
                seen[ref] = exc
                if isinstance(exc, Unavailable):
                    dead[ref.registry] = exc
        found = seen[ref]
        if isinstance(found, PipelineError):
            raise found
        return found

    return once


def provenance(image: str, read: LabelReader) -> tuple[bool | None, bool | None, str]:
    """(release of this project?, carries nats-py?, why unknown) of one image."""
    ref = ImageRef.parse(image)
    if official(ref):
        return False, False, ""
    try:
        found = read(ref)
    except PipelineError as exc:
        return None, None, f"labels not readable: {exc}"
    if found is None:
        return None, None, "the registry has no image config for it"
    if any(found.get(mark) for mark in RELEASE_MARKS):
        return True, True, ""
    return False, None, ""


def group_row(source: str, kind: str, ns: str, name: str, group: GroupView, f: Facts) -> Row:
    """The row of one template (pure but for ``f.read``)."""
    release, nats, why = provenance(group.image, f.read)
    row = Row(source, kind, ns, name, group.name, group.image, None, "", release, nats, UNKNOWN)
    try:
        found = identify(group.image, f.read, release_repository=f.release_repository)
    except RolloutError as exc:
        return replace(row, why=why or str(exc))
    if found.variant is None:  # identify raises instead; kept for the type checker
        return replace(row, why=why or "its variant cannot be told")
    row = replace(row, variant=found.variant, how=found.how, why=why, stand_in=found.stand_in)
    wanted = f.variants.get(found.variant)
    if wanted is None:
        return replace(row, action=ADD_VARIANT, variant_name=new_name(group.image, found.variant))
    ref = f.releases.get(wanted)
    if ref is None:
        return replace(row, action=RELEASE, variant_name=wanted)
    action = UP_TO_DATE if same_image(group.image, ref) else ROLL_OUT
    return replace(row, action=action, ref=ref, variant_name=wanted)


def new_name(image: str, variant: RayTag) -> str:
    """The name ``add-variant`` gets: an official image's own tag when it is in Ray's grammar
    (``2.49.2-gpu``: the new variant's base is then the very image the group runs), else the
    variant's shortest spelling (``2.52.0``)."""
    ref = ImageRef.parse(image)
    if official(ref) and ref.tag and RayTag.try_parse(ref.tag) == variant:
        return ref.tag
    return variant.short


def same_image(current: str, release: str) -> bool:
    """Same repository (by meaning) and same digest: what ``invoke patch`` writes."""
    a, b = ImageRef.parse(current), ImageRef.parse(release)
    return a.name == b.name and a.digest is not None and a.digest == b.digest


def rows(objects: Iterable[tuple[str, Mapping[str, Any]]], facts: Facts) -> Result:
    """One row per group of every Ray object in ``objects`` ((source, object) pairs, in order).

    Objects of other kinds are ignored. Raises RolloutError (one line naming the source and
    the field) for a Ray object the rollout could not read either.
    """
    f = Facts(facts.variants, facts.releases, cached(facts.read), facts.release_repository)
    chosen = [(s, o) for s, o in objects if o.get("kind") in KINDS]
    owners = {_key(o) for _, o in chosen if o.get("kind") in ("RayJob", "RayService")}
    out = Result()
    for source, obj in chosen:
        spec = _mapping(obj.get("spec"))
        title = f"{obj.get('kind')} {_where(_mapping(obj.get('metadata')))}"
        if (
            obj.get("kind") == "RayJob"
            and not spec.get("rayClusterSpec")
            and spec.get("clusterSelector")
        ):
            out.notes.append(
                f"{source}: {title} runs on an existing cluster (spec.clusterSelector);"
                " that RayCluster's rows stand for it"
            )
            continue
        view = view_from_object(obj, source=source)
        owner = _owner_key(view.owner, view.namespace)
        if owner is not None and owner in owners:
            out.notes.append(f"{source}: {title} is {view.owner}'s; its rows stand for it")
            continue
        for group in (view.head, *view.groups):
            out.rows.append(group_row(source, view.kind.name, view.namespace, view.name, group, f))
    return out


def _where(meta: Mapping[str, Any]) -> str:
    return f"{meta.get('namespace') or 'default'}/{meta.get('name')}"


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _key(obj: Mapping[str, Any]) -> tuple[str, str]:
    meta = _mapping(obj.get("metadata"))
    return f"{obj.get('kind')}/{meta.get('name')}", str(meta.get("namespace") or "default")


def _owner_key(owner: str | None, namespace: str) -> tuple[str, str] | None:
    return None if owner is None else (owner, namespace)
