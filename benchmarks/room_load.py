"""A room on one machine: ``python benchmarks/room_load.py [--sessions 8] [--moves 200] [--lab SLUG]``.

Starts ``paperscope serve --workshop --max-sessions M`` (M = sessions unless ``--max-sessions``),
opens SESSIONS pages of a fast lab in headless Chromium, and has every page move a slider
(keyboard notches) every INTERVAL seconds, round-robin, MOVES moves in all, so that every
session keeps asking for new results while the others do. Measures, per session, the data
updates per second reaching the page (on the browser's clock) while its run is in flight (from
a move to the "Done" status; a session whose run is finished has nothing to update), the same
over the whole window, the time from a move to its first update, page errors, the CPU the
server and the browsers used, and the server's resident memory once it settled (after the first
fifth of the moves) against after the last move. With ``--extra 1`` one more browser than the
limit opens the lab and must get the full-room page. With ``--push K`` the instructor console
(signed in as the instructor) then pushes K new settings to every session (``seed=1``, ``seed=2``,
...; each a new run for everyone), waiting ``--push-interval`` seconds between pushes, and the
table adds, per push, the time from the click to each session's first new data (on the
machine's clock): the slowest session's, and the median and 95th percentile over all.

Prints a table (a standalone script: these are whole-stack rates, server to browsers; on one
machine the browsers share the server's cores, as they would not in a real room).
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

from paperscope.core.bench import format_measures  # noqa: E402

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


def process_tree(pid: int) -> list[int]:
    """``pid`` and its descendants (a server started with ``--num-procs`` forks its workers)."""
    children = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    tree, todo = [], [pid]
    while todo:
        tree.append(todo.pop())
        todo += children.get(tree[-1], [])
    return tree


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


NO_PAINT = "window.requestAnimationFrame = () => 0;"  # as in a background tab: no frames drawn


def open_session(browser, url: str, paint: bool = True):
    context = browser.new_context(viewport={"width": 1300, "height": 900})
    if not paint:
        context.add_init_script(NO_PAINT)
    page = context.new_page()
    page.errors = []
    page.on("pageerror", lambda e: page.errors.append(str(e)))
    page.on("console", lambda m: page.errors.append(m.text) if m.type == "error" else None)
    page.goto(url)
    page.wait_for_function("window.Bokeh && Bokeh.documents.length > 0", timeout=120000, polling=100)
    page.evaluate(WATCH.read_text())
    page.evaluate("paperscope.watch()")
    return page


def bursts(stamps: list[float]) -> list[float]:
    """Data changes grouped into updates: one frame patches several plots within a few ms, so
    changes separated by more than 20 ms count as separate updates."""
    return [t for i, t in enumerate(stamps) if i == 0 or t - stamps[i - 1] > 20]


def while_running(updates, moves, done, end) -> tuple[float, float, list[float]]:
    """(updates per second while a run was in flight, seconds in flight, move-to-first-update
    latencies in s). A run is in flight from a slider move to the first "Done" after it (a move
    that supersedes a run keeps the session in flight); all times on the browser's clock, ms."""
    windows = []
    for t in moves:
        finish = next((d for d in done if d > t), end)
        if windows and t <= windows[-1][1]:
            windows[-1] = (windows[-1][0], max(windows[-1][1], finish))
        else:
            windows.append((t, finish))
    busy = sum(b - a for a, b in windows)
    count = sum(1 for u in updates if any(a <= u <= b for a, b in windows))
    latencies = [(next(u for u in updates if u > t) - t) / 1000 for t in moves if any(u > t for u in updates)]
    return count / max(busy / 1000, 1e-9), busy / 1000, latencies


PASSWORD = "room-load"  # the benchmark server's instructor password (a local server, gone after)


def push_to_all(browser, base: str, pages, count: int, interval: float) -> list[list[float]]:
    """Push ``seed=k`` from the instructor console ``count`` times; per push, each session's
    seconds from the click to its first data change (sessions with none are left out)."""
    console = browser.new_context(viewport={"width": 1400, "height": 1000},
                                  http_credentials={"username": "instructor", "password": PASSWORD}).new_page()
    console.goto(f"{base}/instructor/login")
    console.wait_for_selector("text=Push to everyone following", timeout=60000)
    settings = console.locator("input[placeholder='beta=0.1 seed=3']")
    results = []
    for k in range(1, count + 1):
        settings.fill(f"seed={1000 + k}")
        settings.press("Enter")
        clicked = time.time() * 1000  # ms on the machine's clock, as every page's timeOrigin + now
        console.click("text=Push to everyone following")
        time.sleep(interval)
        latencies = []
        for page in pages:
            first = page.evaluate("""(t) => { const o = performance.timeOrigin;
                const after = window.__dataChanges.map(x => o + x).filter(x => x > t);
                return after.length ? Math.min(...after) : null; }""", clicked)
            if first is not None:
                latencies.append((first - clicked) / 1000)
        results.append(latencies)
    console.context.close()
    return results


