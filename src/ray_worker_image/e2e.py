"""End to end: a miniature Ray cluster of the image delivers results over NATS JetStream.

What runs, all on one private container network, like the KubeRay pods and the
fleet's services:

- NATS with JetStream: the host's ``nats-server`` bind-mounted read-only into a
  container of the image under test (no NATS image is reachable offline);
- an HTTP service standing in for vLLM (``python -m http.server`` from the image);
- a Ray head (``--num-cpus=0``, so no task can run there) and N workers that
  offer the custom resource the agent tasks ask for.

The orchestrator side runs on the host: it creates the stream, a durable pull
consumer, submits the job through the head, and checks that every result
arrives exactly once with the payload the task published.

Every container and the network carry the label ``E2E_LABEL=<run id>`` and are
removed by that label when the cluster's context exits, however it exits.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import io
import json
import os
import re
import shutil
import signal
import subprocess
import tarfile
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from types import FrameType
from typing import Any

import nats
import nats.errors
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from tenacity import Retrying, retry_if_result, stop_after_delay, wait_fixed

from . import console
from .e2e_job import MARKER
from .engine import Engine, RunningContainer
from .errors import PipelineError

E2E_LABEL = "io.github.ray-worker-image.e2e"
RESULT_SUBJECT = "agent.response.completed"
STREAM_NAME = "AGENT_RESPONSES"
STREAM_SUBJECTS = ("agent.response.>",)
WORKER_RESOURCE = "fleet_worker"
MISSING_NATS = "ModuleNotFoundError: No module named 'nats'"
NATS_SERVER_ENV = "RAY_IMAGE_NATS_SERVER"

RAY_PYTHON = "/home/ray/anaconda3/bin/python"
RAY_CLI = "/home/ray/anaconda3/bin/ray"
RAY_PORT = 6379
NATS_PORT = 4222
HTTP_PORT = 8000
HTTP_PATH = "/v1/models.json"  # .json: http.server then says application/json
# Small on purpose: four Ray processes share a 2-core CI machine, and the tasks
# move a few hundred bytes.
OBJECT_STORE_BYTES = 100_000_000
SHM_SIZE = "1g"
JOB_PATH = "/tmp/e2e_job.py"
_HOST_BINARIES = "/opt/e2e-host-bin"
CA_IN_CONTAINER = "/etc/ray-e2e/ca-bundle.pem"
_ANSI = re.compile(r"\x1b\[[0-9;]*m")


class E2EError(PipelineError):
    """The miniature cluster could not be started or reached."""


# -- NATS from the host's binary --------------------------------------------------------


def find_nats_server() -> Path:
    """$RAY_IMAGE_NATS_SERVER, else nats-server on PATH (Debian puts it in /usr/sbin)."""
    configured = os.environ.get(NATS_SERVER_ENV)
    candidates = (
        [configured]
        if configured
        else [shutil.which("nats-server"), "/usr/sbin/nats-server", "/usr/bin/nats-server"]
    )
    for candidate in candidates:
        if candidate and Path(candidate).is_file() and os.access(candidate, os.X_OK):
            return Path(candidate).resolve()
    raise E2EError(
        f"no nats-server executable at {configured}"
        if configured
        else "no nats-server on this host; install the Debian/Ubuntu package `nats-server` "
        f"(scripts/setup-host.sh does) or point ${NATS_SERVER_ENV} at the binary"
    )


_LDD_LIB = re.compile(r"=>\s*(/\S+)")
_LDD_LOADER = re.compile(r"^\s*(/\S+)\s+\(0x")


def _dynamic_deps(binary: Path) -> tuple[Path | None, list[Path]]:
    """(program interpreter, shared libraries) of ``binary``; (None, []) if it is static."""
    try:
        out = subprocess.run(
            ["ldd", str(binary)], capture_output=True, text=True, check=False, timeout=30
        )
    except (OSError, subprocess.TimeoutExpired):
        return None, []
    if out.returncode != 0:  # "not a dynamic executable"
        return None, []
    loader: Path | None = None
    libs: list[Path] = []
    for line in out.stdout.splitlines():
        if match := _LDD_LIB.search(line):
            libs.append(Path(match.group(1)))
        elif match := _LDD_LOADER.match(line):
            loader = Path(match.group(1))
    return loader, libs


def host_binary_in_container(binary: Path) -> tuple[dict[str, dict[str, str]], list[str]]:
    """Bind mounts and argv prefix that run a host executable inside any Linux image.

    Debian's nats-server is a cgo build linked against the host's glibc (2.36
    symbols); the image's glibc may be older (the stand-in base has 2.31). So a
    dynamic binary runs through the host's own loader and libraries, mounted
    next to it, and never touches the image's libc.
    """
    mounts = {str(binary): {"bind": f"{_HOST_BINARIES}/{binary.name}", "mode": "ro"}}
    loader, libs = _dynamic_deps(binary)
    if loader is None:
        return mounts, [f"{_HOST_BINARIES}/{binary.name}"]
    for lib in (loader, *libs):
        mounts[str(lib.resolve())] = {"bind": f"{_HOST_BINARIES}/{lib.name}", "mode": "ro"}
    argv = [
        f"{_HOST_BINARIES}/{loader.name}",
        "--library-path",
        _HOST_BINARIES,
        f"{_HOST_BINARIES}/{binary.name}",
    ]
    return mounts, argv


def pip_access(ca_cert: Path | None) -> dict[str, Any]:
    """``miniature_cluster`` arguments that let pip on the Ray nodes reach PyPI.

    For ``runtime_env={"pip": [...]}`` (the alternative the benchmark measures):
    Ray's agent runs pip on each node, and behind an intercepting proxy pip
    trusts only the bundle it is given. The bundle is bind-mounted read-only
    for the run, never written into an image.
    """
    if ca_cert is None:
        return {}
    return {
        "node_volumes": {str(ca_cert.resolve()): {"bind": CA_IN_CONTAINER, "mode": "ro"}},
        "node_environment": {"PIP_CERT": CA_IN_CONTAINER},
    }


# -- the cluster ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Cluster:
    engine: Engine
    image: str
    run_id: str
    network: str
    nats: RunningContainer
    http: RunningContainer
    head: RunningContainer
    workers: tuple[RunningContainer, ...]
    nats_url: str  # as the tasks reach it, on the private network
    nats_host_url: str  # as the orchestrator side on the host reaches it
    http_url: str
    http_body: dict[str, Any]
    head_node_id: str
    worker_node_ids: tuple[str, ...]
    worker_hostnames: tuple[str, ...]
    startup_s: float

    @property
    def label(self) -> str:
        return f"{E2E_LABEL}={self.run_id}"


def _tail(box: RunningContainer, lines: int = 15) -> str:
    try:
        text = box.logs()
    except Exception as exc:  # the container may already be gone
        return f"(no logs: {exc})"
    return " | ".join(_ANSI.sub("", text).strip().splitlines()[-lines:]) or "(no output)"


def _ensure_running(box: RunningContainer) -> None:
    state = box.attrs().get("State", {})
    if state.get("Status") in ("exited", "dead", "stopped"):
        code = state.get("ExitCode")
        raise E2EError(f"{box.name} exited ({code}) while the cluster was starting: {_tail(box)}")


def _wait_until(
    what: str,
    probe: Callable[[], str | None],
    *,
    timeout: float,
    watch: Sequence[RunningContainer],
) -> None:
    """Call ``probe`` until it returns None; it returns why it is not ready yet.

    A watched container that exits ends the wait at once: waiting out the
    timeout for a process that is already dead only hides its log.
    """
    last = ["never probed"]

    def attempt() -> bool:
        for box in watch:
            _ensure_running(box)
        reason = probe()
        if reason is not None:
            last[0] = reason
        return reason is None

    retrying = Retrying(
        stop=stop_after_delay(timeout),
        wait=wait_fixed(0.5),
        retry=retry_if_result(lambda ready: not ready),
        retry_error_callback=lambda state: False,
    )
    if not retrying(attempt):
        raise E2EError(f"{what} not ready after {timeout:.0f}s: {last[0]}")


def _host_port(box: RunningContainer, port: str) -> int:
    bindings = (box.attrs().get("NetworkSettings", {}).get("Ports") or {}).get(port)
    if not bindings:
        _ensure_running(box)  # a container that died has no ports: say that instead
        raise E2EError(f"{box.name}: {port} is not published")
    return int(bindings[0]["HostPort"])


async def _nats_probe(url: str) -> str | None:
    try:
        client = await nats.connect(
            url, connect_timeout=2, max_reconnect_attempts=0, allow_reconnect=False
        )
    except Exception as exc:
        return f"cannot connect to {url}: {exc!r}"
    try:
        await client.jetstream().account_info()
    except Exception as exc:
        return f"JetStream not answering at {url}: {exc!r}"
    finally:
        await client.close()
    return None


_RAY_NODES = (
    "import json, ray\n"
    "ray.init(address='auto', logging_level='ERROR', log_to_driver=False)\n"
    "print(json.dumps([{'id': n['NodeID'], 'host': n['NodeManagerHostname'],"
    " 'resources': n['Resources']} for n in ray.nodes() if n['Alive']]))\n"
)


def _ray_nodes(head: RunningContainer) -> list[dict[str, Any]] | str:
    # ray.init retries a GCS that is not up yet for a long time; a probe must be short.
    rc, out = head.exec(["timeout", "20", RAY_PYTHON, "-c", _RAY_NODES])
    if rc != 0:
        return f"ray.nodes() failed ({rc}): {' | '.join(out.strip().splitlines()[-2:])}"
    try:
        nodes: list[dict[str, Any]] = json.loads(out.strip().splitlines()[-1])
    except (ValueError, IndexError):
        return f"ray.nodes() printed no JSON: {out.strip()[-200:]}"
    return nodes


@contextlib.contextmanager
def _sigterm_raises() -> Iterator[None]:
    """Turn SIGTERM into KeyboardInterrupt while a cluster exists.

    CI cancels a job with SIGTERM, whose default action ends Python without
    running ``finally``: the cluster would outlive the run.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def interrupt(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous if previous is not None else signal.SIG_DFL)


