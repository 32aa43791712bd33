"""The options most tasks share, declared once: their flags, defaults, help, and resolution.

A task asks for groups (``shared=COMMON + ALL_VARIANTS``); :func:`.task.task` adds their
parameters to the task's signature and help, and hands the task one :class:`Given` that
resolves them (flag, then ``RAY_IMAGE_*``, then the ``ray_image:`` config, then default:
:mod:`ray_worker_image.settings`), each value named by its real source in errors.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from invoke.context import Context

from .. import lazy, preflight, settings
from ..definition import DEFAULT_DEFINITION, Definition, load_definition
from ..registry import Credentials
from ..session import Options, Session, session, sessions
from .where import SHIPPED

if TYPE_CHECKING:  # imported when a task asks for them (lazy.py)
    from .. import push, rollout
else:
    push = lazy.module("ray_worker_image.push")
    rollout = lazy.module("ray_worker_image.rollout")


@dataclass(frozen=True)
class Opt:
    """One shared option: parameter name (invoke makes ``--name-with-dashes``), default, help."""

    name: str
    default: Any
    help: str


COMMON = (
    Opt("engine", None, "podman, docker or auto (default: $RAY_IMAGE_ENGINE, invoke.yaml, "
        "else podman)"),
    Opt("definition", None, "image definition YAML, from the current directory (default: "
        "$RAY_IMAGE_DEFINITION, invoke.yaml, else the repository's "
        "images/ray-swe-fleet/image.yaml, outside a clone the one shipped in the package)"),
    Opt("variant", None, "variant of the definition, by base tag, e.g. 2.52.1-py311 "
        "(default: $RAY_IMAGE_VARIANT, invoke.yaml, else the definition's default_variant)"),
    Opt("stand_in", False, "offline mode: use the stand-in base from the loopback registry, "
        "not Docker Hub"),
    Opt("stand_in_registry", None, "registry serving the stand-in base (default: 127.0.0.1:5000)"),
    Opt("ca_cert", None, "PEM bundle pip needs inside the build (default: $PIP_CERT, "
        "$REQUESTS_CA_BUNDLE)"),
)  # fmt: skip
ALL_VARIANTS = (Opt("all_variants", False, "every variant of the definition, in file order"),)
REGISTRY = (
    Opt("registry", None, "HOST[:PORT] holding this revision's push (default: "
        "$RAY_IMAGE_REGISTRY, invoke.yaml)"),
)  # fmt: skip
ACCESS = (
    Opt("username", None, "registry user (password: $RAY_IMAGE_REGISTRY_PASSWORD, never a flag)"),
    Opt("registry_ca", None, "PEM file of the registry's private CA (HTTPS; engines need it "
        "in certs.d)"),
    Opt("insecure_registry", False, "allow plain HTTP to a non-loopback registry (explicit "
        "opt-in)"),
)  # fmt: skip
CLUSTER = (
    Opt("from_", None, "live RayCluster, RayJob or RayService (file or - for stdin, YAML or "
        "JSON, multi-document or a List): kubectl get raycluster NAME -n NS -o json"),
    Opt("name", None, "object name (with --from: picks one of several; default: invoke.yaml)"),
    Opt("namespace", None, "namespace (with --from: fills a missing one, refuses a different "
        "one; default: invoke.yaml ray_image.cluster.namespace)"),
    Opt("groups", None, "comma-separated worker groups to move (default: all with --from, "
        "else invoke.yaml); '' = head only"),
    Opt("restart", "workers", "pods to restart after the patch: workers, head, all or none "
        "(default: workers)"),
    Opt("current_image", None, "without --from: the image the cluster runs now (guard and "
        "rollback; default: the base image)"),
    Opt("force", False, "go on despite a variant mismatch, an unknown Ray version or an owned "
        "RayCluster (each becomes a loud warning)"),
    Opt("kind", None, "without --from: RayCluster, RayJob or RayService (default: invoke.yaml, "
        "else RayCluster); with --from: the kind expected in the file"),
    Opt("canary", None, "worker group rollout.sh moves first and proves with a Ray job reaching "
        "NATS JetStream (default: the first group moved)"),
    Opt("no_canary", False, "rollout.sh moves every group without the canary stage"),
    Opt("canary_subject", None, "the canary job publishes one message here and waits for its "
        "PubAck (default: nothing is published)"),
    Opt("nats_url", None, "NATS URL for the canary job, nats://HOST:PORT (default: the NATS_URL "
        "env of the canary group's Ray container)"),
)  # fmt: skip
CLONE_KEY = "ray_image_clone"  # invoke config key: the clone's folder ("" outside one)


def shown(path: Path) -> str:
    """``path`` as the user would type it: relative to the current folder, or ``~/...``."""
    for base, prefix in ((Path.cwd(), ""), (Path.home(), "~/")):
        if path.is_relative_to(base):
            return prefix + str(path.relative_to(base))
    return str(path)


def config_layers(c: Context) -> list[tuple[str, Any]]:
    """invoke's config files, lowest first, as (file as the user names it, its ray_image)."""
    config = c.config
    layers = []
    for level in ("system", "user", "project", "runtime"):
        path = getattr(config, f"_{level}_path", None)
        data = getattr(config, f"_{level}", None) or {}
        if path and "ray_image" in data:
            layers.append((shown(Path(path)), data["ray_image"]))
    return layers


