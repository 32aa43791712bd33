"""One repository of one registry: every read and write the project's own code sends.

Get one from the destination: ``destination.repository("swe-fleet/ray")``. Operations
(OCI distribution-spec v1.1 ``spec.md``; every one through the destination's
:class:`.transport.Transport`, so one timeout, one retry policy, one auth, one error
mapping): ping/check ``/v2/``, manifest HEAD/GET/PUT (exact bytes, any media type),
blob HEAD/GET/upload (monolithic POST + PUT), tags list, manifest DELETE, the referrers
API. References are a tag, a digest, or an :class:`ImageRef` (its tag, else its digest).
Every failure is a one-line :class:`PushError`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from ..errors import PushError
from ..refs import ImageRef
from . import content, failures
from .transport import Answer, Transport


@dataclass(frozen=True)
class Put:
    """What a manifest PUT stored: its digest, and the registry's ``OCI-Subject`` header
    (the subject digest when the registry indexed the referrer itself; "" otherwise)."""

    digest: str
    subject: str


def _reference(ref: str | ImageRef, *, tag_first: bool = False) -> str:
    """A reference's path part: its digest (else tag), or with ``tag_first`` its tag."""
    if isinstance(ref, ImageRef):
        return str((ref.tag or ref.digest) if tag_first else (ref.digest or ref.tag))
    return ref