@contextlib.contextmanager
def miniature_cluster(
    engine: Engine,
    image: str,
    *,
    workers: int = 2,
    ready_timeout: float = 120.0,
    nats_server: Path | None = None,
    run_id: str | None = None,
    node_environment: Mapping[str, str] | None = None,
    node_volumes: Mapping[str, Mapping[str, str]] | None = None,
) -> Iterator[Cluster]:
    """NATS, an HTTP service, a Ray head and ``workers`` Ray workers of ``image``.

    Yields once every node is alive in Ray, NATS answers JetStream requests from
    the host and the HTTP service answers from the head. Everything it started
    is removed on exit, also when the body raises or is interrupted.
    ``run_id`` (default: random) names the network and containers ``ray-e2e-<run_id>-*``.
    ``node_environment`` and ``node_volumes`` go to the Ray head and workers only
    (see ``pip_access``).
    """
    if workers < 1:
        raise ValueError("a miniature cluster needs at least one worker")
    started = time.monotonic()
    run_id = run_id or uuid.uuid4().hex[:8]
    network = f"ray-e2e-{run_id}"
    labels = {E2E_LABEL: run_id}
    label = f"{E2E_LABEL}={run_id}"
    nats_binary = nats_server or find_nats_server()
    boxes: list[RunningContainer] = []

    def start(role: str, command: list[str], **kwargs: Any) -> RunningContainer:
        # The hostname is what Ray reports as the node's hostname and what the
        # tasks put in their results; other containers reach this one by its name.
        box = engine.run(
            image,
            command,
            name_prefix=f"{network}-{role}",
            network=network,
            hostname=f"{network}-{role}",
            extra_labels=labels,
            **kwargs,
        )
        boxes.append(box)
        return box

    with _sigterm_raises():
        try:
            engine.create_network(network, labels=labels)
            mounts, nats_argv = host_binary_in_container(nats_binary)
            nats_box = start(
                "nats",
                [*nats_argv, "-js", "-sd", "/tmp/js", "-p", str(NATS_PORT), "-n", network],
                volumes=mounts,
                # Port 0 on loopback: the engine picks a free port, so parallel runs
                # never collide and nothing is exposed beyond this host.
                ports={f"{NATS_PORT}/tcp": ("127.0.0.1", None)},
            )
            body = {
                "object": "list",
                "data": [{"id": "Qwen/Qwen3-0.6B", "object": "model"}],
                "e2e_run": run_id,
            }
            http_box = start(
                "http",
                [
                    "/bin/sh",
                    "-c",
                    'mkdir -p /tmp/www/v1 && printf "%s" "$E2E_BODY" > /tmp/www/v1/models.json'
                    f" && exec {RAY_PYTHON} -m http.server {HTTP_PORT} --bind 0.0.0.0"
                    " --directory /tmp/www",
                ],
                environment={"E2E_BODY": json.dumps(body)},
            )
            head = start(
                "head",
                [
                    RAY_CLI,
                    "start",
                    "--head",
                    "--block",
                    f"--port={RAY_PORT}",
                    "--num-cpus=0",
                    "--include-dashboard=false",
                    f"--object-store-memory={OBJECT_STORE_BYTES}",
                    "--disable-usage-stats",
                ],
                shm_size=SHM_SIZE,
                environment=node_environment,
                volumes=node_volumes,
            )
            worker_boxes = tuple(
                start(
                    f"worker-{i}",
                    [
                        RAY_CLI,
                        "start",
                        f"--address={head.name}:{RAY_PORT}",
                        "--block",
                        "--num-cpus=1",
                        f"--resources={json.dumps({WORKER_RESOURCE: 1})}",
                        f"--object-store-memory={OBJECT_STORE_BYTES}",
                        "--disable-usage-stats",
                    ],
                    shm_size=SHM_SIZE,
                    environment=node_environment,
                    volumes=node_volumes,
                )
                for i in range(workers)
            )
            console.info(
                f"e2e {run_id}: network {network}; nats, http, head and {workers} "
                f"worker{'s' if workers > 1 else ''} started in {time.monotonic() - started:.1f}s"
            )

            nats_host_url = f"nats://127.0.0.1:{_host_port(nats_box, f'{NATS_PORT}/tcp')}"
            _wait_until(
                "NATS JetStream",
                lambda: asyncio.run(_nats_probe(nats_host_url)),
                timeout=ready_timeout,
                watch=[nats_box],
            )

            http_url = f"http://{http_box.name}:{HTTP_PORT}{HTTP_PATH}"
            fetch = (
                "import sys, urllib.request;"
                "sys.stdout.write(urllib.request.urlopen(sys.argv[1], timeout=3).read().decode())"
            )

            def http_probe() -> str | None:
                rc, out = head.exec([RAY_PYTHON, "-c", fetch, http_url])
                if rc != 0:
                    return f"GET {http_url} from the head failed: {out.strip()[-200:]}"
                return None if out.strip() == json.dumps(body) else f"unexpected body {out!r}"

            _wait_until("HTTP service", http_probe, timeout=ready_timeout, watch=[http_box, head])

            worker_hosts = {box.attrs()["Config"]["Hostname"] for box in worker_boxes}
            nodes: list[dict[str, Any]] = []

            def ray_probe() -> str | None:
                found = _ray_nodes(head)
                if isinstance(found, str):
                    return found
                nodes[:] = found
                ready = sum(
                    1
                    for n in found
                    if n["host"] in worker_hosts and n["resources"].get(WORKER_RESOURCE) == 1
                )
                if len(found) == workers + 1 and ready == workers:
                    return None
                return f"{len(found)} alive nodes, {ready} of {workers} workers"

            _wait_until(
                "Ray cluster", ray_probe, timeout=ready_timeout, watch=[head, *worker_boxes]
            )
            head_host = head.attrs()["Config"]["Hostname"]
            cluster = Cluster(
                engine=engine,
                image=image,
                run_id=run_id,
                network=network,
                nats=nats_box,
                http=http_box,
                head=head,
                workers=worker_boxes,
                nats_url=f"nats://{nats_box.name}:{NATS_PORT}",
                nats_host_url=nats_host_url,
                http_url=http_url,
                http_body=body,
                head_node_id=next(n["id"] for n in nodes if n["host"] == head_host),
                worker_node_ids=tuple(n["id"] for n in nodes if n["host"] in worker_hosts),
                worker_hostnames=tuple(sorted(worker_hosts)),
                startup_s=time.monotonic() - started,
            )
            console.info(f"e2e {run_id}: cluster ready in {cluster.startup_s:.1f}s")
            yield cluster
        except Exception:
            for box in boxes:
                console.info(f"{box.name}: {_tail(box, 8)}")
            raise
        finally:
            try:
                removed = engine.remove_labelled(label)
                console.info(f"e2e {run_id}: removed {len(removed)} containers and networks")
            finally:
                engine.remove_network(network)


