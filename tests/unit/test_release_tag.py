from __future__ import annotations

import pytest

from ray_worker_image.errors import PipelineError
from ray_worker_image.release_tag import VERSION_SOURCE, parse_release_tag

IMAGE_TAG = "2.49.2-nats"


@pytest.mark.parametrize(
    ("tag", "n"),
    [
        ("v2.49.2-nats.1", 1),
        ("v2.49.2-nats.2", 2),
        ("v2.49.2-nats.10", 10),
        ("v2.49.2-nats.907", 907),
    ],
)
def test_accepts_release_of_the_defined_version(tag: str, n: int) -> None:
    assert parse_release_tag(tag, IMAGE_TAG) == n


@pytest.mark.parametrize(
    "tag",
    [
        "",
        "v2.49.2-nats",  # no release number
        "v2.49.2-nats.",
        "v2.49.2-nats.0",  # releases count from 1
        "v2.49.2-nats.01",  # would alias v2.49.2-nats.1
        "v2.49.2-nats.-1",
        "v2.49.2-nats.1a",
        "v2.49.2-nats.1.2",
        "2.49.2-nats.1",  # missing the v
        "V2.49.2-nats.1",
        "v2.49.3-nats.1",  # another Ray version than the definition
        "v2.49.2.1",
        "v2.49.2-natsX1",  # the dot is literal, not a regex wildcard
        "refs/tags/v2.49.2-nats.1",  # a ref, not GITHUB_REF_NAME
        "v2.49.2-nats.1\n",
        " v2.49.2-nats.1",
        "v2.49.2-nats.\u0661",  # a non-ASCII digit
    ],
)
def test_refuses_tags_that_do_not_match(tag: str) -> None:
    with pytest.raises(PipelineError):
        parse_release_tag(tag, IMAGE_TAG)


def test_message_is_one_line_naming_tag_pattern_and_source() -> None:
    with pytest.raises(PipelineError) as info:
        parse_release_tag("v2.50.0-nats.1", IMAGE_TAG)
    message = str(info.value)
    assert "\n" not in message
    assert "'v2.50.0-nats.1'" in message
    assert "v2.49.2-nats.N" in message
    assert "images/ray-swe-fleet/image.yaml" in message
    assert "target.tag" in message
    assert VERSION_SOURCE in message


def test_multiline_tag_still_gives_one_line() -> None:
    with pytest.raises(PipelineError) as info:
        parse_release_tag("v2.49.2-nats.1\nv2", IMAGE_TAG)
    assert "\n" not in str(info.value)


def test_source_can_be_named_by_the_caller() -> None:
    with pytest.raises(PipelineError, match=r"other\.yaml field target\.tag"):
        parse_release_tag("v1", IMAGE_TAG, where="other.yaml field target.tag")


def test_image_tag_with_regex_metacharacters_is_literal() -> None:
    assert parse_release_tag("v1.0+x.3", "1.0+x") == 3
    with pytest.raises(PipelineError):
        parse_release_tag("v1.00x.3", "1.0+x")


def test_empty_image_tag_is_reported() -> None:
    with pytest.raises(PipelineError, match="is empty"):
        parse_release_tag("v.1", "")
