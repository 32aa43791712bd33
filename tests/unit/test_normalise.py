"""A saved image's config loses the builder container's id; everything else is copied."""

from __future__ import annotations

import hashlib
import io
import json
import tarfile

from ray_worker_image.engine.normalise import normalised_config, rewrite_archive


def _archive(container: str) -> bytes:
    config = json.dumps({"container": container, "container_config": {}, "created": "x"}).encode()
    members = {
        "abc.json": config,
        "layer/layer.tar": b"layer bytes",
        "manifest.json": json.dumps(
            [{"Config": "abc.json", "RepoTags": None, "Layers": ["layer/layer.tar"]}]
        ).encode(),
    }
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return out.getvalue()


def test_two_builds_differing_in_the_container_id_get_one_image_id() -> None:
    ids, outs = [], []
    for container in ("a" * 64, "b" * 64):
        out = io.BytesIO()
        raw = _archive(container)
        ids.append(rewrite_archive([raw[:100], raw[100:]], out, "localhost/x:1"))
        outs.append(out.getvalue())
    assert ids[0] == ids[1]
    with tarfile.open(fileobj=io.BytesIO(outs[0])) as tar:
        manifest = json.loads(tar.extractfile("manifest.json").read())  # type: ignore[union-attr]
        config = tar.extractfile(manifest[0]["Config"]).read()  # type: ignore[union-attr]
        assert tar.extractfile("layer/layer.tar").read() == b"layer bytes"  # type: ignore[union-attr]
    assert manifest[0]["RepoTags"] == ["localhost/x:1"]
    assert ids[0] == "sha256:" + hashlib.sha256(config).hexdigest()
    assert "container" not in json.loads(config) and json.loads(config)["created"] == "x"


def test_the_normalised_config_is_canonical() -> None:
    assert normalised_config(b'{"b": 1, "a": 2, "container": "x"}') == b'{"a":2,"b":1}'
