"""Cheap checks of command-line inputs, run before any slow step (engine, registry, build).

Pure or filesystem-only: each function raises :class:`PipelineError` with one line naming
the flag, the value and the fix, and returns normally otherwise. The tasks and
``release.plan_release`` call them before anything starts (issue 12, item 1). The checks
that need the rollout's types are in :mod:`.rollout.inputs`; the release's own in
:mod:`.release`.
"""

from __future__ import annotations

import re
import socket
import tempfile
from pathlib import Path

from .errors import Unavailable, UsageError
from .kuberay.names import check_group_name
from .refs import ImageRef
from .registry import RegistryAccess

# HOST[:PORT]: a DNS name or IPv4 address, or an IPv6 address in brackets, as in
# distribution's reference grammar (reference/regexp.go: domainName | ipv6address).
_HOSTNAME = r"[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?"
_IPV6 = r"\[[0-9A-Fa-f:.]+\]"
REGISTRY = re.compile(rf"^(?P<host>{_HOSTNAME}|{_IPV6})(?::(?P<port>[0-9]{{1,5}}))?\Z", re.ASCII)
IMAGE_ID = re.compile(r"^(?:sha256:)?[0-9a-f]{12,64}$")
PEM_CERT = b"-----BEGIN CERTIFICATE-----"


def check_registry(registry: str) -> None:
    """``HOST[:PORT]``: ASCII, no scheme or path, port 1-65535, IPv6 in brackets."""
    if not registry:
        raise UsageError(
            "no registry to push to: pass --registry HOST[:PORT], set $RAY_IMAGE_REGISTRY "
            "or invoke.yaml ray_image.registry"
        )
    match = REGISTRY.match(registry)
    if not match:
        raise UsageError(
            f"--registry {registry!r}: give HOST[:PORT] only (ASCII, no scheme, no path; an "
            "IPv6 address in brackets), e.g. 127.0.0.1:5000 or [::1]:5000"
        )
    port = match.group("port")
    if port is not None and not 1 <= int(port) <= 65535:
        raise UsageError(f"--registry {registry!r}: port {port} is out of range (1-65535)")


def check_listening(registry: str, flag: str = "--registry", timeout: float = 3.0) -> None:
    """Refuse at once a ``HOST:PORT`` where nothing listens (connection refused), instead of
    retrying it as if it were a passing fault. Anything else (no port given, DNS, timeouts,
    proxies) is left to the registry client, which knows TLS, auth and retries."""
    match = REGISTRY.match(registry)
    if not match or match.group("port") is None:
        return
    host, port = match.group("host").strip("[]"), int(match.group("port"))
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return
    except ConnectionRefusedError:
        raise Unavailable(
            f"{flag} {registry}: nothing listens there (connection refused); start the "
            f"registry or fix {flag}"
        ) from None
    except OSError:
        return


def check_pem(path: str | None, flag: str) -> None:
    """``path`` (when given) is a readable file holding a PEM certificate."""
    if not path:
        return
    file = Path(path)
    if not file.is_file():
        raise UsageError(f"{flag} {path}: no such file; give the CA's PEM file")
    try:
        data = file.read_bytes()
    except OSError as exc:
        raise UsageError(f"{flag} {path}: cannot read it ({exc.strerror})") from None
    if PEM_CERT not in data:
        raise UsageError(f"{flag} {path}: holds no PEM certificate; give the CA's PEM file")


def _nearest_existing(path: Path) -> Path:
    for candidate in (path, *path.parents):
        if candidate.exists() or candidate.is_symlink():
            return candidate
    return Path("/")


def probe_folder(folder: Path) -> str | None:
    """Why a file cannot be created in ``folder`` (strerror), or None when it can. A real
    probe (a temporary file, removed at once): ``os.access`` says yes to root even on a
    read-only mount or in /sys."""
    try:
        with tempfile.TemporaryFile(dir=folder):
            return None
    except OSError as exc:
        return exc.strerror or exc.__class__.__name__


def check_out_dir(out: str | None, flag: str = "--out", what: str = "the rollout files") -> None:
    """``out`` (when given) is a folder we can write, or can be created as one; PipelineError
    (one line naming ``flag`` and ``what`` goes there) otherwise."""
    if not out:
        return
    folder = Path(out).absolute()
    existing = _nearest_existing(folder)
    if not existing.is_dir():
        problem = "is not a folder" if existing == folder else f"{existing} is not a folder"
        raise UsageError(f"{flag} {out}: {problem}; give a folder to write {what} into")
    reason = probe_folder(existing)
    if reason:
        raise UsageError(
            f"{flag} {out}: cannot write in {existing} ({reason}); give a folder you can write"
        )


def check_groups(groups: tuple[str, ...] | list[str] | None, what: str = "--groups") -> None:
    """Each worker group name is a valid KubeRay groupName: a Kubernetes label value, since
    KubeRay labels each pod ``ray.io/group=<groupName>`` (:mod:`.kuberay.names`, which
    cites the operator). ``what`` names the source; ``{index}`` in it is the group's index."""
    for index, group in enumerate(groups or ()):
        check_group_name(group, what.format(index=index))


def check_image(image: str | None, *, flag: str = "--image", allow_id: bool = False) -> None:
    """``image`` (when given) is an image reference (or, ``allow_id``, an image id)."""
    if not image or (allow_id and IMAGE_ID.match(image)):
        return
    ImageRef.parse(image, what=flag)


def check_json_flag(json: bool, needed: bool, flag: str) -> None:
    """``--json`` only where there is a result to print (e.g. ``lock --check``)."""
    if json and not needed:
        raise UsageError(f"--json goes with {flag}: it prints that result")


def check_variant_flags(variant: str | None, all_variants: bool) -> None:
    """``--variant`` and ``--all-variants`` exclude each other."""
    if variant and all_variants:
        raise UsageError(f"--variant {variant} and --all-variants: give one or the other, not both")


def positive_int(text: object, flag: str) -> int:
    """``text`` as a positive integer (invoke would raise a traceback on ``--tasks many``)."""
    value = str(text).strip()
    if not value.isdigit() or int(value) < 1:
        raise UsageError(f"{flag} {text!r}: give a whole number of 1 or more, e.g. {flag} 4")
    return int(value)


def check_stand_in_push(*, stand_in: bool, registry: str, allow_stand_in: bool) -> None:
    """A stand-in-based image goes to a loopback registry only, unless --allow-stand-in
    (what ``push.plan_push`` refuses after the build, checked here before it)."""
    if stand_in and not allow_stand_in and not RegistryAccess(registry).loopback:
        raise UsageError(
            f"--stand-in with --registry {registry}: the image would be built on the offline "
            "STAND-IN base, which is pushed to a loopback registry only; build on the real "
            "base, or pass --allow-stand-in"
        )
