"""One bench run's private workspace: definition copy, folders, names, base, CA.

Everything lives under ``build/bench/<label>/`` (git-ignored) and is removed at the end.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import uuid
from pathlib import Path
from typing import Any

from ray_worker_image.definition import ImageDefinition, load_variant

from .invoking import ROOT, invoke_argv, invoke_env, private_definition
from .runner import BenchError, Timed, locked

SYSTEM_CA = Path("/etc/ssl/certs/ca-certificates.crt")


@dataclasses.dataclass
class Workspace:
    """Where one bench run works, and what it needs to know about the variant."""

    engine: str
    variant: str
    runs: int
    label: str
    folder: Path
    definition: Path
    variant_definition: ImageDefinition
    ca: Path
    base: str = ""  # the pinned stand-in base, from the rendered Dockerfile

    @classmethod
    def create(cls, engine: str, variant: str | None, runs: int) -> Workspace:
        label = uuid.uuid4().hex[:8]
        folder = ROOT / "build" / "bench" / label
        folder.mkdir(parents=True)
        definition = private_definition(folder, label)
        chosen = load_variant(definition, root=ROOT, variant=variant)
        ca = Path(os.environ.get("PIP_CERT") or os.environ.get("REQUESTS_CA_BUNDLE") or SYSTEM_CA)
        if not ca.is_file():
            raise BenchError(f"no CA bundle at {ca}: set PIP_CERT to the PEM bundle pip needs")
        return cls(engine, chosen.variant, runs, label, folder, definition, chosen, ca)

    @property
    def cli(self) -> str:
        return self.engine

    def build_dir(self, name: str) -> Path:
        return self.folder / "state" / name

    def invoke(self, task: str, state: str, *, engine: str | None = None, **flags: Any) -> Timed:
        """``invoke TASK`` for this workspace's definition and variant, timed, under the lock."""
        argv = invoke_argv(
            task,
            engine=engine or self.engine,
            definition=self.definition,
            variant=self.variant,
            **flags,
        )
        return locked(argv, env=invoke_env(self.build_dir(state)), cwd=ROOT)

    def resolve_base(self) -> str:
        """``invoke render`` once; the pinned base is its Dockerfile's FROM."""
        rendered = self.invoke("render", "render")
        dockerfile = Path(rendered.stdout.strip().splitlines()[-1])
        lines = dockerfile.read_text().splitlines()
        froms = [line.split()[1] for line in lines if line.startswith("FROM ")]
        if not froms:
            raise BenchError(f"{dockerfile}: no FROM line")
        self.base = froms[0]
        return self.base

    def remove(self) -> None:
        shutil.rmtree(self.folder, ignore_errors=True)
