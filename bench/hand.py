"""The design note's hand-written Dockerfile, built and pushed with the engine's CLI.

What a user does instead of this pipeline (docs/reference/seed/integration-status.es.md,
"Dockerfile.ray-swe-fleet"): ``FROM`` the base, ``pip install --no-cache-dir`` three pinned
packages, ``podman build`` and ``podman push``. The CA bundle pip needs is given as a build
secret (``--secret id=ca,src=...``), so it never enters a layer. argv builders are pure.
"""

from __future__ import annotations

from pathlib import Path

from ray_worker_image.render import template_env

TEMPLATES = Path(__file__).resolve().parent / "templates"
# The design note's pins (ray-worker.in holds the same three).
PACKAGES = ("nats-py==2.10.0", "aiohttp==3.11.16", "requests==2.32.3")


def render_dockerfile(
    base: str, *, uid: int, pip: str, packages: tuple[str, ...] = PACKAGES
) -> str:
    """The hand Dockerfile for ``base`` (a pinned reference), pip at ``pip``, run as ``uid``."""
    template = template_env(TEMPLATES).get_template("hand.Dockerfile.j2")
    return template.render(base=base, uid=uid, pip=pip, packages=packages)


def build_argv(
    cli: str, context: Path, tag: str, *, ca: Path, iidfile: Path, no_cache: bool
) -> list[str]:
    """``podman build`` of ``context`` with the CA as secret ``ca``; the image id to ``iidfile``."""
    # podman checks the (already local, digest-pinned) base against its registry: plain HTTP.
    argv = [cli, "build", "--tls-verify=false"] if cli == "podman" else [cli, "build"]
    if no_cache:
        argv.append("--no-cache")
    return [
        *argv,
        "--secret",
        f"id=ca,src={ca}",
        "--iidfile",
        str(iidfile),
        "-t",
        tag,
        str(context),
    ]


def push_argv(cli: str, tag: str, *, digestfile: Path) -> list[str]:
    """``podman push`` of ``tag`` to a plain-HTTP loopback registry; digest to ``digestfile``."""
    return [cli, "push", "--tls-verify=false", "--digestfile", str(digestfile), tag]
