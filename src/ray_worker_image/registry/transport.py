"""The one HTTP transport to a registry: timeout, retries, auth, one-line errors.

Every registry request the project sends goes through :meth:`Transport.send`:

- one timeout (``TIMEOUT`` seconds) on every request, the token requests included;
- one retry policy (tenacity): connection resets, timeouts, 429 and 5xx are retried at
  most ``ATTEMPTS`` times within ``MAX_RETRY_SECONDS``, waiting what ``Retry-After`` asks
  (RFC 9110 10.2.3, capped at ``MAX_RETRY_AFTER``) or an exponential backoff; anything
  else fails at once;
- Basic and Bearer auth answered from the ``WWW-Authenticate`` challenge of a 401
  (:mod:`.auth`: tokens per scope, a token lacking the scope renewed with it);
- every foreign exception and refusing status mapped to one line (:mod:`.failures`):
  :class:`PushError` or :class:`RegistryUnavailable`, never a traceback or a secret.

The ``requests.Session`` stays inside; callers get :class:`Answer` values.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import urlencode

import requests
from requests.structures import CaseInsensitiveDict
from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception_type,
    stop_after_attempt,
    stop_after_delay,
    wait_exponential,
)

from ..errors import PushError, RegistryUnavailable
from . import failures
from .access import Credentials, RegistryAccess
from .auth import Authenticator, basic_header

TIMEOUT = 30.0  # seconds, per request
TRANSIENT_STATUS = frozenset({429, 500, 502, 503, 504})
ATTEMPTS = 5  # per call, the first included
MAX_RETRY_SECONDS = 30.0  # total time one call may spend retrying
MAX_RETRY_AFTER = 10.0  # cap on a single Retry-After wait


@dataclass(frozen=True)
class Answer:
    """A registry's answer: status, headers (case-insensitive) and body bytes."""

    status: int
    headers: CaseInsensitiveDict[str] = field(default_factory=CaseInsensitiveDict)
    content: bytes = b""

    def header(self, name: str) -> str:
        return str(self.headers.get(name) or "")

    @property
    def media_type(self) -> str:
        return self.header("Content-Type").split(";")[0].strip()


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


class Transport:
    """One registry's HTTP: ``transport.send("GET", "/v2/a/b/tags/list", scope=...)``.

    ``session`` is for tests that stub the HTTP boundary (anything with requests'
    ``Session.request`` signature); the default is a new ``requests.Session``.
    """

    def __init__(
        self,
        access: RegistryAccess,
        credentials: Credentials | None = None,
        *,
        timeout: float = TIMEOUT,
        attempts: int = ATTEMPTS,
        max_retry_seconds: float = MAX_RETRY_SECONDS,
        session: Any = None,
    ) -> None:
        self.access = access
        self.registry = access.registry
        self.timeout = timeout
        self.attempts = attempts
        self.max_retry_seconds = max_retry_seconds
        self._session = session if session is not None else requests.Session()
        self.auth = Authenticator(access.registry, credentials, self._fetch_token)

    def url(self, path: str) -> str:
        """An absolute URL for ``path`` (``/v2/...``) or a Location the registry gave."""
        if path.startswith(("http://", "https://")):
            return path
        return f"{self.access.scheme}://{self.access.api_host}{path}"

    def send(
        self,
        method: str,
        path: str,
        *,
        scope: str = "",
        headers: dict[str, str] | None = None,
        data: bytes | None = None,
        authenticate: bool = True,
    ) -> Answer:
        """One request, authenticated and retried; raises PushError (one line) when the
        registry refuses it (401 after auth, 403, HTTPS asked over HTTP) or stays down.

        ``scope`` is the token scope the request is expected to need
        (``repository:NAME:pull`` or ``...:pull,push``): a cached token for it is sent
        at once. Other statuses (404, 413, 2xx...) are returned for the caller to judge.
        ``authenticate=False``: a 401 is returned as it is (``/v2/`` pings).
        """
        url = self.url(path)
        sent = self.auth.header(scope)
        answer = self._retried(method, url, headers or {}, data, sent)
        if answer.status == 401 and not authenticate:
            return answer
        if answer.status == 401:
            sent = self.auth.answer(answer.header("WWW-Authenticate"), scope, sent)
            answer = self._retried(method, url, headers or {}, data, sent)
            if answer.status == 401:  # a fresh token for the challenged scope, refused too
                challenge = answer.header("WWW-Authenticate")
                renewed = self.auth.answer(challenge, scope, sent) if challenge else sent
                if renewed != sent:
                    answer = self._retried(method, url, headers or {}, data, renewed)
        failures.refused(self.access, method, path, answer.status)
        return answer

    def _retried(
        self,
        method: str,
        url: str,
        headers: dict[str, str],
        data: bytes | None,
        authorization: str | None,
    ) -> Answer:
        retrying = Retrying(
            stop=stop_after_attempt(self.attempts) | stop_after_delay(self.max_retry_seconds),
            wait=_wait,
            retry=retry_if_exception_type(_Transient),
            reraise=True,
        )
        if authorization:
            headers = {**headers, "Authorization": authorization}
        try:
            for attempt in retrying:
                with attempt:
                    return self._once(method, url, headers, data)
        except _Transient as exc:
            tries = retrying.statistics.get("attempt_number", self.attempts)
            raise RegistryUnavailable(
                f"registry {self.registry}: {exc} (tried {tries} times); the registry or a "
                "proxy in front of it is failing, retry later"
            ) from None
        raise AssertionError("unreachable")  # pragma: no cover

    def _once(self, method: str, url: str, headers: dict[str, str], data: bytes | None) -> Answer:
        try:
            # verify per request: a session-level verify loses to $REQUESTS_CA_BUNDLE.
            response = self._session.request(
                method,
                url,
                headers=headers,
                data=data,
                timeout=self.timeout,
                verify=self.access.verify,
                allow_redirects=method in ("GET", "HEAD"),
            )
        except requests.exceptions.SSLError as exc:
            raise PushError(failures.tls_advice(self.registry, exc)) from None
        except (requests.ConnectionError, requests.Timeout) as exc:
            if failures.speaks_no_tls(exc):
                raise PushError(failures.tls_advice(self.registry, exc)) from None
            raise _Transient(f"{type(exc).__name__} at {self.access.base}") from None
        except requests.RequestException as exc:
            raise PushError(
                f"registry {self.registry}: {type(exc).__name__} at {self.access.base}; "
                "check --registry"
            ) from None
        answer = Answer(
            response.status_code, CaseInsensitiveDict(response.headers), response.content
        )
        if answer.status in TRANSIENT_STATUS:
            raise _Transient(
                f"HTTP {answer.status} for {method} {url.removeprefix(self.access.base)}",
                retry_after_seconds(answer.header("Retry-After")),
            )
        return answer

    def _fetch_token(
        self, realm: str, params: dict[str, str], credentials: Credentials | None
    ) -> tuple[int, Any]:
        """GET the token server (same timeout, TLS settings and retries as the registry)."""
        query = urlencode(params)
        headers: dict[str, str] = {}
        if credentials:
            headers["Authorization"] = basic_header(credentials)
        try:
            answer = self._retried(
                "GET", realm + ("&" if "?" in realm else "?") + query, headers, None, None
            )
        except RegistryUnavailable:
            raise
        except PushError:
            raise PushError(
                f"registry {self.registry}: token server {realm} failed; check that it runs"
            ) from None
        if answer.status != 200:
            return answer.status, None
        try:
            return 200, json.loads(answer.content)
        except ValueError:
            raise PushError(
                f"registry {self.registry}: token server {realm} answered no JSON"
            ) from None
