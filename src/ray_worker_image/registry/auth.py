"""Registry authentication: the ``WWW-Authenticate`` challenge, Basic, and scoped Bearer tokens.

Protocol facts: RFC 7235 (challenges), Docker's token auth spec
(``docs/spec/auth/token.md`` of distribution: ``Bearer realm=...,service=...,scope=...``,
the token in ``token`` or ``access_token``) and its scope grammar
(``repository:NAME:pull,push``). A token answers for the scope it was asked with: a
pull-only token does not open a PUT, the registry says so with a new challenge naming the
wider scope, and :class:`Authenticator` fetches a token for that scope (cached per scope).
Raises :class:`PushError` (one line, never a secret) when the registry cannot be answered.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ..errors import PushError
from .access import Credentials

_PARAM = re.compile(r'(\w+)="([^"]*)"')


@dataclass(frozen=True)
class Challenge:
    """A parsed ``WWW-Authenticate`` header: scheme lower-cased, params by name."""

    scheme: str
    params: dict[str, str] = field(default_factory=dict)

    @property
    def scope(self) -> str:
        return self.params.get("scope", "")


def parse_challenge(header: str) -> Challenge:
    """``Bearer realm="https://auth",service="reg",scope="repository:a:pull"`` ->
    Challenge("bearer", {...}); an empty header is Challenge("")."""
    scheme, _, params = header.strip().partition(" ")
    return Challenge(scheme.lower(), dict(_PARAM.findall(params)))


def basic_header(credentials: Credentials) -> str:
    raw = f"{credentials.username}:{credentials.password}".encode()
    return "Basic " + base64.b64encode(raw).decode()


# The token request: (realm, query params, credentials or None) -> (status, JSON body or None).
FetchToken = Callable[[str, dict[str, str], Credentials | None], tuple[int, Any]]


class Authenticator:
    """The ``Authorization`` header each request gets, and the answer to each challenge.

    ``fetch`` asks the token server (the transport supplies it: same session, timeout and
    TLS settings). Tokens are cached per scope; ``hint`` (the scope a request is expected
    to need, e.g. ``repository:a/b:pull,push``) picks the cached token before the request
    is sent, so a known scope costs no 401.
    """

    def __init__(self, registry: str, credentials: Credentials | None, fetch: FetchToken) -> None:
        self.registry = registry
        self.credentials = credentials
        self._fetch = fetch
        self._basic = False
        self._tokens: dict[str, str] = {}  # challenge scope -> token
        self._hints: dict[str, str] = {}  # request hint -> challenge scope that opened it

    def header(self, hint: str) -> str | None:
        """The Authorization header for a request expected to need scope ``hint``."""
        if self._basic and self.credentials:
            return basic_header(self.credentials)
        scope = self._hints.get(hint, hint)
        token = self._tokens.get(scope)
        return f"Bearer {token}" if token else None

    def answer(self, challenge_header: str, hint: str, sent: str | None) -> str:
        """The Authorization header that answers a 401's challenge (a new token when the
        one ``sent`` was refused: expired, or lacking the scope). Raises PushError."""
        challenge = parse_challenge(challenge_header)
        if challenge.scheme == "basic":
            if not self.credentials:
                raise PushError(
                    f"registry {self.registry} needs credentials; pass --username and set "
                    "RAY_IMAGE_REGISTRY_PASSWORD"
                )
            self._basic = True
            return basic_header(self.credentials)
        if challenge.scheme != "bearer":
            raise PushError(
                f"registry {self.registry} asks for {challenge.scheme or 'no'} authentication, "
                "which this tool does not speak (Basic and Bearer only)"
            )
        realm = challenge.params.get("realm")
        if not realm:
            raise PushError(
                f"registry {self.registry}: Bearer challenge without a realm; the registry's "
                "token auth is misconfigured (auth.token.realm)"
            )
        scope = challenge.scope
        if hint:
            self._hints[hint] = scope
        cached = self._tokens.get(scope)
        if cached and sent != f"Bearer {cached}":
            return f"Bearer {cached}"
        self._tokens[scope] = self._token(realm, challenge)
        return f"Bearer {self._tokens[scope]}"

    def _token(self, realm: str, challenge: Challenge) -> str:
        params = {k: v for k, v in challenge.params.items() if k in ("service", "scope")}
        status, body = self._fetch(realm, params, self.credentials)
        if status != 200:
            raise PushError(
                f"registry {self.registry}: token request refused (HTTP {status}); check "
                "--username and RAY_IMAGE_REGISTRY_PASSWORD"
            )
        token = (body.get("token") or body.get("access_token")) if isinstance(body, dict) else None
        if not token or not isinstance(token, str):
            raise PushError(f"registry {self.registry}: token server answered without a token")
        return token
