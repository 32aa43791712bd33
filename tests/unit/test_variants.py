"""Variants without an engine: settings precedence, offline refusals, the release plan.

The release plan must refuse every bad input before any slow step: these tests give the
sessions an engine connection that fails the test if anything asks for it.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from ray_worker_image import settings
from ray_worker_image.definition import load_definition
from ray_worker_image.errors import PipelineError
from ray_worker_image.preflight import check_registry
from ray_worker_image.release_plan import plan_release
from ray_worker_image.rollout import CanaryOptions, ClusterOptions
from ray_worker_image.session import Connection, Options, Session, sessions
from ray_worker_image.standin import (
    DEBIAN_SUITES,
    check_stand_in,
    render_stand_in,
    stand_in_files,
    stand_in_refusal,
)

ROOT = Path(__file__).resolve().parents[2]
DEFINITION = load_definition(root=ROOT)


# -- settings: flag, then environment, then invoke.yaml, then default ----------------------


def test_settings_precedence_in_one_place() -> None:
    env = {"RAY_IMAGE_REGISTRY": "env:5000"}
    config = {"registry": "yaml:5000", "variant": "2.52.1-py311"}
    assert settings.resolve("registry", "flag:5000", env, config) == "flag:5000"
    assert settings.resolve("registry", None, env, config) == "env:5000"
    assert settings.resolve("registry", None, {}, config) == "yaml:5000"
    assert settings.resolve("registry", None, {}, {}) == ""
    assert settings.resolve("variant", None, {}, config) == "2.52.1-py311"
    assert settings.resolve("variant", None, {}, None) is None
    assert settings.resolve("engine", None, {}, {}) == "podman"


def test_boolean_settings() -> None:
    assert settings.resolve("stand_in", True, {}, {"stand_in": False}) is True
    assert settings.resolve("stand_in", False, {"RAY_IMAGE_STAND_IN": "1"}, {}) is True
    assert settings.resolve("stand_in", False, {"RAY_IMAGE_STAND_IN": "off"}, {}) is False
    assert settings.resolve("stand_in", False, {}, {"stand_in": True}) is True
    with pytest.raises(PipelineError, match=r"\$RAY_IMAGE_STAND_IN: 'maybe' is not a boolean"):
        settings.resolve("stand_in", False, {"RAY_IMAGE_STAND_IN": "maybe"}, {})


def test_resolve_all_covers_every_setting() -> None:
    resolved = settings.resolve_all({"variant": "2.49.2"}, {}, {})
    assert set(resolved) == set(settings.SETTINGS)
    assert resolved["variant"] == "2.49.2"


# -- offline stand-ins ---------------------------------------------------------------------


def _variant(name: str):
    base = DEFINITION.variant("2.52.1-py311")
    from ray_worker_image.raytag import RayTag

    tag = RayTag.parse(name)
    return dataclasses.replace(
        base,
        variant=name,
        ray_tag=tag,
        base=dataclasses.replace(base.base, python=tag.python, ray_version=tag.ray_version),
    )


@pytest.mark.parametrize(
    ("name", "why"),
    [
        ("2.52.1-py310", "Python 3.10, which no Debian release ships"),
        ("2.52.1-py312", "Python 3.12, which no Debian release ships"),
        ("2.52.1-py311-gpu", "GPU platform cu121; a CPU stand-in must not pass for a GPU base"),
        ("2.52.1-py311-cu128", "GPU platform cu128"),
        ("2.52.1-py311-aarch64", "is for aarch64"),
    ],
)
def test_no_stand_in_where_no_debian_fits(name: str, why: str) -> None:
    refusal = stand_in_refusal(_variant(name))
    assert refusal is not None and why in refusal and "\n" not in refusal
    assert "drop --stand-in" in refusal
    with pytest.raises(PipelineError, match=r"^offline mode: variant "):
        check_stand_in(_variant(name))


def test_stand_ins_that_exist() -> None:
    assert stand_in_refusal(DEFINITION.variant("2.49.2")) is None
    assert stand_in_refusal(DEFINITION.variant("2.52.1-py311")) is None
    assert stand_in_refusal(_variant("2.53.0-py313")) is None
    assert DEBIAN_SUITES["3.9"][0] == "bullseye" and DEBIAN_SUITES["3.11"][0] == "bookworm"


def test_each_stand_in_keeps_its_own_constraints() -> None:
    old = stand_in_files(DEFINITION.variant("2.49.2"))
    new = stand_in_files(DEFINITION.variant("2.52.1-py311"))
    assert b"grpcio==1.75.0" in old["pins.txt"]
    assert b"ray==2.52.1" in new["pins.txt"]
    assert b"not known offline" in new["requirements_compiled.txt"]
    assert b"absl-py" in old["requirements_compiled.txt"]
    text = render_stand_in(DEFINITION.variant("2.52.1-py311"))
    assert 'ray[default]==2.52.1"' in text and "Debian 12 instead of Ubuntu" in text
    assert "Debian 11 instead" in render_stand_in(DEFINITION.variant("2.49.2"))


def test_a_missing_pins_file_is_one_line() -> None:
    with pytest.raises(PipelineError, match=r"images/stand-in/2.53.0-py311/pins.txt is missing"):
        stand_in_files(_variant("2.53.0-py311"))


# -- sessions and the release plan ---------------------------------------------------------


class NoEngine(Connection):
    def get(self):  # type: ignore[no-untyped-def]
        raise AssertionError("the plan asked for an engine")


def _sessions(tmp_path: Path, *names: str, stand_in: bool = True) -> list[Session]:
    options = Options(root=ROOT, stand_in=stand_in, build_dir=tmp_path)
    connection = NoEngine(options)
    return [Session(options, DEFINITION.variant(n), connection=connection) for n in names]


def test_sessions_keep_their_state_apart(tmp_path: Path) -> None:
    a, b = _sessions(tmp_path, "2.49.2", "2.52.1-py311")
    assert a.build_dir == tmp_path / "2.49.2" and b.build_dir == tmp_path / "2.52.1-py311"
    assert a.connection is b.connection


def test_all_variants_open_one_session_each(tmp_path: Path) -> None:
    options = Options(root=ROOT, build_dir=tmp_path, all_variants=True)
    with sessions(options) as opened:
        assert [s.variant for s in opened] == ["2.49.2", "2.52.1-py311"]


def _plan(opened: list[Session], cluster: ClusterOptions | None = None, **kwargs):
    args = {
        "registry": "127.0.0.1:5000",
        "username": None,
        "allow_stand_in": False,
        "dry_run": False,
        "out": None,
    } | kwargs
    return plan_release(opened, cluster or ClusterOptions("", "ray-gpu", "ray", ()), **args)


@pytest.mark.registry  # planning asks the loopback registry whether it listens
def test_a_good_plan_for_every_variant(tmp_path: Path) -> None:
    plan = _plan(_sessions(tmp_path, "2.49.2", "2.52.1-py311"))
    assert [s.variant for s in plan.sessions] == ["2.49.2", "2.52.1-py311"]


@pytest.mark.parametrize(
    ("kwargs", "cluster", "message"),
    [
        ({"registry": ""}, None, "no registry to push to"),
        ({"registry": "https://r.example.com"}, None, "give HOST[:PORT] only"),
        ({"registry": "r.example.com/ns"}, None, "give HOST[:PORT] only"),
        ({"registry": "régistry:5000"}, None, "ASCII"),
        ({"username": "ci-bot"}, None, "RAY_IMAGE_REGISTRY_PASSWORD is empty"),
        ({}, ClusterOptions(None, "ray-gpu", "ray", (), restart="bogus"), "--restart 'bogus'"),
        ({}, ClusterOptions("/nonexistent/rc.json"), "/nonexistent/rc.json"),
    ],
)
def test_bad_input_stops_the_plan(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, kwargs, cluster, message: str
) -> None:
    monkeypatch.delenv("RAY_IMAGE_REGISTRY_PASSWORD", raising=False)
    with pytest.raises(PipelineError) as info:
        _plan(_sessions(tmp_path, "2.49.2"), cluster, **kwargs)
    assert message in str(info.value) and "\n" not in str(info.value)


def test_one_cluster_for_every_variant_is_checked_group_by_group(tmp_path: Path) -> None:
    """--from with --all-variants: each group must run one of the variants (checked first)."""
    cluster = ClusterOptions(str(ROOT / "tests/data/kuberay/clusters/multi-group.yaml"))
    with pytest.raises(PipelineError, match=r"gpu-a100 runs .*; build variant 2\.49\.2-cu121"):
        _plan(_sessions(tmp_path, "2.49.2", "2.52.1-py311"), cluster)


def test_a_missing_lock_stops_the_plan(tmp_path: Path) -> None:
    opened = _sessions(tmp_path, "2.52.1-py311")
    reqs = dataclasses.replace(
        opened[0].definition.requirements, lock=ROOT / "requirements/no-such/ray-worker.txt"
    )
    opened[0].definition = dataclasses.replace(opened[0].definition, requirements=reqs)
    with pytest.raises(PipelineError, match="lock file missing"):
        _plan(opened)


def test_offline_mode_refuses_a_gpu_variant_before_anything_starts(tmp_path: Path) -> None:
    options = Options(root=ROOT, stand_in=True, build_dir=tmp_path)
    with pytest.raises(PipelineError, match=r"offline mode: variant 2\.52\.1-py311-gpu runs on"):
        Session(options, _variant("2.52.1-py311-gpu"), connection=NoEngine(options))
    Session(
        dataclasses.replace(options, stand_in=False),
        _variant("2.52.1-py311-gpu"),
        connection=NoEngine(options),
    )


def test_check_registry_accepts_host_and_port() -> None:
    for good in ("127.0.0.1:5000", "registry.example.com", "localhost:5001"):
        check_registry(good)


# -- add-variant, the parts without an engine ---------------------------------------------


def test_add_variant_plans_the_new_variant_in_memory() -> None:
    from ray_worker_image.addvariant import plan_variant

    before = DEFINITION.path.read_text()
    text, variant = plan_variant(DEFINITION, "2.53.0-py311")
    assert DEFINITION.path.read_text() == before  # nothing written
    assert variant.base.python == "3.11" and variant.base.ray_version == "2.53.0"
    assert variant.requirements.lock == ROOT / "requirements/2.53.0-py311/ray-worker.txt"
    added = text.splitlines()[len(before.splitlines()) :]
    assert added == ['  - name: "2.53.0-py311"']
    assert text.startswith(before)  # comments and layout kept


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("2.49.2-py39-cpu", "already there as '2.49.2'"),
        ("2.53", "not in Ray's grammar"),
    ],
)
def test_add_variant_refuses_in_one_line(name: str, message: str) -> None:
    from ray_worker_image.addvariant import plan_variant

    with pytest.raises(PipelineError) as info:
        plan_variant(DEFINITION, name)
    assert message in str(info.value) and "\n" not in str(info.value)


def test_add_variant_refuses_a_gpu_stand_in_before_anything_starts(tmp_path: Path) -> None:
    from ray_worker_image.addvariant import add_variant

    options = Options(root=ROOT, stand_in=True, build_dir=tmp_path)
    before = DEFINITION.path.read_text()
    with pytest.raises(PipelineError, match=r"variant 2\.53\.0-py311-gpu runs on GPU"):
        add_variant(options, DEFINITION, "2.53.0-py311-gpu")
    assert DEFINITION.path.read_text() == before
    assert not (ROOT / "requirements/2.53.0-py311-gpu").exists()


@pytest.mark.registry  # planning asks the loopback registry whether it listens
def test_release_from_a_cluster_refuses_a_stand_in_build_unless_allowed(tmp_path: Path) -> None:
    """Issue 17: a stand-in build goes into the --from cluster only with --allow-stand-in
    (checked in the plan, before anything slow); without --from the patch is for review."""
    cluster = ClusterOptions(
        str(ROOT / "deploy/k8s/ray-gpu.yaml"),
        canary=CanaryOptions(nats_url="nats://nats.ray.svc:4222"),
    )
    with pytest.raises(PipelineError, match=r"built on the offline stand-in .*--allow-stand-in"):
        _plan(_sessions(tmp_path, "2.49.2"), cluster)
    _plan(_sessions(tmp_path, "2.49.2"), cluster, allow_stand_in=True)
    _plan(_sessions(tmp_path, "2.49.2", stand_in=False), cluster)
