"""paperscope: recent ML papers as live, interactive labs.

Layers point one way: ``ui``/``cli`` -> ``views`` -> ``labs`` -> ``core``.
"""

__version__ = "0.1.0"