class Repository:
    """``NAME`` on a registry, through ``transport``; raises PushError (one line)."""

    def __init__(self, transport: Transport, name: str) -> None:
        self.transport = transport
        self.access = transport.access
        self.registry = transport.registry
        self.repository = name
        self._pull = f"repository:{name}:pull"
        self._push = f"repository:{name}:pull,push"
        self._delete = f"repository:{name}:delete"

    def _path(self, tail: str) -> str:
        return f"/v2/{self.repository}/{tail}"

    def _ok(self, answer: Answer, what: str) -> None:
        failures.require_ok(self.registry, answer.status, what)

    # -- the registry -----------------------------------------------------------------
    def check(self) -> None:
        """``/v2/`` answers as a registry API, and the credentials open this repository
        (its tag list answers 200, or 404 for a new repository). Raises PushError."""
        answer = self.transport.send("GET", "/v2/", authenticate=False)
        if answer.status not in (200, 401):
            raise PushError(
                f"registry {self.registry}: {self.access.base}/ answered HTTP {answer.status}, "
                "not a registry API; check --registry"
            )
        listed = self.transport.send("GET", self._path("tags/list"), scope=self._pull)
        if listed.status not in (200, 404):
            self._ok(listed, f"GET tags of {self.repository}")

    def ping(self) -> bool:
        """True when ``/v2/`` answers as a registry (200 or 401), never raises."""
        try:
            answer = self.transport.send("GET", "/v2/", authenticate=False)
        except PushError:
            return False
        return answer.status in (200, 401)

    # -- manifests --------------------------------------------------------------------
    def _manifest_request(self, method: str, reference: str) -> Answer | None:
        """The registry's answer to ``method`` (GET or HEAD) on a manifest; None for 404,
        PushError (one line) for any other failure."""
        answer = self.transport.send(
            method,
            self._path(f"manifests/{reference}"),
            scope=self._pull,
            headers={"Accept": content.MANIFEST_TYPES},
        )
        if answer.status == 404:
            return None
        self._ok(answer, f"{method} manifest {self.repository}:{reference[:26]}")
        return answer

    def manifest(self, ref: str | ImageRef) -> tuple[bytes, dict[str, Any]] | None:
        """(bytes, parsed JSON object) of the manifest under a tag or digest; None when
        absent. A digest reference is checked against the bytes served."""
        reference = _reference(ref)
        what = f"GET manifest {self.repository}:{reference[:26]}"
        answer = self._manifest_request("GET", reference)
        if answer is None:
            return None
        if content.is_digest(reference) and content.sha256(answer.content) != reference:
            raise PushError(f"registry {self.registry}: {what}: content does not match")
        try:
            document = json.loads(answer.content)
        except ValueError:
            raise PushError(f"registry {self.registry}: {what}: not JSON") from None
        if not isinstance(document, dict):
            raise PushError(f"registry {self.registry}: {what}: not a JSON object")
        return answer.content, document

    def manifest_digest(self, ref: str | ImageRef) -> str | None:
        """The digest the registry serves for a tag (an ImageRef's tag first, else its
        digest); None when absent.

        ``Docker-Content-Digest`` of a HEAD, else sha256 of the bytes a GET serves (some
        proxies drop the header: distribution/distribution#3792).
        """
        reference = _reference(ref, tag_first=True)
        answer = self._manifest_request("HEAD", reference)
        if answer is None:
            return None
        if answer.header("Docker-Content-Digest"):
            return answer.header("Docker-Content-Digest")
        found = self.manifest(reference)
        return content.sha256(found[0]) if found else None

    def put_manifest(self, body: bytes, media_type: str, reference: str | None = None) -> Put:
        """PUT exact ``body`` under ``reference`` (a tag) or its own digest. The stored
        digest must be sha256(body). Raises PushError."""
        digest = content.sha256(body)
        what = f"PUT manifest {self.repository}:{(reference or digest)[:26]}"
        answer = self.transport.send(
            "PUT",
            self._path(f"manifests/{reference or digest}"),
            scope=self._push,
            headers={"Content-Type": media_type},
            data=body,
        )
        self._ok(answer, what)
        stored = answer.header("Docker-Content-Digest")
        if stored and stored != digest:
            raise PushError(f"registry {self.registry}: {what}: stored {stored}, sent {digest}")
        return Put(digest, answer.header("OCI-Subject"))

    def push_manifest(self, document: dict[str, Any], reference: str | None = None) -> str:
        """PUT the canonical bytes of ``document``; returns their digest."""
        media_type = str(document.get("mediaType") or content.OCI_MANIFEST)
        return self.put_manifest(content.canonical(document), media_type, reference).digest

    def put_tag(self, digest: str, tag: str) -> None:
        """Point ``tag`` at the manifest ``digest``: its exact bytes PUT again (the digest
        cannot change; no blob moves). Raises PushError."""
        what = f"GET manifest {self.repository}@{digest[:19]}"
        got = self.transport.send(
            "GET",
            self._path(f"manifests/{content.check_digest(digest)}"),
            scope=self._push,
            headers={"Accept": content.MANIFEST_TYPES},
        )
        self._ok(got, what)
        self.put_manifest(got.content, got.media_type or content.OCI_MANIFEST, tag)

    def delete_manifest(self, digest: str) -> bool:
        """Delete the manifest ``digest`` (every tag on it goes too); False when it was
        absent. Raises PushError when refused (deletes disabled: HTTP 405)."""
        what = f"DELETE manifest {self.repository}@{digest[:19]}"
        answer = self.transport.send(
            "DELETE",
            self._path(f"manifests/{content.check_digest(digest)}"),
            scope=self._delete,
        )
        if answer.status == 404:
            return False
        self._ok(answer, what)
        return True

    def delete(self, ref: str | ImageRef) -> bool:
        """Delete what a tag or digest names (by its digest); False when absent."""
        reference = _reference(ref)
        digest = reference if content.is_digest(reference) else self.manifest_digest(reference)
        return bool(digest) and self.delete_manifest(str(digest))

    def tags(self) -> list[str]:
        """The repository's tags, sorted; [] when the repository does not exist."""
        answer = self.transport.send("GET", self._path("tags/list"), scope=self._pull)
        if answer.status == 404:
            return []
        self._ok(answer, f"tags of {self.repository}")
        try:
            listed = json.loads(answer.content or b"{}") or {}
        except ValueError:
            raise PushError(
                f"registry {self.registry}: tags of {self.repository}: not JSON"
            ) from None
        return sorted(listed.get("tags") or [])

    # -- image config -----------------------------------------------------------------
    def config_digest(self, ref: str | ImageRef) -> str | None:
        """The config blob digest (the image id engines show) of a single-platform manifest."""
        found = self.manifest(ref)
        config = (found[1].get("config") or {}) if found else {}
        return str(config["digest"]) if config.get("digest") else None

    def image_config(self, ref: str | ImageRef) -> dict[str, Any] | None:
        """The image config (labels, env, user...) of a single-platform manifest; None when
        the manifest is absent or has no config (an index)."""
        found = self.manifest(ref)
        if found is None or "config" not in found[1]:
            return None
        data = self.blob(str(found[1]["config"]["digest"]))
        try:
            config = json.loads(data)
        except ValueError:
            raise PushError(f"registry {self.registry}: config of {ref} is not JSON") from None
        return config if isinstance(config, dict) else None

    def labels(self, ref: str | ImageRef) -> dict[str, str]:
        config = self.image_config(ref) or {}
        return dict((config.get("config") or {}).get("Labels") or {})

    # -- blobs ------------------------------------------------------------------------
    def blob(self, digest: str) -> bytes:
        """A blob's bytes, checked against its digest."""
        what = f"GET blob {digest[:19]} of {self.repository}"
        path = self._path(f"blobs/{content.check_digest(digest)}")
        answer = self.transport.send("GET", path, scope=self._pull)
        self._ok(answer, what)
        if content.sha256(answer.content) != digest:
            raise PushError(f"registry {self.registry}: {what}: content does not match")
        return answer.content

    def has_blob(self, digest: str) -> bool:
        path = self._path(f"blobs/{content.check_digest(digest)}")
        answer = self.transport.send("HEAD", path, scope=self._push)
        return answer.status == 200

    def push_blob(self, data: bytes, media_type: str) -> dict[str, Any]:
        """Upload ``data`` (skipped when the registry has it): POST an upload session, PUT
        the bytes with ``?digest=`` (the spec's monolithic upload). Its descriptor."""
        layer = content.descriptor(media_type, data)
        if self.has_blob(layer["digest"]):
            return layer
        what = f"blob upload to {self.repository}"
        started = self.transport.send("POST", self._path("blobs/uploads/"), scope=self._push)
        self._ok(started, what)
        location = started.header("Location")
        if not location:
            raise PushError(f"registry {self.registry}: {what}: no Location in the answer")
        if location.startswith("/"):
            location = self.transport.url(location)
        url = location + ("&" if "?" in location else "?") + f"digest={layer['digest']}"
        done = self.transport.send(
            "PUT",
            url,
            scope=self._push,
            headers={"Content-Type": "application/octet-stream"},
            data=data,
        )
        self._ok(done, what)
        return layer

    # -- referrers --------------------------------------------------------------------
    def referrers_api(self, digest: str) -> dict[str, Any] | None:
        """The referrers API's index for ``digest``; None when the registry has no such API
        (distribution 2.8 answers 404; the spec's answer is an OCI image index)."""
        path = self._path(f"referrers/{content.check_digest(digest)}")
        answer = self.transport.send("GET", path, scope=self._pull)
        if answer.status != 200 or "json" not in answer.header("Content-Type"):
            return None
        try:
            document = json.loads(answer.content)
        except ValueError:
            return None
        return document if isinstance(document, dict) else None