# -- the job and the orchestrator-side consumer -------------------------------------------------


@dataclass(frozen=True)
class JobResult:
    job_id: str
    tasks: int
    exit_code: int | None  # None: the job had not finished when the harness gave up
    output: str
    head_node_id: str | None
    published: tuple[dict[str, Any], ...]  # what the job says its tasks published
    received: tuple[dict[str, Any], ...]  # what the consumer received, in order
    redelivered: int
    late: int  # messages that arrived in the grace window after the job was done
    first_result_s: float | None  # submit -> first result received by the consumer
    driver_connected_s: float | None  # submit -> the driver's ray.init returned
    first_task_started_s: float | None  # submit -> the first task began on a worker
    total_s: float  # submit -> job done and the stream drained
    problems: tuple[str, ...]

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def error(self) -> str | None:
        """The most telling exception line of the job's output, if any."""
        lines = [line.strip() for line in self.output.splitlines()]
        plain = [line for line in lines if re.match(r"^[A-Za-z_]\w*(Error|Exception): ", line)]
        return plain[0] if plain else None


def _job_script() -> bytes:
    return resources.files(__package__).joinpath("e2e_job.py").read_bytes()


def _put_file(box: RunningContainer, path: str, data: bytes) -> None:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        info = tarfile.TarInfo(os.path.basename(path))
        info.size, info.mode, info.uid, info.gid = len(data), 0o644, 1000, 100
        info.mtime = int(time.time())
        tar.addfile(info, io.BytesIO(data))
    box.put_archive(os.path.dirname(path), buffer.getvalue())


