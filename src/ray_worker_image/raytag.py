"""Ray's image tag grammar: ``{ray}[-py{XY}][-{platform}][-aarch64]``.

Source: ``docker/ray/README.md`` and ``ci/ray_ci/docker_container.py`` of ray-project/ray,
summarised in ``docs/reference/ray-2.49.2/FACTS.md`` section 2:

- no ``-py`` part means Python 3.9 (the images' default Python);
- no platform part means ``cpu``; ``gpu`` is an alias of ``cu121``; CUDA platforms are
  ``cu`` plus digits (``cu118``, ``cu121``, ``cu128``...);
- no ``-aarch64`` suffix means x86_64.

So ``2.49.2`` == ``2.49.2-py39`` == ``2.49.2-cpu`` == ``2.49.2-py39-cpu``.

Pure: no I/O. Used by the image definition (variant names) and the rollout (what a cluster
runs now versus what a variant is built on).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from .errors import PipelineError

DEFAULT_PYTHON = "3.9"
DEFAULT_PLATFORM = "cpu"
DEFAULT_ARCH = "x86_64"
GPU_ALIAS = {"gpu": "cu121"}
OFFICIAL_REPOSITORIES = ("rayproject/ray", "rayproject/ray-ml", "rayproject/ray-llm")
# Every Docker Hub repository of this namespace whose tag is in the grammar is classified
# (ray, ray-ml, ray-llm: ``rayproject/ray-llm:2.49.2-py311-cu128`` is GPU, Python 3.11).
OFFICIAL_NAMESPACE = "rayproject/"

_TAG = re.compile(
    r"^(?P<ray>\d+\.\d+\.\d+)"
    r"(?:-py(?P<py>3\d{1,2}))?"
    r"(?:-(?P<platform>cpu|gpu|cu\d{3,4}))?"
    r"(?:-(?P<arch>aarch64))?$"
)


class RayTagError(PipelineError):
    """A tag that is not in Ray's image tag grammar."""


@dataclass(frozen=True, order=True)
class RayTag:
    """One variant of ``rayproject/ray``, every part explicit.

    ``ray_version`` "2.52.1"; ``python`` "3.11" (major.minor); ``platform`` "cpu" or a CUDA
    platform "cu121" (``gpu`` is normalised to ``cu121``); ``arch`` "x86_64" or "aarch64".
    """

    ray_version: str
    python: str
    platform: str = DEFAULT_PLATFORM
    arch: str = DEFAULT_ARCH

    @classmethod
    def parse(cls, tag: str) -> RayTag:
        """Parse a tag; raises :class:`RayTagError` when it is not in the grammar."""
        match = _TAG.match(tag)
        if not match:
            raise RayTagError(
                f"tag {tag!r} is not in Ray's grammar {{ray}}[-py{{XY}}][-{{platform}}][-aarch64] "
                "(e.g. 2.49.2, 2.52.1-py311, 2.49.2-py311-gpu)"
            )
        py = match["py"]
        python = f"{py[0]}.{py[1:]}" if py else DEFAULT_PYTHON
        platform = match["platform"] or DEFAULT_PLATFORM
        return cls(
            ray_version=match["ray"],
            python=python,
            platform=GPU_ALIAS.get(platform, platform),
            arch=match["arch"] or DEFAULT_ARCH,
        )

    @classmethod
    def try_parse(cls, tag: str | None) -> RayTag | None:
        """:meth:`parse`, or None for a tag outside the grammar (or no tag)."""
        if not tag:
            return None
        try:
            return cls.parse(tag)
        except RayTagError:
            return None

    @property
    def python_tag(self) -> str:
        """``py311`` for Python 3.11."""
        return "py" + self.python.replace(".", "")

    @property
    def is_gpu(self) -> bool:
        return self.platform != DEFAULT_PLATFORM

    @property
    def canonical(self) -> str:
        """Every part spelled out: ``2.49.2-py39-cpu`` (``-aarch64`` only when it applies)."""
        text = f"{self.ray_version}-{self.python_tag}-{self.platform}"
        return text + ("-aarch64" if self.arch == "aarch64" else "")

    @property
    def short(self) -> str:
        """The shortest tag meaning the same: defaults left out (``2.49.2``, ``2.52.1-py311``)."""
        text = self.ray_version
        if self.python != DEFAULT_PYTHON:
            text += f"-{self.python_tag}"
        if self.platform != DEFAULT_PLATFORM:
            text += f"-{self.platform}"
        if self.arch != DEFAULT_ARCH:
            text += "-aarch64"
        return text

    def differences(self, other: RayTag) -> list[str]:
        """Human-readable parts that differ, e.g. ``["Python 3.9 vs 3.11"]``; [] when equal."""
        out = []
        if self.ray_version != other.ray_version:
            out.append(f"Ray {self.ray_version} vs {other.ray_version}")
        if self.python != other.python:
            out.append(f"Python {self.python} vs {other.python}")
        if self.platform != other.platform:
            out.append(f"platform {self.platform} vs {other.platform}")
        if self.arch != other.arch:
            out.append(f"architecture {self.arch} vs {other.arch}")
        return out
