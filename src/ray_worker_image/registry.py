"""Just enough of the OCI distribution API to ask a registry what it stores.

The engines report digests in their own ways; the registry's answer is the one a
Kubernetes node will pull, so the pipeline asks it directly.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

import requests

from .errors import PushError
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


@dataclass(frozen=True)
class Credentials:
    username: str
    password: str

    def __repr__(self) -> str:  # keep the password out of tracebacks and logs
        return f"Credentials(username={self.username!r}, password=<hidden>)"

    def as_auth_config(self) -> dict[str, str]:
        return {"username": self.username, "password": self.password}


def scheme_for(registry: str) -> str:
    """Loopback registries are plain HTTP (as Docker itself assumes); the rest are HTTPS."""
    return "http" if _LOOPBACK.match(registry) else "https"


def api_host(registry: str) -> str:
    return "registry-1.docker.io" if registry == "docker.io" else registry


class RegistryClient:
    def __init__(self, registry: str, credentials: Credentials | None = None, timeout: float = 30):
        self.registry = registry
        self.base = f"{scheme_for(registry)}://{api_host(registry)}/v2"
        self.credentials = credentials
        self.timeout = timeout
        self.session = requests.Session()

    def _get(
        self, url: str, *, method: str = "GET", accept: str | None = None
    ) -> requests.Response:
        headers = {"Accept": accept} if accept else {}
        try:
            response = self.session.request(method, url, headers=headers, timeout=self.timeout)
            if response.status_code == 401:
                self._authenticate(response.headers.get("WWW-Authenticate", ""))
                response = self.session.request(method, url, headers=headers, timeout=self.timeout)
        except requests.RequestException as exc:
            raise PushError(
                f"registry {self.registry}: cannot reach {self.base} ({type(exc).__name__}); "
                "check the address and that the registry is running"
            ) from None
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
        if scheme.lower() == "bearer":
            fields = dict(re.findall(r'(\w+)="([^"]*)"', params))
            auth = (
                (self.credentials.username, self.credentials.password) if self.credentials else None
            )
            token_response = requests.get(
                fields["realm"],
                params={k: v for k, v in fields.items() if k in ("service", "scope")},
                auth=auth,
                timeout=self.timeout,
            )
            if token_response.status_code != 200:
                raise PushError(
                    f"registry {self.registry}: token request refused "
                    f"(HTTP {token_response.status_code}); check the credentials"
                )
            token = token_response.json().get("token") or token_response.json().get("access_token")
            self.session.headers["Authorization"] = f"Bearer {token}"

    def ping(self) -> bool:
        try:
            response = self._get(f"{self.base}/")
        except (requests.RequestException, PushError):
            return False
        return response.status_code in (200, 401)

    def manifest_digest(self, ref: ImageRef) -> str | None:
        """The digest the registry serves for ref's tag, or None when the tag is absent."""
        response = self._get(
            f"{self.base}/{ref.repository}/manifests/{ref.tag}",
            method="HEAD",
            accept=MANIFEST_TYPES,
        )
        if response.status_code == 404:
            return None
        if response.status_code != 200:
            raise PushError(
                f"registry {self.registry}: HEAD manifest {ref} "
                f"answered HTTP {response.status_code}"
            )
        digest = response.headers.get("Docker-Content-Digest")
        return digest or None

    def delete(self, ref: ImageRef) -> None:
        """Delete a manifest by digest (tests clean up what they pushed)."""
        digest = ref.digest or self.manifest_digest(ref)
        if digest:
            self._get(f"{self.base}/{ref.repository}/manifests/{digest}", method="DELETE")

    def image_config(self, ref: ImageRef) -> dict[str, Any] | None:
        """The image config (labels, env, user...) of a single-platform manifest."""
        target = ref.digest or ref.tag
        response = self._get(
            f"{self.base}/{ref.repository}/manifests/{target}", accept=MANIFEST_TYPES
        )
        if response.status_code == 404:
            return None
        response.raise_for_status()
        manifest = response.json()
        if "config" not in manifest:
            return None
        blob = self._get(f"{self.base}/{ref.repository}/blobs/{manifest['config']['digest']}")
        blob.raise_for_status()
        config: dict[str, Any] = json.loads(blob.content)
        return config

    def labels(self, ref: ImageRef) -> dict[str, str]:
        config = self.image_config(ref) or {}
        return dict((config.get("config") or {}).get("Labels") or {})