def _in_thread(func: Callable[[], tuple[int, str]]) -> concurrent.futures.Future[tuple[int, str]]:
    """Run a blocking engine call beside the event loop.

    A daemon thread, not the loop's executor: if the job hangs, neither
    ``asyncio.run`` nor interpreter exit may wait for it (removing the head
    container ends the call).
    """
    future: concurrent.futures.Future[tuple[int, str]] = concurrent.futures.Future()

    def target() -> None:
        try:
            future.set_result(func())
        except BaseException as exc:
            future.set_exception(exc)

    threading.Thread(target=target, name="e2e-job", daemon=True).start()
    return future


@dataclass
class _Consumed:
    received: list[dict[str, Any]] = field(default_factory=list)
    redelivered: int = 0
    late: int = 0
    undecodable: int = 0
    first_at: float | None = None
    submitted: float = 0.0  # monotonic
    # Wall clock only to place the tasks' own timestamps: host and containers
    # share one kernel clock.
    submitted_wall: float = 0.0
    consumer_problems: list[str] = field(default_factory=list)


async def _consume(
    cluster: Cluster,
    job_id: str,
    argv: list[str],
    *,
    timeout: float,
    grace: float,
) -> tuple[_Consumed, float, tuple[int, str] | None]:
    seen = _Consumed()
    client = await nats.connect(cluster.nats_host_url, connect_timeout=5)
    try:
        js = client.jetstream()
        # The orchestrator owns the stream and its consumer and creates them
        # before any job runs, so no result can be published into the void.
        await js.add_stream(name=STREAM_NAME, subjects=list(STREAM_SUBJECTS))
        subscription = await js.pull_subscribe(
            RESULT_SUBJECT,
            durable=f"orchestrator-{job_id}",
            stream=STREAM_NAME,
            config=ConsumerConfig(
                deliver_policy=DeliverPolicy.NEW,
                ack_policy=AckPolicy.EXPLICIT,
                ack_wait=30,
            ),
        )

        async def take(wait: float) -> bool:
            try:
                messages = await subscription.fetch(1, timeout=wait)
            except nats.errors.TimeoutError:
                return False
            for message in messages:
                if seen.first_at is None:
                    seen.first_at = time.monotonic()
                if message.metadata.num_delivered > 1:
                    seen.redelivered += 1
                try:
                    seen.received.append(json.loads(message.data))
                except ValueError:
                    seen.undecodable += 1
                # ack_sync: the server confirms each ack, so "no redelivery" below
                # is a fact and not a race with an ack still in flight.
                await message.ack_sync(timeout=5)
            return True

        seen.submitted, seen.submitted_wall = time.monotonic(), time.time()
        job = _in_thread(lambda: cluster.head.exec(argv))
        deadline = seen.submitted + timeout + 15
        while time.monotonic() < deadline:
            done = job.done()
            # Tasks return only after their PubAck, so once the job is done and
            # a fetch comes back empty, every result is in hand.
            if not await take(0.5) and done:
                break
        finished = time.monotonic()
        grace_end = time.monotonic() + grace
        while (left := grace_end - time.monotonic()) > 0.05:
            before = len(seen.received) + seen.undecodable
            if not await take(left):
                break
            seen.late += len(seen.received) + seen.undecodable - before
        info = await subscription.consumer_info()
        if info.num_redelivered:
            seen.consumer_problems.append(f"consumer counts {info.num_redelivered} redeliveries")
        if info.num_ack_pending:
            seen.consumer_problems.append(f"{info.num_ack_pending} messages left unacknowledged")
        if info.num_pending:
            seen.consumer_problems.append(f"{info.num_pending} messages left undelivered")
    finally:
        await client.close()
    outcome: tuple[int, str] | None = None
    if job.done():
        try:
            outcome = job.result()
        except Exception as exc:
            raise E2EError(f"{cluster.head.name}: cannot run the job: {exc}") from None
    return seen, finished, outcome


