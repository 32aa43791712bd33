"""Image references, engine selection and the push plan: pure decisions, no engine needed."""

from __future__ import annotations

from pathlib import Path

import pytest

from ray_worker_image import engine as engines
from ray_worker_image.definition import load_variant
from ray_worker_image.errors import EngineError, PipelineError, PushError
from ray_worker_image.push import credentials_from_env, plan_push
from ray_worker_image.refs import ImageRef
from ray_worker_image.registry import Credentials, RegistryAccess
from ray_worker_image.state import BuiltImage, ResolvedBase, TestRecord

ROOT = Path(__file__).resolve().parents[2]
D = "sha256:" + "d" * 64


@pytest.mark.parametrize(
    ("text", "registry", "repository", "tag", "digest"),
    [
        ("rayproject/ray:2.49.2", "docker.io", "rayproject/ray", "2.49.2", None),
        ("ubuntu", "docker.io", "library/ubuntu", None, None),
        (
            "127.0.0.1:5000/swe-fleet/ray:2.49.2-nats",
            "127.0.0.1:5000",
            "swe-fleet/ray",
            "2.49.2-nats",
            None,
        ),
        (f"localhost/a/b@{D}", "localhost", "a/b", None, D),
        (f"reg.example.com/a:t@{D}", "reg.example.com", "a", "t", D),
    ],
)
def test_parse_refs(text, registry, repository, tag, digest) -> None:
    ref = ImageRef.parse(text)
    assert (ref.registry, ref.repository, ref.tag, ref.digest) == (
        registry,
        repository,
        tag,
        digest,
    )


@pytest.mark.parametrize("bad", ["UPPER/case:1", "a:b@sha256:xyz", "a:-bad", "reg:5000/a/:t"])
def test_bad_refs_are_errors(bad: str) -> None:
    with pytest.raises(PipelineError):
        ImageRef.parse(bad)


def test_engine_precedence(monkeypatch) -> None:
    monkeypatch.delenv(engines.ENGINE_ENV, raising=False)
    assert engines.resolve_engine_name(None) == "podman"
    assert engines.resolve_engine_name("docker") == "docker"
    monkeypatch.setenv(engines.ENGINE_ENV, "auto")
    assert engines.resolve_engine_name(None) == "auto"
    assert engines.resolve_engine_name("podman") == "podman"
    with pytest.raises(EngineError, match="use one of docker, podman, auto"):
        engines.resolve_engine_name("containerd")


def test_auto_lists_everything_it_tried(monkeypatch, tmp_path) -> None:
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/no-docker.sock")
    monkeypatch.setenv(engines.PODMAN_SOCKET_ENV, str(tmp_path / "no-podman.sock"))
    monkeypatch.setattr(engines.shutil, "which", lambda _name: None)
    with pytest.raises(EngineError) as info:
        engines.connect("auto")
    message = str(info.value)
    assert "no-docker.sock" in message and "no-podman.sock" in message
    assert "podman: not installed" in message and "dockerd" in message


def test_a_custom_podman_socket_is_never_started(monkeypatch, tmp_path) -> None:
    """A mistyped $RAY_IMAGE_PODMAN_SOCKET must not leave a podman service behind."""
    socket = tmp_path / "typo" / "podman.sock"
    monkeypatch.setenv(engines.PODMAN_SOCKET_ENV, str(socket))
    started: list[str] = []
    monkeypatch.setattr(
        engines.PodmanEngine, "_start_service", classmethod(lambda cls, url: started.append(url))
    )
    with pytest.raises(EngineError) as info:
        engines.PodmanEngine.connect()
    assert started == [] and not socket.parent.exists()
    assert f"no podman API at unix://{socket} (from ${engines.PODMAN_SOCKET_ENV})" in str(
        info.value
    )


def test_podman_push_digest_comes_from_its_status_line() -> None:
    podman = engines.PodmanEngine.__new__(engines.PodmanEngine)
    docker = engines.DockerEngine.__new__(engines.DockerEngine)
    events = [
        {"status": "The push refers to repository [x]"},
        {"status": f"t: digest: {D} size: 1058"},
    ]
    assert podman._digest_from_push(events) == D
    assert docker._digest_from_push([{"aux": {"Tag": "t", "Digest": D, "Size": 1}}]) == D
    assert docker._digest_from_push(events) is None


