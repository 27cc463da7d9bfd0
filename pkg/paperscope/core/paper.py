"""The paper a lab reproduces, declared once in the lab module as ``PAPER = Paper(...)``.

The gallery card, the app header, the README lab table, the notebook's first cell (checked by a
test) and the figure sidecar all read this one declaration. Listing labs must not import their
compute (torch and seconds of start-up per lab), so :func:`read_paper` reads the declaration from
the module's source without executing it: its arguments must therefore be literals (strings,
tuples of strings), which keeps a declaration plain data anyway.
"""

import ast
import importlib.util
from dataclasses import dataclass, fields
from functools import lru_cache
from pathlib import Path

from .errors import PaperscopeError


@dataclass(frozen=True)
class Paper:
    """What a lab says about its paper (all plain literals; see :func:`read_paper`)."""

    slug: str  # the lab's URL and CLI name, e.g. "rich-lazy"
    title: str  # the lab's title, e.g. "Rich and lazy learning vs. connectivity rank"
    paper_title: str  # the paper's own title
    authors: str  # "Liu, Baratin, Cornford" (surnames, as cited)
    venue: str  # "ICLR 2024", "arXiv 2023"
    arxiv: str  # "2310.08513", or "" when there is none
    claim: str  # the claim the lab reproduces, one line
    equations: tuple[str, ...] = ()  # the key equations, LaTeX without delimiters
    topics: tuple[str, ...] = ()  # gallery tags: "diffusion", "PINNs", "optimization", ...
    checked: str = ""  # one or two sentences: what was checked against the paper, what was not
    views: str = ""  # views module of an out-of-tree lab (built-ins: paperscope.views.<module>)

    @property
    def citation(self) -> str:
        """``Title (Authors; venue)``: a semicolon, since the authors are a comma-separated list."""
        return f"{self.paper_title} ({self.authors}; {self.venue})"

    @property
    def arxiv_url(self) -> str:
        return f"https://arxiv.org/abs/{self.arxiv}" if self.arxiv else ""

    def as_dict(self) -> dict:
        """The declaration as JSON-ready data (what the figure sidecar records)."""
        return {f.name: list(v) if isinstance(v := getattr(self, f.name), tuple) else v
                for f in fields(self) if f.name != "views"}


class PaperDeclarationError(PaperscopeError):
    """A lab module whose ``PAPER`` declaration is missing or not made of literals."""


def source_file(module_name: str) -> Path:
    """The source file of ``module_name``, found without importing the module itself."""
    spec = importlib.util.find_spec(module_name)
    if spec is None or not spec.origin or not spec.origin.endswith(".py"):
        raise PaperDeclarationError(f"cannot find the source of lab module {module_name!r}")
    return Path(spec.origin)


def read_paper(module_name: str) -> Paper:
    """The ``PAPER = Paper(...)`` declaration of a lab module, read statically (never executed)."""
    path = source_file(module_name)
    return _parse(path, path.stat().st_mtime_ns)


@lru_cache(maxsize=256)  # every gallery visit lists the labs: parse each file once per version
def _parse(path: Path, mtime_ns: int) -> Paper:
    for node in ast.parse(path.read_text(encoding="utf-8"), filename=str(path)).body:
        if _assigns_paper(node):
            if node.value.args:
                raise PaperDeclarationError(f"{path}:{node.lineno}: PAPER = Paper(...) takes keyword arguments only")
            try:
                return Paper(**{kw.arg: _literal(kw, path) for kw in node.value.keywords})
            except TypeError as exc:  # a required field left out
                raise PaperDeclarationError(f"{path}:{node.lineno}: {exc}") from None
    raise PaperDeclarationError(f"{path}: no top-level `PAPER = Paper(...)` declaration")


def _assigns_paper(node: ast.stmt) -> bool:
    return (isinstance(node, ast.Assign) and len(node.targets) == 1
            and isinstance(node.targets[0], ast.Name) and node.targets[0].id == "PAPER"
            and isinstance(node.value, ast.Call) and isinstance(node.value.func, ast.Name)
            and node.value.func.id == "Paper")


def _literal(keyword: ast.keyword, path: Path):
    if keyword.arg is None or keyword.arg not in {f.name for f in fields(Paper)}:
        raise PaperDeclarationError(f"{path}:{keyword.lineno}: PAPER takes keyword arguments "
                                    f"{', '.join(f.name for f in fields(Paper))}; got {keyword.arg!r}")
    try:
        return ast.literal_eval(keyword.value)
    except ValueError:
        raise PaperDeclarationError(f"{path}:{keyword.value.lineno}: PAPER's {keyword.arg}= must be a literal "
                                    "(a string or a tuple of strings): it is read without running the module") from None
