"""The registry seam for supply-chain artifacts: blobs, manifests, referrers.

oras-py (``oras.provider.Registry``) does the HTTP work: blob upload (POST + PUT, skipped
when the blob exists), Basic and Bearer auth (its backend picked from the registry's
``/v2/`` challenge), the request plumbing. What it lacks is
written here: a timeout on every request (a ``requests.Session`` with a default timeout
shared with its auth backend), manifest PUTs of exact bytes with any media type (its
``upload_manifest`` sends only image manifests and re-serialises them), the referrers
API call, and one-line errors (:class:`PushError`, never a traceback, never a credential).
Before any upload the project's :class:`RegistryClient` checks ``/v2/`` with its bounded
retries, so a dead registry fails at once instead of in oras' long retry loop.
"""

from __future__ import annotations

import functools
import os
import tempfile
from collections.abc import Callable
from typing import Any, TypeVar

import jsonschema
import oras.provider
import oras.schemas
import requests
from tenacity import (
    Retrying,
    retry_if_exception_type,
    stop_after_attempt,
    stop_after_delay,
    wait_exponential,
)

from ..errors import PushError, RegistryUnavailable
from ..registry import (
    ATTEMPTS,
    MANIFEST_TYPES,
    MAX_RETRY_SECONDS,
    TRANSIENT_STATUS,
    Credentials,
    RegistryAccess,
    RegistryClient,
    api_host,
)
from . import oci

TIMEOUT = 30.0  # seconds, per request
T = TypeVar("T")


class _Retry(Exception):
    """A transient failure (reset, timeout, 429, 5xx): retried as the registry client does."""


def _with_retries(call: Callable[[], T]) -> T:
    """``call`` retried on _Retry: at most ATTEMPTS times within MAX_RETRY_SECONDS."""
    retrying = Retrying(
        stop=stop_after_attempt(ATTEMPTS) | stop_after_delay(MAX_RETRY_SECONDS),
        wait=wait_exponential(multiplier=0.5, max=8),
        retry=retry_if_exception_type(_Retry),
        reraise=True,
    )
    return retrying(call)


class _TimeoutSession(requests.Session):
    def __init__(self, timeout: float) -> None:
        super().__init__()
        self._timeout = timeout

    def request(self, method: str | bytes, url: str | bytes, *args: Any, **kwargs: Any) -> Any:
        kwargs.setdefault("timeout", self._timeout)
        return super().request(method, url, *args, **kwargs)


def _challenge(session: requests.Session, access: RegistryAccess, host: str) -> str:
    """The scheme of the registry's ``/v2/`` challenge ("basic", "bearer"), "" when none
    or unreachable (check() then reports it in one line)."""
    try:
        response = session.get(f"{access.scheme}://{host}/v2/", verify=access.verify)
    except requests.RequestException:
        return ""
    if response.status_code != 401:
        return ""
    return response.headers.get("WWW-Authenticate", "").partition(" ")[0].lower()


