"""Push streams replayed through the real Engine.push and push_image, the boundary stubbed.

The engine's API client and the registry client are stand-ins that replay what the
engines and a registry answer; everything between them is the production code.
"""

from __future__ import annotations

from typing import Any, ClassVar

import pytest

from ray_worker_image.engine import DockerEngine, PodmanEngine, explain_push_failure, push_failure
from ray_worker_image.errors import EngineError, PipelineError, PushError
from ray_worker_image.push import PushPlan, push_image
from ray_worker_image.refs import ImageRef
from ray_worker_image.registry import Destination, RegistryAccess
from ray_worker_image.registry.transport import retry_after_seconds

OLD = "sha256:" + "0" * 64
NEW = "sha256:" + "1" * 64
IMAGE_ID = "sha256:" + "e" * 64
REG = "reg.example.com"
FLOATING = ImageRef(REG, "swe-fleet/ray", "2.49.2-nats")
IMMUTABLE = ImageRef(REG, "swe-fleet/ray", "2.49.2-nats-gabc")
ISSUE_STREAM = [  # issue 12: this stream, with the registry holding OLD, gave exit 0
    {"status": "The push refers to repository [reg.example.com/swe-fleet/ray]"},
    {"status": "Preparing", "progressDetail": {}, "id": "5f70bf18a086"},
    {"errorDetail": {"message": "denied: requested access to the resource is denied"}},
]


class _Image:
    id = IMAGE_ID

    def tag(self, name: str, tag: str) -> None:
        pass


class _Images:
    def __init__(self) -> None:
        self.names: set[str] = {IMAGE_ID}
        self.removed: list[str] = []

    def get(self, name: str) -> _Image:
        import docker.errors

        if name not in self.names and not name.startswith(REG):
            raise docker.errors.NotFound(name)
        return _Image()

    def remove(self, name: str, **_: Any) -> None:
        self.removed.append(name)


class _Api:
    def __init__(self, streams: list[list[dict[str, Any]] | Exception]) -> None:
        self.streams = streams
        self.pushed: list[str] = []

    def push(self, name: str, tag: str, **_: Any) -> Any:
        self.pushed.append(f"{name}:{tag}")
        stream = self.streams.pop(0)
        if isinstance(stream, Exception):
            raise stream
        return iter(stream)


class _Client:
    def __init__(self, streams: list[list[dict[str, Any]] | Exception]) -> None:
        self.api = _Api(streams)
        self.images = _Images()


class _Registry:
    """What the registry serves: tag -> manifest digest, tag -> config digest."""

    served: ClassVar[dict[str, str]] = {}
    configs: ClassVar[dict[str, str]] = {}

    def __init__(self, access: RegistryAccess, credentials: Any = None) -> None:
        self.access = access

    def check(self) -> None:
        pass

    def ping(self) -> bool:
        return True

    def manifest_digest(self, ref: ImageRef) -> str | None:
        return self.served.get(ref.tag or "")

    def config_digest(self, ref: ImageRef) -> str | None:
        return self.configs.get(ref.tag or "")


def _engine(cls: type, streams: list[list[dict[str, Any]] | Exception]) -> Any:
    engine = cls(_Client(streams), "unix:///fake")
    engine.check_registry_access = lambda access: None
    return engine


def _plan() -> PushPlan:
    return PushPlan(IMAGE_ID, (FLOATING, IMMUTABLE), stand_in=False, engine="docker")


@pytest.fixture
def registry(monkeypatch: pytest.MonkeyPatch) -> type[_Registry]:
    _Registry.served = {}
    _Registry.configs = {}
    # the boundary: every repository the push asks for is this in-memory one
    monkeypatch.setattr(Destination, "repository", lambda self, name: _Registry(self.access))
    return _Registry


def _ok(digest: str, tag: str) -> list[dict[str, Any]]:
    return [
        {"status": "Pushed", "progressDetail": {}, "id": "5f70bf18a086"},
        {"status": f"{tag}: digest: {digest} size: 528"},
        {"progressDetail": {}, "aux": {"Tag": tag, "Digest": digest, "Size": 528}},
    ]


@pytest.mark.parametrize(
    ("events", "expected"),
    [
        (ISSUE_STREAM, "denied: requested access to the resource is denied"),
        ([{"status": "x"}, {"error": "unauthorized"}], "unauthorized"),
        ([{"errorDetail": {"message": "a"}, "error": "b"}], "a"),
        (_ok(NEW, "t"), None),
    ],
)
def test_push_failure_sees_error_detail_and_error(events, expected) -> None:
    assert push_failure(events) == expected


def test_issue_stream_fails_and_records_nothing(registry) -> None:
    registry.served = {"2.49.2-nats": OLD, "2.49.2-nats-gabc": OLD}
    registry.configs = {"2.49.2-nats-gabc": IMAGE_ID}  # same image: not an immutability case
    engine = _engine(DockerEngine, [ISSUE_STREAM])
    with pytest.raises(EngineError, match="denied: requested access") as info:
        push_image(engine, _plan(), None, attempts=3, max_retry_seconds=1)
    assert "\n" not in str(info.value)
    assert engine._client.api.pushed == [str(IMMUTABLE)]  # permanent: not retried