def main() -> None:
    from playwright.sync_api import sync_playwright

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=8)
    parser.add_argument("--moves", type=int, default=200, help="slider moves in all, round-robin over sessions")
    parser.add_argument("--lab", default="bandlimited")
    parser.add_argument("--max-sessions", type=int, help="server limit (default: --sessions)")
    parser.add_argument("--extra", type=int, default=1, help="browsers beyond the limit (expect the full page)")
    parser.add_argument("--interval", type=float, default=1.5,
                        help="seconds between two moves of one session (moves go round-robin)")
    parser.add_argument("--no-paint", action="store_true",
                        help=("pages apply every update to their document but draw nothing (their "
                              "animation frames never fire, as in a background tab): the server's "
                              "capacity when the browsers' drawing happens on other machines"))
    parser.add_argument("--server-args", default="", help="more `paperscope serve` options, e.g. '--num-procs 2'")
    parser.add_argument("--push", type=int, default=0, help="instructor pushes to all sessions after the moves")
    parser.add_argument("--push-interval", type=float, default=6.0, help="seconds between two pushes")
    parser.add_argument("--query", default="width=400&n_train=600&n_bounds=21&n_freqs=13",
                        help="URL settings of every session (default: bandlimited's full sizes, so runs stream)")
    args = parser.parse_args()
    limit = args.max_sessions or args.sessions

    console = ("--instructor-password", PASSWORD) if args.push else ()
    base, server = start_server(args.lab, "--workshop", "--max-sessions", str(limit), *console,
                                *args.server_args.split())
    rows = []
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            pages = [open_session(browser, f"{base}/{args.lab}?{args.query}", paint=not args.no_paint)
                     for _ in range(args.sessions)]
            full = []
            for _ in range(args.extra):
                extra = browser.new_page()
                extra.goto(f"{base}/{args.lab}")
                extra.wait_for_selector("text=The room is full", timeout=60000)
                full.append(True)
                extra.close()
            t0, pids, server_pids = time.monotonic(), browser_pids(), process_tree(server.pid)
            cpu0 = cpu_seconds(server_pids), cpu_seconds(pids)
            moves = [[] for _ in pages]  # browser-clock time of each session's moves, ms
            memory = []  # (moves done, server RSS)
            for move in range(args.moves):
                i = move % len(pages)
                page = pages[i]
                handle = page.locator(".noUi-handle").first
                handle.focus()
                moves[i].append(page.evaluate("performance.now()"))
                handle.press("ArrowRight" if (move // len(pages)) % 2 == 0 else "ArrowLeft")
                time.sleep(args.interval / len(pages))
                if (move + 1) % max(1, args.moves // 10) == 0:
                    memory.append((move + 1, sum(rss_mib(pid) for pid in server_pids)))
            wall = time.monotonic() - t0
            cpu = cpu_seconds(server_pids) - cpu0[0], cpu_seconds(pids) - cpu0[1]
            time.sleep(2.0)
            pushes = push_to_all(browser, base, pages, args.push, args.push_interval) if args.push else []
            stats = []  # per session: (rate while running, seconds running, latencies, whole-window rate)
            for page, session_moves in zip(pages, moves):
                end = page.evaluate("performance.now()")
                updates = bursts([t for t in page.evaluate("window.__dataChanges") if t >= session_moves[0]])
                rate, busy, latencies = while_running(updates, session_moves, page.evaluate("window.__runsDone"), end)
                stats.append((rate, busy, latencies, len(updates) / ((end - session_moves[0]) / 1000)))
            errors = sum(len(page.errors) for page in pages)
            first_error = next((e for page in pages for e in page.errors), "")
            after = sum(rss_mib(pid) for pid in server_pids)
            settled = memory[len(memory) // 5][1]  # after a fifth of the moves
            browser.close()
    finally:
        stop_server(server)

    rates = [r for r, _, _, _ in stats]
    latencies = sorted(x for _, _, lat, _ in stats for x in lat)
    rows += [
        ("sessions (lab: " + args.lab + ")",
         f"{args.sessions}" + (" (pages do not draw: --no-paint)" if args.no_paint else "")),
        ("slider moves in all; each session moves every", f"{args.moves}; {args.interval:.2f} s"),
        ("updates/s per session while its run is in flight, min", f"{min(rates):.2f} /s"),
        ("updates/s per session while its run is in flight, median", f"{statistics.median(rates):.2f} /s"),
        ("share of the time a session had a run in flight, median",
         f"{min(1.0, statistics.median(b for _, b, _, _ in stats) / (wall + 2.0)):.0%}"),
        ("updates/s per session over the whole window, min / median",
         f"{min(w for *_, w in stats):.2f} / {statistics.median(w for *_, w in stats):.2f} /s"),
        ("slider move -> first update, median / 95th percentile",
         f"{statistics.median(latencies):.2f} / {latencies[int(0.95 * (len(latencies) - 1))]:.2f} s"),
        ("CPU cores used: server / all Chromium processes",
         f"{cpu[0] / wall:.2f} / {cpu[1] / wall:.2f} of {os.cpu_count()}"),
        ("page errors, all sessions", f"{errors}" + (f" (first: {first_error[:120]})" if errors else "")),
        (f"browsers past the limit of {limit} shown the full-room page", f"{sum(full)} of {args.extra}"),
        ("server memory settled -> after the last move",
         f"{settled:.0f} -> {after:.0f} MiB ({after / settled - 1:+.1%})"),
        ("server memory every tenth of the moves", " ".join(f"{m:.0f}" for _, m in memory) + " MiB"),
    ]
    if pushes:
        slowest = [max(p) for p in pushes]
        every = sorted(x for p in pushes for x in p)
        rows += [
            (f"instructor pushes to all {args.sessions} sessions", f"{len(pushes)}, every {args.push_interval:g} s"),
            ("push -> slowest session's first new data, median / max over pushes",
             f"{statistics.median(slowest):.2f} / {max(slowest):.2f} s"),
            ("push -> a session's first new data, median / 95th percentile",
             f"{statistics.median(every):.2f} / {every[int(0.95 * (len(every) - 1))]:.2f} s"),
            ("sessions that got no new data after a push", f"{sum(len(pages) - len(p) for p in pushes)}"),
        ]
    print(format_measures(rows))


if __name__ == "__main__":
    main()