def _parse_job_output(output: str) -> dict[str, Any] | None:
    for line in reversed(output.splitlines()):
        if line.startswith(MARKER):
            with contextlib.suppress(ValueError):
                document: dict[str, Any] = json.loads(line[len(MARKER) :])
                return document
    return None


def _check(
    cluster: Cluster,
    tasks: int,
    document: dict[str, Any] | None,
    seen: _Consumed,
    outcome: tuple[int, str] | None,
    timeout: float,
) -> list[str]:
    """Everything that is wrong with the run; empty when every result came exactly once."""
    problems: list[str] = []
    if outcome is None:
        problems.append(f"the job did not finish within {timeout:.0f}s")
    elif outcome[0] != 0:
        problems.append(f"the job exited {outcome[0]}")
    if document is None:
        problems.append("the job printed no result line")
        document = {}
    problems += [f"task failed: {line.splitlines()[-1]}" for line in document.get("errors", [])]
    published = {p["task_id"]: p for p in document.get("published", [])}
    if len(published) != tasks:
        problems.append(f"the job published {len(published)} of {tasks} results")
    counts = Counter(str(r.get("task_id")) for r in seen.received)
    problems += [f"{task} received {n} times" for task, n in counts.items() if n > 1]
    problems += [f"{task} never received" for task in published if task not in counts]
    problems += [f"unexpected result {task}" for task in counts if task not in published]
    if seen.undecodable:
        problems.append(f"{seen.undecodable} messages were not JSON")
    if seen.redelivered:
        problems.append(f"{seen.redelivered} messages were redeliveries")
    if seen.late:
        problems.append(f"{seen.late} messages arrived after the job had finished")
    problems += seen.consumer_problems
    for result in seen.received:
        task = result.get("task_id")
        if task in published and result != published[task]:
            problems.append(f"{task}: received payload differs from the one published")
        if result.get("hostname") not in cluster.worker_hostnames:
            problems.append(f"{task} ran on {result.get('hostname')}, not on a worker")
        if result.get("node_id") not in cluster.worker_node_ids:
            problems.append(f"{task} ran on Ray node {result.get('node_id')}, not a worker node")
        for client in ("aiohttp", "requests"):
            call = result.get(client) or {}
            if call.get("status") != 200 or call.get("body") != cluster.http_body:
                problems.append(f"{task}: the {client} call did not get the service's body")
    if document.get("head_node_id") not in (None, cluster.head_node_id):
        problems.append("the driver did not run on the head node")
    if document and set(document.get("worker_node_ids", [])) != set(cluster.worker_node_ids):
        problems.append("the driver saw other worker nodes than the cluster started")
    used = {r.get("hostname") for r in seen.received} & set(cluster.worker_hostnames)
    if seen.received and len(used) < min(tasks, len(cluster.worker_hostnames)):
        problems.append(f"tasks ran on {len(used)} of {len(cluster.worker_hostnames)} workers")
    return problems