class ArtifactStore:
    """One repository of one registry: ``store = ArtifactStore(access, creds, "swe-fleet/ray")``.

    Raises PushError (one line) on any failure. Credentials come in as push's do
    (``--username`` + ``$RAY_IMAGE_REGISTRY_PASSWORD``) and are never printed.
    """

    def __init__(
        self,
        access: RegistryAccess,
        credentials: Credentials | None,
        repository: str,
        *,
        timeout: float = TIMEOUT,
    ) -> None:
        self.access = access
        self.repository = repository
        self.client = RegistryClient(access, credentials, timeout=timeout)
        self.credentials = credentials
        host = api_host(access.registry)
        session = _TimeoutSession(timeout)
        self._challenge = _challenge(session, access, host)
        # oras' token backend reads a Basic challenge's realm as a token URL: pick by challenge
        self._oras = oras.provider.Registry(
            hostname=host,
            insecure=access.scheme == "http",
            tls_verify=access.verify,
            auth_backend="basic" if self._challenge == "basic" else "token",
        )
        # oras' own retry loop sleeps up to ~2 minutes on any exception; the project's bounded
        # policy (_with_retries) replaces it: call the undecorated method (functools.wraps).
        plain = type(self._oras).do_request.__wrapped__
        self._oras.do_request = functools.partial(plain, self._oras)
        session.cookies.set_policy(self._oras.session.cookies.get_policy())
        self._oras.session = session
        self._oras.auth.session = session
        if credentials:
            self._oras.auth.set_basic_auth(credentials.username, credentials.password)
        self._prefix = f"{access.scheme}://{host}/v2/{repository}"
        self._container = oras.container.Container(f"{host}/{repository}", registry=host)

    # -- plumbing ---------------------------------------------------------------------
    def _request(
        self,
        method: str,
        path: str,
        what: str,
        *,
        data: bytes | None = None,
        headers: dict[str, str] | None = None,
    ) -> requests.Response:

        response = self._call(
            what,
            lambda: self._oras.do_request(
                f"{self._prefix}/{path}", method, data=data, headers=dict(headers or {})
            ),
        )
        if response.status_code in (401, 403):
            raise PushError(
                f"registry {self.access.registry}: {what} refused (HTTP {response.status_code}); "
                "check --username and RAY_IMAGE_REGISTRY_PASSWORD"
            )
        return response

    def _call(self, what: str, send: Callable[[], requests.Response]) -> requests.Response:
        """``send()`` with the bounded retries (resets, timeouts, 429, 5xx); any failure is
        one PushError naming ``what`` (never a secret: only exception type names)."""

        def once() -> requests.Response:
            try:
                answer = send()
            except (requests.ConnectionError, requests.Timeout) as exc:
                raise _Retry(type(exc).__name__) from None
            if answer.status_code in TRANSIENT_STATUS:
                raise _Retry(f"HTTP {answer.status_code}")
            return answer

        try:
            return _with_retries(once)
        except _Retry as exc:
            raise RegistryUnavailable(
                f"registry {self.access.registry}: {what} failed ({exc}, retried); the "
                "registry or a proxy in front of it is failing, retry later"
            ) from None
        except Exception as exc:  # oras raises ValueError/requests errors: one line, no secret
            raise PushError(
                f"registry {self.access.registry}: {what} failed ({type(exc).__name__}); "
                "check that the registry runs, --username and RAY_IMAGE_REGISTRY_PASSWORD"
            ) from None

    def _ok(self, response: requests.Response, what: str) -> None:
        if not 200 <= response.status_code < 300:
            raise PushError(
                f"registry {self.access.registry}: {what} answered HTTP {response.status_code}; "
                "check the reference and the registry"
            )

    # -- reads ------------------------------------------------------------------------
    def check(self) -> None:
        """``/v2/`` answers (bounded retries), and the credentials open the repository:
        one line naming the fix otherwise."""
        self.client.check()
        if self._challenge and self.credentials is None:
            raise PushError(
                f"registry {self.access.registry} needs credentials; pass --username and set "
                "RAY_IMAGE_REGISTRY_PASSWORD"
            )
        response = self._request("GET", "tags/list", f"access to {self.repository}")
        if response.status_code not in (200, 404):
            self._ok(response, f"GET tags of {self.repository}")

    def manifest(self, reference: str) -> tuple[bytes, dict[str, Any]] | None:
        """(bytes, parsed) of the manifest under a tag or digest; None when absent."""
        what = f"GET manifest {self.repository}:{reference}"
        response = self._request(
            "GET", f"manifests/{reference}", what, headers={"Accept": MANIFEST_TYPES}
        )
        if response.status_code == 404:
            return None
        self._ok(response, what)
        try:
            document = response.json()
        except ValueError:
            raise PushError(f"registry {self.access.registry}: {what}: not JSON") from None
        if not isinstance(document, dict):
            raise PushError(f"registry {self.access.registry}: {what}: not a JSON object")
        return response.content, document

    def blob(self, digest: str) -> bytes:
        """A blob's bytes, checked against its digest."""
        what = f"GET blob {digest[:19]} of {self.repository}"
        response = self._request("GET", f"blobs/{oci.check_digest(digest)}", what)
        self._ok(response, what)
        if oci.sha256(response.content) != digest:
            raise PushError(f"registry {self.access.registry}: {what}: content does not match")
        return response.content

    def referrers_api(self, digest: str) -> dict[str, Any] | None:
        """The referrers API's index for ``digest``; None when the registry has no such API
        (distribution 2.8 answers 404)."""
        what = f"GET referrers of {digest[:19]}"
        response = self._request("GET", f"referrers/{oci.check_digest(digest)}", what)
        if response.status_code != 200:
            return None
        if "json" not in response.headers.get("Content-Type", ""):
            return None
        try:
            document = response.json()
        except ValueError:
            return None
        return document if isinstance(document, dict) else None

    # -- writes -----------------------------------------------------------------------
    def push_blob(self, data: bytes, media_type: str) -> dict[str, Any]:
        """Upload ``data`` (skipped when present) through oras; returns its descriptor."""
        layer = oci.descriptor(media_type, data)
        handle, path = tempfile.mkstemp(prefix="ray-image-blob-")
        try:
            with os.fdopen(handle, "wb") as out:
                out.write(data)
            response = self._call(
                f"blob upload to {self.repository}",
                lambda: self._oras.upload_blob(path, self._container, layer),
            )
        finally:
            os.unlink(path)
        if response.status_code not in (200, 201, 202):
            raise PushError(
                f"registry {self.access.registry}: blob upload to {self.repository} answered "
                f"HTTP {response.status_code}"
            )
        return layer

    def push_manifest(self, document: dict[str, Any], reference: str | None = None) -> str:
        """PUT the canonical bytes of ``document`` under ``reference`` (a tag) or its own
        digest; returns the digest, which must be what the registry stored."""
        body = oci.canonical(document)
        digest = oci.sha256(body)
        if document.get("mediaType") == oci.OCI_MANIFEST:
            try:  # oras' own manifest schema: catches a malformed manifest before the PUT
                jsonschema.validate(document, schema=oras.schemas.manifest)
            except jsonschema.ValidationError as exc:
                raise PushError(f"internal: manifest is not valid: {exc.message}") from None
        what = f"PUT manifest {self.repository}:{reference or digest[:19]}"
        response = self._request(
            "PUT",
            f"manifests/{reference or digest}",
            what,
            data=body,
            headers={"Content-Type": str(document["mediaType"])},
        )
        self._ok(response, what)
        stored = response.headers.get("Docker-Content-Digest")
        if stored and stored != digest:
            raise PushError(
                f"registry {self.access.registry}: {what}: stored {stored}, sent {digest}"
            )
        return digest

    def put_tag(self, digest: str, tag: str) -> None:
        """Point ``tag`` at the manifest ``digest``: its exact bytes PUT again (so the digest
        cannot change; no blob moves). Raises PushError (one line)."""
        what = f"GET manifest {self.repository}@{digest[:19]}"
        got = self._request("GET", f"manifests/{digest}", what, headers={"Accept": MANIFEST_TYPES})
        self._ok(got, what)
        media = got.headers.get("Content-Type", "").split(";")[0].strip()
        what = f"PUT manifest {self.repository}:{tag}"
        response = self._request(
            "PUT", f"manifests/{tag}", what, data=got.content, headers={"Content-Type": media}
        )
        self._ok(response, what)
        stored = response.headers.get("Docker-Content-Digest")
        if stored and stored != digest:
            raise PushError(
                f"registry {self.access.registry}: {what}: stored {stored}, not {digest}"
            )

    def delete_manifest(self, digest: str) -> None:
        """Delete a manifest by digest (tests and rollbacks); absent is fine."""
        what = f"DELETE manifest {digest[:19]}"
        response = self._request("DELETE", f"manifests/{oci.check_digest(digest)}", what)
        if response.status_code not in (200, 202, 404):
            self._ok(response, what)
