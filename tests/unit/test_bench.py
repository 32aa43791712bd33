"""invoke bench's pure parts: log parsing, the counting relay, argv, sizes, targets, report."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import shutil
import tarfile
import threading
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import requests

from bench import cold, firsttask, hand, invoking, layers, measure, parse, phases, pieces, report
from bench.chart import panels, write_chart
from bench.main import (
    README_END,
    README_START,
    parse_runs,
    parse_sections,
    readme_block,
    readme_summary,
)
from bench.proxy import CountingProxy, Counts, body_kind
from bench.runner import BenchError, last_error_line
from ray_worker_image.errors import PipelineError

from ..conftest import ROOT

PODMAN_LOG = """\
    STEP 1/5: FROM 127.0.0.1:5000/rayproject/ray@sha256:abc AS install
    STEP 2/5: COPY --chown=1000:100 requirements.txt /tmp/install/
    --> Using cache 1111
    STEP 3/5: RUN set -e; pip install ...
    Successfully installed nats-py-2.10.0
    STEP 4/5: FROM 127.0.0.1:5000/rayproject/ray@sha256:abc
    STEP 5/5: COPY --from=install /tmp/overlay/ /x/
    --> 2222
"""
DOCKER_LOG = """\
Step 1/3 : FROM base
 ---> 9f0
Step 2/3 : RUN pip install nats-py
 ---> Using cache
 ---> 3c1
Step 3/3 : USER 1000
 ---> Using cache
