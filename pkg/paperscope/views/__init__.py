"""HoloViews builders: frames -> plots.

A lab's views module defines ``PLOTS`` (ordered ``title -> style.LivePlot``: a builder from a
frame to plain HoloViews elements, the frame fields it reads, its options), ``figure(frame)``
(the exported publication figure) and optionally ``summary(frame)`` (the status line after a
run). ``style`` holds the look shared by every lab, in both backends.
"""
