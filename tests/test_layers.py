"""Layers over the whole package (DESIGN.md): cli -> ui -> service -> views -> claims -> labs ->
models -> core, no UI library below views, no benchmarks anywhere. The contracts live in pyproject.toml's
``[tool.importlinter]`` and import-linter checks them against every static import."""

import subprocess
import sys
from pathlib import Path

import tomllib

import paperscope

LINT = ("import sys; from importlinter.cli import lint_imports; "
        "sys.exit(lint_imports(config_filename='pyproject.toml', no_cache=True, no_logo=True))")


def _contracts(root) -> list[dict]:
    return tomllib.loads((root / "pyproject.toml").read_text())["tool"]["importlinter"]["contracts"]


def test_the_import_contracts_hold(root):
    # no_cache: import-linter would otherwise leave a cache folder in the checkout.
    done = subprocess.run([sys.executable, "-c", LINT], cwd=root, capture_output=True, text=True, timeout=120)
    report = done.stdout + done.stderr
    assert done.returncode == 0, f"an import crosses the layers (fix the import, move the code):\n{report}"
    assert "BROKEN" not in report and " kept, 0 broken" in report


def test_every_part_of_the_package_sits_in_a_layer(root):
    """A new subpackage must be placed in the layers, or nothing would check its imports."""
    (layers,) = [c["layers"] for c in _contracts(root) if c["type"] == "layers"]
    placed = {name.strip() for layer in layers for name in layer.replace("|", ":").split(":")}
    package = root / "pkg" / "paperscope"
    parts = {f"paperscope.{p.stem}" for p in package.iterdir()
             if (p.suffix == ".py" and p.stem != "__init__") or (p / "__init__.py").is_file()}
    assert parts <= placed, f"not in any layer of [tool.importlinter]: {sorted(parts - placed)}"
    assert package.resolve() == Path(paperscope.__file__).parent.resolve()  # the tree import-linter reads
