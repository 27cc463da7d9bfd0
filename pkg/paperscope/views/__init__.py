"""HoloViews builders: frames -> plots.

A lab's views module defines ``PLOTS`` (ordered ``title -> builder(frame)``), ``layout_key(frame)``
(frames with equal keys can update the same plots in place) and ``figure(frame)`` (the exported
publication figure). ``style`` holds the look shared by every lab, in both backends.
"""
