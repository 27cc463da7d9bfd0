"""Publication export: a HoloViews layout -> PDF/SVG/PNG through the matplotlib backend, plus
the provenance sidecar. The CLI's ``--export`` and the app's download button both call here."""

import io
import json
from pathlib import Path

import holoviews as hv

from ..core.errors import PaperscopeError
from ..core.export import provenance
from ..core.files import atomic_write
from . import style  # noqa: F401  (registers both backends and the shared look)

FORMATS = ("pdf", "svg", "png")


def figure_format(path: str | Path) -> str:
    fmt = Path(path).suffix.lower().lstrip(".")
    if fmt not in FORMATS:
        raise PaperscopeError(f"cannot export {Path(path).name!r}: the suffix must be one of "
                              + ", ".join("." + f for f in FORMATS))
    return fmt


def render_bytes(obj, fmt: str) -> bytes:
    """The figure as file bytes in ``fmt`` (pdf, svg or png; png at 200 dpi)."""
    if fmt not in FORMATS:
        raise PaperscopeError(f"unknown figure format {fmt!r}; expected one of {', '.join(FORMATS)}")
    import matplotlib.pyplot as plt

    fig = hv.render(obj, backend="matplotlib")
    _even_panels(fig)
    buffer = io.BytesIO()
    try:
        fig.savefig(buffer, format=fmt, dpi=200 if fmt == "png" else None, bbox_inches="tight")
    finally:
        plt.close(fig)
    return buffer.getvalue()


def _even_panels(fig, box_aspect: float = 1 / 1.4) -> None:
    """Give every plot panel the same shape. HoloViews sizes a log-scaled axis by its data
    aspect, which squashes e.g. a log-loss panel next to linear ones; images keep theirs."""
    for ax in fig.axes:
        if ax.images or hasattr(ax, "_colorbar"):  # images and colour bars keep their shape
            continue
        ax.set_aspect("auto")
        ax.set_box_aspect(box_aspect)


def default_figure(plots: dict, frame, previous=(), *, cols: int, fig_inches: tuple, titles: dict | None = None,
                   **layout) -> hv.Layout:
    """A lab's exported figure from its ``PLOTS``: every plot (or those of ``titles``, which maps
    a plot's title to the title it gets on paper) as a lettered panel, ``cols`` to a row.
    ``layout`` holds further matplotlib ``Layout`` options (``hspace``, ``shared_axes``, ...).

    A views module that needs nothing else writes ``figure = partial(default_figure, PLOTS, ...)``.
    """
    titles = titles if titles is not None else {title: title for title in plots}
    panels = [plots[title].exported(frame, shown, previous) for title, shown in titles.items()]
    return hv.Layout(panels).cols(cols).opts(
        hv.opts.Layout(fig_inches=fig_inches, sublabel_format="({alpha})", **layout), backend="matplotlib")


def export(lab, params, frame, path: str | Path, previous=()) -> tuple[Path, Path]:
    """Write ``path`` (the lab's figure for ``frame``, with ``previous`` runs where the lab
    compares runs) and ``path.json`` (provenance)."""
    path = Path(path)
    fmt = figure_format(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    data = render_bytes(lab.views().figure(frame, previous), fmt)
    atomic_write(path, data)  # a download or another reader never sees half a figure
    sidecar = path.with_name(path.name + ".json")
    sidecar.write_text(json.dumps(provenance(lab, params, frame), indent=2) + "\n")
    return path, sidecar
