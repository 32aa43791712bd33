"""What every task shares: its resolved options, the definition, one engine, one variant.

A :class:`Session` is one variant of the definition; :func:`sessions` opens one per selected
variant, all sharing a single engine connection.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import ParamSpec, TypeVar

from . import console
from . import engine as engines
from .base import resolve_base
from .build import git_revision
from .context import resolve_ca_cert
from .definition import DEFAULT_DEFINITION, Definition, ImageDefinition, load_definition
from .errors import PipelineError
from .preflight import check_pem
from .records import find_built, pushed_image
from .registry import Credentials, Destination, RegistryAccess
from .standin import DEFAULT_STAND_IN_REGISTRY, check_stand_in
from .state import BUILD_DIR, BuiltImage, PushRecord, ResolvedBase, StateStore

P = ParamSpec("P")
R = TypeVar("R")


@dataclass(frozen=True)
class Options:
    """What most tasks share, already resolved (settings.resolve) by tasks.py."""

    root: Path
    definition_path: Path = DEFAULT_DEFINITION
    engine: str | None = None
    stand_in: bool = False
    stand_in_registry: str = DEFAULT_STAND_IN_REGISTRY
    ca_cert: str | None = None
    build_dir: Path | None = None  # default: <root>/build; each variant gets <build_dir>/<name>
    variant: str | None = None  # None: the definition's default variant
    variant_source: str = "--variant"  # where variant came from, for errors ($RAY_IMAGE_...)
    all_variants: bool = False
    registry_ca: str | None = None  # --registry-ca: PEM file of a private registry CA
    insecure_registry: bool = False  # --insecure-registry: plain HTTP to a non-loopback registry


class Connection:
    """One engine, connected on first use, shared by the sessions of several variants."""

    def __init__(self, options: Options, engine: engines.Engine | None = None) -> None:
        self.options = options
        self._engine = engine
        self._owned = engine is None

    def get(self) -> engines.Engine:
        if self._engine is None:
            name = engines.resolve_engine_name(self.options.engine)
            self._engine = engines.connect(name)
            console.info(f"engine: {self._engine.name} ({self._engine.base_url})")
        return self._engine

    def close(self) -> None:
        if self._engine is not None and self._owned:
            self._engine.close()


def other_engine_has(ref: str, exclude: str) -> str | None:
    """The name of the engine, other than the one in use, that holds ``ref``; None if none.

    Connects without starting anything (a short failure counts as "not there")."""
    found = None
    for name, cls in engines.ENGINES.items():
        if name == exclude:
            continue
        try:
            other = cls.connect(start=False)
        except PipelineError:
            continue
        try:
            if other.image_exists(ref):
                found = name
        except PipelineError:
            pass
        finally:
            other.close()
        if found:
            return found
    return None


class Session:
    """One variant: its definition, state folder, CA bundle and the base resolved once."""

    def __init__(
        self,
        options: Options,
        definition: ImageDefinition | None = None,
        engine: engines.Engine | None = None,
        *,
        connection: Connection | None = None,
    ) -> None:
        """``definition`` and ``engine`` override loading and connecting (tests, benchmarks)."""
        self.options = options
        self.definition: ImageDefinition = definition or load_definition(
            options.definition_path, options.root
        ).variant(options.variant)
        if options.stand_in:
            check_stand_in(self.definition)  # refused in one line before any slow step
        root_build = options.build_dir or self.definition.root / BUILD_DIR
        self.build_dir = root_build / self.definition.variant
        self.state = StateStore(self.build_dir)
        self.ca_cert = resolve_ca_cert(options.ca_cert)
        self.connection = connection or Connection(options, engine)
        self._base: ResolvedBase | None = None
        self._revision: str | None = None

    @property
    def variant(self) -> str:
        return self.definition.variant

    @property
    def engine(self) -> engines.Engine:
        return self.connection.get()

    def resolve_base(self) -> ResolvedBase:
        """Resolved once per session: `release` needs it for the lock check and the build."""
        if self._base is None:
            self._base = resolve_base(
                self.definition,
                self.engine,
                stand_in=self.options.stand_in,
                stand_in_registry=self.options.stand_in_registry,
                ca_cert=self.ca_cert,
            )
        return self._base

    def registry_access(self, registry: str) -> RegistryAccess:
        """How to reach ``registry``: --registry-ca and --insecure-registry applied."""
        ca = self.options.registry_ca
        check_pem(ca, "--registry-ca")  # a PEM file, as --ca-cert
        return RegistryAccess(
            registry, Path(ca) if ca else None, insecure=self.options.insecure_registry
        )

    def destination(self, registry: str, credentials: Credentials | None = None) -> Destination:
        """``registry`` as this session reaches it (:meth:`registry_access`) with the
        credentials: the value every registry request of a task goes through."""
        return Destination(self.registry_access(registry), credentials)

    def revision(self) -> str:
        """The git revision of the work tree (``-dirty`` suffixed), read once."""
        if self._revision is None:
            self._revision = git_revision(self.definition.root)
        return self._revision

    def built(self) -> BuiltImage:
        """The variant's image for the current revision, derived from the engine (labels).

        Raises PipelineError (one line): built with the other engine, or not built.
        """
        engine = self.engine
        return find_built(
            engine,
            self.definition,
            self.revision(),
            lambda ref: other_engine_has(ref, exclude=engine.name),
        )

    def pushed(
        self,
        registry: str,
        built: BuiltImage | None = None,
        credentials: Credentials | None = None,
    ) -> PushRecord:
        """The push of the current build in ``registry``, derived from registry HEAD."""
        return pushed_image(
            self.destination(registry, credentials), self.definition, built or self.built()
        )

    def close(self) -> None:
        self.connection.close()


def select(options: Options, definition: Definition | None = None) -> tuple[ImageDefinition, ...]:
    """The variants a task works on: --all-variants, --variant, or the default."""
    loaded = definition or load_definition(options.definition_path, options.root)
    return loaded.select(
        options.variant, all_variants=options.all_variants, label=options.variant_source
    )


@contextmanager
def sessions(options: Options) -> Iterator[list[Session]]:
    """One session per selected variant (all checked first), sharing one engine connection."""
    chosen = select(options)
    connection = Connection(options)
    try:
        yield [Session(options, variant, connection=connection) for variant in chosen]
    finally:
        connection.close()


@contextmanager
def session(options: Options) -> Iterator[Session]:
    """The one variant of ``options`` (``--all-variants`` is refused here)."""
    if options.all_variants:
        raise PipelineError("--all-variants: this task works on one variant; give --variant")
    with sessions(options) as opened:
        yield opened[0]
