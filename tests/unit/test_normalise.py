"""A podman image's config loses the builder container's id; everything else is kept."""

from __future__ import annotations

import base64
import hashlib
import io
import json
import tarfile
from pathlib import Path

import pytest

from ray_worker_image.engine.normalise import (
    config_archive,
    normalised_config,
    rewrite_archive,
    storage_root,
    stored_config_path,
)


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


def _config(container: str, layers: int = 2) -> bytes:
    diff_ids = [f"sha256:{n:064x}" for n in range(layers)]
    return json.dumps(
        {"container": container, "created": "x", "rootfs": {"type": "layers", "diff_ids": diff_ids}}
    ).encode()


def test_the_config_archive_holds_the_config_alone_with_one_empty_member_per_layer() -> None:
    archives = [config_archive(_config(c * 64), "localhost/x:1") for c in "ab"]
    assert archives[0] == archives[1]  # byte for byte: two builds, one archive, one id
    data, image_id = archives[0]
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        sizes = {member.name: member.size for member in tar}
        manifest = json.loads(tar.extractfile("manifest.json").read())  # type: ignore[union-attr]
        config = tar.extractfile(manifest[0]["Config"]).read()  # type: ignore[union-attr]
    assert manifest == [
        {
            "Config": f"{image_id.removeprefix('sha256:')}.json",
            "RepoTags": ["localhost/x:1"],
            "Layers": ["0/layer.tar", "1/layer.tar"],
        }
    ]
    assert sizes["0/layer.tar"] == sizes["1/layer.tar"] == 0  # no layer bytes leave the engine
    assert image_id == "sha256:" + hashlib.sha256(config).hexdigest()
    assert config == normalised_config(_config("a" * 64))


def test_a_config_without_layers_is_refused() -> None:
    with pytest.raises(ValueError, match="diff_ids"):
        config_archive(_config("a", layers=0), "localhost/x:1")


def test_the_stored_config_path_is_containers_storage_big_data_name() -> None:
    # containers/storage makeBigDataBaseName: "=" + base64("sha256:<hex>"); checked on podman
    # 4.3 (/var/lib/containers/storage/overlay-images/<hex>/=c2hhMjU2Oj...).
    hex_id = "a699d81c676e66a77962e85da21102b103aa8e9e9785630b5151d807670fd785"
    path = stored_config_path("/var/lib/containers/storage", "overlay", f"sha256:{hex_id}")
    assert path == Path(
        "/var/lib/containers/storage/overlay-images",
        hex_id,
        "=" + base64.b64encode(f"sha256:{hex_id}".encode()).decode(),
    )
    assert path.name.startswith("=c2hhMjU2Om")


def test_the_storage_root_is_read_from_the_inspected_upper_dir() -> None:
    """podman's inspect names the top layer's folder; /info (0.2 s on podman) is not asked."""
    upper = "/var/lib/containers/storage/overlay/" + "ab" * 32 + "/diff"
    found = storage_root({"Name": "overlay", "Data": {"UpperDir": upper, "LowerDir": "x"}})
    assert found == ("/var/lib/containers/storage", "overlay")


@pytest.mark.parametrize(
    "graph_driver",
    [
        {},
        {"Name": "vfs", "Data": None},
        {"Name": "overlay", "Data": {}},
        {"Name": "overlay", "Data": {"UpperDir": "/var/lib/containers/storage/overlay/x"}},
        {"Name": "overlay", "Data": {"UpperDir": "/srv/elsewhere/x/diff"}},
    ],
)
def test_an_unknown_storage_layout_asks_info(graph_driver: dict[str, object]) -> None:
    assert storage_root(graph_driver) is None
