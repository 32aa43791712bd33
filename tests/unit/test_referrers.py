"""The referrers fallback's error paths (registry/referrers.py, release_supply.py): the
first failure is the one reported, only a foreign fallback tag is read as "none", and a
failed restore still takes back the attachments. The boundary stubbed is the repository
(an in-memory one below); tests/faults/test_referrers_fallback.py runs the same code
against a real docker-registry.
"""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from ray_worker_image import release_supply
from ray_worker_image.errors import PipelineError, PushError, RegistryUnavailable
from ray_worker_image.registry import content, referrers
from ray_worker_image.registry.repository import Put

SUBJECT = "sha256:" + "ab" * 32


class Memory:
    """What referrers.py asks of a Repository, kept in a dict; ``fail`` maps a method to the
    error it raises."""

    registry, repository = "127.0.0.1:5000", "t/ray"

    def __init__(self, **fail: Exception) -> None:
        self.docs: dict[str, bytes] = {}
        self.fail = fail
        self.deleted: list[str] = []

    def _maybe(self, name: str) -> None:
        if name in self.fail:
            raise self.fail[name]

    def manifest(self, ref: str) -> tuple[bytes, dict[str, Any]] | None:
        self._maybe("manifest")
        data = self.docs.get(ref)
        return None if data is None else (data, json.loads(data))

    def manifest_digest(self, ref: str) -> str | None:
        return content.sha256(self.docs[ref]) if ref in self.docs else None

    def put_manifest(self, body: bytes, media_type: str, reference: str | None = None) -> Put:
        self.docs[content.sha256(body)] = body
        return Put(content.sha256(body), "")  # no OCI-Subject: the fallback tag is used

    def push_manifest(self, document: dict[str, Any], reference: str | None = None) -> str:
        self._maybe("push_manifest")
        body = content.canonical(document)
        self.docs[reference or content.sha256(body)] = body
        return content.sha256(body)

    def delete_manifest(self, digest: str) -> bool:
        self._maybe("delete_manifest")
        self.deleted.append(digest)
        return self.docs.pop(digest, None) is not None

    def referrers_api(self, digest: str) -> None:
        return None


def _referrer() -> dict[str, Any]:
    return {
        "schemaVersion": 2,
        "mediaType": content.OCI_MANIFEST,
        "artifactType": "application/vnd.cyclonedx+json",
        "config": {
            "mediaType": "application/vnd.oci.empty.v1+json",
            "digest": "sha256:" + "0" * 64,
            "size": 2,
        },
        "layers": [],
        "subject": {"mediaType": content.OCI_MANIFEST, "digest": SUBJECT, "size": 1},
    }


def test_a_failed_clean_up_does_not_hide_why_the_attach_failed() -> None:
    repo = Memory(
        push_manifest=PushError("registry 127.0.0.1:5000: the fallback index PUT was refused"),
        delete_manifest=PushError("registry 127.0.0.1:5000: DELETE refused (405)"),
    )
    with pytest.raises(PushError, match="fallback index PUT was refused"):
        referrers.attach(repo, SUBJECT, _referrer())  # type: ignore[arg-type]
    assert repo.deleted == []  # the delete was tried and refused


def test_only_a_foreign_fallback_tag_reads_as_no_referrers() -> None:
    foreign = Memory()
    foreign.docs[content.fallback_tag(SUBJECT)] = content.canonical(
        {"schemaVersion": 2, "mediaType": content.OCI_MANIFEST, "layers": []}
    )
    assert referrers.referrers(foreign, SUBJECT)[0] is None  # type: ignore[arg-type]
    assert referrers.remove(foreign, SUBJECT) == []  # type: ignore[arg-type]  # not ours
    down = Memory(manifest=RegistryUnavailable("registry 127.0.0.1:5000 does not answer"))
    with pytest.raises(RegistryUnavailable):
        referrers.referrers(down, SUBJECT)  # type: ignore[arg-type]
    with pytest.raises(RegistryUnavailable):
        referrers.remove(down, SUBJECT)  # type: ignore[arg-type]


def test_a_failed_restore_still_takes_back_the_attachments(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    removed: list[str] = []

    def restore(*_args: object) -> None:
        raise PipelineError("registry: the .att tag could not be put back")

    monkeypatch.setattr(release_supply, "restore", restore)
    monkeypatch.setattr(release_supply, "remove_attachments", lambda _s, d: removed.append(d))
    plan = SimpleNamespace(
        destination=SimpleNamespace(repository=lambda name: name), out=str(tmp_path), sessions=[1]
    )
    s = SimpleNamespace(variant="2.49.2")
    record = SimpleNamespace(repository="t/ray", digest=SUBJECT)
    attested = {"attestations": {"tag": "x.att", "manifest": "sha256:1", "previous": None}}
    release_supply._take_back_supply(plan, s, record, attested)  # type: ignore[arg-type]
    assert removed == [SUBJECT]
