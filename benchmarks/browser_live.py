"""Live-update latency in a real browser: ``python benchmarks/browser_live.py [--moves N]``.

Starts ``paperscope serve``, opens the rich/lazy app in headless Chromium, and measures on the
browser's own clock (a) how long after a slider release the first new data arrives, and (b) how
many redraws per second the page receives while a run streams. Prints a table. (Standalone: not
one of ``paperscope bench``'s ratio cases, because these are latencies of a whole stack.)
"""

import argparse
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "ui"))

from conftest import CHROMIUM, CHROMIUM_ARGS, _free_port  # noqa: E402


def main() -> None:
    import subprocess
    import urllib.request

    from playwright.sync_api import sync_playwright

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--moves", type=int, default=8, help="slider moves to time")
    parser.add_argument("--steps", type=int, default=20000, help="training steps of the streaming run")
    parser.add_argument("--slider", type=int, default=1, help="which slider to move (0-based)")
    args = parser.parse_args()

    port = _free_port()
    server = subprocess.Popen([sys.executable, "-m", "paperscope.cli", "serve", "--port", str(port), "--no-show"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://localhost:{port}/rich-lazy?steps={args.steps}&hidden_size=60"
    try:
        for _ in range(200):
            try:
                urllib.request.urlopen(f"http://localhost:{port}", timeout=2)
                break
            except OSError:
                time.sleep(0.3)
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            page = browser.new_page()
            page.goto(url)
            page.wait_for_function("window.Bokeh && Bokeh.documents.length > 0", timeout=60000)
            page.evaluate((ROOT / "tests/ui/live.js").read_text())
            page.wait_for_function("paperscope.maxLength() > 1", timeout=60000)
            page.evaluate("paperscope.watch()")

            # (b) redraws per second while streaming: distinct update batches over 5 s.
            time.sleep(5)
            stamps = page.evaluate("window.__dataChanges")
            batches = [t for i, t in enumerate(stamps) if i == 0 or t - stamps[i - 1] > 5]
            span = (stamps[-1] - stamps[0]) / 1000 if len(stamps) > 1 else float("nan")
            rate = (len(batches) - 1) / span if span and span > 0 else float("nan")

            # (a) slider release -> first new data, on the browser clock.
            latencies = []
            handle = page.locator(".noUi-handle").nth(args.slider)
            for i in range(args.moves):
                size = int(page.evaluate("new URL(location).searchParams.get('hidden_size')") or 60)
                want = size + (1 if i % 2 == 0 else -1)
                handle.focus()
                page.evaluate("paperscope.mark(); window.__dataChanges = []; window.__t0 = performance.now()")
                handle.press("ArrowRight" if i % 2 == 0 else "ArrowLeft")
                # Checked on every animation frame: the first paint that holds the new run's data.
                page.wait_for_function(
                    (f"paperscope.spectrumSize() === {want}" if args.slider == 1 else
                     "window.__dataChanges.some(t => t > window.__t0 + 30)")
                    + " && (window.__t1 = performance.now())",
                    polling="raf", timeout=30000)
                latencies.append(page.evaluate("window.__t1 - window.__t0") / 1000)
                time.sleep(1.0)
            browser.close()
    finally:
        server.terminate()
        server.wait(timeout=10)

    print(f"{'measure':44s} value")
    print(f"{'-' * 44} -----")
    print(f"{'first new data after slider release (median)':44s} {statistics.median(latencies):.3f} s")
    print(f"{'first new data after slider release (max)':44s} {max(latencies):.3f} s")
    print(f"{'redraws per second while streaming':44s} {rate:.1f} /s")


if __name__ == "__main__":
    main()
