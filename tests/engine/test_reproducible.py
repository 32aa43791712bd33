"""Two cold builds of one commit give one image on podman (issue 13 item 1).

Podman only: Docker Engine's classic builder stamps the config and history with the
clock (docs/design.md "Reproducible builds" shows the diff). The first image is removed
before the second build, so the second cannot be the first found again in storage.

Issue 19 point 3: the normalisation must not export the image (no `docker save` of the
base's layers: only the config is loaded back), and a base already held under its pinned
digest is not pulled again.
"""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import docker.models.images
import pytest

from ray_worker_image import engine as engines
from ray_worker_image.build import build_image
from ray_worker_image.definition import load_variant
from ray_worker_image.inputs import commit_epoch, rfc3339
from ray_worker_image.refs import ImageRef
from ray_worker_image.render import render_context
from ray_worker_image.session import Options, Session
from tests.refclient import RefClient

from ..conftest import ROOT, isolated_definition

pytestmark = [pytest.mark.engine, pytest.mark.xdist_group("podman")]  # podman's lane


@pytest.fixture
def podman() -> engines.Engine:
    try:
        return engines.PodmanEngine.connect()
    except engines.EngineError as exc:
        pytest.skip(f"podman not available: {exc}")


def test_two_cold_podman_builds_give_one_image_id_and_one_manifest_digest(
    podman: engines.Engine, registry: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_export(*_args: Any, **_kwargs: Any) -> None:
        raise AssertionError("the build exported an image (docker save) to normalise it")

    monkeypatch.setattr(docker.models.images.Image, "save", no_export)
    pulls: list[str] = []
    real_pull = podman.pull

    def counted_pull(ref: ImageRef) -> str:
        pulls.append(str(ref))
        return real_pull(ref)

    monkeypatch.setattr(podman, "pull", counted_pull)
    label = f"repro-{uuid.uuid4().hex[:6]}"
    definition = isolated_definition(load_variant(root=ROOT), label)
    options = Options(
        root=ROOT, engine="podman", stand_in=True, stand_in_registry=registry, build_dir=tmp_path
    )
    s = Session(options, definition=definition, engine=podman)
    client = RefClient(registry)
    repository = f"{definition.target.repository}-pushed"
    ids: list[str] = []
    digests: list[str] = []
    names: list[str] = []
    try:
        s.resolve_base()  # the stand-in base exists and is held by its digest from here on
        for run in ("a", "b"):
            s = Session(options, definition=definition, engine=podman)  # resolves afresh
            pulls.clear()
            context = render_context(definition, s.resolve_base(), s.build_dir)
            built = build_image(
                definition, podman, context, s.resolve_base(), ca_cert=s.ca_cert, no_cache=True
            )
            assert pulls == [], f"the base was pulled although held by its digest: {pulls}"
            ids.append(built.image_id)
            names.extend(built.tags)
            ref = ImageRef(registry, repository, f"run-{run}")
            podman.tag(built.image_id, ref)
            names.append(str(ref))
            reported = podman.push(ref, auth=None, on_line=lambda _line: None)
            served = client.manifest_digest(ref)
            assert served and served == reported
            digests.append(served)
            attrs = podman.image_attrs(built.image_id)
            labels = attrs["Config"]["Labels"]
            assert labels["org.opencontainers.image.created"] == rfc3339(commit_epoch(ROOT))
            for name in (*built.tags, str(ref)):
                podman.untag(name)
            podman.remove_image(built.image_id)  # the second build starts from the base alone
        assert ids[0] == ids[1], "two cold builds of one commit gave different image ids"
        assert digests[0] == digests[1], "the same image pushed twice gave different digests"
    finally:
        for digest in set(digests):
            client.delete(ImageRef(registry, repository, digest=digest))
        for name in names:
            podman.untag(name)
        for image_id in ids:
            podman.remove_image(image_id)
    assert client.tags(repository) == []
