"""The lab registry: slugs -> lab modules, resolved lazily.

Each lab module under ``paperscope.labs`` defines ``INFO`` (a :class:`LabInfo`), ``Params`` and
``run``; ``paperscope.labs.LAB_MODULES`` lists the modules in gallery order. The registry
imports by name so that ``core`` never depends on ``labs`` statically.
"""

import importlib
from dataclasses import dataclass
from types import ModuleType

from .errors import UnknownLabError


@dataclass(frozen=True)
class LabInfo:
    """What the gallery, CLI and sidecar say about a lab."""

    slug: str
    title: str
    paper: str  # "Title (Authors, venue year)"
    arxiv: str
    claim: str  # one line

    @property
    def module_name(self) -> str:
        return self.slug.replace("-", "_")


@dataclass(frozen=True)
class Lab:
    """A registered lab: its info plus the module that computes it."""

    info: LabInfo
    module: ModuleType

    @property
    def slug(self) -> str:
        return self.info.slug

    @property
    def Params(self):  # noqa: N802 - mirrors the lab module's class name
        return self.module.Params

    def run(self, params):
        return self.module.run(params)

    def views(self) -> ModuleType:
        """The lab's views module (imports HoloViews: call from the UI side only)."""
        return importlib.import_module(f"paperscope.views.{self.info.module_name}")


def _names() -> list[str]:
    return importlib.import_module("paperscope.labs").LAB_MODULES


def _load(name: str) -> Lab:
    module = importlib.import_module(f"paperscope.labs.{name}")
    return Lab(module.INFO, module)


def all_labs() -> list[Lab]:
    """Every registered lab, in gallery order."""
    return [_load(name) for name in _names()]


def get_lab(slug: str) -> Lab:
    """The lab with this slug (module names with underscores are accepted too); imports only
    that lab's module."""
    name = slug.replace("-", "_")
    if name in _names():
        return _load(name)
    known = ", ".join(n.replace("_", "-") for n in _names())
    raise UnknownLabError(f"unknown lab {slug!r}; known labs: {known}")
