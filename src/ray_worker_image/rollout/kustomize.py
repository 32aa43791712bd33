"""GitOps through Kustomize: the ``images:`` entry that decides what a cluster runs.

A manifest in a Kustomize tree may not say the image that is deployed: a
``kustomization.yaml`` (in its folder or a parent) can override it with an ``images:``
entry (``name`` matched against the image name as written; ``newName``, ``newTag``,
``digest`` replace its parts), as ``kustomize edit set image`` and Argo CD's image
updater write it (kustomize ``api/types/image.go``; kubectl has kustomize built in).

Searched: the manifest's folder and its parents up to the git root (the first folder
holding ``.git``; outside git, the folder alone). Overlays elsewhere (sibling folders
that include this one) are not searched. Entries are edited with ruamel.yaml's round
trip, so comments stay; renders come from the real ``kubectl kustomize``.
"""

from __future__ import annotations

import io
import subprocess
import tempfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.error import YAMLError

from ..errors import PipelineError, RolloutError
from ..refs import ImageRef
from .gitops import ManifestEdit
from .output import find_kubectl

FILES = ("kustomization.yaml", "kustomization.yml", "Kustomization")
RENDER_TIMEOUT = 60  # seconds for one `kubectl kustomize`


@dataclass(frozen=True)
class Override:
    """``images[index]`` of ``file``: ``entry`` holds name, newName, newTag, digest."""

    file: Path
    index: int
    entry: Mapping[str, Any]

    @property
    def label(self) -> str:
        return f"{self.file}: images[{self.index}] (name {self.entry.get('name')})"


def kustomization_in(folder: Path) -> Path | None:
    """The kustomization file of ``folder``, or None."""
    for name in FILES:
        if (folder / name).is_file():
            return folder / name
    return None


def chain(start: Path) -> Iterator[Path]:
    """Kustomization files from ``start`` (a folder) up to the git root, nearest first."""
    folder = start.resolve()
    top = next((p for p in (folder, *folder.parents) if (p / ".git").exists()), folder)
    for candidate in (folder, *folder.parents):
        found = kustomization_in(candidate)
        if found is not None:
            yield found
        if candidate == top:
            return


def _same_name(a: str, b: str) -> bool:
    try:
        return ImageRef.parse(a).name == ImageRef.parse(b).name
    except PipelineError:
        return a == b


def _name_of(image: str) -> str:
    try:
        ref = ImageRef.parse(image)
    except PipelineError:
        return image
    return ref.familiar_name if ref.registry == "docker.io" else ref.name


def _load(file: Path) -> Any:
    try:
        return YAML(typ="rt").load(file.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, YAMLError) as exc:
        raise RolloutError(f"cannot read {file}: {type(exc).__name__}") from None


def find_override(start: Path, image: str, *, rendered: bool = False) -> Override | None:
    """The nearest ``images:`` entry overriding ``image`` (as written in a resource; with
    ``rendered``: as ``kubectl kustomize`` prints it, i.e. after the entry applied)."""
    for file in chain(start):
        doc = _load(file)
        entries = doc.get("images") if isinstance(doc, Mapping) else None
        for index, entry in enumerate(entries if isinstance(entries, list) else []):
            if not isinstance(entry, Mapping) or not entry.get("name"):
                continue
            name = str(entry.get("newName") or entry["name"]) if rendered else str(entry["name"])
            if _same_name(name, image):
                return Override(file, index, entry)
    return None


