"""The kubectl calls rollout.sh makes, parsed into what the shim does (pure: argv -> Call).

Only the calls the generated script makes are understood (``rollout/templates/*.j2`` and the
canary stage, docs/rollout.md "The kubectl calls the canary stage adds"):

- ``get raycluster NAME -n NS -o json|jsonpath=...``: the object (state);
- ``get pods -n NS -l SEL -o json|jsonpath=...`` and ``get pod NAME -n NS -o ...``: the pods;
- ``patch raycluster NAME -n NS --type=json --patch-file=F [--dry-run=server]``;
- ``delete pod -n NS -l SEL``;
- ``wait pod -n NS -l SEL --for=condition=Ready --timeout=DURATION``;
- ``exec [-i] -n NS POD -c CONTAINER -- ARGV...``;

and the one call of ``invoke status`` (:func:`..status.fleet.kubectl_argv`), so its live path
runs through the same shim: ``get rayclusters,rayjobs,rayservices -A|-n NS -o json
[--request-timeout=D]``.

Anything else is refused with kubectl's own ``error: ...`` shape, so a script that starts
making a call the shim does not know fails loudly instead of being answered wrongly.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field, replace

RAY_RESOURCES = {"raycluster": "RayCluster", "rayclusters": "RayCluster"}
LISTED = {  # what a list (no name) may name: kubectl's plural and singular resource names
    **RAY_RESOURCES,
    **{name: "RayJob" for name in ("rayjob", "rayjobs")},
    **{name: "RayService" for name in ("rayservice", "rayservices")},
}
POD_RESOURCES = ("pod", "pods", "po")
VALUED = {
    "-n": "namespace",
    "--namespace": "namespace",
    "-l": "selector",
    "--selector": "selector",
    "-o": "output",
    "--output": "output",
    "-c": "container",
    "--container": "container",
    "--patch-file": "patch_file",
    "--type": "type",
    "--for": "for",
    "--timeout": "timeout",
    "--dry-run": "dry_run",
    "--request-timeout": "request_timeout",
}
SWITCHES = {
    "-i": "stdin",
    "--stdin": "stdin",
    "-A": "all_namespaces",
    "--all-namespaces": "all_namespaces",
}
_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h)")
_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}


class ShimError(Exception):
    """A call the shim does not serve (kubectl's ``error: ...`` line, exit 1)."""


@dataclass(frozen=True)
class Call:
    """One kubectl call. ``action``: get-object, get-pods, get-pod, patch, delete-pods, wait,
    exec, list-objects. ``selector``: label pairs; ``output``: ``json`` or ``jsonpath=...``;
    ``timeout_s``: seconds (wait); ``command``: after ``--`` (exec); ``kinds``: the kinds a
    list asks for, ``all_namespaces``: its ``-A`` (list-objects)."""

    action: str
    namespace: str
    name: str = ""
    selector: tuple[tuple[str, str], ...] = ()
    output: str = ""
    patch_file: str = ""
    dry_run: bool = False
    timeout_s: float = 30.0
    container: str = ""
    command: tuple[str, ...] = ()
    stdin: bool = False
    kind: str = ""  # RayCluster for object calls
    kinds: tuple[str, ...] = ()
    all_namespaces: bool = False
    flags: dict[str, str] = field(default_factory=dict, compare=False)


def parse_duration(text: str) -> float:
    """A Go duration as kubectl takes it (``893s``, ``1m30s``, ``0``) in seconds."""
    if text == "0":
        return 0.0
    parts = _DURATION.findall(text)
    if not parts or "".join(n + u for n, u in parts) != text:
        raise ShimError(f'error: invalid argument "{text}" for "--timeout" flag')
    return sum(float(n) * _UNITS[u] for n, u in parts)


def parse_selector(text: str) -> tuple[tuple[str, str], ...]:
    """``a=b,c=d`` (equality only, as rollout.sh writes it) as pairs."""
    pairs = []
    for item in text.split(","):
        key, eq, value = item.partition("=")
        if not eq or not key or "!" in key:
            raise ShimError(f"error: unsupported selector {text!r} (only key=value[,key=value])")
        pairs.append((key, value))
    return tuple(pairs)


def split_args(argv: Sequence[str]) -> tuple[list[str], dict[str, str], tuple[str, ...]]:
    """(positional words, flags by name, the command after ``--``)."""
    words: list[str] = []
    flags: dict[str, str] = {}
    args = list(argv)
    command: tuple[str, ...] = ()
    if "--" in args:
        cut = args.index("--")
        args, command = args[:cut], tuple(args[cut + 1 :])
    i = 0
    while i < len(args):
        arg = args[i]
        name, eq, value = arg.partition("=")
        if arg in SWITCHES:
            flags[SWITCHES[arg]] = "true"
        elif name in VALUED and eq:
            flags[VALUED[name]] = value
        elif arg in VALUED:
            if i + 1 >= len(args):
                raise ShimError(f"error: flag needs an argument: {arg}")
            flags[VALUED[arg]] = args[i + 1]
            i += 1
        elif arg.startswith("-"):
            raise ShimError(f"error: unknown flag: {arg} (not used by rollout.sh)")
        else:
            words.append(arg)
        i += 1
    return words, flags, command


def parse(argv: Sequence[str]) -> Call:
    """The :class:`Call` for a kubectl argv (without ``kubectl``). Raises ShimError."""
    words, flags, command = split_args(argv)
    if not words:
        raise ShimError("error: no command given")
    verb, rest = words[0], words[1:]
    namespace = flags.get("namespace", "default")
    selector = parse_selector(flags["selector"]) if "selector" in flags else ()
    output = flags.get("output", "")
    if output and output != "json" and not output.startswith("jsonpath="):
        raise ShimError(f"error: output {output!r} is not served (json or jsonpath=...)")
    base = Call("", namespace, selector=selector, output=output, flags=flags)
    if verb == "get" and len(rest) == 1 and all(r in LISTED for r in rest[0].split(",")):
        if output != "json":
            raise ShimError("error: a list of Ray objects is served as -o json only")
        kinds = tuple(dict.fromkeys(LISTED[r] for r in rest[0].split(",")))
        every = flags.get("all_namespaces") == "true"
        return replace(base, action="list-objects", kinds=kinds, all_namespaces=every)
    if verb == "get" and len(rest) == 2 and rest[0] in RAY_RESOURCES:
        return replace(base, action="get-object", name=rest[1], kind=RAY_RESOURCES[rest[0]])
    if verb == "get" and rest in (["pods"], ["pod"], ["po"]) and selector:
        return replace(base, action="get-pods")
    if verb == "get" and len(rest) == 2 and rest[0] in POD_RESOURCES:
        return replace(base, action="get-pod", name=rest[1])
    if verb == "patch" and len(rest) == 2 and rest[0] in RAY_RESOURCES:
        if flags.get("type") != "json" or not flags.get("patch_file"):
            raise ShimError("error: only patch --type=json --patch-file=FILE is served")
        dry = flags.get("dry_run", "none")
        if dry not in ("none", "server"):
            raise ShimError(f"error: --dry-run={dry} is not served (server only)")
        return replace(
            base,
            action="patch",
            name=rest[1],
            kind=RAY_RESOURCES[rest[0]],
            patch_file=flags["patch_file"],
            dry_run=dry == "server",
        )
    if verb == "delete" and rest in (["pod"], ["pods"]) and selector:
        return replace(base, action="delete-pods")
    if verb == "wait" and rest in (["pod"], ["pods"]) and selector:
        if flags.get("for") != "condition=Ready":
            raise ShimError("error: only wait --for=condition=Ready is served")
        return replace(base, action="wait", timeout_s=parse_duration(flags.get("timeout", "30s")))
    if verb == "exec" and len(rest) == 1 and command:
        return replace(
            base,
            action="exec",
            name=rest[0],
            container=flags.get("container", ""),
            command=command,
            stdin=flags.get("stdin") == "true",
        )
    raise ShimError(f"error: kubectl {' '.join(argv)[:120]}: not a call rollout.sh makes")


def matches(labels: dict[str, str], selector: tuple[tuple[str, str], ...]) -> bool:
    """Whether ``labels`` satisfy every pair of ``selector``."""
    return all(labels.get(key) == value for key, value in selector)


def list_jsonpath(output: str) -> str:
    """A list's jsonpath rewritten for the bag the real kubectl renders: kubectl treats any
    object with ``items`` as a list and renders each item alone, so the pods are served
    under ``pods`` and ``.items`` in the template becomes ``.pods``."""
    return re.sub(r"(?<=[{ ])\.items(?=[\[.}])", ".pods", output)
