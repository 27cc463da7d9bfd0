"""A room on one machine: ``python benchmarks/room_load.py [--sessions 8] [--moves 200] [--lab SLUG]``.

Starts ``paperscope serve --workshop --max-sessions M`` (M = sessions unless ``--max-sessions``),
opens SESSIONS pages of a fast lab in headless Chromium, and has every page move a slider in
turn (keyboard notches) while all of them keep streaming, MOVES moves in all. Measures, per
session, data updates per second reaching the page (on the browser's clock), page errors, and
the server's resident memory once it settled (after the first fifth of the moves) against after
the last move. With ``--extra 1`` one more browser than the limit opens the lab and must get the
full-room page.

Prints a table (a standalone script: these are whole-stack rates, server to browsers).
"""

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "ui"))

from conftest import CHROMIUM, CHROMIUM_ARGS, start_server, stop_server  # noqa: E402

WATCH = ROOT / "tests/ui/live.js"


def rss_mib(pid: int) -> float:
    """Resident memory of a process (Linux ``/proc``), MiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def cpu_seconds(pids) -> float:
    """User + system CPU seconds of the processes ``pids`` (Linux ``/proc``; gone ones count 0)."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / tick


def browser_pids() -> list[int]:
    """Every Chromium process on the machine (renderers, GPU and browser processes)."""
    pids = []
    for status in Path("/proc").glob("[0-9]*/status"):
        try:
            name = status.read_text().split("\n", 1)[0]
        except OSError:
            continue
        if "chrom" in name.lower():
            pids.append(int(status.parent.name))
    return pids


def open_session(browser, url: str):
    context = browser.new_context(viewport={"width": 1300, "height": 900})
    page = context.new_page()
    page.errors = []
    page.on("pageerror", lambda e: page.errors.append(str(e)))
    page.on("console", lambda m: page.errors.append(m.text) if m.type == "error" else None)
    page.goto(url)
    page.wait_for_function("window.Bokeh && Bokeh.documents.length > 0", timeout=120000)
    page.evaluate(WATCH.read_text())
    page.evaluate("paperscope.watch()")
    return page


def updates_per_second(page, since_ms: float) -> float:
    stamps = [t for t in page.evaluate("window.__dataChanges") if t >= since_ms]
    # One redraw patches several plots within a few ms: count bursts separated by > 20 ms.
    bursts = [t for i, t in enumerate(stamps) if i == 0 or t - stamps[i - 1] > 20]
    return len(bursts) / (max(1.0, page.evaluate("performance.now()") - since_ms) / 1000)


def main() -> None:
    from playwright.sync_api import sync_playwright

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=8)
    parser.add_argument("--moves", type=int, default=200, help="slider moves in all, round-robin over sessions")
    parser.add_argument("--lab", default="bandlimited")
    parser.add_argument("--max-sessions", type=int, help="server limit (default: --sessions)")
    parser.add_argument("--extra", type=int, default=1, help="browsers beyond the limit (expect the full page)")
    parser.add_argument("--pause", type=float, default=0.25, help="seconds between moves")
    parser.add_argument("--server-args", default="", help="more `paperscope serve` options, e.g. '--num-procs 2'")
    parser.add_argument("--query", default="width=400&n_train=600&n_bounds=21&n_freqs=13",
                        help="URL settings of every session (default: bandlimited's full sizes, so runs stream)")
    args = parser.parse_args()
    limit = args.max_sessions or args.sessions

    base, server = start_server(args.lab, "--workshop", "--max-sessions", str(limit),
                                *args.server_args.split())
    rows = []
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            pages = [open_session(browser, f"{base}/{args.lab}?{args.query}") for _ in range(args.sessions)]
            full = []
            for _ in range(args.extra):
                extra = browser.new_page()
                extra.goto(f"{base}/{args.lab}")
                extra.wait_for_selector("text=The room is full", timeout=60000)
                full.append(True)
                extra.close()
            start = [page.evaluate("performance.now()") for page in pages]
            t0, pids = time.monotonic(), browser_pids()
            cpu0 = cpu_seconds([server.pid]), cpu_seconds(pids)
            memory = []  # (moves done, server RSS)
            for move in range(args.moves):
                page = pages[move % len(pages)]
                handle = page.locator(".noUi-handle").first
                handle.focus()
                handle.press("ArrowRight" if (move // len(pages)) % 2 == 0 else "ArrowLeft")
                time.sleep(args.pause)
                if (move + 1) % max(1, args.moves // 10) == 0:
                    memory.append((move + 1, rss_mib(server.pid)))
            time.sleep(2.0)
            rates = [updates_per_second(page, t0) for page, t0 in zip(pages, start)]
            wall = time.monotonic() - t0
            cpu = cpu_seconds([server.pid]) - cpu0[0], cpu_seconds(pids) - cpu0[1]
            errors = sum(len(page.errors) for page in pages)
            after = rss_mib(server.pid)
            settled = memory[len(memory) // 5][1]  # after a fifth of the moves
            browser.close()
    finally:
        stop_server(server)

    rows += [
        ("sessions (lab: " + args.lab + ")", f"{args.sessions}"),
        ("slider moves in all", f"{args.moves}"),
        ("updates per second per session, min", f"{min(rates):.2f} /s"),
        ("updates per second per session, median", f"{statistics.median(rates):.2f} /s"),
        ("updates per second, all sessions", f"{sum(rates):.1f} /s"),
        ("CPU cores used: server / all Chromium processes",
         f"{cpu[0] / wall:.2f} / {cpu[1] / wall:.2f} of {os.cpu_count()}"),
        ("page errors, all sessions", f"{errors}"),
        (f"browsers past the limit of {limit} shown the full-room page", f"{sum(full)} of {args.extra}"),
        ("server memory settled -> after the last move",
         f"{settled:.0f} -> {after:.0f} MiB ({after / settled - 1:+.1%})"),
        ("server memory every tenth of the moves", " ".join(f"{m:.0f}" for _, m in memory) + " MiB"),
    ]
    width = max(len(name) for name, _ in rows)
    print(f"{'measure':{width}s}  value\n{'-' * width}  -----")
    for name, value in rows:
        print(f"{name:{width}s}  {value}")


if __name__ == "__main__":
    main()
