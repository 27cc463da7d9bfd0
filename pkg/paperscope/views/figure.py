"""Publication export: a HoloViews layout -> PDF/SVG/PNG through the matplotlib backend, plus
the provenance sidecar. The CLI's ``--export`` and the app's download button both call here.

The figure file carries its provenance too, so that one dropped into a paper's folder without
its sidecar still knows its run (``paperscope reproduce FIGURE``): the sidecar's record (less the
paper declaration, which the lab holds) as compact JSON under the key :data:`RECORD_KEY` of the
PDF document info and of the PNG text chunks, and as a :data:`RECORD_TAG` element inside the
SVG's ``<metadata>``; the reproducing command and app link also go where viewers show them
(PDF Subject, SVG Dublin Core description, PNG Description).
"""

import io
import json
import warnings
from pathlib import Path
from xml.sax.saxutils import escape

import holoviews as hv

from ..core.errors import PaperscopeError
from ..core.export import provenance
from ..core.files import atomic_write
from . import style  # noqa: F401  (registers both backends and the shared look)

FORMATS = ("pdf", "svg", "png")
RECORD_KEY = "Paperscope"  # the PDF document-info key and PNG text key holding the record as JSON
RECORD_NS = "urn:paperscope:provenance"
RECORD_TAG = f"{{{RECORD_NS}}}record"  # the SVG element (ElementTree's name) holding the record
NOT_EMBEDDED = ("paper_declaration",)  # sidecar fields the figure leaves out: the lab declares them


def figure_format(path: str | Path) -> str:
    fmt = Path(path).suffix.lower().lstrip(".")
    if fmt not in FORMATS:
        raise PaperscopeError(f"cannot export {Path(path).name!r}: the suffix must be one of "
                              + ", ".join("." + f for f in FORMATS))
    return fmt


def render_bytes(obj, fmt: str, record: dict | None = None) -> bytes:
    """The figure as file bytes in ``fmt`` (pdf, svg or png; png at 200 dpi), carrying
    ``record`` (a sidecar's provenance) in its metadata when given."""
    if fmt not in FORMATS:
        raise PaperscopeError(f"unknown figure format {fmt!r}; expected one of {', '.join(FORMATS)}")
    import matplotlib.pyplot as plt

    fig = hv.render(obj, backend="matplotlib")
    _even_panels(fig)
    buffer = io.BytesIO()
    try:
        with warnings.catch_warnings():  # matplotlib warns of any PDF info key besides the standard ones
            warnings.filterwarnings("ignore", message=f"Unknown infodict keyword: '{RECORD_KEY}'")
            fig.savefig(buffer, format=fmt, dpi=200 if fmt == "png" else None, bbox_inches="tight",
                        metadata=_metadata(record, fmt) if record else None)
    finally:
        plt.close(fig)
    data = buffer.getvalue()
    return _with_svg_record(data, record) if record and fmt == "svg" else data


def embedded_record(record: dict) -> dict:
    """What the figure file itself carries of a sidecar record."""
    return {k: v for k, v in record.items() if k not in NOT_EMBEDDED}


def _record_json(record: dict) -> str:
    # ASCII: matplotlib writes ASCII PDF strings as plain literals and PNG text as Latin-1 tEXt
    return json.dumps(embedded_record(record), ensure_ascii=True, separators=(",", ":"), default=str)


def _metadata(record: dict, fmt: str) -> dict:
    """matplotlib's ``savefig(metadata=...)`` for ``fmt``: title, how to reproduce, the record."""
    title = record.get("title") or f"paperscope {record.get('lab', '')}".strip()
    how = "; ".join(f"{label}: {record[key]}" for key, label in (("command", "reproduce"), ("app_link", "app"))
                    if record.get(key))
    if fmt == "svg":  # Dublin Core; the record goes in its own element (_with_svg_record)
        return {"Title": title, "Description": how}
    if fmt == "pdf":
        return {"Title": title, "Subject": how, "Keywords": f"paperscope; {record.get('lab', '')}",
                RECORD_KEY: _record_json(record)}
    return {"Title": title, "Description": how, RECORD_KEY: _record_json(record)}


def _with_svg_record(svg: bytes, record: dict) -> bytes:
    """The SVG with the record as a ``<paperscope:record>`` element in its ``<metadata>``."""
    element = (f'<paperscope:record xmlns:paperscope="{RECORD_NS}">'
               f"{escape(_record_json(record))}</paperscope:record>\n ").encode()
    end = svg.find(b"</metadata>")
    if end < 0:  # matplotlib writes <metadata> whenever it is given metadata
        raise PaperscopeError("the SVG backend wrote no <metadata> element: cannot embed the provenance")
    return svg[:end] + element + svg[end:]


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


def export(lab, params, frame, path: str | Path, previous=(), *, threads: int | None = None) -> tuple[Path, Path]:
    """Write ``path`` (the lab's figure for ``frame``, with ``previous`` runs where the lab
    compares runs) and ``path.json`` (provenance), the figure carrying the provenance too.
    ``threads``: the torch threads the run used, when not the workers' policy."""
    path = Path(path)
    fmt = figure_format(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    record = provenance(lab, params, frame, figure=path.name, threads=threads)
    data = render_bytes(lab.views().figure(frame, previous), fmt, record)
    atomic_write(path, data)  # a download or another reader never sees half a figure
    sidecar = path.with_name(path.name + ".json")
    sidecar.write_text(json.dumps(record, indent=2) + "\n")
    return path, sidecar
