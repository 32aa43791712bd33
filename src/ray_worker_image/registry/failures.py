"""The one mapping of registry failures to the project's one-line errors.

Every message names the registry and the fix; none carries a credential, a token or a
URL query (only exception type names and status codes). Callers raise what these return
or call the ``refused``/``require_ok`` checks, which raise :class:`PushError`.
"""

from __future__ import annotations

from ..errors import PushError
from .access import RegistryAccess


def speaks_no_tls(exc: Exception) -> bool:
    """A TLS handshake answered by a plain-HTTP server (OpenSSL's words for it)."""
    text = str(exc).lower()
    return "wrong version number" in text or "record layer failure" in text


def tls_advice(registry: str, exc: Exception) -> str:
    """One line for a failed TLS handshake: plain HTTP (-> --insecure-registry) or an
    untrusted certificate (-> --registry-ca)."""
    if speaks_no_tls(exc):
        return (
            f"registry {registry} does not speak TLS; if it is a plain-HTTP registry, "
            "pass --insecure-registry"
        )
    return (
        f"registry {registry}: TLS certificate not trusted ({type(exc).__name__}); "
        "pass its CA with --registry-ca FILE"
    )


def refused(access: RegistryAccess, method: str, path: str, status: int) -> None:
    """Raise PushError when ``status`` means the request can never succeed as sent:
    401 after authenticating, 403, 400 to plain HTTP (the registry speaks HTTPS)."""
    registry = access.registry
    if status == 401:
        raise PushError(
            f"registry {registry} refused the credentials (HTTP 401) for {method} "
            f"{_short(path)}; check --username and RAY_IMAGE_REGISTRY_PASSWORD"
        )
    if status == 403:
        raise PushError(
            f"registry {registry}: access to {_short(path)} denied (HTTP 403); ask for "
            "push rights on the repository"
        )
    if status == 400 and access.scheme == "http" and method in ("GET", "HEAD"):
        raise PushError(
            f"registry {registry} answered HTTP 400 to plain HTTP: it speaks HTTPS; "
            + ("drop --insecure-registry, and " if access.insecure else "")
            + "pass --registry-ca FILE when its CA is private"
        )


def require_ok(registry: str, status: int, what: str) -> None:
    """Raise PushError unless ``status`` is 2xx; 413 names the proxy's body limit."""
    if status == 413:
        raise PushError(
            f"registry {registry}: {what}: HTTP 413 from a proxy; raise its body "
            "limit (nginx: `client_max_body_size 0;`)"
        )
    if not 200 <= status < 300:
        raise PushError(
            f"registry {registry}: {what} answered HTTP {status}; check the reference and "
            "the registry"
        )


def _short(path: str) -> str:
    """A path without its query (upload URLs carry state tokens) and scheme/host."""
    path = path.split("?", 1)[0]
    if "://" in path:
        path = "/" + path.split("://", 1)[1].split("/", 1)[-1]
    return path.removeprefix("/v2")
