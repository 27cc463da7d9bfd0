"""The Panel app shell, the gallery index and the notebook controls, all built from a lab's
parameter declarations. Imports Panel: ``labs`` and ``core`` never import from here."""
