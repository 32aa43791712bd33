"""The referrers tag-schema fallback on a registry without the referrers API (issue 20).

docker-registry (distribution 2.8) answers a manifest PUT with a ``subject`` without
``OCI-Subject``: the seam keeps the ``sha256-<hex>`` index itself. Here the fallback tag
already points at something foreign, as GitLab keeps it (oras-project/oras-go#1396):
- at the image itself: the attach refuses in one line, its clean-up deletes only the SBOM
  manifest it created, and the image is still there by digest; taking the attachments back
  deletes nothing of the image either (it used to delete the image's own manifest);
- at an index listing a manifest that refers to another image: the index is rebuilt with
  only what refers to ours, and the foreign manifest is left alone.
"""

from __future__ import annotations

import json

import pytest

from ray_worker_image.errors import PushError
from ray_worker_image.registry import Destination, Repository, content
from ray_worker_image.supply import artifacts, oci
from tests.refclient import push_config_image

from .conftest import Registry

SBOM = json.dumps({"bomFormat": "CycloneDX", "components": []}).encode()


@pytest.fixture
def store(own_registry: Registry) -> Repository:
    return Destination.of(own_registry.address).repository("faults/referrers")


def test_fallback_tag_on_the_image_itself_refuses_and_never_deletes_the_image(
    store: Repository,
) -> None:
    subject = push_config_image(store, "t1")
    tag = content.fallback_tag(subject)
    store.put_tag(subject, tag)  # the registry keeps the fallback tag on the image
    sbom_manifest = oci.sbom_manifest(
        artifacts.subject_of(store, subject), SBOM, filename="sbom.cdx.json", annotations={}
    )
    with pytest.raises(PushError, match="not a referrers index") as caught:
        artifacts.attach_sbom(store, subject, SBOM, filename="sbom.cdx.json")
    assert "\n" not in str(caught.value)
    assert (
        store.manifest_digest(content.sha256(content.canonical(sbom_manifest))) is None
    )  # cleaned
    assert store.manifest_digest(subject) == subject  # the image, by digest
    assert store.manifest_digest(tag) == subject  # the registry's tag left as it was
    assert artifacts.remove_attachments(store, subject) == []  # a release taken back
    assert store.manifest_digest(subject) == subject
    assert store.manifest_digest("t1") == subject


def test_a_foreign_fallback_index_is_rebuilt_and_the_foreign_manifest_kept(
    store: Repository,
) -> None:
    subject = push_config_image(store, "t1")
    other = push_config_image(store, "t2", arch="arm64")
    foreign = oci.sbom_manifest(
        artifacts.subject_of(store, other), SBOM, filename="other.cdx.json", annotations={}
    )
    store.push_blob(oci.EMPTY_JSON, oci.EMPTY_CONFIG)
    store.push_blob(SBOM, oci.CYCLONEDX_JSON)
    foreign_digest = store.push_manifest(foreign)
    entry = content.referrer_descriptor(content.canonical(foreign), foreign)
    store.push_manifest(content.referrers_index(None, entry), content.fallback_tag(subject))

    attached = artifacts.attach_sbom(store, subject, SBOM, filename="sbom.cdx.json")
    assert attached.fallback_tag == content.fallback_tag(subject)
    assert attached.dropped == (foreign_digest,)
    index = store.manifest(content.fallback_tag(subject))
    assert index is not None
    assert [e["digest"] for e in index[1]["manifests"]] == [attached.manifest_digest]
    found = artifacts.find_sbom(store, subject)
    assert found is not None and found[0] == SBOM
    deleted = artifacts.remove_attachments(store, subject)
    assert attached.manifest_digest in deleted and subject not in deleted
    assert store.manifest_digest(foreign_digest) == foreign_digest  # not ours: kept
    assert store.manifest_digest(subject) == subject
    for digest in (foreign_digest, subject, other):
        store.delete_manifest(digest)
    assert store.tags() == []
