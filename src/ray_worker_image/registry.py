"""Just enough of the OCI distribution API to ask a registry what it stores.

The engines report digests in their own ways; the registry's answer is the one a
Kubernetes node will pull, so the pipeline asks it directly.

Every call has a timeout; connection resets, 429 and 5xx are retried with bounded
backoff (honouring ``Retry-After``); 401, 403, 404 and other 4xx fail at once. Every
failure is a one-line PushError naming what to do. Protocol facts: the OCI
distribution spec (``/v2/``, manifests, ``Docker-Content-Digest``, tags/list) and
Docker's token auth spec (``WWW-Authenticate: Bearer realm=...,service=...,scope=...``).
"""

from __future__ import annotations

import hashlib
import json
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests
from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception_type,
    stop_after_attempt,
    stop_after_delay,
    wait_exponential,
)

from .errors import PushError, RegistryUnavailable
from .refs import ImageRef

MANIFEST_TYPES = ", ".join(
    [
        "application/vnd.oci.image.index.v1+json",
        "application/vnd.docker.distribution.manifest.list.v2+json",
        "application/vnd.oci.image.manifest.v1+json",
        "application/vnd.docker.distribution.manifest.v2+json",
    ]
)
_LOOPBACK = re.compile(r"^(localhost|127\.\d+\.\d+\.\d+|\[::1\])(:\d+)?$")
TRANSIENT_STATUS = frozenset({429, 500, 502, 503, 504})
ATTEMPTS = 5  # per call, the first included
MAX_RETRY_SECONDS = 30.0  # total time one call may spend retrying
MAX_RETRY_AFTER = 10.0  # cap on a single Retry-After wait


@dataclass(frozen=True)
class Credentials:
    username: str
    password: str

    def __repr__(self) -> str:  # keep the password out of tracebacks and logs
        return f"Credentials(username={self.username!r}, password=<hidden>)"

    def as_auth_config(self) -> dict[str, str]:
        return {"username": self.username, "password": self.password}


@dataclass(frozen=True)
class RegistryAccess:
    """How to reach a registry: HOST[:PORT], a private CA file, plain HTTP allowed or not.

    Loopback without a CA is plain HTTP (as Docker assumes); ``insecure`` makes any
    address plain HTTP; everything else is HTTPS, verified by ``ca_file`` or the
    system's public CAs.
    """

    registry: str
    ca_file: Path | None = None
    insecure: bool = False

    @property
    def loopback(self) -> bool:
        return bool(_LOOPBACK.match(self.registry))

    @property
    def scheme(self) -> str:
        if self.insecure or (self.loopback and self.ca_file is None):
            return "http"
        return "https"

    @property
    def verify(self) -> str | bool:
        return str(self.ca_file) if self.ca_file else True


def scheme_for(registry: str) -> str:
    """Loopback registries are plain HTTP (as Docker itself assumes); the rest are HTTPS."""
    return RegistryAccess(registry).scheme


def api_host(registry: str) -> str:
    return "registry-1.docker.io" if registry == "docker.io" else registry


class _Transient(Exception):
    """A failure worth retrying; ``retry_after`` is the server's wish in seconds."""

    def __init__(self, why: str, retry_after: float | None = None) -> None:
        super().__init__(why)
        self.retry_after = retry_after


