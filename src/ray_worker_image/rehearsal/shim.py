"""The kubectl shim: ``python -m ray_worker_image.rehearsal.shim ARGS`` is ``kubectl ARGS``
for rollout.sh during a rehearsal (first on its PATH, see :mod:`.run`).

Each call is parsed (:func:`.verbs.parse`), then served from the state folder
($REHEARSAL_STATE, :mod:`.state`) and the engine (:mod:`.kube`). The real kubectl does what
it does best, on the state's objects: jsonpath output and RFC 6902 patches (``kubectl patch
--local``), so a ``test`` op that does not hold fails exactly as on a cluster. Exit codes and
stream use follow kubectl: the answer on stdout, ``error: ...`` on stderr with exit 1.
"""

from __future__ import annotations

import io
import json
import subprocess
import sys
import tarfile
import time
import uuid
from collections.abc import Sequence
from typing import Any

from .. import engine as engines
from .kube import alive_hosts, labels, pod_object, reconcile
from .state import Config, PodRecord, State
from .verbs import Call, ShimError, list_jsonpath, matches, parse

WAIT_POLL_S = 1.0
# The API server's part: served from the state alone (the engine is not connected).
OBJECT_ACTIONS = ("list-objects", "get-object", "patch")


def real_kubectl(config_kubectl: str, obj: Any, folder: Any, *args: str) -> tuple[int, str, str]:
    """The real kubectl on ``obj`` with no API server (``patch --local -f``)."""
    path = folder / f"render-{uuid.uuid4().hex[:6]}.json"
    path.write_text(json.dumps(obj), encoding="utf-8")
    try:
        done = subprocess.run(
            [config_kubectl, "patch", "--local", "-f", str(path), "--type=json", *args],
            capture_output=True,
            text=True,
            check=False,
        )
    finally:
        path.unlink(missing_ok=True)
    return done.returncode, done.stdout, done.stderr


def render(state: State, obj: Any, output: str, *, listing: bool = False) -> tuple[int, str, str]:
    """``obj`` as ``-o json`` or ``-o jsonpath=...`` prints it."""
    if output in ("", "json"):
        return 0, json.dumps(obj, indent=4) + "\n", ""
    if listing:
        bag = {"apiVersion": "rehearsal.local/v1", "kind": "PodBag", "metadata": {"name": "bag"}}
        obj, output = {**bag, "pods": obj["items"]}, list_jsonpath(output)
    return real_kubectl(state.config.kubectl, obj, state.folder, "-p", "[]", "-o", output)


def list_objects(call: Call, state: State) -> tuple[int, str, str]:
    """``get rayclusters,rayjobs,rayservices -A|-n NS -o json`` (``invoke status``'s call): the
    run's RayCluster when its kind is asked and its namespace matches, as a ``kind: List``
    (what kubectl prints for several resource types); no engine needed."""
    rc = state.cluster
    namespace = str(rc["metadata"].get("namespace") or "default")
    found = rc.get("kind") in call.kinds and (call.all_namespaces or call.namespace == namespace)
    listed = {"apiVersion": "v1", "kind": "List", "items": [rc] if found else []}
    return render(state, {**listed, "metadata": {"resourceVersion": ""}}, call.output)


def serve(call: Call, state: State, engine: engines.Engine | None) -> tuple[int, str, str]:
    """(exit code, stdout, stderr) of one call. ``engine``: None for the API server's part
    (:data:`OBJECT_ACTIONS`), which reads and writes the state only."""
    if call.action == "list-objects":
        return list_objects(call, state)
    config, rc = state.config, state.cluster
    namespace = str(rc["metadata"].get("namespace") or "default")
    if (call.kind and call.name != rc["metadata"]["name"]) or call.namespace != namespace:
        what = f"{(call.kind or 'pod').lower()} {call.name}".strip()
        return 1, "", f'Error from server (NotFound): "{what}" not found in {call.namespace}\n'
    if call.action == "get-object":
        return render(state, rc, call.output)
    if call.action == "patch":
        code, out, err = real_kubectl(
            config.kubectl, rc, state.folder, f"--patch-file={call.patch_file}", "-o", "json"
        )
        if code != 0:
            return code, out, err
        if not call.dry_run:
            state.save_cluster(json.loads(out))
        suffix = " (server dry run)" if call.dry_run else ""
        return 0, f"raycluster.ray.io/{call.name} patched{suffix}\n", ""
    if engine is None:
        raise RuntimeError(f"{call.action} needs the engine")
    pods = state.pods
    reconcile(engine, config, rc, pods)
    state.save_pods(pods)
    chosen = [p for p in pods if matches(labels(rc, p), call.selector)]
    if call.action == "delete-pods":
        return delete(engine, state, pods, chosen)
    if call.action == "wait":
        return wait(engine, state, call, chosen)
    if call.action == "get-pods":
        alive = alive_hosts(engine, config, pods) if _asks_ready(call.output) else None
        items = [pod_object(engine, config, rc, p, alive) for p in chosen]
        return render(
            state, {"apiVersion": "v1", "kind": "List", "items": items}, call.output, listing=True
        )
    named = next((p for p in pods if p.name == call.name), None)
    if named is None:
        return 1, "", f'Error from server (NotFound): pods "{call.name}" not found\n'
    if call.action == "get-pod":
        alive = alive_hosts(engine, config, pods) if _asks_ready(call.output) else None
        return render(state, pod_object(engine, config, rc, named, alive), call.output)
    return run_exec(engine, call, named)


