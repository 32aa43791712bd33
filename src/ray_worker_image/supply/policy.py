"""The admission policy: sigstore policy-controller ``ClusterImagePolicy`` documents (pure).

Source: the CRD (tests/data/sigstore/policy.sigstore.dev_clusterimagepolicies.yaml,
``policy.sigstore.dev/v1beta1``) and policy-controller's documented semantics
(docs.sigstore.dev "policy-controller overview"): an image must satisfy *every*
ClusterImagePolicy whose ``images`` glob matches it, and *one* authority of each; an
authority with ``attestations`` verifies those attestations (not the ``.sig``
signature). So "signed by the release key and carrying its provenance" is two policies:
``<name>-signature`` (a key authority, signatures) and ``<name>-provenance`` (the same
key, attestation ``https://slsa.dev/provenance/v1``). The key authority has no ``ctlog``:
the release signs offline (no Rekor entry), which policy-controller then does not ask for.

The glob (policy-controller ``pkg/apis/glob``: ``*`` matches any run of non-``/``
characters, ``:`` and ``@`` included; matched against the parsed reference's name, where a
Docker Hub image is ``index.docker.io/...``) is ``REGISTRY/REPOSITORY*``: every variant's
tag and digest reference (the rollout patches use ``REPO:TAG@sha256:...``); it also
covers sibling repositories whose names start the same, which are then enforced too.
Only namespaces labelled ``policy.sigstore.dev/include=true`` are enforced
(docs/supply-chain.md says how to install it).
"""

from __future__ import annotations

import re
from typing import Any

from ..errors import UsageError
from . import intoto
from .identity import DEFAULT_DOMAIN, LEGACY_DOMAIN, normalize

API_VERSION = "policy.sigstore.dev/v1beta1"
KIND = "ClusterImagePolicy"
MODES = ("enforce", "warn")
FORMATS = ("policy-controller",)
INCLUDE_LABEL = "policy.sigstore.dev/include"


def check_options(fmt: str | None, mode: str | None) -> tuple[str, str]:
    """(format, mode) or UsageError naming the option and its choices."""
    chosen = fmt or FORMATS[0]
    if chosen not in FORMATS:
        raise UsageError(f"--format {chosen}: unknown; choose {', '.join(FORMATS)}")
    mode = mode or "enforce"
    if mode not in MODES:
        raise UsageError(f"--mode {mode}: unknown; choose enforce or warn")
    return chosen, mode


def image_glob(registry: str, repository: str) -> str:
    """``REGISTRY/REPOSITORY*`` as policy-controller names the image (Docker Hub:
    ``index.docker.io``). Pure."""
    name = normalize(f"{registry}/{repository}")
    domain, _, path = name.partition("/")
    if domain == DEFAULT_DOMAIN:
        domain = LEGACY_DOMAIN
    return f"{domain}/{path}*"


def policy_name(repository: str) -> str:
    """A Kubernetes object name (DNS-1123) from the repository: ``ray-worker-image-...``."""
    slug = re.sub(r"[^a-z0-9]+", "-", repository.lower()).strip("-")
    return f"ray-worker-image-{slug}"[:50].rstrip("-")


def cluster_image_policies(
    *, registry: str, repository: str, public_pem: str, mode: str
) -> list[dict[str, Any]]:
    """The two ClusterImagePolicy documents (signature; provenance attestation)."""
    name = policy_name(repository)
    key = {"data": public_pem, "hashAlgorithm": "sha256"}
    images = [{"glob": image_glob(registry, repository)}]
    labels = {"app.kubernetes.io/managed-by": "ray-worker-image"}
    signature = {"name": "release-key", "key": key}
    attestation = {
        "name": "release-key-provenance",
        "key": key,
        "attestations": [{"name": "provenance", "predicateType": intoto.SLSA_PROVENANCE_V1}],
    }
    return [
        {
            "apiVersion": API_VERSION,
            "kind": KIND,
            "metadata": {"name": f"{name}-{part}", "labels": labels},
            "spec": {"mode": mode, "images": images, "authorities": [authority]},
        }
        for part, authority in (("signature", signature), ("provenance", attestation))
    ]
