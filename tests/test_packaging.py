"""The install story: pyproject and environment.yml agree; README's two commands drive CI."""

import re
import subprocess
import sys

import tomllib

CONDA_NAMES = {"torch": "pytorch"}


def _conda_spelling(requirement: str) -> str:
    """'torch>=2.1' -> 'pytorch>=2.1': name as conda-forge spells it, version spec kept."""
    name, spec = re.match(r"([A-Za-z0-9_.-]+)(.*)", requirement.replace(" ", "")).groups()
    return CONDA_NAMES.get(name.lower(), name.lower()) + spec


def test_environment_yml_matches_pyproject(root):
    project = tomllib.loads((root / "pyproject.toml").read_text())["project"]
    wanted = {_conda_spelling(r) for r in project["dependencies"] + project["optional-dependencies"]["test"]}
    text = (root / "environment.yml").read_text().split("dependencies:", 1)[1]
    listed = {_conda_spelling(m) for m in re.findall(r"^\s+-\s+(\S+)", text, re.M)}
    assert listed - {"python>=3.10", "pip"} == wanted


def test_readme_quick_start_has_exactly_two_commands_and_ci_runs_the_second(root):
    run = lambda which: subprocess.run([sys.executable, str(root / ".ci/readme_command.py"), which],
                                       capture_output=True, text=True, check=True).stdout.strip()
    serve, test = run("serve"), run("test")
    assert "paperscope serve" in serve and "pip install" in serve
    assert ".[test]" in test and "pytest" in test and "-m browser" in test
    ci = (root / ".ci/run").read_text()
    assert "readme_command.py test" in ci and "torch==2.13.0" in ci and "chromium" in ci


def test_readme_lists_every_lab(root):
    from paperscope.core.registry import all_labs

    readme = (root / "README.md").read_text()
    for lab in all_labs():
        assert f"`{lab.slug}`" in readme and f"notebooks/{lab.name}.ipynb" in readme
