"""Files to objects: JSON or YAML, multi-document, kubectl ``List``; one object picked.

``--name`` and ``--namespace`` pick one object among several. Every refusal is one line
naming the file and the fix (``RolloutError``).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml

from ..errors import RolloutError
from ..kuberay.crd import KINDS

FIX_FROM = (
    "feed the live object: kubectl get raycluster|rayjob|rayservice NAME -n NS -o json > rc.json"
)


def load_objects(path_or_dash: str, stdin_text: str | None = None) -> list[Mapping[str, Any]]:
    """Every object in a file (or stdin for ``-``): documents and ``List`` items, flattened."""
    source = "<stdin>" if path_or_dash == "-" else path_or_dash
    if path_or_dash == "-":
        text = sys.stdin.read() if stdin_text is None else stdin_text
    else:
        try:
            text = Path(path_or_dash).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            reason = exc.strerror if isinstance(exc, OSError) else "not UTF-8 text"
            raise RolloutError(f"cannot read {source}: {reason}; {FIX_FROM}") from None
    return list(_flatten(_parse_documents(text, source)))


def select(
    objects: Sequence[Mapping[str, Any]],
    source: str,
    *,
    name: str | None = None,
    namespace: str | None = None,
) -> dict[str, Any]:
    """The one Ray object ``name``/``namespace`` designate among ``objects``.

    ``namespace`` only tells several candidates apart (one that disagrees is refused
    later, by :func:`view_from_object`); an object without one matches any. Raises RolloutError
    when none or several match, listing what is there and the flag that tells them apart.
    """
    ray = [o for o in objects if o.get("kind") in KINDS]
    chosen = [o for o in ray if name is None or _meta(o).get("name") == name]
    if namespace is not None and len(chosen) > 1:
        chosen = [o for o in chosen if _meta(o).get("namespace") in (None, "", namespace)]
    if not chosen:
        kinds = sorted({str(o.get("kind")) for o in objects})
        which = " ".join(
            x for x in (name and f"named {name!r}", namespace and f"in {namespace!r}") if x
        )
        found = ", ".join(_describe(o) for o in ray) or f"only {', '.join(kinds) or 'nothing'}"
        raise RolloutError(
            f"{source}: no RayCluster, RayJob or RayService {which}".rstrip()
            + f" (found: {found}); {FIX_FROM}"
        )
    if len(chosen) > 1:
        listed = ", ".join(_describe(o) for o in chosen)
        flag = "--namespace" if name is not None else "--name (and --namespace)"
        raise RolloutError(
            f"{source}: holds {len(chosen)} candidates ({listed}); pick one with {flag}"
        )
    return dict(chosen[0])


def load_cluster(
    path_or_dash: str,
    stdin_text: str | None = None,
    *,
    name: str | None = None,
    namespace: str | None = None,
) -> dict[str, Any]:
    """:func:`load_objects` then :func:`select`: the one Ray object of a file."""
    source = "<stdin>" if path_or_dash == "-" else path_or_dash
    return select(load_objects(path_or_dash, stdin_text), source, name=name, namespace=namespace)


def _meta(obj: Mapping[str, Any]) -> Mapping[str, Any]:
    meta = obj.get("metadata")
    return meta if isinstance(meta, Mapping) else {}


def _describe(obj: Mapping[str, Any]) -> str:
    meta = _meta(obj)
    return f"{obj.get('kind')} {meta.get('namespace') or '(no namespace)'}/{meta.get('name')}"


def _parse_documents(text: str, source: str) -> list[Any]:
    try:
        return [json.loads(text)]
    except ValueError:
        pass
    try:
        return [d for d in yaml.safe_load_all(text) if d is not None]
    except yaml.YAMLError as exc:
        where = getattr(exc, "problem_mark", None)
        at = f" at line {where.line + 1}" if where is not None else ""
        raise RolloutError(f"{source}: not valid YAML or JSON{at}; {FIX_FROM}") from None


def _flatten(docs: Iterable[Any]) -> Iterable[Mapping[str, Any]]:
    for doc in docs:
        if not isinstance(doc, Mapping):
            continue
        items = doc.get("items")
        if str(doc.get("kind", "")).endswith("List") and isinstance(items, list):
            yield from _flatten(items)
        else:
            yield doc
