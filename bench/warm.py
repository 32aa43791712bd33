"""Warm no-op releases and a release after a lock change, bytes counted at a relay.

Flow (one engine, one private definition, one relay address for every push so the
pipeline sees the same registry each time):

1. first ``invoke release`` and first ``podman build`` + ``podman push`` of the hand
   Dockerfile (setup; their figures are reported as "first");
2. ``runs`` times, nothing changed: ``invoke build``, ``invoke release``, and the hand
   ``podman build`` + ``podman push``: wall time, steps rebuilt, bytes uploaded;
3. one lock change as a user makes it (bench/invoking.py ``bump_requirement``: nats-py
   pinned to another version in a private .in, ``invoke lock`` in the base) and
   ``invoke release``: bytes uploaded against the layers the new manifest has and the
   previous one lacks; the release's SBOM (a new artifact too) is counted and shown apart.

Every pushed manifest is deleted and every image removed at the end.
"""

from __future__ import annotations

import contextlib
import json
import statistics
from typing import Any

from ray_worker_image.refs import ImageRef
from ray_worker_image.registry import Destination
from ray_worker_image.supply.artifacts import remove_attachments

from . import hand
from .invoking import BUMP, ROOT, bump_requirement, invoke_argv, invoke_env
from .measure import new_layers, ratio
from .parse import pipeline_steps, steps_rebuilt
from .proxy import CountingProxy
from .runner import (
    BenchError,
    Timed,
    dangling,
    engine_lock,
    last_error_line,
    remove_images,
    run,
)
from .workspace import Workspace


class Published:
    """What the section pushed and built, so all of it is taken back."""

    def __init__(self, upstream: str, label: str) -> None:
        self.destination = Destination.of(upstream)
        self.upstream = upstream
        self.label = label
        self.manifests: set[tuple[str, str]] = set()  # (repository, digest)
        self.images: set[str] = set()

    def delete(self, repository: str, digest: str) -> None:
        """Delete one manifest and what refers to it (the release's SBOM referrer index and
        signature); best effort: already gone is fine."""
        with contextlib.suppress(Exception):
            remove_attachments(self.destination.repository(repository), digest)
        with contextlib.suppress(Exception):
            self.destination.repository(repository).delete_manifest(digest)

    def remove(self, cli: str) -> None:
        for repository, digest in sorted(self.manifests):
            self.delete(repository, digest)
        with engine_lock():
            listed = run([cli, "images", "--format", "{{.ID}} {{.Repository}}"]).stdout
            ours = {  # also what a failed release built and tagged
                line.split()[0]
                for line in listed.splitlines()
                if line.strip() and f"-{self.label}" in line.split()[-1]
            }
            remove_images(cli, sorted(self.images | ours))


def _release(
    ws: Workspace,
    relay: str,
    proxy: CountingProxy,
    published: Published,
    *,
    must_succeed: bool = True,
) -> dict[str, Any]:
    """One ``invoke release --json`` through the relay; a no-op run may fail (recorded)."""
    before = proxy.snapshot()
    with engine_lock():
        stale = dangling(ws.cli)
        timed = run_invoke(ws, "release", relay, check=False)
        remove_images(ws.cli, sorted(dangling(ws.cli) - stale))
    figures: dict[str, Any] = {
        "seconds": round(timed.seconds, 2),
        "exit_code": timed.returncode,
        "pipeline_steps": pipeline_steps(timed.stderr),
        "steps_rebuilt": steps_rebuilt(timed.stderr)["rebuilt"],
        "upload": proxy.snapshot().minus(before).as_dict(),
    }
    if timed.returncode != 0:
        figures["error"] = last_error_line(timed.stderr)
        if must_succeed:
            raise BenchError(f"invoke release failed: {figures['error']}")
        return figures
    doc = json.loads(timed.stdout)
    repository = ImageRef.parse(doc["image"]).repository
    published.manifests.add((repository, doc["digest"]))
    published.images.add(doc["image_id"])
    return {**figures, "repository": repository, "digest": doc["digest"]}


def run_invoke(ws: Workspace, task: str, relay: str | None, *, check: bool = True) -> Timed:
    """``invoke TASK`` on the warm state folder (call under the engine lock)."""
    flags: dict[str, Any] = {"registry": relay, "json": True} if relay else {}
    argv = invoke_argv(task, engine=ws.cli, definition=ws.definition, variant=ws.variant, **flags)
    return run(argv, env=invoke_env(ws.build_dir("warm")), cwd=ROOT, check=check)


def _noop_build(ws: Workspace) -> dict[str, Any]:
    with engine_lock():
        stale = dangling(ws.cli)
        timed = run_invoke(ws, "build", None)
        remove_images(ws.cli, sorted(dangling(ws.cli) - stale))
    return {
        "seconds": round(timed.seconds, 2),
        "pipeline_steps": pipeline_steps(timed.stderr),
        "steps_rebuilt": steps_rebuilt(timed.stderr)["rebuilt"],
        "upload": {"uploaded_bytes": 0, "note": "invoke build pushes nothing"},
    }


