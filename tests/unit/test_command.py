"""The installed command, as a user runs it (issue 18): `ray-worker-image` from a folder that
is not the clone, invoke's inert core flags refused, and nothing a user controls (config
files, environment, image references, stdout) ending in a traceback.

What only a process shows runs the real console scripts in a subprocess (:func:`_run`): the
entry points, ``--version``, a run outside the clone, stdout on ``/dev/full`` or a closed pipe,
the wheel, and one case of each family below for each program. The other cases of a family take
the same path through the same program and run in this process (:func:`_inproc`,
tests/inprocess.py) with the same argv, folder and environment: about 0.5 s of start-up less each.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.inprocess import Ran, run_program

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
COMMAND = str(BIN / "ray-worker-image")
INVOKE = str(BIN / "invoke")
DIGEST = "sha256:" + "c4" * 32
IMAGE = f"registry.example.com/swe-fleet/ray:2.49.2-nats@{DIGEST}"
UPPER = f"registry.example.com/swe-fleet/ray@sha256:{'C4' * 32}"


def _env(home: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RAY_IMAGE_", "INVOKE_"))}
    env.update(
        HOME=str(home),
        DOCKER_HOST=f"unix://{home}/no-docker.sock",
        RAY_IMAGE_PODMAN_SOCKET=f"{home}/no-podman.sock",
        NO_COLOR="1",
        COLUMNS="500",
    )
    env.update(extra)
    return env


def _run(argv: list[str], cwd: Path, home: Path, **extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        argv, cwd=cwd, env=_env(home, **extra), capture_output=True, text=True, timeout=120,
        check=False,
    )  # fmt: skip


def _inproc(argv: list[str], cwd: Path, home: Path, **extra: str) -> Ran:
    """``argv`` (a console script of the venv, then its arguments) run in this process, with the
    folder and the environment :func:`_run` gives it; returncode, stdout and stderr as a user
    sees them."""
    return run_program(Path(argv[0]).name, argv[1:], cwd, _env(home, **extra))


def _errors(result: subprocess.CompletedProcess[str] | Ran) -> list[str]:
    assert "Traceback" not in result.stderr, result.stderr
    return [line for line in result.stderr.splitlines() if line.startswith("error:")]


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    """A folder outside the clone (as a GitOps checkout would be), with its own HOME."""
    folder = tmp_path / "gitops"
    folder.mkdir()
    (tmp_path / "home").mkdir()
    return folder


def test_version_names_the_package_and_a_revision(outside: Path) -> None:
    result = _run([COMMAND, "--version"], outside, outside.parent / "home")
    assert result.returncode == 0, result.stderr
    name, number, revision = result.stdout.split(" ", 2)
    assert (name, number) == ("ray-worker-image", "0.1.0")
    assert revision.startswith("(git ") and revision.strip().endswith(")")


def test_patch_runs_outside_the_clone_with_the_shipped_definition(outside: Path) -> None:
    shutil.copy(ROOT / "deploy/k8s/ray-gpu.yaml", outside / "ray-gpu.yaml")
    result = _run(
        [COMMAND, "patch", "--from", "ray-gpu.yaml", "--image", IMAGE], outside,
        outside.parent / "home",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert IMAGE in result.stdout and '"op": "test"' in result.stdout
    assert sorted(p.name for p in outside.iterdir()) == ["ray-gpu.yaml"]


def test_verify_tag_outside_the_clone_prints_its_result_on_stdout(outside: Path) -> None:
    result = _run(
        [COMMAND, "verify-tag", "v2.49.2-nats.1", "--json"], outside, outside.parent / "home"
    )
    assert result.returncode == 0, result.stderr
    assert '"release": 1' in result.stdout and '"variant": "2.49.2"' in result.stdout


@pytest.mark.parametrize("task", ["build", "lock", "test", "release"])
def test_tasks_that_need_the_clone_refuse_in_one_line(outside: Path, task: str) -> None:
    run = _run if task == "build" else _inproc
    result = run([COMMAND, task], outside, outside.parent / "home")
    assert result.returncode == 2
    assert _errors(result) == [
        f"error: {task} needs a clone of the ray-worker-image repository (the Dockerfile "
        "template, the locks and the tests live there); run it in the clone"
    ]


def test_the_command_in_the_clone_reads_its_invoke_yaml(tmp_path: Path) -> None:
    """In the clone the console script is `invoke`: the same tasks and project defaults."""
    result = _run([COMMAND, "--list"], ROOT / "docs", tmp_path)
    assert result.returncode == 0 and "build" in result.stdout and "lint" not in result.stdout


@pytest.mark.parametrize(
    ("flag", "said"),
    [
        (
            ["--dry"],
            "-R/--dry (invoke's run.dry, set by the flag, a config file or $INVOKE_RUN_DRY) "
            "has no effect",
        ),
        (["-R"], "use the task's --dry-run"),
        (["-e"], "-e/--echo"),
        (["-w"], "-w/--warn-only"),
        (["-p"], "-p/--pty"),
        (["-T", "5"], "-T/--command-timeout"),
    ],
)
@pytest.mark.parametrize("program", [INVOKE, COMMAND])
def test_inert_invoke_flags_are_refused_and_change_nothing(
    tmp_path: Path, program: str, flag: list[str], said: str
) -> None:
    manifest = tmp_path / "ray-gpu.yaml"
    shutil.copy(ROOT / "deploy/k8s/ray-gpu.yaml", manifest)
    before = manifest.read_bytes()
    run = _run if flag == ["--dry"] else _inproc
    result = run(
        [program, *flag, "patch", "--write", str(manifest), "--image", IMAGE], ROOT, tmp_path
    )
    assert result.returncode == 2
    [line] = _errors(result)
    assert said in line
    assert manifest.read_bytes() == before and result.stdout == ""


@pytest.mark.parametrize(
    "argv",
    [
        ["patch", "--image", UPPER],
        ["verify", UPPER],
        ["sign", UPPER],
    ],
    ids=["patch", "verify", "sign"],
)
def test_upper_case_digest_hex_is_one_input_error(tmp_path: Path, argv: list[str]) -> None:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    key = ec.generate_private_key(ec.SECP256R1())
    private = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()  # fmt: skip
    public = (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    run = _run if argv[0] == "patch" else _inproc
    result = run(
        [INVOKE, *argv], ROOT, tmp_path, RAY_IMAGE_SIGNING_KEY=private, RAY_IMAGE_VERIFY_KEY=public
    )
    assert result.returncode == 2
    [line] = _errors(result)
    assert "digest must be sha256:<64 lowercase hex digits>" in line


@pytest.mark.parametrize(
    ("content", "said"),
    [
        (b"run: [x\n  y: 1\n", "~/.invoke.yaml: line 2: not valid YAML"),
        (b"\xff\xfe run: 1\n", "~/.invoke.yaml: not UTF-8 text"),
        (None, "~/.invoke.yaml: cannot read it (Is a directory)"),
    ],
    ids=["bad YAML", "not UTF-8", "a folder"],
)
@pytest.mark.parametrize("argv", [["--list"], ["verify-tag", "v2.49.2-nats.1"]])
def test_a_broken_user_config_is_one_line_naming_it(
    outside: Path, content: bytes | None, said: str, argv: list[str]
) -> None:
    home = outside.parent / "home"
    if content is None:
        (home / ".invoke.yaml").mkdir()
    else:
        (home / ".invoke.yaml").write_bytes(content)
    run = _run if argv == ["--list"] and said.startswith("~/.invoke.yaml: line") else _inproc
    result = run([COMMAND, *argv], outside, home)
    assert result.returncode == 2
    [line] = _errors(result)
    assert line.startswith(f"error: {said}") and line.endswith("; fix or remove the file")
    assert result.stdout == ""


def test_values_are_named_by_their_real_source(outside: Path) -> None:
    home = outside.parent / "home"
    result = _inproc(
        [COMMAND, "verify-tag", "v2.49.2-nats.1"], outside, home, RAY_IMAGE_VARIANT="bogus"
    )
    assert result.returncode == 2
    assert _errors(result)[0].startswith("error: $RAY_IMAGE_VARIANT bogus: not in image.yaml")
    (home / ".invoke.yaml").write_text("ray_image:\n  enigne: docker\n")
    result = _inproc([COMMAND, "verify-tag", "v2.49.2-nats.1"], outside, home)
    assert result.returncode == 2
    assert _errors(result)[0].startswith("error: ~/.invoke.yaml: field 'ray_image.enigne'")


@pytest.mark.parametrize("program", [INVOKE, COMMAND])
@pytest.mark.parametrize("argv", [["patch", "--image", IMAGE], ["--list"]])
def test_stdout_that_cannot_be_written_is_one_line(
    tmp_path: Path, program: str, argv: list[str]
) -> None:
    with open("/dev/full", "w") as full:
        result = subprocess.run(
            [program, *argv], cwd=ROOT, env=_env(tmp_path), stdout=full, stderr=subprocess.PIPE,
            text=True, timeout=120, check=False,
        )  # fmt: skip
    assert result.returncode == 3
    assert _errors(result) == [
        "error: cannot write to stdout: No space left on device; send it to a file or a pipe "
        "that reads it"
    ]


@pytest.mark.parametrize("program", [INVOKE, COMMAND])
def test_a_closed_pipe_is_quiet(tmp_path: Path, program: str) -> None:
    shell = f"{program} patch --image {IMAGE} | head -c 0; exit ${{PIPESTATUS[0]}}"
    result = subprocess.run(
        ["bash", "-c", shell], cwd=ROOT, env=_env(tmp_path), capture_output=True, text=True,
        timeout=120, check=False,
    )  # fmt: skip
    assert "Traceback" not in result.stderr and "Exception ignored" not in result.stderr
    assert _errors(result) == []


def test_the_wheel_ships_the_definition_and_the_command(tmp_path: Path) -> None:
    """`pip install .` gets the console script and the definition as files (not links)."""
    import zipfile

    source = tmp_path / "src-copy"
    shutil.copytree(
        ROOT, source, symlinks=True,
        ignore=shutil.ignore_patterns(".venv", ".git", "build", "*.egg-info", "__pycache__"),
    )  # fmt: skip
    git_dir = subprocess.run(
        ["git", "-C", str(ROOT), "rev-parse", "--absolute-git-dir"],
        capture_output=True, text=True, check=True,
    ).stdout.strip()  # fmt: skip
    head = subprocess.run(
        ["git", "-C", str(ROOT), "rev-parse", "--short=12", "HEAD"],
        capture_output=True, text=True, check=True,
    ).stdout.strip()  # fmt: skip
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
         "-w", str(tmp_path / "dist"), str(source)],
        check=True, capture_output=True, timeout=300,
        env={**os.environ, "GIT_DIR": git_dir, "GIT_WORK_TREE": str(source)},
    )  # fmt: skip
    [wheel] = (tmp_path / "dist").glob("ray_worker_image-*.whl")
    # installed (not editable) and run from outside any clone: the revision built in
    site = tmp_path / "site"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--no-deps", "--no-index", "-q",
         "--target", str(site), str(wheel)],
        check=True, capture_output=True, timeout=300,
    )  # fmt: skip
    home = tmp_path / "home"
    home.mkdir()
    shown = subprocess.run(
        [sys.executable, "-m", "ray_worker_image.cli", "--version"], cwd=home,
        env=_env(home, PYTHONPATH=str(site)), capture_output=True, text=True, check=True,
    )  # fmt: skip
    assert shown.stdout.startswith(f"ray-worker-image 0.1.0 (git {head}"), shown.stdout
    with zipfile.ZipFile(wheel) as z:
        shipped = z.read("ray_worker_image/project/images/ray-swe-fleet/image.yaml")
        assert shipped == (ROOT / "images/ray-swe-fleet/image.yaml").read_bytes()
        for name in ("ray-worker.in", "ray-worker-build.in"):
            data = z.read(f"ray_worker_image/project/requirements/{name}")
            assert data == (ROOT / "requirements" / name).read_bytes()
        entry = next(n for n in z.namelist() if n.endswith("entry_points.txt"))
        assert "ray-worker-image = ray_worker_image.cli.program:main" in z.read(entry).decode()
