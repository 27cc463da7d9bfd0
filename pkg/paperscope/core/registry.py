"""The lab registry: slugs -> lab modules, found through the ``paperscope.labs`` entry points.

A lab is any module that defines ``PAPER`` (a :class:`~paperscope.core.paper.Paper`), ``Params``
and ``run``, registered by the package that ships it::

    [project.entry-points."paperscope.labs"]
    my-lab = "my_package.my_lab"      # name = the slug, value = the module

paperscope registers its own labs the same way, so a lab published as a separate pip package
shows up in the gallery, ``paperscope list`` and ``paperscope run`` like a built-in one. Listing
reads each ``PAPER`` from source (:func:`~paperscope.core.paper.read_paper`) and imports no
lab: only :func:`get_lab` imports one lab's compute module.
"""

import importlib
from dataclasses import dataclass
from functools import cached_property
from importlib.metadata import entry_points
from types import ModuleType

from .errors import UnknownLabError
from .paper import Paper, PaperDeclarationError, read_paper

GROUP = "paperscope.labs"
BUILTIN_PREFIX = "paperscope.labs."


@dataclass(frozen=True)
class Lab:
    """A registered lab: its paper, read without importing it, and its module, imported on use."""

    module_name: str  # e.g. "paperscope.labs.rich_lazy"
    paper: Paper

    @property
    def slug(self) -> str:
        return self.paper.slug

    @property
    def name(self) -> str:
        """The module's last part (``rich_lazy``): the name of its app, notebook and test files."""
        return self.module_name.rpartition(".")[2]

    @property
    def builtin(self) -> bool:
        return self.module_name.startswith(BUILTIN_PREFIX)

    @property
    def views_module_name(self) -> str:
        """Built-in labs: ``paperscope.views.<name>``; out-of-tree labs: their ``PAPER.views``."""
        if self.paper.views:
            return self.paper.views
        if self.builtin:
            return f"paperscope.views.{self.name}"
        raise UnknownLabError(f"lab {self.slug!r} ({self.module_name}) declares no views module: "
                              'add views="your_package.views_module" to its PAPER')

    @cached_property  # a frozen dataclass keeps no other state; caching the import is only a lookup
    def module(self) -> ModuleType:
        """The compute module (imports torch and the lab's code)."""
        return importlib.import_module(self.module_name)

    @property
    def Params(self):  # noqa: N802 - mirrors the lab module's class name
        return self.module.Params

    def run(self, params):
        return self.module.run(params)

    def views(self) -> ModuleType:
        """The lab's views module (imports HoloViews: call from the UI side only)."""
        return importlib.import_module(self.views_module_name)


def _builtin_order() -> list[str]:
    return [BUILTIN_PREFIX + name for name in importlib.import_module("paperscope.labs").LAB_MODULES]


def registered() -> dict[str, str]:
    """Slug -> module name of every installed lab, in gallery order: the built-in labs in
    ``paperscope.labs.LAB_MODULES`` order, then the others by slug (entry points have no order)."""
    found = {ep.name: ep.value for ep in entry_points(group=GROUP)}
    rank = {module: i for i, module in enumerate(_builtin_order())}
    return dict(sorted(found.items(), key=lambda item: (rank.get(item[1], len(rank)), item[0])))


def _record(slug: str, module_name: str) -> Lab:
    paper = read_paper(module_name)
    if paper.slug != slug:
        raise PaperDeclarationError(f"entry point {slug!r} of group {GROUP} points at {module_name}, "
                              f"whose PAPER declares slug {paper.slug!r}")
    return Lab(module_name, paper)


def all_labs() -> list[Lab]:
    """Every registered lab, in gallery order (no lab module is imported)."""
    return [_record(slug, module) for slug, module in registered().items()]


def get_lab(slug: str) -> Lab:
    """The lab with this slug (module names with underscores are accepted too); imports only
    that lab's module."""
    labs = registered()
    for candidate in (slug, slug.replace("_", "-")):
        if candidate in labs:
            lab = _record(candidate, labs[candidate])
            lab.module  # noqa: B018 - import now, so a broken lab fails here, not mid-request
            return lab
    known = ", ".join(labs)
    raise UnknownLabError(f"unknown lab {slug!r}; known labs: {known}")
