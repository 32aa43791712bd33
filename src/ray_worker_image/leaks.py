"""Look for secret bytes in every layer, the config and the history of an image.

Used to prove that a CA bundle handed to the build never reaches the final image.
"""

from __future__ import annotations

import base64
import io
import re
import tarfile
from collections.abc import Iterable
from dataclasses import dataclass

from .engine import Engine

_PEM = re.compile(rb"-----BEGIN CERTIFICATE-----(.*?)-----END CERTIFICATE-----", re.S)


def certificate_needles(pem_bundle: bytes) -> list[bytes]:
    """Each certificate as it could appear on disk: its base64 body, line-wrapping removed.

    Searching a 48-byte slice of the DER's base64 from the middle of each certificate
    matches both the PEM text and a re-wrapped copy of it.
    """
    needles = []
    for body in _PEM.findall(pem_bundle):
        flat = re.sub(rb"\s+", b"", body)
        der = base64.b64decode(flat)
        needles.append(der[len(der) // 2 : len(der) // 2 + 48])  # raw DER, e.g. in a .der file
        needles.append(flat[len(flat) // 2 : len(flat) // 2 + 48])
    return needles


@dataclass(frozen=True)
class Finding:
    where: str  # layer/member path, "config" or "history"
    needle_index: int


def _unwrapped(data: bytes) -> bytes:
    # PEM text is wrapped every 64 characters; remove newlines so a needle spanning a
    # line break still matches.
    return data.replace(b"\n", b"").replace(b"\r", b"")


def _scan_tar(blob: bytes, prefix: str, needles: list[bytes]) -> Iterable[Finding]:
    with tarfile.open(fileobj=io.BytesIO(blob), mode="r:*") as tar:
        for member in tar:
            if not member.isfile():
                continue
            handle = tar.extractfile(member)
            if handle is None:
                continue
            data = handle.read()
            where = f"{prefix}{member.name}"
            if member.name.endswith(("layer.tar", ".tar", ".tar.gz")) or "/blobs/" in where:
                try:
                    yield from _scan_tar(data, f"{where}!", needles)
                    continue
                except tarfile.TarError:
                    pass  # not a tar after all: scan it as bytes
            flat = _unwrapped(data)
            for index, needle in enumerate(needles):
                if needle in data or needle in flat:
                    yield Finding(where, index)


def scan_image(engine: Engine, image: str, needles: list[bytes]) -> list[Finding]:
    """Every place in the saved image (all layers, config, history) holding a needle."""
    archive = b"".join(engine.save(image))
    findings = list(_scan_tar(archive, "", needles))
    history = repr(engine.image_history(image)).encode()
    config = repr(engine.image_attrs(image)).encode()
    for where, text in (("history", history), ("config", config)):
        for index, needle in enumerate(needles):
            if needle in _unwrapped(text):
                findings.append(Finding(where, index))
    return findings
