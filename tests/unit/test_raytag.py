"""Ray's tag grammar: defaults, aliases, refusals."""

import pytest

from ray_worker_image.raytag import RayTag, RayTagError


@pytest.mark.parametrize(
    ("tag", "canonical"),
    [
        ("2.49.2", "2.49.2-py39-cpu"),
        ("2.49.2-py39", "2.49.2-py39-cpu"),
        ("2.49.2-cpu", "2.49.2-py39-cpu"),
        ("2.52.1-py311", "2.52.1-py311-cpu"),
        ("2.49.2-py311-gpu", "2.49.2-py311-cu121"),
        ("2.49.2-py310-cu128-aarch64", "2.49.2-py310-cu128-aarch64"),
        ("2.34.0-py310", "2.34.0-py310-cpu"),
    ],
)
def test_parse_fills_defaults(tag: str, canonical: str) -> None:
    assert RayTag.parse(tag).canonical == canonical


def test_short_drops_defaults_and_gpu_is_cu121() -> None:
    assert RayTag.parse("2.49.2-py39-cpu").short == "2.49.2"
    assert RayTag.parse("2.52.1-py311").short == "2.52.1-py311"
    assert RayTag.parse("2.49.2-gpu") == RayTag.parse("2.49.2-py39-cu121")


@pytest.mark.parametrize(
    "tag", ["latest", "2.49", "2.49.2-nats", "2.49.2-py3", "nightly-py311", ""]
)
def test_outside_grammar(tag: str) -> None:
    with pytest.raises(RayTagError):
        RayTag.parse(tag)
    assert RayTag.try_parse(tag) is None


def test_differences_name_each_part() -> None:
    a, b = RayTag.parse("2.49.2"), RayTag.parse("2.52.1-py311-gpu")
    assert a.differences(b) == [
        "Ray 2.49.2 vs 2.52.1",
        "Python 3.9 vs 3.11",
        "platform cpu vs cu121",
    ]
    assert a.differences(a) == []