@pytest.mark.parametrize("cls", [DockerEngine, PodmanEngine])
def test_immutable_first_floating_last_and_digest_from_this_push(registry, cls) -> None:
    class Moving(_Registry):
        def manifest_digest(self, ref: ImageRef) -> str | None:
            return NEW if engine._client.api.pushed.count(str(ref)) else OLD

    Destination.repository = lambda self, name: Moving(self.access)  # type: ignore[method-assign]
    Moving.configs = {"2.49.2-nats-gabc": IMAGE_ID}
    engine = _engine(cls, [_ok(NEW, "2.49.2-nats-gabc"), _ok(NEW, "2.49.2-nats")])
    record = push_image(engine, _plan(), None)
    assert engine._client.api.pushed == [str(IMMUTABLE), str(FLOATING)]
    assert record.digest == NEW


def test_engine_without_a_digest_is_not_trusted(registry) -> None:
    registry.served = {"2.49.2-nats-gabc": OLD}
    registry.configs = {"2.49.2-nats-gabc": IMAGE_ID}
    engine = _engine(DockerEngine, [[{"status": "Pushed", "progressDetail": {}}]])
    with pytest.raises(PushError, match="reported no digest"):
        push_image(engine, _plan(), None)


def test_registry_serving_another_digest_fails(registry) -> None:
    registry.served = {"2.49.2-nats-gabc": OLD}
    registry.configs = {"2.49.2-nats-gabc": IMAGE_ID}
    engine = _engine(DockerEngine, [_ok(NEW, "2.49.2-nats-gabc")])
    with pytest.raises(PushError, match=rf"reported {NEW}.*serves {OLD}"):
        push_image(engine, _plan(), None)


def test_immutable_tag_holding_another_image_is_refused_unless_forced(registry) -> None:
    registry.served = {"2.49.2-nats-gabc": OLD}
    registry.configs = {"2.49.2-nats-gabc": "sha256:" + "9" * 64}
    engine = _engine(DockerEngine, [])
    with pytest.raises(PushError, match=r"already holds another image.*--force"):
        push_image(engine, _plan(), None)
    assert engine._client.api.pushed == []  # refused before anything moved
    registry.served = {}
    engine = _engine(DockerEngine, [_ok(NEW, "a"), _ok(NEW, "b")])
    registry.served = {"2.49.2-nats-gabc": NEW, "2.49.2-nats": NEW}
    registry.configs = {"2.49.2-nats-gabc": "sha256:" + "9" * 64}
    assert push_image(engine, _plan(), None, force=True).digest == NEW


def test_transient_push_failures_are_retried_permanent_ones_not(registry) -> None:
    registry.served = {"2.49.2-nats-gabc": NEW, "2.49.2-nats": NEW}
    registry.configs = {"2.49.2-nats-gabc": IMAGE_ID}
    reset = [{"errorDetail": {"message": "write tcp: connection reset by peer"}}]
    slept: list[float] = []  # the backoff, without waiting it out
    engine = _engine(DockerEngine, [reset, reset, _ok(NEW, "a"), _ok(NEW, "b")])
    pushed = push_image(engine, _plan(), None, attempts=3, max_retry_seconds=30, sleep=slept.append)
    assert pushed.digest == NEW
    assert len(engine._client.api.pushed) == 4
    engine = _engine(DockerEngine, [reset, reset, reset, _ok(NEW, "a")])
    with pytest.raises(EngineError, match="connection reset"):
        push_image(engine, _plan(), None, attempts=3, max_retry_seconds=30, sleep=slept.append)
    assert len(engine._client.api.pushed) == 3  # bounded
    assert slept == [1, 2, 1, 2]


def test_image_built_by_another_engine_says_so(registry) -> None:
    engine = _engine(PodmanEngine, [])
    engine._client.images.names = set()
    with pytest.raises(PushError, match="built with docker: pass --engine docker"):
        push_image(engine, _plan(), None)


def test_413_names_the_proxy_setting() -> None:
    error = explain_push_failure("docker", "r/x:t", "received unexpected HTTP status: 413 Request")
    assert "client_max_body_size" in str(error) and not error.transient
    assert explain_push_failure("podman", "r", "HTTP 503 Service Unavailable").transient
    assert not explain_push_failure(
        "podman", "r", "unauthorized: authentication required"
    ).transient


def test_retry_after_parsing() -> None:
    assert retry_after_seconds("3") == 3.0
    assert retry_after_seconds(None) is None
    assert retry_after_seconds("Wed, 21 Oct 2015 07:28:00 GMT", now=1445412470.0) == 10.0
    assert retry_after_seconds("soon") is None


def test_pipeline_error_is_one_line() -> None:
    assert str(PipelineError("a\nb\n  c")) == "a b c"