def retry_after_seconds(value: str | None, now: float | None = None) -> float | None:
    """``Retry-After`` as seconds: delta-seconds or an HTTP date (RFC 9110 10.2.3)."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    from email.utils import parsedate_to_datetime

    try:
        when = parsedate_to_datetime(value).timestamp()
    except (TypeError, ValueError):
        return None
    return max(0.0, when - (time.time() if now is None else now))


_backoff = wait_exponential(multiplier=0.5, max=8)


def _wait(state: RetryCallState) -> float:
    exc = state.outcome.exception() if state.outcome else None
    if isinstance(exc, _Transient) and exc.retry_after is not None:
        return min(exc.retry_after, MAX_RETRY_AFTER)
    return float(_backoff(state))


class RegistryClient:
    def __init__(
        self,
        registry: str | RegistryAccess,
        credentials: Credentials | None = None,
        timeout: float = 30,
        *,
        attempts: int = ATTEMPTS,
        max_retry_seconds: float = MAX_RETRY_SECONDS,
    ) -> None:
        self.access = registry if isinstance(registry, RegistryAccess) else RegistryAccess(registry)
        self.registry = self.access.registry
        self.base = f"{self.access.scheme}://{api_host(self.registry)}/v2"
        self.credentials = credentials
        self.timeout = timeout
        self.attempts = attempts
        self.max_retry_seconds = max_retry_seconds
        self.session = requests.Session()

    # -- transport ------------------------------------------------------------------
    def _send(self, method: str, url: str, headers: dict[str, str]) -> requests.Response:
        """One request, retried while transient; other failures raise PushError."""
        retrying = Retrying(
            stop=stop_after_attempt(self.attempts) | stop_after_delay(self.max_retry_seconds),
            wait=_wait,
            retry=retry_if_exception_type(_Transient),
            reraise=True,
        )
        try:
            for attempt in retrying:
                with attempt:
                    return self._send_once(method, url, headers)
        except _Transient as exc:
            tries = retrying.statistics.get("attempt_number", self.attempts)
            raise RegistryUnavailable(
                f"registry {self.registry}: {exc} (tried {tries} times); the registry or a "
                "proxy in front of it is failing, retry later"
            ) from None
        raise AssertionError("unreachable")  # pragma: no cover

    def _send_once(self, method: str, url: str, headers: dict[str, str]) -> requests.Response:
        try:
            # verify per request: a session-level verify loses to $REQUESTS_CA_BUNDLE.
            response = self.session.request(
                method, url, headers=headers, timeout=self.timeout, verify=self.access.verify
            )
        except requests.exceptions.SSLError as exc:
            raise PushError(self._tls_advice(exc)) from None
        except (requests.ConnectionError, requests.Timeout) as exc:
            if "wrong version number" in str(exc).lower():
                raise PushError(self._tls_advice(exc)) from None
            raise _Transient(f"{type(exc).__name__} at {self.base}") from None
        except requests.RequestException as exc:
            raise PushError(
                f"registry {self.registry}: {type(exc).__name__} at {self.base}; check --registry"
            ) from None
        if response.status_code in TRANSIENT_STATUS:
            raise _Transient(
                f"HTTP {response.status_code} for {method} {url.removeprefix(self.base)}",
                retry_after_seconds(response.headers.get("Retry-After")),
            )
        return response

    def _tls_advice(self, exc: Exception) -> str:
        text = str(exc).lower()
        if "wrong version number" in text or "record layer failure" in text:
            return (
                f"registry {self.registry} does not speak TLS; if it is a plain-HTTP registry, "
                "pass --insecure-registry"
            )
        return (
            f"registry {self.registry}: TLS certificate not trusted ({type(exc).__name__}); "
            "pass its CA with --registry-ca FILE"
        )

    def _get(
        self, url: str, *, method: str = "GET", accept: str | None = None
    ) -> requests.Response:
        headers = {"Accept": accept} if accept else {}
        response = self._send(method, url, headers)
        if response.status_code == 401:
            self._authenticate(response.headers.get("WWW-Authenticate", ""))
            response = self._send(method, url, headers)
            if response.status_code == 401:
                raise PushError(
                    f"registry {self.registry} refused the credentials (HTTP 401); check "
                    "--username and RAY_IMAGE_REGISTRY_PASSWORD"
                )
        if response.status_code == 400 and self.access.scheme == "http":
            raise PushError(
                f"registry {self.registry} answered HTTP 400 to plain HTTP: it speaks HTTPS; "
                + ("drop --insecure-registry, and " if self.access.insecure else "")
                + "pass --registry-ca FILE when its CA is private"
            )
        if response.status_code == 403:
            raise PushError(
                f"registry {self.registry}: access to {url.removeprefix(self.base)} denied "
                "(HTTP 403); ask for push rights on the repository"
            )
        return response

    def _authenticate(self, challenge: str) -> None:
        scheme, _, params = challenge.partition(" ")
        if scheme.lower() == "basic":
            if not self.credentials:
                raise PushError(
                    f"registry {self.registry} needs credentials; pass --username and set "
                    "RAY_IMAGE_REGISTRY_PASSWORD"
                )
            self.session.auth = (self.credentials.username, self.credentials.password)
            return
        if scheme.lower() != "bearer":
            raise PushError(
                f"registry {self.registry} asks for {scheme or 'no'} authentication, which "
                "this tool does not speak (Basic and Bearer only)"
            )
        fields = dict(re.findall(r'(\w+)="([^"]*)"', params))
        if not fields.get("realm"):
            raise PushError(
                f"registry {self.registry}: Bearer challenge without a realm; the registry's "
                "token auth is misconfigured (auth.token.realm)"
            )
        auth = (self.credentials.username, self.credentials.password) if self.credentials else None
        try:
            token_response = self.session.get(
                fields["realm"],
                params={k: v for k, v in fields.items() if k in ("service", "scope")},
                auth=auth,
                timeout=self.timeout,
                verify=self.access.verify,
            )
            body = token_response.json() if token_response.status_code == 200 else {}
        except (requests.RequestException, ValueError) as exc:
            raise PushError(
                f"registry {self.registry}: token server {fields['realm']} failed "
                f"({type(exc).__name__}); check that it runs"
            ) from None
        if token_response.status_code != 200:
            raise PushError(
                f"registry {self.registry}: token request refused "
                f"(HTTP {token_response.status_code}); check the credentials"
            )
        token = body.get("token") or body.get("access_token") if isinstance(body, dict) else None
        if not token:
            raise PushError(f"registry {self.registry}: token server answered without a token")
        self.session.headers["Authorization"] = f"Bearer {token}"

    # -- API ------------------------------------------------------------------------
    def check(self) -> None:
        """Raise PushError (one line) unless the registry answers ``/v2/`` (200 or 401)."""
        response = self._send("GET", f"{self.base}/", {})
        if response.status_code == 400 and self.access.scheme == "http":
            self._get(f"{self.base}/")  # raises the HTTPS advice
        if response.status_code not in (200, 401):
            raise PushError(
                f"registry {self.registry}: {self.base}/ answered HTTP {response.status_code}, "
                "not a registry API; check --registry"
            )

    def ping(self) -> bool:
        try:
            self.check()
        except PushError:
            return False
        return True

    def manifest(self, ref: ImageRef) -> tuple[str, dict[str, Any]] | None:
        """(digest, manifest) the registry serves for ref (digest or tag); None when absent.

        The digest is sha256 of the bytes served, which is what ``Docker-Content-Digest``
        says when present (some proxies drop it: distribution/distribution#3792).
        """
        target = ref.digest or ref.tag
        response = self._get(
            f"{self.base}/{ref.repository}/manifests/{target}", accept=MANIFEST_TYPES
        )
        if response.status_code == 404:
            return None
        self._require_ok(response, f"GET manifest {ref}")
        digest = "sha256:" + hashlib.sha256(response.content).hexdigest()
        try:
            document: dict[str, Any] = json.loads(response.content)
        except ValueError:
            raise PushError(f"registry {self.registry}: manifest of {ref} is not JSON") from None
        return digest, document

    def manifest_digest(self, ref: ImageRef) -> str | None:
        """The digest the registry serves for ref's tag, or None when the tag is absent."""
        response = self._get(
            f"{self.base}/{ref.repository}/manifests/{ref.tag or ref.digest}",
            method="HEAD",
            accept=MANIFEST_TYPES,
        )
        if response.status_code == 404:
            return None
        self._require_ok(response, f"HEAD manifest {ref}")
        digest = response.headers.get("Docker-Content-Digest")
        if digest:
            return digest
        found = self.manifest(ref)
        return found[0] if found else None

    def config_digest(self, ref: ImageRef) -> str | None:
        """The config blob digest (the image id engines show) of a single-platform manifest."""
        found = self.manifest(ref)
        if not found:
            return None
        config = found[1].get("config") or {}
        return str(config["digest"]) if config.get("digest") else None

    def tags(self, repository: str) -> list[str]:
        """The repository's tags, sorted; [] when the repository does not exist."""
        response = self._get(f"{self.base}/{repository}/tags/list")
        if response.status_code == 404:
            return []
        self._require_ok(response, f"tags of {repository}")
        return sorted((response.json() or {}).get("tags") or [])

    def delete(self, ref: ImageRef) -> None:
        """Delete a manifest by digest (tests clean up what they pushed)."""
        digest = ref.digest or self.manifest_digest(ref)
        if digest:
            self._get(f"{self.base}/{ref.repository}/manifests/{digest}", method="DELETE")

    def image_config(self, ref: ImageRef) -> dict[str, Any] | None:
        """The image config (labels, env, user...) of a single-platform manifest."""
        found = self.manifest(ref)
        if found is None or "config" not in found[1]:
            return None
        blob = self._get(f"{self.base}/{ref.repository}/blobs/{found[1]['config']['digest']}")
        self._require_ok(blob, f"config blob of {ref}")
        try:
            config: dict[str, Any] = json.loads(blob.content)
        except ValueError:
            raise PushError(f"registry {self.registry}: config of {ref} is not JSON") from None
        return config

    def labels(self, ref: ImageRef) -> dict[str, str]:
        config = self.image_config(ref) or {}
        return dict((config.get("config") or {}).get("Labels") or {})

    def _require_ok(self, response: requests.Response, what: str) -> None:
        if response.status_code == 413:
            raise PushError(
                f"registry {self.registry}: {what}: HTTP 413 from a proxy; raise its body "
                "limit (nginx: `client_max_body_size 0;`)"
            )
        if not 200 <= response.status_code < 300:
            raise PushError(
                f"registry {self.registry}: {what} answered HTTP {response.status_code}; "
                "check the reference and the registry"
            )