def render(target: Path) -> str:
    """``kubectl kustomize target`` (a folder): the rendered YAML. RolloutError if it fails."""
    kubectl = find_kubectl()
    if kubectl is None:
        raise RolloutError(f"{target}: rendering a kustomization needs kubectl on PATH")
    try:
        done = subprocess.run(
            [kubectl, "kustomize", str(target)],
            capture_output=True,
            text=True,
            timeout=RENDER_TIMEOUT,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise RolloutError(f"kubectl kustomize {target}: {type(exc).__name__}") from None
    if done.returncode != 0:
        first = (done.stderr.strip().splitlines() or ["failed"])[-1]
        raise RolloutError(f"kubectl kustomize {target}: {first}")
    return done.stdout


def apply_entries(manifest: Path, overrides: list[Override]) -> str:
    """``manifest`` as the ``overrides``' entries alone render it (kubectl kustomize, exact)."""
    with tempfile.TemporaryDirectory(prefix="ray-kustomize-") as tmp:
        folder = Path(tmp)
        (folder / "resource.yaml").write_bytes(manifest.read_bytes())
        entries = [{k: str(v) for k, v in o.entry.items()} for o in overrides]
        doc = {"resources": ["resource.yaml"], "images": entries}
        buffer = io.StringIO()
        YAML(typ="safe").dump(doc, buffer)
        (folder / "kustomization.yaml").write_text(buffer.getvalue(), encoding="utf-8")
        return render(folder)


def entry_for(override: Override, new_image: str) -> dict[str, str]:
    """The entry's fields pointing at ``new_image`` (REPO[:TAG][@sha256:...])."""
    ref = ImageRef.parse(new_image)
    fields = {"newName": _name_of(new_image)}
    if ref.tag:
        fields["newTag"] = ref.tag
    if ref.digest:
        fields["digest"] = ref.digest
    return fields


def _round_trip() -> YAML:
    yaml = YAML(typ="rt")
    yaml.preserve_quotes = True
    yaml.indent(mapping=2, sequence=2, offset=0)  # kustomize's own style: "- name: x"
    yaml.width = 4096  # a digest stays on its line
    return yaml


def _original(file: Path) -> str:
    try:
        return file.read_bytes().decode("utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise RolloutError(f"cannot read {file}: {type(exc).__name__}") from None


def edit_override(override: Override, new_image: str, *, text: str | None = None) -> ManifestEdit:
    """The kustomization with ``override``'s entry on ``new_image`` (comments kept).

    ``name`` stays (it matches the resources); newName, newTag and digest are set, and a
    newTag or digest the new reference lacks is removed. ``text``: start from this text
    (an earlier edit of the same file) instead of the file.
    """
    file = override.file
    original = _original(file) if text is None else text
    yaml = _round_trip()
    doc = yaml.load(original)
    entry = doc["images"][override.index]
    wanted = entry_for(override, new_image)
    for key in ("newTag", "digest"):
        if key not in wanted and key in entry:
            del entry[key]
    for key, value in wanted.items():
        entry[key] = value
    buffer = io.StringIO()
    yaml.dump(doc, buffer)
    old = rendered_image(override.entry)
    changed = [] if buffer.getvalue() == original else [(override.index + 1, old, new_image)]
    return ManifestEdit(file, original, buffer.getvalue(), changed)


def written_name(image: str) -> str:
    """The name part of an image as written (no tag, no digest): what ``name`` matches."""
    rest = image.partition("@")[0]
    head, slash, last = rest.rpartition("/")
    return f"{head}{slash}{last.partition(':')[0]}"


def add_entries(folder: Path, added: Mapping[str, str]) -> ManifestEdit:
    """``folder``'s kustomization with a new ``images:`` entry per name -> new image."""
    file = kustomization_in(folder)
    if file is None:
        raise RolloutError(f"{folder}: no kustomization file ({', '.join(FILES)})")
    original = _original(file)
    yaml = _round_trip()
    doc = yaml.load(original)
    if not isinstance(doc, dict):
        raise RolloutError(f"{file}: not a kustomization (not a mapping)")
    if doc.get("images") is None:
        doc["images"] = []
    changed = []
    for name, new in added.items():
        entry = {"name": name, **entry_for(Override(file, -1, {"name": name}), new)}
        doc["images"].append(entry)
        changed.append((len(doc["images"]), name, new))
    buffer = io.StringIO()
    yaml.dump(doc, buffer)
    return ManifestEdit(file, original, buffer.getvalue(), changed)


def rendered_image(entry: Mapping[str, Any]) -> str:
    """What the entry says, spelled as one reference (for messages)."""
    text = str(entry.get("newName") or entry.get("name"))
    if entry.get("newTag"):
        text += f":{entry['newTag']}"
    if entry.get("digest"):
        text += f"@{entry['digest']}"
    return text


def is_kustomization(path: Path) -> bool:
    """True when ``path`` is a folder holding a kustomization file."""
    return path.is_dir() and kustomization_in(path) is not None


__all__ = [
    "FILES",
    "Override",
    "add_entries",
    "apply_entries",
    "chain",
    "edit_override",
    "find_override",
    "is_kustomization",
    "kustomization_in",
    "render",
    "rendered_image",
    "written_name",
]
