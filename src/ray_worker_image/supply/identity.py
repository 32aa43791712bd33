"""Signed identities compared by meaning (pure).

Docker references name one repository in several spellings: ``ray``,
``library/ray``, ``docker.io/library/ray`` and ``index.docker.io/library/ray`` are the
same (distribution ``reference/normalize.go``: the default domain ``docker.io``, its
legacy name ``index.docker.io``, the ``library/`` namespace of one-component paths; a
first component is a domain when it has a ``.`` or ``:`` or is ``localhost``). A mirror
serves the images under another name; `invoke verify --signed-identity` names the
repository the signatures were made for.
"""

from __future__ import annotations

DEFAULT_DOMAIN = "docker.io"
LEGACY_DOMAIN = "index.docker.io"


def normalize(reference: str) -> str:
    """The canonical ``DOMAIN/PATH`` of a repository reference (tag/digest dropped). Pure."""
    name = reference.split("@", 1)[0]
    last = name.rsplit("/", 1)
    if ":" in last[-1]:  # a tag, not a port
        name = name.rsplit(":", 1)[0]
    first, _, rest = name.partition("/")
    if rest and ("." in first or ":" in first or first == "localhost"):
        domain, path = first.lower(), rest
    else:
        domain, path = DEFAULT_DOMAIN, name
    if domain == LEGACY_DOMAIN:
        domain = DEFAULT_DOMAIN
    if domain == DEFAULT_DOMAIN and "/" not in path:
        path = f"library/{path}"
    return f"{domain}/{path}"


def same_repository(signed: str, expected: str) -> bool:
    """Whether two references name one repository (:func:`normalize`). Pure."""
    return normalize(signed) == normalize(expected)
