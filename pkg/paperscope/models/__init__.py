"""Model pieces a lab builds on but that are not labs themselves (pure torch, no UI imports).

Dependencies: ``labs`` -> ``models`` -> ``core``.
"""
