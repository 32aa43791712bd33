"""``invoke patch --write PATH`` / ``--check``: the file that decides the image, edited.

``PATH`` is a manifest or a kustomization folder:

* a **kustomization folder**: the plan is made from what ``kubectl kustomize PATH``
  renders; each Ray image is changed in the ``images:`` entry that overrides it (in PATH's
  kustomization or a parent's up to the git root), or in a new entry of PATH's own;
* a **manifest** whose image a kustomization in its folder or a parent (up to the git
  root) overrides: the plan is made from the manifest as that entry renders it, and the
  entry is edited, not the manifest (whose image the entry would hide);
* any other manifest: the image scalars are edited in place (:mod:`.gitops`).

One entry sets the image of every container named as it says, so groups that share a
name must move to one image, else the write is refused naming the entry. Every edit is
checked afterwards by rendering again (the file is put back when it does not hold).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

from ..errors import RolloutError
from ..refs import ImageRef
from . import kustomize as kz
from .files import load_cluster
from .gitops import ManifestEdit, edit_manifest
from .options import ClusterOptions
from .plan import Rollout
from .read import view_from_object

Planner = Callable[[ClusterOptions], Rollout]


@dataclass(frozen=True)
class Written:
    """What ``--write`` / ``--check`` did: the plan and the edited files (not saved yet)."""

    plan: Rollout
    edits: tuple[ManifestEdit, ...]
    where: str  # what decides the image: the file, or "FILE: images[i] (name N)"


def _same(a: str, b: str) -> bool:
    return ImageRef.parse(a) == ImageRef.parse(b)


def _overrides_of_file(manifest: Path, cluster: ClusterOptions) -> list[kz.Override]:
    obj = load_cluster(str(manifest), name=cluster.name, namespace=cluster.namespace)
    view = view_from_object(obj, source=str(manifest), namespace=cluster.namespace)
    found: dict[tuple[Path, int], kz.Override] = {}
    for group in (view.head, *view.groups):
        hit = kz.find_override(manifest.parent, group.image)
        if hit is not None:
            found[(hit.file, hit.index)] = hit
    return list(found.values())


def plan_write(path: str, cluster: ClusterOptions, planner: Planner) -> Written:
    """Plan ``--write path`` and prepare the edits (nothing saved). RolloutError (one line)."""
    target = Path(path)
    if kz.is_kustomization(target):
        label = f"kubectl kustomize {path}"
        plan = planner(replace(cluster, source=path, rendered=(label, kz.render(target))))
        return Written(plan, _entry_edits(plan, target, own=target), label)
    overrides = _overrides_of_file(target, cluster)
    if not overrides:
        plan = planner(replace(cluster, source=path))
        return Written(plan, (edit_manifest(target, plan),), path)
    label = f"{path} as {', '.join(o.label for o in overrides)} renders it"
    rendered = kz.apply_entries(target, overrides)
    plan = planner(replace(cluster, source=path, rendered=(label, rendered)))
    return Written(plan, _entry_edits(plan, target.parent, own=None), label)


def _entry_edits(plan: Rollout, start: Path, *, own: Path | None) -> tuple[ManifestEdit, ...]:
    """One edit per kustomization file; ``own``: the folder whose kustomization gets a new
    entry for an image nothing overrides (None: refuse instead)."""
    view = plan.view
    by_entry: dict[tuple[Path, int], tuple[kz.Override, str, list[str]]] = {}
    added: dict[str, str] = {}  # image name as rendered -> new image
    everyone = (view.head, *view.groups)
    for t in plan.targets:
        hit = kz.find_override(start, t.old_image, rendered=True)
        if hit is None and own is None:
            raise RolloutError(
                f"{view.source}: {t.group.label} runs {t.old_image}, which no images: entry"
                " overrides while another one does; give the groups one image name"
            )
        if hit is None:
            name = kz.written_name(t.old_image)
            if added.setdefault(name, t.new_image) != t.new_image:
                raise RolloutError(
                    f"{view.source}: groups named {name} move to different images; one"
                    " images: entry cannot say that, write the resources instead"
                )
            continue
        key = (hit.file, hit.index)
        _o, new, groups = by_entry.setdefault(key, (hit, t.new_image, []))
        if new != t.new_image:
            raise RolloutError(
                f"{hit.label} sets one image for {', '.join([*groups, t.group.label])},"
                f" which move to {new} and {t.new_image}; give them one image or split the entry"
            )
        groups.append(t.group.label)
    moved = {t.group.label for t in plan.targets}
    for hit, _new, _groups in by_entry.values():
        for g in everyone:
            if g.label not in moved and kz.find_override(start, g.image, rendered=True) == hit:
                raise RolloutError(
                    f"{hit.label} also sets the image of {g.label}, which this patch leaves"
                    f" on {g.image}; move it too (--groups) or split the entry"
                )
    per_file: dict[Path, list[tuple[kz.Override, str]]] = {}
    for hit, new, _groups in by_entry.values():
        per_file.setdefault(hit.file, []).append((hit, new))
    edits = [_edit_file(items) for items in per_file.values()]
    if added and own is not None:
        edits.append(kz.add_entries(own, added))
    return tuple(e for e in edits if e.changed) or tuple(edits[:1])


def _edit_file(items: list[tuple[kz.Override, str]]) -> ManifestEdit:
    edit = kz.edit_override(items[0][0], items[0][1])
    for hit, new in items[1:]:
        more = kz.edit_override(hit, new, text=edit.text)
        edit = ManifestEdit(edit.path, edit.original, more.text, [*edit.changed, *more.changed])
    return edit


def verify(written: Written, path: str, cluster: ClusterOptions, planner: Planner) -> None:
    """Plan again from what is on disk now: every target must be on its image."""
    again = plan_write(path, cluster, planner).plan
    wanted = {t.group.label: t.new_image for t in written.plan.targets}
    for t in again.targets:
        if t.group.label in wanted and not _same(t.old_image, wanted[t.group.label]):
            raise RolloutError(
                f"{path}: after the edit {t.group.label} renders as {t.old_image}, not"
                f" {wanted[t.group.label]}; the file was put back"
            )