def run_agent_job(
    cluster: Cluster,
    *,
    tasks: int = 4,
    timeout: float = 120.0,
    grace: float = 2.0,
    runtime_env: dict[str, Any] | None = None,
) -> JobResult:
    """Submit the agent job to the head and consume its results on the host.

    ``runtime_env`` goes to the driver's ``ray.init``; the benchmark uses it to
    compare a baked-in nats-py with ``{"pip": ["nats-py==..."]}``.
    """
    job_id = f"job-{uuid.uuid4().hex[:8]}"
    _put_file(cluster.head, JOB_PATH, _job_script())
    argv = [
        # The driver bounds its own waits; `timeout` also bounds ray.init and a
        # driver that hangs anyway, so the exec always returns.
        "timeout",
        "-k",
        "5",
        str(int(timeout) + 10),
        RAY_PYTHON,
        JOB_PATH,
        "--job-id",
        job_id,
        "--tasks",
        str(tasks),
        "--nats-url",
        cluster.nats_url,
        "--http-url",
        cluster.http_url,
        "--subject",
        RESULT_SUBJECT,
        "--resource",
        WORKER_RESOURCE,
        "--timeout",
        str(timeout),
        "--runtime-env",
        json.dumps(runtime_env or {}),
    ]
    seen, finished, outcome = asyncio.run(
        _consume(cluster, job_id, argv, timeout=timeout, grace=grace)
    )
    # Ray colours its task names; the output is read by people in CI logs and by regexes.
    output = _ANSI.sub("", outcome[1]) if outcome else ""
    document = _parse_job_output(output)
    problems = _check(cluster, tasks, document, seen, outcome, timeout)
    published = tuple((document or {}).get("published", []))
    return JobResult(
        job_id=job_id,
        tasks=tasks,
        exit_code=outcome[0] if outcome else None,
        output=output,
        head_node_id=(document or {}).get("head_node_id"),
        published=published,
        received=tuple(seen.received),
        redelivered=seen.redelivered,
        late=seen.late,
        first_result_s=None if seen.first_at is None else seen.first_at - seen.submitted,
        driver_connected_s=(
            document["connected_at"] - seen.submitted_wall
            if document and "connected_at" in document
            else None
        ),
        first_task_started_s=min(
            (p["started_at"] - seen.submitted_wall for p in published if "started_at" in p),
            default=None,
        ),
        total_s=finished - seen.submitted,
        problems=tuple(problems),
    )


