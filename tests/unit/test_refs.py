"""Image references by meaning (distribution's grammar through docker-image-py)."""

from __future__ import annotations

import pytest

from ray_worker_image.errors import PipelineError
from ray_worker_image.refs import ImageRef

D = "sha256:" + "e" * 64


@pytest.mark.parametrize(
    "spellings",
    [
        ["ubuntu:22.04", "library/ubuntu:22.04", "docker.io/library/ubuntu:22.04",
         "index.docker.io/library/ubuntu:22.04", "index.docker.io/ubuntu:22.04"],
        ["rayproject/ray:2.49.2", "docker.io/rayproject/ray:2.49.2",
         "index.docker.io/rayproject/ray:2.49.2"],
        [f"rayproject/ray@{D}", f"docker.io/rayproject/ray@{D}"],
    ],
)  # fmt: skip
def test_spellings_of_one_reference_are_equal(spellings: list[str]) -> None:
    parsed = {ImageRef.parse(s) for s in spellings}
    assert len(parsed) == 1
    (ref,) = parsed
    assert str(ImageRef.parse(str(ref))) == str(ref)


def test_tag_and_digest_are_told_apart() -> None:
    tagged = ImageRef.parse("rayproject/ray:2.49.2")
    pinned = ImageRef.parse(f"rayproject/ray:2.49.2@{D}")
    digest_only = ImageRef.parse(f"rayproject/ray@{D}")
    assert (tagged.tag, tagged.digest) == ("2.49.2", None)
    assert (pinned.tag, pinned.digest) == ("2.49.2", D)
    assert (digest_only.tag, digest_only.digest) == (None, D)
    assert pinned.same_image(digest_only) and not tagged.same_image(pinned)
    assert ImageRef.parse("127.0.0.1:5000/a/b:1").registry == "127.0.0.1:5000"
    assert ImageRef.parse("docker.io/library/ray:1").familiar_name == "ray"


def test_public_api_is_kept() -> None:
    ref = ImageRef.parse("docker.io/rayproject/ray:2.49.2")
    assert ref.name == "docker.io/rayproject/ray"
    assert str(ref.with_tag("x")) == "docker.io/rayproject/ray:x"
    assert str(ref.with_digest(D)) == f"docker.io/rayproject/ray:2.49.2@{D}"
    assert str(ref.with_registry("127.0.0.1:5000")) == "127.0.0.1:5000/rayproject/ray:2.49.2"


@pytest.mark.parametrize(
    ("text", "part"),
    [
        ("rayproject/ray:2.49.2-nats-ñ", "tag '2.49.2-nats-ñ' is not valid"),
        ("rayproject/ray:-x", "tag '-x' is not valid"),
        ("rayproject/ray@sha256:abc", "digest must be sha256:"),
        ("__IMAGE__", "placeholder"),
        ("${REGISTRY}ray:latest", "placeholder"),
        ("Ray/Ray:1", "repository 'Ray/Ray' is not valid"),
        ("rayproject/ráy:1", "is not valid"),
    ],
)
def test_bad_references_name_the_field_and_part(text: str, part: str) -> None:
    with pytest.raises(PipelineError) as err:
        ImageRef.parse(text, what="file.yaml: field 'base.image'")
    message = str(err.value)
    assert message.startswith("file.yaml: field 'base.image'") and part in message
    assert "\n" not in message
