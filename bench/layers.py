"""Bytes against the right floor: the smallest layer holding exactly the new packages' files.

- *floor*: the smallest tar of exactly the files the new distributions installed (every
  path their ``RECORD`` lists that is a regular file in the image, ``.pyc`` included, owner,
  mode and whole-second mtime as in the image; ustar headers, no extension headers, no
  directory entries, which a layer may leave out, and no record padding after the two
  end-of-archive blocks), made by a probe run with the image's own Python in a container of
  the image: its bytes uncompressed and gzip-compressed (level 6, containers/image's default
  ``pgzip`` level, header mtime 0).
- *added layers*: the layers an image has on top of its base (``RootFS.Layers`` beyond the
  base's), read from a ``save`` of the image (the bench may export: it measures), each
  checked against its diff id; uncompressed bytes and the same gzip level.

So both sides are layer tars compressed the same way: the ratio says what the build adds
beyond the files themselves (directory entries, the record of deleted files, metadata).
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import subprocess
import tarfile
from collections.abc import Mapping, Sequence
from typing import Any

from .cold import Kept
from .measure import distributions, floor_bytes, new_distributions, ratio
from .runner import BenchError, engine_lock, run
from .workspace import Workspace

GZIP_LEVEL = 6
# Python >= 3.8 in the image; argv: distribution names. Prints the floor's figures as JSON.
FLOOR_PROBE = """
import gzip, importlib.metadata as m, io, json, os, sys, tarfile
wanted = set(sys.argv[1:])
paths = set()
for d in m.distributions():
    if d.metadata["Name"].lower().replace("_", "-") in wanted:
        paths |= {os.path.realpath(str(d.locate_file(f))) for f in (d.files or [])}
files = sorted(p for p in paths if os.path.isfile(p) and not os.path.islink(p))

def layer(form):
    out = io.BytesIO()
    tar = tarfile.open(fileobj=out, mode="w", format=form)
    for path in files:
        info = tar.gettarinfo(path, arcname=path.lstrip("/"))
        info.uname = info.gname = ""
        info.mtime = int(info.mtime)  # a float mtime costs a pax header per file
        with open(path, "rb") as handle:
            tar.addfile(info, handle)
    end = tar.offset + 2 * tarfile.BLOCKSIZE  # the end-of-archive blocks, no record padding
    tar.close()
    return out.getvalue()[:end]

try:
    data = layer(tarfile.USTAR_FORMAT)  # no extension headers at all
except ValueError:  # a path too long for ustar: GNU long-name entries where needed
    data = layer(tarfile.GNU_FORMAT)
packed = gzip.compress(data, compresslevel=LEVEL, mtime=0)
print(json.dumps({"files": len(files), "uncompressed": len(data), "compressed": len(packed)}))
""".replace("LEVEL", str(GZIP_LEVEL))


def floor_tar(cli: str, image: str, python: str, names: Sequence[str]) -> dict[str, int]:
    """The floor for ``names`` (distributions) in ``image`` (runs a container; call under
    the engine lock): ``{"files", "uncompressed", "compressed"}``, bytes. BenchError when
    no file is found."""
    argv = [cli, "run", "--rm", "--network", "none", "--entrypoint", python, image]
    out = run([*argv, "-c", FLOOR_PROBE, *names]).stdout
    found: dict[str, int] = json.loads(out.strip().splitlines()[-1])
    if not found["files"]:
        raise BenchError(f"{image}: no installed file of {', '.join(names)} found")
    return found


def diff_ids(cli: str, image: str) -> list[str]:
    """The image's layer diff ids, base first (``inspect``; call under the engine lock)."""
    out = run([cli, "image", "inspect", "--format", "{{json .RootFS.Layers}}", image]).stdout
    return list(json.loads(out.strip()) or [])


def added_ids(image: Sequence[str], base: Sequence[str]) -> list[str]:
    """Diff ids of ``image`` beyond ``base``; BenchError unless ``base`` is its prefix."""
    if list(image[: len(base)]) != list(base):
        raise BenchError("the image's first layers are not its base's: not built on it")
    return list(image[len(base) :])


