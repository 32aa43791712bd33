"""`invoke TASK` with bad input, as a user runs it: one `error:` line, exit 2 (bad input),
no traceback, nothing written, and no engine asked.

Every run points both engines at sockets that do not exist (``DOCKER_HOST``,
``RAY_IMAGE_PODMAN_SOCKET``) and its state at a fresh folder: an input that slipped past
the checks would end in the engine's "no Docker Engine answers" instead of the expected
line (so the test fails), and it could never build, pull or push anything.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.inprocess import Ran, run_invoke

ROOT = Path(__file__).resolve().parents[2]
INVOKE = str(Path(sys.executable).parent / "invoke")
REF = "registry.example.com/swe-fleet/ray:2.49.2-nats@sha256:" + "0" * 64
MANIFEST = ROOT / "deploy/k8s/ray-gpu.yaml"


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("RAY_IMAGE_") and k not in ("PIP_CERT", "REQUESTS_CA_BUNDLE")
    }
    env.update(
        DOCKER_HOST=f"unix://{tmp_path}/no-docker.sock",
        RAY_IMAGE_PODMAN_SOCKET=f"{tmp_path}/no-podman.sock",
        RAY_IMAGE_ENGINE="docker",
        RAY_IMAGE_BUILD_DIR=str(tmp_path / "build"),
        NO_COLOR="1",
        COLUMNS="500",
    )
    env.update(extra)
    return env


def _run(tmp_path: Path, *args: str, cwd: Path = ROOT, env: dict[str, str] | None = None) -> Ran:
    return run_invoke(args, cwd, env or _env(tmp_path))


def _assert_one_line(
    result: Ran | subprocess.CompletedProcess[str], said: str, code: int = 2
) -> None:
    """One `error:` line saying ``said``; exit ``code`` (2: bad input, README "Exit codes")."""
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert "Traceback" not in result.stderr, result.stderr
    assert result.returncode == code, result.stderr
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert said in lines[0], lines[0]
    assert result.stdout == ""


def _broken_definition(tmp_path: Path) -> Path:
    raw = yaml.safe_load((ROOT / "images/ray-swe-fleet/image.yaml").read_text())
    raw["requirements"]["input"] = "requirements/no-such.in"
    path = tmp_path / "image.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


RELEASE = ("release", "--stand-in")
CASES = {
    "stand-in to a remote registry": (
        (*RELEASE, "--registry", "registry.example.com"),
        "pass --allow-stand-in",
    ),
    "release --out a file": (
        (*RELEASE, "--registry", "127.0.0.1:5000", "--out", "/etc/passwd"),
        "--out /etc/passwd: is not a folder",
    ),
    "release --out where nobody writes": (
        (*RELEASE, "--registry", "127.0.0.1:5000", "--out", "/sys/rollout"),
        "--out /sys/rollout: cannot write in /sys",
    ),
    "registry port": ((*RELEASE, "--registry", "127.0.0.1:99999"), "port 99999 is out of range"),
    "nothing listens at the registry": (
        (*RELEASE, "--registry", "127.0.0.1:9"),
        "--registry 127.0.0.1:9: nothing listens there (connection refused)",
    ),
    "sbom --out a file": (
        ("sbom", "--registry", "127.0.0.1:5000", "--out", "/etc/passwd"),
        "--out /etc/passwd: is not a folder; give a folder to write the SBOM into",
    ),
    "sbom --out below a file": (
        ("sbom", "--registry", "127.0.0.1:5000", "--out", "/etc/passwd/sub"),
        "--out /etc/passwd/sub: /etc/passwd is not a folder",
    ),
    "sbom --out where nobody writes": (
        ("sbom", "--registry", "127.0.0.1:5000", "--attach", "--out", "/proc/nope"),
        "--out /proc/nope: cannot write in /proc",
    ),
    "registry CA not PEM": (
        (*RELEASE, "--registry", "127.0.0.1:5000", "--registry-ca", "/etc/passwd"),
        "--registry-ca /etc/passwd: holds no PEM certificate",
    ),
    "push: registry CA not PEM": (
        ("push", "--registry", "127.0.0.1:5000", "--registry-ca", "/etc/passwd"),
        "--registry-ca /etc/passwd: holds no PEM certificate",
    ),
    "push: registry port": (("push", "--registry", "reg:0"), "port 0 is out of range"),
    "groups with a space": (
        (*RELEASE, "--registry", "127.0.0.1:5000", "--groups", "a b"),
        "--groups 'a b' is not a valid label value",
    ),
    "patch --groups": (
        ("patch", "--image", REF, "--groups", "gpu workers"),
        "--groups 'gpu workers' is not a valid label value",
    ),
    "definition is a folder": (
        (*RELEASE, "--registry", "127.0.0.1:5000", "--definition", "/tmp"),
        "/tmp: is a folder",
    ),
    "e2e --tasks many": (("e2e", "--tasks", "many"), "--tasks 'many': give a whole number"),
    "e2e --image": (("e2e", "--image", "Not A Ref"), "--image 'Not A Ref': repository"),
    "contract --image": (("contract", "--image", "Not A Ref"), "--image 'Not A Ref'"),
    "test --image": (("test", "--image", "Not A Ref"), "--image 'Not A Ref'"),
    "variant and all-variants": (
        ("build", "--variant", "2.52.1-py311", "--all-variants"),
        "--variant 2.52.1-py311 and --all-variants: give one or the other",
    ),
    "lock: variant and all-variants": (
        ("lock", "--check", "--variant", "2.49.2", "--all-variants"),
        "--variant 2.49.2 and --all-variants",
    ),
    "patch --all-variants --image": (
        ("patch", "--all-variants", "--from", str(MANIFEST), "--image", REF),
        "--image with --all-variants",
    ),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_input_is_one_line_before_any_engine(tmp_path: Path, case: str) -> None:
    args, said = CASES[case]
    _assert_one_line(_run(tmp_path, *args), said, code=3 if "nothing listens" in said else 2)
    assert not (tmp_path / "build").exists()


def test_a_missing_requirements_input_is_refused_by_the_definition(tmp_path: Path) -> None:
    path = _broken_definition(tmp_path)
    result = _run(tmp_path, *RELEASE, "--registry", "127.0.0.1:5000", "--definition", str(path))
    _assert_one_line(result, "field 'requirements.input': requirements/no-such.in is not a file")


def test_definition_from_the_environment_that_is_a_folder(tmp_path: Path) -> None:
    env = _env(tmp_path, RAY_IMAGE_DEFINITION="/tmp")
    _assert_one_line(_run(tmp_path, "render", env=env), "/tmp: is a folder")


def test_patch_out_a_file_leaves_it_alone(tmp_path: Path) -> None:
    a_file = tmp_path / "rollout"
    a_file.write_text("keep\n")
    result = _run(tmp_path, "patch", "--image", REF, "--out", str(a_file))
    _assert_one_line(result, f"--out {a_file}: is not a folder")
    assert a_file.read_text() == "keep\n"


@pytest.mark.parametrize(
    ("config", "said"),
    [
        ({"ray_image": {"cluster": {"groups": 5}}}, "field 'ray_image.cluster.groups'"),
        (
            {"ray_image": {"cluster": {"groups": "gpu-workers"}}},
            "expected a list of group names, e.g. groups: [gpu-workers], got str",
        ),
        ({"ray_image": [1, 2]}, "field 'ray_image': expected a mapping"),
        ({"ray_image": {"enigne": "docker"}}, "did you mean 'engine'?"),
        ({"ray_image": {"cluster": {"nmespace": "x"}}}, "did you mean 'namespace'?"),
    ],
)
def test_invoke_yaml_is_validated(tmp_path: Path, config: object, said: str) -> None:
    project = _project_copy(tmp_path, yaml.safe_dump(config))
    result = _run(tmp_path, "patch", "--image", REF, cwd=project)
    _assert_one_line(result, said)
    assert result.stderr.startswith("error: invoke.yaml: field 'ray_image")


def _project_copy(tmp_path: Path, invoke_yaml: str) -> Path:
    """tasks.py (and devtasks.py) with an invoke.yaml of the test's own, as a user's edit."""
    project = tmp_path / "project"
    project.mkdir()
    for name in ("tasks.py", "devtasks.py"):
        shutil.copy(ROOT / name, project / name)
    (project / "invoke.yaml").write_text(invoke_yaml)
    return project


def test_a_broken_invoke_yaml_is_one_line_not_invokes_traceback(tmp_path: Path) -> None:
    project = _project_copy(tmp_path, "ray_image:\n  engine: [podman\n  registry: x\n")
    result = _run(tmp_path, "--list", cwd=project)
    _assert_one_line(result, "invoke.yaml: line 3: not valid YAML")


def test_definition_resolves_from_the_current_directory(tmp_path: Path) -> None:
    shutil.copy(ROOT / "images/ray-swe-fleet/image.yaml", tmp_path / "image.yaml")
    result = _run(
        tmp_path,
        "--search-root",
        str(ROOT),
        "verify-tag",
        "--tag",
        "v2.49.2-nats.1",
        "--definition",
        "image.yaml",
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout == "v2.49.2-nats.1: release 1 of 2.49.2-nats\n"


def test_verify_tag_finds_the_variant_itself(tmp_path: Path) -> None:
    result = _run(tmp_path, "verify-tag", "--tag", "v2.52.1-py311-nats.3")
    assert result.returncode == 0, result.stderr
    assert result.stdout == "v2.52.1-py311-nats.3: release 3 of 2.52.1-py311-nats\n"


def test_a_bracketed_ipv6_registry_passes_the_plan(tmp_path: Path) -> None:
    """The plan accepts it; the run then stops at the (absent) engine, not at --registry."""
    result = _run(tmp_path, *RELEASE, "--registry", "[::1]:5000", "--dry-run")
    assert result.returncode == 3 and "Traceback" not in result.stderr  # could not run
    assert "--registry" not in result.stderr
    assert "no Docker Engine answers" in result.stderr


@pytest.mark.skipif(
    os.geteuid() != 0 or shutil.which("unshare") is None,
    reason="needs root and unshare for a read-only bind mount",
)
def test_patch_write_on_a_read_only_file_says_so_before_any_diff(tmp_path: Path) -> None:
    folder = tmp_path / "gitops"
    folder.mkdir()
    manifest = folder / "ray-gpu.yaml"
    shutil.copy(MANIFEST, manifest)
    before = manifest.read_text()
    script = 'mount --bind -o ro "$1" "$1" && shift && exec "$@"'
    result = subprocess.run(
        [
            *("unshare", "--mount", "--propagation", "private", "sh", "-c", script, "sh"),
            *(str(folder), INVOKE, "patch", "--write", str(manifest), "--image", REF),
        ],
        cwd=ROOT,
        env=_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    _assert_one_line(result, f"--write {manifest}: cannot write it")
    assert manifest.read_text() == before


@pytest.mark.parametrize("task", ["verify", "sign"])
def test_a_registry_where_nothing_listens_is_refused_at_once(task: str, tmp_path: Path) -> None:
    """No retries for a refused connection: one line naming it, well inside the retry budget."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    key = ec.generate_private_key(ec.SECP256R1())
    private = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    public = (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    env = _env(tmp_path, RAY_IMAGE_SIGNING_KEY=private, RAY_IMAGE_VERIFY_KEY=public)
    result = _run(tmp_path, task, "127.0.0.1:9/swe-fleet/ray:2.49.2-nats", env=env)
    _assert_one_line(result, "REF's registry 127.0.0.1:9: nothing listens there", code=3)
    assert "tried" not in result.stderr