@dataclass
class Given:
    """The shared options of one task call, as given, and how they resolve."""

    c: Context
    values: Mapping[str, Any]

    def __getattr__(self, name: str) -> Any:
        try:
            return self.values[name]
        except KeyError:
            raise AttributeError(name) from None

    @property
    def root(self) -> Path | None:
        """The clone the tool runs in; None outside one."""
        where = self.c.config.get(CLONE_KEY) or ""
        return Path(where) if where else None

    def config(self) -> dict[str, Any]:
        """The merged ``ray_image:`` section, each file checked alone so errors name it."""
        for file, section in config_layers(self.c):
            settings.config_section(section, file)
        return settings.config_section(self.c.config.get("ray_image"))

    def config_file(self, key: str) -> str:
        """The last config file that sets ``ray_image.<key>`` (``invoke.yaml`` if none)."""
        found = [f for f, s in config_layers(self.c) if hasattr(s, "get") and s.get(key)]
        return found[-1] if found else settings.CONFIG_FILE

    def setting(self, name: str, flag: object = None) -> Any:
        return settings.resolve(name, flag, os.environ, self.config())

    def options(self, **override: Any) -> Options:
        """:class:`~ray_worker_image.session.Options` from the shared options (``override``:
        a task's fixed values, e.g. ``stand_in=True`` for standin)."""
        names = ("engine", "definition", "stand_in", "stand_in_registry", "variant")
        given = {k: self.values.get(k) for k in names} | override
        all_variants = bool(given.pop("all_variants", self.values.get("all_variants", False)))
        preflight.check_variant_flags(given["variant"], all_variants)
        config = self.config()
        resolved = settings.resolve_all(given, os.environ, config)
        root = self.root or SHIPPED
        where = settings.definition_path(
            given["definition"], os.environ, config, root=root, cwd=Path.cwd(),
            default=DEFAULT_DEFINITION,
        )  # fmt: skip
        source = settings.source(
            "variant", given["variant"], os.environ, self.config_file("variant")
        )
        return Options(
            root=root,
            definition_path=where,
            engine=str(resolved["engine"]),
            stand_in=bool(resolved["stand_in"]),
            stand_in_registry=str(resolved["stand_in_registry"]),
            ca_cert=self.values.get("ca_cert"),
            build_dir=Path(resolved["build_dir"]) if resolved["build_dir"] else None,
            variant=None if all_variants else resolved["variant"],
            variant_source=source,
            all_variants=all_variants,
            registry_ca=self.values.get("registry_ca"),
            insecure_registry=bool(self.values.get("insecure_registry")),
        )

    def definition(self) -> Definition:
        options = self.options()
        return load_definition(options.definition_path, options.root)

    @contextmanager
    def sessions(self, **override: Any) -> Iterator[list[Session]]:
        with sessions(self.options(**override)) as opened:
            yield opened

    @contextmanager
    def session(self, **override: Any) -> Iterator[Session]:
        with session(self.options(**override)) as one:
            yield one

    def registry(self) -> str:
        return str(self.setting("registry", self.values.get("registry")))

    def credentials(self) -> Credentials | None:
        return push.credentials_from_env(self.values.get("username"))

    def cluster(
        self,
        images: tuple[str, ...] | list[str] = (),
        source: str | None = None,
        *,
        allow_stand_in: bool = False,
        declared_variant: str | None = None,
    ) -> rollout.ClusterOptions:
        """The cluster options (``source``: read this file instead of ``--from``;
        ``allow_stand_in``: a stand-in build may go into the cluster; ``declared_variant``:
        what an ``--image`` is when neither its labels nor its tag can say)."""
        v = self.values
        from_ = source or v.get("from_")
        defaults = self.config().get("cluster") or {}
        if v.get("groups") is not None:
            chosen: tuple[str, ...] | None = tuple(g for g in v["groups"].split(",") if g)
            preflight.check_groups(chosen)
        elif from_:
            chosen = None
        else:
            chosen = tuple(defaults.get("groups") or ())
        return rollout.ClusterOptions(
            source=from_,
            name=v.get("name") or (None if from_ else defaults.get("name")),
            namespace=v.get("namespace") or (None if from_ else defaults.get("namespace")),
            groups=chosen,
            restart=v.get("restart") or "workers",
            current_image=v.get("current_image"),
            images=tuple(images or ()),
            force=bool(v.get("force")),
            kind=v.get("kind") or (None if from_ else defaults.get("kind")),
            allow_stand_in=allow_stand_in,
            declared_variant=declared_variant,
            canary=rollout.CanaryOptions(
                group=v.get("canary"),
                enabled=not v.get("no_canary"),
                subject=v.get("canary_subject"),
                nats_url=v.get("nats_url"),
            ),
        )


def replace(options: Options, **changes: Any) -> Options:
    return dataclasses.replace(options, **changes)
