"""HoloViews builders: frames -> plots.

A lab's views module defines ``PLOTS`` (ordered ``title -> specs.LivePlot``: a builder from a
frame to a spec of the closed vocabulary in ``specs``/``maps`` (curves with bands and error
bars, bars, scatter, heat maps with overlays, image grids, tables), the frame fields it reads,
its options), ``figure(frame, previous)`` (the exported publication figure, usually
``partial(figure.default_figure, PLOTS, cols=..., fig_inches=...)``) and optionally
``summary(frame)`` (the status line after a run). Labs compose specs and never subclass them.
``style`` holds the look shared by every lab, in both backends.
"""
