"""paperscope: recent ML papers as live, interactive labs.

Layers point one way (import-linter contracts in pyproject.toml, run by tests/test_layers.py):
``cli`` -> ``ui`` -> ``service`` -> ``views`` -> ``claims`` -> ``labs`` -> ``models`` -> ``core``.
"""

__version__ = "0.1.0"