def named_id(name: str) -> str | None:
    """The diff id an archive member's name carries (podman: ``<hex>.tar``; OCI-style
    ``blobs/sha256/<hex>``), or None (pure)."""
    stem = name.rsplit("/", 1)[-1].removesuffix(".tar")
    if len(stem) == 64 and all(c in "0123456789abcdef" for c in stem):
        return f"sha256:{stem}"
    return None


def layer_figures(data: bytes, diff_id: str) -> dict[str, Any]:
    """``{"diff_id", "uncompressed", "compressed"}`` of one layer tar; BenchError when its
    sha256 is not ``diff_id`` (pure)."""
    if "sha256:" + hashlib.sha256(data).hexdigest() != diff_id:
        raise BenchError(f"the saved layer named {diff_id[:19]} has another digest")
    packed = gzip.compress(data, compresslevel=GZIP_LEVEL, mtime=0)
    return {
        "diff_id": diff_id,
        "uncompressed": len(data),
        "compressed": len(packed),
        "entries": entries(data),
    }


def entries(data: bytes) -> dict[str, int]:
    """How many regular files, directories and other entries a layer tar holds (pure)."""
    counts = {"files": 0, "dirs": 0, "other": 0}
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:") as tar:
        for member in tar:
            kind = "files" if member.isfile() else "dirs" if member.isdir() else "other"
            counts[kind] += 1
    return counts


def added_layers(cli: str, image: str, base: str) -> list[dict[str, Any]]:
    """The layers ``image`` adds over ``base``, in order (saves the image, reading only the
    added layers' members; call under the engine lock)."""
    wanted = added_ids(diff_ids(cli, image), diff_ids(cli, base))
    found: dict[str, dict[str, Any]] = {}
    with subprocess.Popen([cli, "save", image], stdout=subprocess.PIPE) as saving:
        assert saving.stdout is not None
        with tarfile.open(fileobj=saving.stdout, mode="r|") as archive:
            for member in archive:
                diff_id = named_id(member.name) if member.isfile() else None
                reader = archive.extractfile(member) if diff_id in wanted else None
                if diff_id and reader is not None:
                    found[diff_id] = layer_figures(reader.read(), diff_id)
    missing = [diff_id for diff_id in wanted if diff_id not in found]
    if saving.returncode or missing:
        raise BenchError(
            f"{cli} save {image}: exit {saving.returncode}, layers not found by name: "
            f"{', '.join(missing) or 'none'}"
        )
    return [found[diff_id] for diff_id in wanted]


def totals(layers: Sequence[Mapping[str, Any]]) -> dict[str, int]:
    """Summed ``uncompressed``/``compressed`` bytes of ``layers``."""
    return {key: sum(int(layer[key]) for layer in layers) for key in ("uncompressed", "compressed")}


def over_floor(added: Mapping[str, int], floor: Mapping[str, int]) -> dict[str, float | None]:
    """``{"uncompressed": x, "compressed": y}``: added bytes / the floor's, 3 digits."""
    return {key: ratio(added[key], floor[key], 3) for key in ("uncompressed", "compressed")}


def bench_added(ws: Workspace, kept: Kept) -> dict[str, Any]:
    """The floor layer and each image's added layers (uncompressed and gzip), and ratios."""
    python = ws.variant_definition.base.python_path
    with engine_lock():
        base_dists = distributions(ws.cli, ws.base, python)
        new = new_distributions(base_dists, distributions(ws.cli, kept.pipeline, python))
        hand_new = new_distributions(base_dists, distributions(ws.cli, kept.hand, python))
        floor = floor_tar(ws.cli, kept.pipeline, python, sorted(new))
    images: dict[str, dict[str, Any]] = {}
    for who in ("pipeline", "hand"):
        with engine_lock():
            layers = added_layers(ws.cli, getattr(kept, who), ws.base)
        images[who] = {"layers": layers, **totals(layers)}
    return {
        "measured": "layer tars added over the base (from a save of each image) against a "
        "tar of exactly the new distributions' installed files; gzip level 6 on both sides",
        "floor": floor,
        "new_distributions": new,
        "hand_new_distributions": hand_new,
        "record_bytes": floor_bytes(new),
        "pipeline": images["pipeline"],
        "hand": images["hand"],
        "pipeline_over_floor": over_floor(images["pipeline"], floor),
        "hand_over_floor": over_floor(images["hand"], floor),
    }