"""


def test_steps_rebuilt_counts_steps_that_did_not_reuse_the_cache() -> None:
    assert parse.steps_rebuilt(PODMAN_LOG) == {"steps": 3, "cached": 1, "rebuilt": 2}
    assert parse.steps_rebuilt(DOCKER_LOG) == {"steps": 2, "cached": 2, "rebuilt": 0}
    assert parse.steps_rebuilt("") == {"steps": 0, "cached": 0, "rebuilt": 0}


def test_pipeline_steps_reads_the_step_lines_of_a_release() -> None:
    stderr = "\n".join(
        [
            "==> 2.49.2: locking inside the base image (check only)",
            "==> building localhost/x:2.49.2-nats with podman (base b)",
            "==> in-image tests on sha256:d19 (podman, podman://c)",
            "==> pushing 127.0.0.1:5000/x:2.49.2-nats with podman",
        ]
    )
    assert parse.pipeline_steps(stderr) == ["lock", "build", "test", "push"]
    assert parse.pipeline_steps("==> 2.49.2: nothing changed: image found by its inputs") == []
    assert parse.pipeline_steps("    building wheel for nats-py") == []


def test_body_kind_follows_the_registry_api() -> None:
    assert body_kind("PATCH", "/v2/a/b/blobs/uploads/uuid?_state=x") == "blob"
    assert body_kind("PUT", "/v2/a/b/blobs/uploads/uuid?digest=sha256:1") == "blob"
    assert body_kind("PUT", "/v2/a/b/manifests/2.49.2-nats") == "manifest"
    assert body_kind("HEAD", "/v2/a/b/blobs/sha256:1") == "other"


def test_counts_minus_gives_one_phase() -> None:
    before = Counts(10, 1, 0, {"PUT": 1})
    after = Counts(110, 3, 0, {"PUT": 2, "HEAD": 4})
    phase = after.minus(before)
    assert phase.uploaded_bytes == 102
    assert phase.as_dict()["requests"] == {"HEAD": 4, "PUT": 1}


class _Upstream(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    received: list[bytes] = []  # noqa: RUF012 - test double

    def log_message(self, format: str, *args: Any) -> None:
        return

    def _body(self) -> bytes:
        if "chunked" in self.headers.get("Transfer-Encoding", ""):
            data = b""
            while size := int(self.rfile.readline().strip(), 16):
                data += self.rfile.read(size)
                self.rfile.readline()
            self.rfile.readline()
            return data
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def do_PATCH(self) -> None:
        self.received.append(self._body())
        self.send_response(202)
        self.send_header("Location", f"http://{self.headers['Host']}/v2/r/blobs/uploads/1")
        self.send_header("Content-Length", "0")
        self.end_headers()

    do_PUT = do_PATCH

    def do_HEAD(self) -> None:
        self.send_response(200)
        self.send_header("Content-Length", "12345")
        self.end_headers()


@pytest.fixture
def upstream() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Upstream)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    _Upstream.received = []
    yield f"127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_relay_forwards_and_counts_request_bodies(upstream: str) -> None:
    proxy = CountingProxy(upstream)
    with proxy.running():
        base = f"http://{proxy.address}/v2/r"
        head = requests.head(f"{base}/blobs/sha256:1", timeout=10)
        patched = requests.patch(
            f"{base}/blobs/uploads/1", data=iter([b"a" * 1000, b"b" * 500]), timeout=10
        )
        put = requests.put(f"{base}/manifests/t", data=b"{}" * 50, timeout=10)
    assert head.status_code == 200 and head.headers["Content-Length"] == "12345"
    assert patched.status_code == 202
    assert patched.headers["Location"] == f"http://{proxy.address}/v2/r/blobs/uploads/1"
    assert put.status_code == 202
    assert _Upstream.received == [b"a" * 1000 + b"b" * 500, b"{}" * 50]
    counts = proxy.snapshot()
    assert (counts.blob_bytes, counts.manifest_bytes, counts.uploaded_bytes) == (1500, 100, 1600)
    assert counts.requests == {"HEAD": 1, "PATCH": 1, "PUT": 1}


def test_hand_dockerfile_takes_the_ca_as_a_secret_never_a_layer() -> None:
    text = hand.render_dockerfile("reg/ray@sha256:abc", uid=1000, pip="/opt/p/bin/pip")
    lines = [line for line in text.splitlines() if not line.startswith("#")]
    assert lines[0] == "FROM reg/ray@sha256:abc"
    assert "--mount=type=secret,id=ca,uid=1000,mode=0444" in text
    assert "PIP_CERT=/run/secrets/ca /opt/p/bin/pip install --no-cache-dir " in text
    assert "nats-py==2.10.0 aiohttp==3.11.16 requests==2.32.3" in text
    assert "COPY" not in text and "ADD" not in text
    argv = hand.build_argv(
        "podman", Path("/c"), "t:1", ca=Path("/ca.pem"), iidfile=Path("/i"), no_cache=True
    )
    assert argv[:4] == ["podman", "build", "--tls-verify=false", "--no-cache"]
    assert argv[argv.index("--secret") + 1] == "id=ca,src=/ca.pem"
    assert argv[-3:] == ["-t", "t:1", "/c"]
    assert "--no-cache" not in hand.build_argv(
        "docker", Path("/c"), "t", ca=Path("/a"), iidfile=Path("/i"), no_cache=False
    )
    assert hand.push_argv("podman", "h/r:t", digestfile=Path("/d")) == [
        "podman",
        "push",
        "--tls-verify=false",
        "--digestfile",
        "/d",
        "h/r:t",
    ]


def test_invoke_argv_spells_flags_as_invoke_does() -> None:
    argv = invoking.invoke_argv(
        "release",
        engine="podman",
        definition=Path("/d/image.yaml"),
        variant="2.49.2",
        registry="127.0.0.1:1",
        json=True,
        no_cache=False,
    )
    assert argv[1:] == [
        "release",
        "--engine",
        "podman",
        "--stand-in",
        "--definition",
        "/d/image.yaml",
        "--variant",
        "2.49.2",
        "--registry",
        "127.0.0.1:1",
        "--json",
    ]


@pytest.fixture
def workdir() -> Iterator[Path]:
    folder = ROOT / "build" / f"test-bench-{uuid.uuid4().hex[:8]}"
    folder.mkdir(parents=True)
    yield folder
    shutil.rmtree(folder)


def test_private_definition_and_a_dependency_bump(workdir: Path) -> None:
    from ray_worker_image.definition import load_variant

    path = invoking.private_definition(workdir, "abc")
    chosen = load_variant(path, root=ROOT, variant="2.49.2")
    assert chosen.target.repository == "swe-fleet/ray-bench-abc"
    assert chosen.requirements.lock == workdir / "requirements/2.49.2/ray-worker.txt"
    committed = (ROOT / "requirements/ray-worker.in").read_text()
    was, copied = invoking.bump_requirement(path, "nats-py", "2.9.0")
    assert was == "2.10.0" and "nats-py==2.10.0" in committed
    bumped = load_variant(path, root=ROOT, variant="2.49.2")
    assert bumped.requirements.input == copied == workdir / "requirements/ray-worker.in"
    assert copied.read_text() == committed.replace("nats-py==2.10.0", "nats-py==2.9.0")
    assert (ROOT / "requirements/ray-worker.in").read_text() == committed  # untouched
    with pytest.raises(BenchError, match="no 'no-such-package==…' line"):
        invoking.bump_requirement(path, "no-such-package", "1.0")


def test_floor_and_new_layers() -> None:
    base = {"aiohttp": {"version": "3.11.16", "bytes": 9}, "pip": {"version": "24", "bytes": 1}}
    image = {
        **base,
        "nats-py": {"version": "2.10.0", "bytes": 700},
        "pip": {"version": "25", "bytes": 5},
    }
    new = measure.new_distributions(base, image)
    assert list(new) == ["nats-py", "pip"]
    assert measure.floor_bytes(new) == 705
    before = {"layers": [{"digest": "a", "size": 1}, {"digest": "b", "size": 2}]}
    after = {"layers": [{"digest": "a", "size": 1}, {"digest": "c", "size": 30}]}
    assert measure.new_layers(before, after) == [{"digest": "c", "size": 30}]
    assert measure.new_layers(None, after) == after["layers"]
    assert measure.ratio(3, 2) == 1.5
    assert measure.ratio(0, 2) == 0.0
    assert measure.ratio(3, 0) is None and measure.ratio(None, 2) is None


RESULTS: dict[str, Any] = {
    "meta": {"date": "2026-11-30 00:00 UTC", "engine": "podman", "variant": "2.49.2", "runs": 2},
    "docker_cold": {"pipeline_s": [91.5], "pipeline_median_s": 91.5, "steps": {}},
    "cold_build": {
        "pipeline_s": [70.0, 72.0],
        "hand_s": [60.0, 62.0],
        "pipeline_median_s": 71.0,
        "hand_median_s": 61.0,
        "ratio": 1.16,
        "steps": {"pipeline": {"rebuilt": 5}, "hand": {"rebuilt": 1}},
        "phases": {"pipeline": {"before_s": 1.0, "steps_s": 60.0, "after_s": 10.0},
                   "hand": {"before_s": 0.1, "steps_s": 60.0, "after_s": 0.9}},
    },
    "warm_noop": {
        "invoke_build": {"median_s": 1.2, "steps_rebuilt": 0, "uploaded_bytes": 0,
                         "pipeline_steps": []},
        "invoke_release": {"median_s": 95.0, "steps_rebuilt": 0, "uploaded_bytes": 1200,
                           "seconds": [95.0], "failed": ["error: tag holds another image"],
                           "pipeline_steps": ["lock", "build", "test", "push"]},
        "hand_build_push": {"median_s": 4.0, "steps_rebuilt": 0, "uploaded_bytes": 1100,
                            "pipeline_steps": None},
        "bytes_measured": "relay",
    },
    "added_bytes": {
        "floor": {"files": 90, "uncompressed": 1000, "compressed": 400},
        "pipeline": {"layers": [{}], "uncompressed": 1050, "compressed": 428},
        "hand": {"layers": [{}], "uncompressed": 2000, "compressed": 800},
        "pipeline_over_floor": {"uncompressed": 1.05, "compressed": 1.07},
        "hand_over_floor": {"uncompressed": 2.0, "compressed": 2.0},
        "new_distributions": {"nats-py": {}}, "record_bytes": 900,
    },
    "lock_change": {"change": "c", "uploaded_bytes": 300, "blob_bytes": 200, "new_layers": [{}],
                    "new_layer_bytes": 250, "ratio": 1.2},
    "first_task_live": {
        "baked": {p: {"seconds": 0.5, "import_s": 0.1} for p in firsttask.PHASES},
        "runtime_env_pip": {"first": {"seconds": 20.0}, "warm_worker": {"seconds": 0.5},
                            "next_job": {"seconds": 2.0}, "new_node": {"seconds": 9.0}},
        "speedup": {"first": 40.0, "warm_worker": 1.0, "next_job": 4.0, "new_node": 18.0},
        "floor_s": 0.5, "nats_pin": "nats-py==2.10.0",
    },
    "first_task": {"baked": {"first_result_s": 0.3, "total_s": 1.0},
                   "runtime_env_pip": {"first_result_s": 9.0, "total_s": 10.0},
                   "speedup": 30.0, "nats_pin": "nats-py==2.10.0"},
    "reproducibility": {"podman": {"pipeline": ["aaa", "bbb"], "hand Dockerfile": ["c", "c"]}},
}  # fmt: skip


def test_targets_pass_miss_and_gap() -> None:
    rows = {row["target"]: row for row in report.targets(RESULTS)}
    cold = rows["cold build: pipeline / hand Dockerfile (podman)"]
    assert cold["goal"] == "<= 1.1x" and cold["pass"] is False and cold["gap"].startswith("0.06x")
    docker = rows["cold build on Docker: pipeline / the hand build on podman"]
    assert docker["measured"] == 1.5 and docker["reported"] and docker["pass"] is None
    assert rows["no-op `invoke build` wall time"]["pass"] is True
    release = rows["no-op `invoke release` wall time"]
    assert release["pass"] is False and release["gap"].startswith("92 s over")
    assert rows["no-op `invoke release` steps run (lock, build, test, push)"]["measured"] == 4
    assert rows["no-op `invoke release` bytes uploaded"]["pass"] is False
    assert rows["no-op `invoke release` runs that failed"]["measured"] == 1
    assert rows["added layers / floor layer, uncompressed"]["pass"] is True  # 1.05 <= 1.05
    gzip = rows["added layers / floor layer, gzip"]
    assert gzip["pass"] is False and gzip["measured"] == 1.07
    assert rows["hand image: added layers / floor layer, gzip"]["measured"] == 2.0
    assert rows["release after a lock change: image bytes uploaded / new layers"]["pass"] is False
    new_node = rows["first task on a newly added worker: runtime_env pip / baked"]
    assert new_node["pass"] is False and new_node["gap"] == "2x short (90% of the goal)"
    assert rows["first task, pip cache cold: runtime_env pip / baked"]["measured"] == 40.0
    assert rows["first task, warm worker (floor): baked"]["measured"] == 0.5
    assert rows["first task, fresh cluster: runtime_env pip / baked"]["measured"] == 30.0
    old_shape = report.targets({"added_bytes": {"pipeline": 1, "floor": 1}})  # not judged
    assert all(row["measured"] is None for row in old_shape)
    assert rows["podman cold builds: distinct image ids"]["pass"] is False
    short = report.judge("x", 10, ">=", 20, "x")
    assert short["pass"] is False and short["gap"] == "10x short (50% of the goal)"
    missing = report.targets({})
    assert all(row["pass"] is None and row["gap"] == "not measured" for row in missing)


def test_markdown_and_readme_block() -> None:
    text = report.markdown(RESULTS)
    assert "| cold build: pipeline / hand Dockerfile (podman) | <= 1.1x | 1.16 | **miss** |" in text
    assert (
        "| cold build on Docker: pipeline / the hand build on podman | (reported) | 1.5 | "
        "reported |" in text
    )
    assert "## Cold build on docker (no cache, alternating runs)" in text
    assert "| pipeline `invoke build --no-cache` | 91.5 s | 91.5 | None |" in text
    assert "only the pipeline is timed here" in text
    assert "| pipeline (1 layers) | 1.1 kB | 1.05x | 428 B | 1.07x |" in text
    assert (
        "| floor: a tar of exactly nats-py's 90 installed files | 1.0 kB | 1x | 400 B | 1x |"
        in text
    )
    assert "| first task on a newly added worker node | 0.5 s | 9 s | 18x |" in text
    assert "Floor (`import nats` in a warm worker of the baked image): 0.5 s" in text
    assert (
        "| `invoke release` (**exit 1** in 1 of 1 runs) | 95 s | 0 | lock, build, test, push "
        "| 1.2 kB |" in text
    )
    assert "`invoke release` failed: `error: tag holds another image`" in text
    assert "| podman | pipeline | `aaa`, `bbb` | **no** |" in text
    assert "| podman | hand Dockerfile | `c`, `c` | yes |" in text
    assert "Speed-up of the first task: **30x**." in text
    failed = report.markdown({**RESULTS, "failed": {"warm": "invoke release failed: x"}})
    assert "## Sections that failed\n\n- warm: invoke release failed: x" in failed
    summary = readme_summary(RESULTS)
    assert summary.startswith("Measured 2026-11-30 on podman, stand-in base; every figure")
    kept = readme_summary({**RESULTS, "meta": {**RESULTS["meta"], "kept": {"warm_noop": "x"}}})
    assert kept.startswith("Measured 2026-11-30 on podman, stand-in base, sections not re-run")
    assert "| target | goal | measured | result |" in summary
    assert "| cold build / hand Dockerfile, podman | <= 1.1x | 1.16x | **miss** |" in summary
    assert "| no-op release: time | < 3 s | 95 s | **miss** |" in summary
    assert "| floor: a task on a warm worker | (reported) | 0.5 s | reported |" in summary
    assert (
        "Missed, *first task on a new node: pip / baked*: the baked side is Ray's worker "
        "start on the node (0.5 s, `import nats` 0.1 s); 20x needs pip to take 10 s, it "
        "takes 9 s."
    ) in summary
    assert (
        "Missed, *cold build / hand Dockerfile, podman*: steps 60 s vs 60 s (1x); fixed costs "
        "1 s before (imports, base digest, render) and 10 s after (commit, normalisation) vs "
        "0.1 s and 0.9 s."
    ) in summary
    assert set(report.SHORT_NAMES) <= {row["target"] for row in report.targets(RESULTS)}
    assert "## Where a target is missed, and why (this run's figures)" in text
    assert (
        "- *cold build: pipeline / hand Dockerfile (podman)*: The Dockerfile's steps take 60 s "
        "against the hand build's 60 s (1x:"
    ) in text
    assert "before the first step 1 s against 0.1 s" in text
    assert "Runs spread 70-72 s and 60-62 s on this shared 2-core host." in text
    assert "- *added layers / floor layer, gzip*: The floor is 1.0 kB (400 B gzip) for 90" in text
    assert "reported" not in summary.split("Docker's pipeline / podman's hand")[0]
    readme = f"# x\n\n## Benchmarks\n{README_START}\nold\n{README_END}\n\n## Next\n"
    replaced = readme_block(readme, "new table")
    assert replaced == f"# x\n\n## Benchmarks\n{README_START}\nnew table\n{README_END}\n\n## Next\n"
    with pytest.raises(BenchError, match="markers"):
        readme_block("# no markers\n", "x")


def test_chart_panels_and_png(tmp_path: Path) -> None:
    shapes = panels(RESULTS)
    assert shapes[0][0] == "Cold build (s, median)"
    assert shapes[2][1] == [("pipeline", 0.428), ("hand", 0.8), ("floor", 0.4)]
    assert shapes[3][1] == [("baked", 0.5), ("runtime_env pip", 9.0)]
    assert all(bars == [] for _, bars in panels({}))
    png = write_chart(RESULTS, tmp_path / "chart.png")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    json.dumps(RESULTS)  # the results stay JSON


def test_bad_options_are_one_line_errors() -> None:
    assert parse_sections("cold, warm") == ("cold", "warm")
    with pytest.raises(PipelineError, match=r"--sections: unknown colld; choose from cold"):
        parse_sections("colld")
    assert parse_runs("3") == 3
    for bad in ("0", "two", "-1"):
        with pytest.raises(BenchError, match="--runs: expected a whole number >= 1"):
            parse_runs(bad)
    assert last_error_line("a\nerror: the registry said no\nb\n") == "error: the registry said no"


def test_floor_layer_figures_and_added_layers() -> None:
    assert layers.named_id("ab" * 32 + ".tar") == "sha256:" + "ab" * 32
    assert layers.named_id("blobs/sha256/" + "cd" * 32) == "sha256:" + "cd" * 32
    assert layers.named_id("manifest.json") is None and layers.named_id("x/layer.tar") is None
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w") as tar:
        directory = tarfile.TarInfo("home/ray/pkg")
        directory.type = tarfile.DIRTYPE
        tar.addfile(directory)
        body = b"a file" * 100
        member = tarfile.TarInfo("home/ray/pkg/a.py")
        member.size = len(body)
        tar.addfile(member, io.BytesIO(body))
    data = out.getvalue()
    diff_id = "sha256:" + hashlib.sha256(data).hexdigest()
    figures = layers.layer_figures(data, diff_id)
    assert figures["uncompressed"] == len(data) and 0 < figures["compressed"] < len(data)
    assert figures["compressed"] == len(gzip.compress(data, compresslevel=6, mtime=0))
    assert figures["entries"] == {"files": 1, "dirs": 1, "other": 0}
    with pytest.raises(BenchError, match="another digest"):
        layers.layer_figures(b"other", diff_id)
    assert layers.added_ids(["a", "b", "c"], ["a", "b"]) == ["c"]
    with pytest.raises(BenchError, match="not built on it"):
        layers.added_ids(["x", "c"], ["a"])
    both = [{"uncompressed": 10, "compressed": 4}, {"uncompressed": 1, "compressed": 1}]
    assert layers.totals(both) == {"uncompressed": 11, "compressed": 5}
    assert layers.over_floor(
        {"uncompressed": 11, "compressed": 5}, {"uncompressed": 10, "compressed": 4}
    ) == {"uncompressed": 1.1, "compressed": 1.25}


def test_the_floor_probe_tars_exactly_the_distributions_files(tmp_path: Path) -> None:
    # The probe runs on this interpreter too: a tar of pytest's installed files.
    import subprocess
    import sys

    done = subprocess.run(
        [sys.executable, "-c", layers.FLOOR_PROBE, "pytest"],
        capture_output=True,
        text=True,
        check=True,
    )
    found = json.loads(done.stdout)
    assert found["files"] > 10 and found["uncompressed"] > found["compressed"] > 0
    # The smallest tar: one 512-byte header per file, its data padded to 512, two end blocks
    # (no pax header per file, no record padding: the floor is not inflated).
    import importlib.metadata
    import os

    dist = importlib.metadata.distribution("pytest")
    paths = {os.path.realpath(str(dist.locate_file(f))) for f in dist.files or []}
    files = [p for p in paths if os.path.isfile(p) and not os.path.islink(p)]
    sizes = [os.path.getsize(p) for p in files]
    assert found["files"] == len(files)
    assert found["uncompressed"] == sum(512 + -(-size // 512) * 512 for size in sizes) + 1024


def test_driver_output_and_speedups() -> None:
    phases = {p: {"seconds": 1.0, "import_s": 0.1} for p in firsttask.PHASES}
    logs = "noise\nFIRSTTASK_READY_FOR_NODE\nFIRSTTASK_RESULT " + json.dumps(phases) + "\n"
    assert firsttask.parse_driver_output(logs) == phases
    with pytest.raises(BenchError, match="printed no result \\(a \\| b\\)"):
        firsttask.parse_driver_output("a\nb\n")
    with pytest.raises(BenchError, match="driver failed: RuntimeError: no worker"):
        firsttask.parse_driver_output('FIRSTTASK_RESULT {"error": "RuntimeError: no worker"}')
    with pytest.raises(BenchError, match="reported no new_node"):
        firsttask.parse_driver_output(
            "FIRSTTASK_RESULT " + json.dumps({k: v for k, v in phases.items() if k != "new_node"})
        )
    pip = {p: {"seconds": 20.0} for p in firsttask.PHASES}
    assert firsttask.speedups(phases, pip) == dict.fromkeys(firsttask.PHASES, 20.0)
    from bench import firsttask_driver

    assert firsttask.READY_MARKER == firsttask_driver.READY_MARKER
    assert firsttask.RESULT_MARKER == firsttask_driver.RESULT_MARKER


def test_sections_run_in_pieces_keep_the_rest_and_say_from_when() -> None:
    previous = {
        "meta": {"date": "2026-12-01 10:00 UTC", "revision": "abcdef1234567890"},
        "cold_build": {"ratio": 1.3},
        "added_bytes": {"old": True},
        "reproducibility": {"podman": {"pipeline": ["a"]}, "docker": {"pipeline": ["d", "e"]}},
    }
    now = {"meta": {"date": "2026-12-05"}, "cold_build": {"ratio": 1.05},
           "reproducibility": {"podman": {"pipeline": ["b", "b"]}}}  # fmt: skip
    merged = pieces.merge_previous(now, previous)
    assert merged["cold_build"] == {"ratio": 1.05} and merged["added_bytes"] == {"old": True}
    assert merged["reproducibility"] == {
        "podman": {"pipeline": ["b", "b"]},
        "docker": {"pipeline": ["d", "e"]},
    }
    assert merged["meta"]["kept"] == {
        "added_bytes": "2026-12-01 10:00 UTC, revision abcdef123456",
        "reproducibility.docker": "2026-12-01 10:00 UTC, revision abcdef123456",
    }
    assert "kept" not in now["meta"]  # a new dict
    again = pieces.merge_previous({"meta": {}}, merged)  # the origin is carried, not renewed
    assert again["meta"]["kept"]["added_bytes"] == "2026-12-01 10:00 UTC, revision abcdef123456"
    assert again["meta"]["kept"]["cold_build"].startswith("2026-12-05")
    assert pieces.merge_previous({"meta": {}}, {}) == {"meta": {}}
    older = {"meta": {"date": "2026-11-30 04:15 UTC", "revision": "a06d5a6431b5"},
             "warm_noop": {"x": 1}}  # fmt: skip
    oldest = pieces.merge_previous(merged, older)  # what was kept stays said
    assert oldest["meta"]["kept"]["added_bytes"].startswith("2026-12-01")
    assert oldest["meta"]["kept"]["warm_noop"] == "2026-11-30 04:15 UTC, revision a06d5a6431b5"
    text = report.markdown({**RESULTS, "meta": merged["meta"]})
    assert "Kept from earlier runs (not measured in this one): added_bytes (2026-12-01" in text


def test_a_build_split_at_its_first_step_and_commit() -> None:
    assert phases.split(10.0, {"steps": 1.5, "commit": 8.0}) == {
        "before_s": 1.5,
        "steps_s": 6.5,
        "after_s": 2.0,
    }
    assert phases.split(10.0, {"steps": 1.5}) is None
    assert phases.MARKS["steps"].search("[1/2] STEP 1/4: FROM base")
    assert phases.MARKS["steps"].search("STEP 1/2: FROM base")  # podman build's own output
    assert not phases.MARKS["steps"].search("[2/2] STEP 11/12: LABEL")
    assert phases.MARKS["commit"].search("[2/2] COMMIT localhost/x:1")
    runs = [{"before_s": 1.0, "steps_s": 5.0}, {"before_s": 3.0, "steps_s": 6.0},
            {"before_s": 2.0, "steps_s": 9.0}]  # fmt: skip
    assert cold.medians(runs) == {"before_s": 2.0, "steps_s": 6.0}
    text = report.markdown(RESULTS)
    assert "| pipeline | 1 s | 60 s | 10 s |" in text


def test_run_marked_times_the_lines_and_checks_the_exit(tmp_path: Path) -> None:
    import sys

    script = (
        "import sys, time; print('STEP 1/2: x', flush=True); time.sleep(0.2); print('COMMIT y')"
    )
    timed, found = phases.run_marked([sys.executable, "-c", script])
    assert timed.returncode == 0 and "COMMIT y" in timed.stdout
    assert found is not None and found["steps_s"] >= 0.2 and found["before_s"] >= 0
    with pytest.raises(BenchError, match="failed: boom"):
        phases.run_marked([sys.executable, "-c", "import sys; sys.exit('boom')"])