def _asks_ready(output: str) -> bool:
    return output in ("", "json") or "conditions" in output or "ready" in output


def delete(
    engine: engines.Engine, state: State, pods: list[PodRecord], chosen: Sequence[PodRecord]
) -> tuple[int, str, str]:
    if not chosen:
        return 0, "", "No resources found\n"
    out = []
    for pod in chosen:
        for name in (pod.box, pod.init):
            box = engine.find_container(name) if name else None
            if box is not None:
                box.stop(pod.grace_s)  # the kubelet: SIGTERM, the grace period, SIGKILL
                box.remove()
        out.append(f'pod "{pod.name}" deleted\n')
        state.log(f"deleted pod {pod.name} ({pod.image})")
    state.save_pods([p for p in pods if p not in chosen])
    return 0, "".join(out), ""


def wait(
    engine: engines.Engine, state: State, call: Call, chosen: Sequence[PodRecord]
) -> tuple[int, str, str]:
    """``kubectl wait --for=condition=Ready``: resolves the selector once (as kubectl does),
    then polls every pod until Ready or the timeout."""
    if not chosen:
        return 1, "", "error: no matching resources found\n"
    names = {p.name for p in chosen}
    deadline = time.monotonic() + call.timeout_s
    while True:
        config, rc, pods = state.config, state.cluster, state.pods
        reconcile(engine, config, rc, pods)
        state.save_pods(pods)
        alive = alive_hosts(engine, config, pods)
        waiting = [
            p.name for p in pods if p.name in names and not _ready(engine, config, rc, p, alive)
        ]
        gone = names - {p.name for p in pods}
        if gone:
            return 1, "", f'Error from server (NotFound): pods "{sorted(gone)[0]}" not found\n'
        if not waiting:
            return 0, "".join(f"pod/{n} condition met\n" for n in sorted(names)), ""
        if time.monotonic() >= deadline:
            return 1, "", f"error: timed out waiting for the condition on pods/{waiting[0]}\n"
        time.sleep(WAIT_POLL_S)


def _ready(
    engine: engines.Engine, config: Config, rc: Any, pod: PodRecord, alive: set[str] | None
) -> bool:
    obj = pod_object(engine, config, rc, pod, alive)
    return bool(obj["status"]["conditions"][0]["status"] == "True")


def run_exec(engine: engines.Engine, call: Call, pod: PodRecord) -> tuple[int, str, str]:
    """``kubectl exec [-i] POD -c C -- ARGV``: ARGV in the pod's Ray container; with ``-i``
    stdin is copied into the container first and given to ARGV from there."""
    name = pod.containers[0]["name"]
    if call.container and call.container != name:
        return 1, "", f"error: container {call.container} not found in pod {pod.name}\n"
    box = engine.find_container(pod.box) if pod.box else None
    if box is None or (box.attrs().get("State") or {}).get("Status") != "running":
        return 1, "", f"error: unable to upgrade connection: pod {pod.name} is not running\n"
    argv = list(call.command)
    if call.stdin:
        path = f"/tmp/rehearsal-stdin-{uuid.uuid4().hex[:8]}"
        box.put_archive("/tmp", _tar(path.rsplit("/", 1)[1], sys.stdin.buffer.read()))
        argv = ["/bin/sh", "-c", 'exec "$@" < "$0"', path, *argv]
    code, out, err = box.exec_streams(argv)
    return code, out.decode("utf-8", "replace"), err.decode("utf-8", "replace")


def _tar(name: str, data: bytes) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        info = tarfile.TarInfo(name)
        info.size, info.mode = len(data), 0o644
        tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def main(argv: Sequence[str]) -> int:
    state = State.from_env()
    state.log("kubectl " + " ".join(argv))
    try:
        call = parse(argv)
    except ShimError as exc:
        state.log(f"  refused: {exc}")
        print(exc, file=sys.stderr)
        return 1
    with state.locked():
        if call.action in OBJECT_ACTIONS:
            code, out, err = serve(call, state, None)
        else:
            engine = engines.connect(state.config.engine)
            try:
                code, out, err = serve(call, state, engine)
            finally:
                engine.close()
    sys.stdout.write(out)
    sys.stderr.write(err)
    if code:
        state.log(f"  exit {code}: {err.strip()[-300:]}")
    return code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
