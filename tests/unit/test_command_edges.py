"""The console script's edges a newcomer found (issue 18 point 3): config files that are not
a mapping, ``-f`` pointing at nothing or at a folder, stdout closed, a deleted current
folder, ``patch`` without ``--image`` outside a clone, ``policy`` with a registry that is no
``HOST[:PORT]`` or an ``--out`` in a missing folder, and a closed pipe's exit code. Each is
one ``error:`` line (or nothing, for the pipe) and its exit code, never a traceback.

Closed stdout, the deleted folder and the pipe need a process; of the others, the first case of
each family runs the console script in a subprocess and the rest in this process (``_inproc``,
see test_command.py)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from .test_command import COMMAND, IMAGE, _env, _errors, _inproc, _run


@pytest.fixture
def home(tmp_path: Path) -> Path:
    folder = tmp_path / "home"
    folder.mkdir()
    return folder


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    folder = tmp_path / "gitops"
    folder.mkdir()
    return folder


def test_a_user_config_that_is_not_a_mapping_is_one_line(outside: Path, home: Path) -> None:
    (home / ".invoke.yaml").write_text("- a\n- b\n")
    result = _inproc([COMMAND, "verify-tag", "v2.49.2-nats.1"], outside, home)
    assert result.returncode == 2
    assert _errors(result) == [
        "error: ~/.invoke.yaml: holds a YAML list, not a mapping of settings; fix or remove "
        "the file"
    ]


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("nosuch.yaml", "no such file"),
        ("conf.txt", "unknown file type"),
        ("folder", "is a folder"),
    ],
)
def test_a_bad_runtime_config_file_is_one_line(
    outside: Path, home: Path, name: str, expected: str
) -> None:
    (outside / "conf.txt").write_text("x: 1\n")
    (outside / "folder").mkdir()
    run = _run if name == "nosuch.yaml" else _inproc
    result = run([COMMAND, "-f", name, "verify-tag", "v2.49.2-nats.1"], outside, home)
    assert result.returncode == 2
    (line,) = _errors(result)
    assert line.startswith(f"error: -f {name}: {expected}")


def test_closed_stdout_is_one_line(outside: Path, home: Path) -> None:
    result = subprocess.run(
        ["bash", "-c", f"{COMMAND} --version >&-"], cwd=outside, env=_env(home),
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert result.returncode == 3
    assert _errors(result) == [
        "error: cannot write to stdout: it is closed; send it to a file or a pipe"
    ]


def test_a_deleted_current_folder_is_one_line(tmp_path: Path, home: Path) -> None:
    gone = tmp_path / "gone"
    gone.mkdir()
    script = f"cd {gone} && rmdir {gone} && {COMMAND} --version"
    result = subprocess.run(
        ["bash", "-c", script], env=_env(home), capture_output=True, text=True, timeout=60,
        check=False,
    )  # fmt: skip
    assert result.returncode == 2
    assert _errors(result) == [
        "error: the current folder no longer exists; cd to an existing folder"
    ]


def test_patch_outside_a_clone_needs_an_image(outside: Path, home: Path) -> None:
    result = _inproc(
        [COMMAND, "patch", "--name", "a", "--namespace", "b", "--registry", "127.0.0.1:9"],
        outside, home,
    )  # fmt: skip
    assert result.returncode == 2
    (line,) = _errors(result)
    assert "pass --image REF@sha256:" in line


@pytest.fixture
def public_key(outside: Path) -> Path:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    key = ec.generate_private_key(ec.SECP256R1()).public_key()
    path = outside / "cosign.pub"
    path.write_bytes(
        key.public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    return path


@pytest.mark.parametrize("registry", ["bad host!", "HTTP://127.0.0.1:9", "127.0.0.1:9/"])
def test_policy_refuses_a_registry_that_is_no_host(
    outside: Path, home: Path, public_key: Path, registry: str
) -> None:
    run = _run if registry == "bad host!" else _inproc
    result = run(
        [COMMAND, "policy", "--public-key", str(public_key), "--registry", registry],
        outside, home,
    )  # fmt: skip
    assert result.returncode == 2
    (line,) = _errors(result)
    assert "give HOST[:PORT] only" in line
    assert result.stdout == ""


def test_policy_out_in_a_missing_folder_is_one_line(
    outside: Path, home: Path, public_key: Path
) -> None:
    argv = [COMMAND, "policy", "--public-key", str(public_key), "--registry", "127.0.0.1:9"]
    result = _inproc([*argv, "--out", str(outside / "no" / "p.yaml")], outside, home)
    assert result.returncode == 2
    (line,) = _errors(result)
    assert "its folder does not exist" in line
    assert not (outside / "no").exists()


def test_a_closed_pipe_exits_141_quietly(outside: Path, home: Path) -> None:
    patch = f"{COMMAND} patch --name a --namespace b --image {IMAGE}"
    shell = f"{patch} | head -c 0; exit ${{PIPESTATUS[0]}}"
    result = subprocess.run(
        ["bash", "-c", shell], cwd=outside, env=_env(home), capture_output=True, text=True,
        timeout=120, check=False,
    )  # fmt: skip
    assert _errors(result) == []
    assert result.returncode == 141
