"""Who else writes a Ray object: its owner (a RayService or RayJob) and the tools that apply it.

Read from the object's ``metadata`` only; the rollout warns or refuses with them
(:mod:`.planner`), since each puts its own spec back after a patch.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def owner(meta: Mapping[str, Any]) -> str | None:
    """The RayService or RayJob that owns this object (``Kind/name``), from its
    ``metadata.ownerReferences``; KubeRay sets them on the RayClusters it makes."""
    for ref in meta.get("ownerReferences") or []:
        if isinstance(ref, Mapping) and ref.get("kind") in ("RayService", "RayJob"):
            return f"{ref.get('kind')}/{ref.get('name')}"
    return None


def managers(meta: Mapping[str, Any]) -> tuple[str, ...]:
    """Who else writes this object: Helm, Argo CD, Flux, ``kubectl apply`` (by their marks).

    Marks: ``app.kubernetes.io/managed-by: Helm`` and ``meta.helm.sh/release-name``;
    ``argocd.argoproj.io/instance`` / ``argocd.argoproj.io/tracking-id``;
    ``kustomize.toolkit.fluxcd.io/name``, ``helm.toolkit.fluxcd.io/name``;
    ``kubectl.kubernetes.io/last-applied-configuration``.
    """
    labels = meta.get("labels") or {}
    notes = meta.get("annotations") or {}
    marks = (
        {**labels, **notes} if isinstance(labels, Mapping) and isinstance(notes, Mapping) else {}
    )
    found = []
    release = marks.get("meta.helm.sh/release-name")
    if release or str(marks.get("app.kubernetes.io/managed-by", "")).lower() == "helm":
        found.append(f"Helm release {release or '(unnamed)'!r}")
    argo = marks.get("argocd.argoproj.io/instance") or marks.get("argocd.argoproj.io/tracking-id")
    if argo:
        found.append(f"Argo CD application {str(argo).split(':')[0]!r}")
    for key, what in (
        ("kustomize.toolkit.fluxcd.io/name", "Flux Kustomization"),
        ("helm.toolkit.fluxcd.io/name", "Flux HelmRelease"),
    ):
        if marks.get(key):
            found.append(f"{what} {marks[key]!r}")
    if "kubectl.kubernetes.io/last-applied-configuration" in marks:
        found.append("kubectl apply (last-applied-configuration)")
    return tuple(found)
