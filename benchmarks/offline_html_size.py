"""Offline HTML size: ``python benchmarks/offline_html_size.py [--preset quick] [--out DIR]``.

Writes ``paperscope export-html`` pages of a 5 x 5 grid for three labs of different plot
kinds (rich-lazy: curves and spectra; selu: heat maps and curves; bandlimited: a heat map with
overlays, fits and log curves) and prints, per lab: the file size, how much of it is the grid's
data and how much Bokeh's inlined scripts and the drawn figures, the distinct arrays stored
against the columns the points hold (what sharing saved), runs computed or read from the run
cache, and the seconds it took. A standalone script (``paperscope bench`` runs ratio
benchmarks); the run cache under ``--cache`` is kept, so a second run only draws.
"""

import argparse
import os
import sys
import tempfile
from pathlib import Path

GRIDS = {  # 5 x 5 values inside each parameter's soft range
    "rich-lazy": ["init_scale=0.5,0.75,1,1.25,1.5", "lr=0.001,0.002,0.003,0.005,0.01"],
    "selu": ["omega=-0.2,-0.1,0,0.1,0.2", "tau=0.6,0.8,1,1.2,1.4"],
    "bandlimited": ["frequency=1,2,4,8,16", "weight_bound=1,2,4,8,16"],
}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="quick", choices=("quick", "default"))
    parser.add_argument("--out", default=None, help="folder for the pages (default: a temporary one)")
    parser.add_argument("--cache", default=None, help="PAPERSCOPE_CACHE for the runs (default: the user's)")
    parser.add_argument("--labs", nargs="*", default=list(GRIDS))
    args = parser.parse_args()
    if args.cache:
        os.environ["PAPERSCOPE_CACHE"] = args.cache
    import pandas as pd

    from paperscope.ui.offline_html import export_html

    out = Path(args.out or tempfile.mkdtemp(prefix="paperscope-html-"))
    rows = []
    for slug in args.labs:
        page = export_html(slug, GRIDS[slug], [], seeds=1, preset=args.preset, out=out / f"{slug}.html",
                           log=lambda line: print(line, file=sys.stderr, flush=True))
        rows.append({"lab": slug, "points": page.points, "file MB": page.file_bytes / 1e6,
                     "grid data MB": page.data_bytes / 1e6, "rest MB": (page.file_bytes - page.data_bytes) / 1e6,
                     "arrays stored": page.arrays, "columns held": page.columns,
                     "computed": page.computed, "cached": page.cached, "seconds": page.seconds})
    print(pd.DataFrame(rows).to_string(index=False, float_format="{:.2f}".format))
    print(f"pages in {out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
