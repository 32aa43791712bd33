"""Modules imported at their first use, so a command loads only what it runs.

Every task module is imported to build the command's task list, and their imports reached
most of the package (rollout, e2e, supply, the rehearsal) and the libraries under them:
`invoke build` imported code it never ran. A module that only some tasks or steps need is
named through :func:`module`, at the top of the importing module, in this form and no other
(docs/layers.md "Lazy imports"; tests/unit/test_layers.py reads it as an import)::

    if TYPE_CHECKING:
        from . import e2e
    else:
        e2e = lazy.module("ray_worker_image.e2e")

mypy sees the plain import; at run time the name is a stand-in that imports the module with
a plain ``importlib.import_module`` at its first attribute access (so packages still run
before their modules, as with ``import``) and then forwards every attribute read, write and
delete to it. Use the names through it (``e2e.load_plan``): ``from x import name`` would
import ``x`` at once. Tests patch the module itself, not the stand-in (pytest's monkeypatch
restores from the target's own ``__dict__``, which the stand-in's is not).
"""

from __future__ import annotations

import importlib
from types import ModuleType
from typing import Any


class Deferred(ModuleType):
    """Stands for the module of the same ``__name__`` until first used, then forwards to it."""

    def target(self) -> ModuleType:
        """The module itself, imported on the first call (ImportError as ``import`` raises)."""
        found = self.__dict__.get("_target")
        if found is None:
            found = self.__dict__["_target"] = importlib.import_module(self.__name__)
        return found

    def __getattr__(self, name: str) -> Any:
        return getattr(self.target(), name)

    def __setattr__(self, name: str, value: Any) -> None:
        setattr(self.target(), name, value)

    def __delattr__(self, name: str) -> None:
        delattr(self.target(), name)

    def __repr__(self) -> str:
        return f"<deferred module {self.__name__!r}>"


def module(name: str) -> ModuleType:
    """A stand-in for the module ``name`` (absolute, dotted), imported at first attribute
    access. Nothing is imported or looked up here: tests/unit/test_layers.py checks that
    every name given is a module of the package."""
    return Deferred(name)