def _hand(ws: Workspace, relay: str, proxy: CountingProxy, published: Published) -> dict[str, Any]:
    context = ws.folder / "hand"
    context.mkdir(exist_ok=True)
    base = ws.variant_definition.base
    (context / "Dockerfile").write_text(
        hand.render_dockerfile(ws.base, uid=base.user.uid, pip=base.pip_path)
    )
    repository = f"swe-fleet/ray-hand-{ws.label}"
    tag = f"{relay}/{repository}:{ws.variant}-nats"
    iidfile, digestfile = ws.folder / "hand-warm.iid", ws.folder / "hand-warm.digest"
    before = proxy.snapshot()
    with engine_lock():
        stale = dangling(ws.cli)
        built = run(
            hand.build_argv(ws.cli, context, tag, ca=ws.ca, iidfile=iidfile, no_cache=False)
        )
        pushed = run(hand.push_argv(ws.cli, tag, digestfile=digestfile))
        remove_images(ws.cli, sorted(dangling(ws.cli) - stale))
    published.images.add(tag)
    published.manifests.add((repository, digestfile.read_text().strip()))
    return {
        "seconds": round(built.seconds + pushed.seconds, 2),
        "build_s": round(built.seconds, 2),
        "push_s": round(pushed.seconds, 2),
        "steps_rebuilt": steps_rebuilt(built.stdout + built.stderr)["rebuilt"],
        "upload": proxy.snapshot().minus(before).as_dict(),
    }


def _summary(runs: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "median_s": round(statistics.median(r["seconds"] for r in runs), 2),
        "seconds": [r["seconds"] for r in runs],
        "steps_rebuilt": max(r["steps_rebuilt"] for r in runs),
        "pipeline_steps": runs[-1].get("pipeline_steps"),
        "uploaded_bytes": max(r["upload"]["uploaded_bytes"] for r in runs),
        "failed": [r["error"] for r in runs if r.get("error")],
        "last": runs[-1],
    }


def bench_warm(ws: Workspace, registry: str) -> dict[str, Any]:
    """The warm no-op and lock-only sections (see the module docstring)."""
    proxy = CountingProxy(registry)
    published = Published(registry, ws.label)
    try:
        with proxy.running():
            relay = proxy.address
            first_release = _release(ws, relay, proxy, published)
            first_hand = _hand(ws, relay, proxy, published)
            builds, releases, hands = [], [], []
            for _ in range(ws.runs):
                builds.append(_noop_build(ws))
                releases.append(_release(ws, relay, proxy, published, must_succeed=False))
                hands.append(_hand(ws, relay, proxy, published))
            was, bumped = bump_requirement(ws.definition, *BUMP)
            relocked = _lock(ws)
            last = next(r for r in [*reversed(releases), first_release] if "digest" in r)
            previous = _manifest(published, last)
            # A lock change is a new commit, hence a new immutable tag; the bench cannot commit,
            # so it deletes the previous release's manifest (its tags; the repository keeps its
            # blobs, so what a push skips is unchanged) and the release pushes afresh.
            published.delete(last["repository"], last["digest"])
            changed = _release(ws, relay, proxy, published)
            layers = new_layers(previous, _manifest(published, changed) or {})
            sbom = _sbom_bytes(ws)
    finally:
        published.remove(ws.cli)
    layer_bytes = sum(layer["size"] for layer in layers)
    uploaded = changed["upload"]["uploaded_bytes"]
    return {
        "warm_noop": {
            "first_release": first_release,
            "first_hand": first_hand,
            "invoke_build": _summary(builds),
            "invoke_release": _summary(releases),
            "hand_build_push": _summary(hands),
            "bytes_measured": f"request bodies through a counting relay in front of {registry}",
        },
        "lock_change": {
            "change": f"{BUMP[0]} {was} -> {BUMP[1]} in a private copy of {bumped.name}, "
            f"re-locked by `invoke lock` in the base ({relocked} s); the previous release's "
            "manifest deleted first (its immutable tag would refuse the new image: a real lock "
            "change is a new commit and tag)",
            "lock_seconds": relocked,
            "release": changed,
            "new_layers": layers,
            "new_layer_bytes": layer_bytes,
            "uploaded_bytes": uploaded,
            "blob_bytes": changed["upload"]["blob_bytes"],
            "sbom_bytes": sbom,
            "image_uploaded_bytes": uploaded - sbom,
            "ratio": ratio(uploaded - sbom, layer_bytes),
            "ratio_with_sbom": ratio(uploaded, layer_bytes),
        },
    }


def _lock(ws: Workspace) -> float:
    """``invoke lock`` of the bumped private .in (pip-compile inside the base); seconds."""
    with engine_lock():
        timed = run_invoke(ws, "lock", None)
    return round(timed.seconds, 2)


def _sbom_bytes(ws: Workspace) -> int:
    """Size of the SBOM the last release attached (and wrote next to its rollout)."""
    written = sorted(
        ws.build_dir("warm").rglob("sbom-*.cdx.json"), key=lambda path: path.stat().st_mtime
    )
    if not written:
        raise BenchError("invoke release wrote no sbom-*.cdx.json under the warm build folder")
    return written[-1].stat().st_size


def _manifest(published: Published, release: dict[str, Any]) -> dict[str, Any] | None:
    found = published.destination.repository(release["repository"]).manifest(release["digest"])
    if found is None:
        raise BenchError(f"{release['repository']}@{release['digest']}: not in the registry")
    return found[1]
