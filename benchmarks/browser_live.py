"""Live-update latency in a real browser: ``python benchmarks/browser_live.py [--moves N]``.

Starts ``paperscope serve``, opens the rich/lazy app in headless Chromium and measures, on the
browser's own clock:

- latency: from releasing the *init scale* slider (one keyboard notch) at the quick preset to
  the first paint whose spectra hold the new run's data;
- redraw rate: distinct data updates per second reaching the page while a long run streams.

``--labs all`` (or slugs) instead times, for each lab at its quick size, a notch of its first
slider to the first new data the page receives (a source's columns or a rebuilt plot), the
promise of issue 12: within 0.5 s.

Prints a table. (A standalone script rather than one of ``paperscope bench``'s ratio cases:
these are latencies of the whole stack, server to browser.)
"""

import argparse
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "ui"))

from conftest import CHROMIUM, CHROMIUM_ARGS, start_server, stop_server  # noqa: E402

from paperscope.core.bench import format_measures  # noqa: E402

INIT_SCALE_SLIDER = 2  # order of the sliders on the page: hidden_size, n_ranks, init_scale, ...


def open_app(browser, url):
    page = browser.new_page()
    page.goto(url)
    page.wait_for_function("window.Bokeh && Bokeh.documents.length > 0", timeout=60000)
    page.evaluate((ROOT / "tests/ui/live.js").read_text())
    page.wait_for_function("paperscope.spectrumSize() > 1", timeout=60000)
    return page


def slider_latencies(browser, base, moves):
    page = open_app(browser, base + "/rich-lazy")
    page.wait_for_selector("text=Done in", timeout=120000)
    handle = page.locator(".noUi-handle").nth(INIT_SCALE_SLIDER)
    latencies = []
    for i in range(moves):
        before = page.evaluate("paperscope.spectrumSignature()")
        handle.focus()
        page.evaluate("window.__t0 = performance.now()")
        handle.press("ArrowRight" if i % 2 == 0 else "ArrowLeft")
        # Checked on every animation frame: the first paint that holds the new run's data.
        page.wait_for_function(f"paperscope.spectrumSignature() !== {before!r} && (window.__t1 = performance.now())",
                               polling="raf", timeout=30000)
        latencies.append(page.evaluate("window.__t1 - window.__t0") / 1000)
        page.wait_for_selector("text=Done in", timeout=120000)
    page.close()
    return latencies


def first_data_latencies(browser, base, slug, moves):
    """Seconds from a notch of the lab's first slider to the first new data on the page."""
    page = browser.new_page()
    page.goto(f"{base}/{slug}")
    page.wait_for_function("window.Bokeh && Bokeh.documents.length > 0", timeout=60000)
    page.evaluate((ROOT / "tests/ui/live.js").read_text())
    page.wait_for_selector("text=Done in", timeout=120000)
    page.evaluate("paperscope.watch()")
    handle = page.locator(".noUi-handle").first
    latencies = []
    for i in range(moves):
        handle.focus()
        t0 = page.evaluate("performance.now()")
        handle.press("ArrowRight" if i % 2 == 0 else "ArrowLeft")
        page.wait_for_function(f"window.__dataChanges.some(t => t > {t0})", polling="raf", timeout=60000)
        latencies.append((page.evaluate(f"window.__dataChanges.find(t => t > {t0})") - t0) / 1000)
        page.wait_for_function(f"window.__runsDone.some(t => t > {t0})", timeout=180000)
    page.close()
    return latencies


def per_lab(browser, base, slugs, moves) -> list:
    rows = []
    for slug in slugs:
        seconds = first_data_latencies(browser, base, slug, moves)
        flag = "" if statistics.median(seconds) <= 0.5 else "  over 0.5 s"
        rows.append((f"{slug}: slider -> first new data, median / max of {moves}",
                     f"{statistics.median(seconds):.2f} / {max(seconds):.2f} s{flag}"))
    return rows


def redraw_rate(browser, base, query, seconds=5.0):
    page = open_app(browser, base + "/rich-lazy?steps=20000" + query)
    page.evaluate("paperscope.watch()")
    time.sleep(seconds)
    stamps = page.evaluate("window.__dataChanges")
    page.close()
    # One redraw patches several plots within a few ms: count bursts separated by > 20 ms.
    bursts = [t for i, t in enumerate(stamps) if i == 0 or t - stamps[i - 1] > 20]
    return (len(bursts) - 1) / ((bursts[-1] - bursts[0]) / 1000) if len(bursts) > 1 else 0.0


def main() -> None:
    from playwright.sync_api import sync_playwright

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--moves", type=int, default=8, help="slider moves to time")
    parser.add_argument("--labs", nargs="+", metavar="SLUG", help="time every named lab ('all': every lab) instead")
    args = parser.parse_args()

    base, server = start_server()
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            if args.labs:
                from paperscope.core.registry import all_labs

                slugs = [lab.slug for lab in all_labs()] if args.labs == ["all"] else args.labs
                print(format_measures(per_lab(browser, base, slugs, args.moves)))
                return
            latencies = slider_latencies(browser, base, args.moves)
            rate_quick = redraw_rate(browser, base, "")
            rate_default = redraw_rate(browser, base, "&hidden_size=100&probe_size=32")
            browser.close()
    finally:
        stop_server(server)

    rows = [("slider release -> first new data, median (quick preset)", f"{statistics.median(latencies):.3f} s"),
            ("slider release -> first new data, max (quick preset)", f"{max(latencies):.3f} s"),
            ("redraws per second while a run streams (quick sizes)", f"{rate_quick:.1f} /s"),
            ("redraws per second while a run streams (default sizes)", f"{rate_default:.1f} /s")]
    print(format_measures(rows))


if __name__ == "__main__":
    main()
