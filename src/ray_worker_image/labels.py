"""Image config labels this pipeline writes and the rollout reads back (pure constants).

``images/ray-swe-fleet/Dockerfile.j2`` sets them; :mod:`.rollout.identity` reads them from
the registry (config blob) to tell which variant an image is before it goes into a cluster.
Label keys follow the OCI annotation rules (reverse-DNS prefix; image-spec
``annotations.md``); ``org.opencontainers.image.base.name`` is OCI's own pre-defined key.
"""

from __future__ import annotations

from typing import Final

PREFIX: Final = "io.github.ray-worker-image."
BASE_NAME: Final = "org.opencontainers.image.base.name"  # docker.io/rayproject/ray:2.49.2
STAND_IN: Final = PREFIX + "stand-in"  # "true" when built on the offline stand-in base
INPUT_KEY: Final = PREFIX + "input-key"  # inputs.input_key of the build
VARIANT: Final = PREFIX + "variant"  # RayTag.canonical: 2.52.1-py311-cpu
RAY_VERSION: Final = PREFIX + "ray-version"  # 2.52.1
PYTHON: Final = PREFIX + "python"  # 3.11 (major.minor)