def _built(stand_in: bool) -> BuiltImage:
    base = ResolvedBase("docker.io/rayproject/ray:2.49.2", "x/y:1", D, stand_in)
    return BuiltImage(
        "sha256:" + "e" * 64,
        "podman",
        ("localhost/swe-fleet/ray:2.49.2-nats", "localhost/swe-fleet/ray:2.49.2-nats-gabc"),
        "abc",
        "2026-01-01T00:00:00Z",
        "f",
        base,
    )


def _tests(image_id: str, passed: bool = True) -> TestRecord:
    return TestRecord(image_id, "podman", passed, 11, 0 if passed else 2, "r.xml")


def test_plan_push_tags_and_refusals() -> None:
    d = load_variant(root=ROOT)
    built = _built(stand_in=False)
    plan = plan_push(
        d,
        built,
        _tests(built.image_id),
        registry="reg.example.com",
        skip_tests=False,
        allow_stand_in=False,
    )
    assert [str(r) for r in plan.refs] == [
        "reg.example.com/swe-fleet/ray:2.49.2-nats",
        "reg.example.com/swe-fleet/ray:2.49.2-nats-gabc",
    ]
    with pytest.raises(PushError, match="has no test record"):
        plan_push(d, built, None, registry="r:5000", skip_tests=False, allow_stand_in=False)
    with pytest.raises(PushError, match="failed 2 of 11"):
        plan_push(
            d,
            built,
            _tests(built.image_id, passed=False),
            registry="r:5000",
            skip_tests=False,
            allow_stand_in=False,
        )
    with pytest.raises(PushError, match="has no test record"):
        plan_push(
            d,
            built,
            _tests("sha256:other"),
            registry="r:5000",
            skip_tests=False,
            allow_stand_in=False,
        )
    assert plan_push(d, built, None, registry="r:5000", skip_tests=True, allow_stand_in=False)
    with pytest.raises(PushError, match="HOST"):
        plan_push(
            d,
            built,
            _tests(built.image_id),
            registry="r:5000/x",
            skip_tests=False,
            allow_stand_in=False,
        )


def test_stand_in_images_only_go_to_loopback_unless_allowed() -> None:
    d = load_variant(root=ROOT)
    built = _built(stand_in=True)
    assert plan_push(
        d,
        built,
        _tests(built.image_id),
        registry="127.0.0.1:5000",
        skip_tests=False,
        allow_stand_in=False,
    ).stand_in
    with pytest.raises(PushError, match="STAND-IN"):
        plan_push(
            d,
            built,
            _tests(built.image_id),
            registry="ghcr.io",
            skip_tests=False,
            allow_stand_in=False,
        )


def test_password_comes_only_from_the_environment(monkeypatch) -> None:
    monkeypatch.delenv("RAY_IMAGE_REGISTRY_PASSWORD", raising=False)
    assert credentials_from_env(None) is None
    with pytest.raises(PushError, match="RAY_IMAGE_REGISTRY_PASSWORD is empty"):
        credentials_from_env("bot")
    monkeypatch.setenv("RAY_IMAGE_REGISTRY_PASSWORD", "s3cret-value")
    creds = credentials_from_env("bot")
    assert creds == Credentials("bot", "s3cret-value")
    assert "s3cret-value" not in repr(creds) and "s3cret-value" not in str(creds)


def test_loopback_registries_are_plain_http() -> None:
    assert RegistryAccess("127.0.0.1:5000").scheme == "http"
    assert RegistryAccess("localhost:5000").scheme == "http"
    assert RegistryAccess("registry.example.com").scheme == "https"


def test_skip_tests_warns_loudly(capsys) -> None:
    d = load_variant(root=ROOT)
    built = _built(stand_in=False)
    plan_push(d, built, None, registry="r:5000", skip_tests=True, allow_stand_in=False)
    err = capsys.readouterr().err
    assert "WARNING" in err and "WITHOUT passing in-image tests" in err