# -- what `invoke e2e` calls ----------------------------------------------------------------


@dataclass(frozen=True)
class E2EReport:
    passed: bool
    tasks: int
    received: int
    first_task_latency_s: float | None
    total_s: float
    failure: str | None
    engine: str = ""
    image: str = ""
    expect_nats: bool = True
    run_id: str | None = None
    startup_s: float | None = None
    worker_hostnames: tuple[str, ...] = ()
    job: JobResult | None = None


def _secs(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}s"


def judge(job: JobResult, *, expect_nats: bool) -> str | None:
    """Why the run fails its expectation, or None when it meets it."""
    if expect_nats:
        if job.ok:
            return None
        shown = "; ".join(job.problems[:6]) + (" ..." if len(job.problems) > 6 else "")
        return shown + (f" (job error: {job.error})" if job.error else "")
    # The negative control: an image without nats-py must fail the way the
    # design note saw the real cluster fail, and deliver nothing.
    if MISSING_NATS in job.output and job.exit_code not in (0, None) and not job.received:
        return None
    return (
        f"expected the job to fail with {MISSING_NATS!r} and deliver nothing; it exited "
        f"{job.exit_code}, delivered {len(job.received)} results"
        + (f", error: {job.error}" if job.error else "")
    )


def run_e2e(
    engine: Engine,
    image: str,
    *,
    expect_nats: bool = True,
    workers: int = 2,
    tasks: int = 4,
) -> E2EReport:
    """Start a miniature cluster of ``image``, run the agent job, judge, tear down.

    With ``expect_nats=False`` this is the negative control: it passes when the
    job fails with ``ModuleNotFoundError: No module named 'nats'``.
    Never raises for a failed run (``report.passed`` says); KeyboardInterrupt propagates.
    """
    console.step(
        f"e2e on {engine.name}: Ray head + {workers} workers of {image}, {tasks} agent tasks "
        f"-> NATS JetStream {RESULT_SUBJECT}" + ("" if expect_nats else " (negative control)")
    )
    started = time.monotonic()
    run_id = uuid.uuid4().hex[:8]
    try:
        with miniature_cluster(engine, image, workers=workers, run_id=run_id) as cluster:
            job = run_agent_job(cluster, tasks=tasks)
    except PipelineError as exc:
        console.error(f"e2e failed: {exc}")
        return E2EReport(
            passed=False,
            tasks=tasks,
            received=0,
            first_task_latency_s=None,
            total_s=time.monotonic() - started,
            failure=str(exc),
            engine=engine.name,
            image=image,
            expect_nats=expect_nats,
            run_id=run_id,
        )
    failure = judge(job, expect_nats=expect_nats)
    report = E2EReport(
        passed=failure is None,
        tasks=tasks,
        received=len(job.received),
        first_task_latency_s=job.first_result_s,
        total_s=time.monotonic() - started,
        failure=failure,
        engine=engine.name,
        image=image,
        expect_nats=expect_nats,
        run_id=run_id,
        startup_s=cluster.startup_s,
        worker_hostnames=cluster.worker_hostnames,
        job=job,
    )
    hosts = Counter(str(r.get("hostname")) for r in job.received)
    if expect_nats:
        console.info(
            f"received {report.received}/{tasks} results; exactly once, intact, on workers: "
            f"{'yes' if job.ok else 'no'}; per worker: {dict(hosts) or '-'}"
        )
    else:
        console.info(f"received {report.received}/{tasks} results; job exit code {job.exit_code}")
    console.info(
        f"first-task latency (submit -> first result at the consumer): {_secs(job.first_result_s)} "
        f"(driver connected after {_secs(job.driver_connected_s)}, first task began after "
        f"{_secs(job.first_task_started_s)}); job {job.total_s:.2f}s; "
        f"cluster start {cluster.startup_s:.1f}s; total {report.total_s:.1f}s"
    )
    if not expect_nats and job.error:
        console.info(f"job error (expected): {job.error}")
    if report.passed:
        console.step("e2e passed" + ("" if expect_nats else ": the plain base fails as expected"))
    else:
        console.error(f"e2e failed: {failure}")
    return report
