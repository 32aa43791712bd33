"""The rehearsal's cluster state, kept as JSON files in the run's temporary folder.

``config.json`` (what the run set up: engine, network, labels, local images), ``rc.json`` (the
RayCluster, as the API server would hold it: ``kubectl patch`` edits it) and ``pods.json``
(one record per pod: its group, containers and the template it was made from). Every shim
call holds ``lock`` while it reads and writes them.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ..proc import file_lock

STATE_ENV = "REHEARSAL_STATE"  # the folder, for the shim


@dataclass(frozen=True)
class Config:
    """What the shim needs to act as KubeRay and the kubelet for one run."""

    engine: str  # podman | docker
    network: str
    label: str  # key=value every container of the run carries (clean-up)
    python: str  # the image's interpreter (ray_nodes probe)
    source: str  # the manifest, for messages
    login_shell: bool
    head_aliases: tuple[str, ...]  # the head Service's names on the network
    kubectl: str  # the real kubectl (jsonpath, patches), resolved before PATH had the shim
    local_images: dict[str, str] = field(default_factory=dict)  # template image -> local ref

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Config:
        data = dict(data)
        data["head_aliases"] = tuple(data["head_aliases"])
        return cls(**data)


@dataclass
class PodRecord:
    """One pod: ``containers`` is the pod spec's containers (copied from the template when
    the pod was made); ``box``/``init`` the engine containers (empty: not started)."""

    name: str
    group: str
    node_type: str  # head | worker
    hostname: str
    containers: list[dict[str, Any]]
    prefix: str = ""  # the pod_prefix its Ray container was planned with
    box: str = ""
    init: str = ""
    reason: str = ""  # why it does not run (image not present, init failed)
    restarts: int = 0  # times its Ray container exited and was started again
    grace_s: int = 30  # terminationGracePeriodSeconds (Kubernetes' default 30)

    @property
    def image(self) -> str:
        return str(self.containers[0].get("image", ""))


class State:
    """The files of one run; use as ``with State(folder).locked() as s:``."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    @classmethod
    def from_env(cls) -> State:
        folder = os.environ.get(STATE_ENV)
        if not folder:
            raise RuntimeError(f"${STATE_ENV} is not set: the shim runs only inside a rehearsal")
        return cls(Path(folder))

    @contextmanager
    def locked(self) -> Iterator[State]:
        with file_lock(self.folder / "lock"):
            yield self

    def _read(self, name: str) -> Any:
        return json.loads((self.folder / name).read_text(encoding="utf-8"))

    def _write(self, name: str, value: Any) -> None:
        tmp = self.folder / f".{name}.tmp"
        tmp.write_text(json.dumps(value, indent=1), encoding="utf-8")
        tmp.replace(self.folder / name)

    @property
    def config(self) -> Config:
        return Config.from_json(self._read("config.json"))

    def save_config(self, config: Config) -> None:
        self._write("config.json", asdict(config))

    @property
    def cluster(self) -> dict[str, Any]:
        value: dict[str, Any] = self._read("rc.json")
        return value

    def save_cluster(self, obj: dict[str, Any]) -> None:
        self._write("rc.json", obj)

    @property
    def pods(self) -> list[PodRecord]:
        path = self.folder / "pods.json"
        if not path.exists():
            return []
        return [PodRecord(**p) for p in self._read("pods.json")]

    def save_pods(self, pods: list[PodRecord]) -> None:
        self._write("pods.json", [asdict(p) for p in pods])

    def log(self, line: str) -> None:
        """What the shim did, one line per call (in the run's folder while it runs)."""
        with (self.folder / "shim.log").open("a", encoding="utf-8") as fh:
            fh.write(line.rstrip("\n") + "\n")
