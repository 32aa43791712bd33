"""Build contexts assembled in memory, so a CA bundle never lands in the work tree."""

from __future__ import annotations

import io
import os
import tarfile
from collections.abc import Mapping
from pathlib import Path

from .errors import PipelineError

CA_ENV_VARS = ("PIP_CERT", "REQUESTS_CA_BUNDLE")


def context_tar(members: Mapping[str, bytes | Path], *, uid: int = 0, gid: int = 0) -> bytes:
    """A tar with fixed owner and mtime, so equal inputs give equal build cache keys.

    Parent folders of nested members are added, owned by ``uid:gid`` like the files, so
    an unprivileged process can write next to them once the tar is unpacked in a container.
    """
    buffer = io.BytesIO()
    folders = sorted({str(p) for name in members for p in Path(name).parents} - {"."})
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for folder in folders:
            info = tarfile.TarInfo(folder)
            info.type, info.mode, info.uid, info.gid = tarfile.DIRTYPE, 0o755, uid, gid
            tar.addfile(info)
        for name in sorted(members):
            value = members[name]
            data = value.read_bytes() if isinstance(value, Path) else value
            info = tarfile.TarInfo(name)
            info.size, info.mode, info.mtime, info.uid, info.gid = len(data), 0o644, 0, uid, gid
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def resolve_ca_cert(option: str | None) -> Path | None:
    """--ca-cert, else $PIP_CERT, else $REQUESTS_CA_BUNDLE; None means pip trusts its defaults."""
    source = "--ca-cert"
    value = option
    if not value:
        for var in CA_ENV_VARS:
            if os.environ.get(var):
                source, value = f"${var}", os.environ[var]
                break
    if not value:
        return None
    path = Path(value)
    if not path.is_file():
        raise PipelineError(f"{source}: CA bundle {value} is not a file; give a PEM bundle path")
    text = path.read_bytes()
    if b"-----BEGIN CERTIFICATE-----" not in text:
        raise PipelineError(f"{source}: {value} holds no PEM certificate; give a PEM bundle")
    return path
