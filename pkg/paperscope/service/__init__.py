"""The application layer: work that drives labs on behalf of a person, above the labs and views
and below the interfaces (``cli``, ``ui``) that offer it.

``sweep`` runs a parameter grid over seeds on Dask and summarizes it; ``run_cache`` keeps
finished runs (``paperscope precompute``) that the app serves instead of computing; ``verify``
checks each lab's declared claims at the paper's sizes (``paperscope verify``).
"""
