"""The dashboard at national scale: each view's data from the collector's API and the page's first
meaningful paint in headless Chromium, over bench.queries' generated presses (SQLite).

Data: bench.queries' generator (default 10 million presses: 3,000 counters, 600 departments, 18,000
officers over three years). The collector app is served by uvicorn on loopback, as `rating-collector
serve` does. Measured:

1. each request the dashboard makes when it draws (per counter, department and officer with the
   comparison, the trend, the hour-by-weekday grid, the devices, the alerts, the latest ratings),
   for a month and for a year of the generated data: median and max of --repeat runs; baseline, in
   the same run: GET /login, the HTTP round trip with no query. Target: every view < 200 ms.
2. the page, signed in, loaded --loads times in a fresh tab: the browser's first contentful paint
   (the page's frame) and the "dashboard-drawn" mark (every view drawn with its data: the first
   meaningful paint). Target: < 1 s.

    python -m bench.dashboard                       # 10 M presses (~4 min to generate)
    python -m bench.dashboard --presses 1000000     # a quick look
    python -m bench.dashboard --keep DIR            # keep the generated database in DIR
    python -m bench.dashboard --reuse DIR           # measure it again (or one of `bench.queries --keep DIR`)
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx
from sqlmodel import select

from bench import Row, print_table
from bench.queries import generate, stored_shape
from collector.app import create_app
from collector.auth import create_token, create_user
from collector.db import make_engine, session_scope, upgrade
from collector.models import User
from collector.settings import Settings
from tests.helpers.browser import Browser  # the tests' DevTools client: the one way this repo drives Chromium
from tests.helpers.serving import serving_app

TARGET_VIEW_MS = 200.0
TARGET_PAINT_MS = 1000.0
PASSWORD = "bench dashboard password"
RANGES = {"a month": ("2025-06-01", "2025-06-30", "day"), "a year": ("2025-01-01", "2025-12-31", "week")}


def views(first: str, last: str, by: str) -> dict[str, tuple[str, dict[str, str]]]:
    """The requests collector/static/dashboard.js makes to draw, as it makes them."""
    span = {"from": first, "to": last}
    return {
        "per counter": ("/api/v1/satisfaction", {**span, "group": "counter"}),
        "per department": ("/api/v1/satisfaction", {**span, "group": "department"}),
        "per officer": ("/api/v1/satisfaction", {**span, "group": "officer"}),
        "trend": ("/api/v1/satisfaction", {**span, "group": "none", "by": by, "compare": "false"}),
        "hour x weekday grid": ("/api/v1/satisfaction/grid", span),
        "devices": ("/api/v1/devices/status", span),
        "alerts": ("/api/v1/alerts", {"state": "all", "limit": "20"}),
        "latest ratings": ("/api/v1/lobby", {}),
    }


def timed(client: httpx.Client, path: str, params: dict[str, str], repeat: int) -> tuple[float, float, int]:
    """(median ms, max ms, bytes) of `repeat` requests, after one to warm the caches."""
    client.get(path, params=params).raise_for_status()
    took = []
    for _ in range(repeat):
        started = time.perf_counter()
        answer = client.get(path, params=params)
        took.append((time.perf_counter() - started) * 1000)
        answer.raise_for_status()
    return statistics.median(took), max(took), len(answer.content)


def paint(url: str, loads: int) -> tuple[list[float], list[float]]:
    """First contentful paint and the dashboard-drawn mark (ms from navigation) of `loads` loads."""
    browser = Browser()
    fcp, drawn = [], []
    try:
        browser.goto(f"{url}/login?next=/dashboard")
        browser.evaluate(f"""document.getElementById('username').value = 'bench';
            document.getElementById('password').value = {json.dumps(PASSWORD)};
            document.querySelector('form').submit(); true""")
        browser.wait_for("location.pathname === '/dashboard'", timeout=60)
        first, last, _ = RANGES["a month"]
        for _ in range(loads):
            browser.goto(f"{url}/dashboard?from={first}&to={last}")
            browser.wait_for("document.body.dataset.loaded", timeout=120)
            marks = browser.evaluate("""({fcp: (performance.getEntriesByName('first-contentful-paint')[0] || {}).startTime,
                drawn: performance.getEntriesByName('dashboard-drawn')[0].startTime})""")
            fcp.append(marks["fcp"])
            drawn.append(marks["drawn"])
    finally:
        browser.close()
    return fcp, drawn


def main(argv: list[str] | None = None) -> list[Row]:
    parser = argparse.ArgumentParser(prog="python -m bench.dashboard", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--presses", type=int, default=10_000_000)
    parser.add_argument("--repeat", type=int, default=5, help="requests per view (median and max)")
    parser.add_argument("--loads", type=int, default=3, help="page loads in Chromium")
    parser.add_argument("--keep", type=Path, help="generate into this folder and keep it (for --reuse)")
    parser.add_argument("--reuse", type=Path, help="a folder holding bench.sqlite3 (--keep DIR, or bench.queries')")
    args = parser.parse_args([] if argv is None else argv)
    root = Path(tempfile.mkdtemp(prefix="bench-dashboard-"))
    if args.keep:
        args.keep.mkdir(parents=True, exist_ok=True)
    try:
        if args.reuse:
            database = next(args.reuse.glob("**/bench.sqlite3"))
        else:
            database = (args.keep or root) / "bench.sqlite3"
        engine = make_engine(f"sqlite:///{database}")
        upgrade(engine)
        if args.reuse:
            dims = stored_shape(engine)
        else:
            print(f"generating {args.presses:,} presses", flush=True)
            dims = generate(engine, args.presses, lambda text: print(text, flush=True))
        with session_scope(engine) as session:
            token = create_token(session, name=f"bench-dashboard-{time.time_ns()}", role="viewer")  # a new one each run
            if session.exec(select(User).where(User.username == "bench")).first() is None:  # a kept database has it
                create_user(session, username="bench", role="viewer", password=PASSWORD)
        rows: list[Row] = []
        size = f"{dims['presses']:,} presses, {dims['counters']:,} counters"
        with serving_app(create_app(Settings(data_dir=root), engine)) as url, \
                httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=120) as client:
            floor, _, _ = timed(client, "/login", {}, args.repeat)
            rows.append(Row("baseline: GET /login, no query (median)", round(floor, 1), None, "ms", None))
            for span, (first, last, by) in RANGES.items():
                for view, (path, params) in views(first, last, by).items():
                    median, worst, size_b = timed(client, path, params, args.repeat)
                    print(f"{span}, {view}: {median:.0f} / {worst:.0f} ms, {size_b / 1024:.0f} KB", flush=True)
                    rows.append(Row(f"{span}, {view} ({size_b / 1024:,.0f} KB): median / max {worst:,.0f} ms",
                                    round(median, 1), f"< {TARGET_VIEW_MS:.0f}", "ms", worst < TARGET_VIEW_MS))
            fcp, drawn = paint(url, args.loads)
        rows.append(Row(f"page ({size}), a month: first contentful paint, median of {args.loads}",
                        round(statistics.median(fcp), 0), None, "ms", None))
        rows.append(Row(f"page, a month: every view drawn (first meaningful paint), median / max {max(drawn):,.0f}",
                        round(statistics.median(drawn), 0), f"< {TARGET_PAINT_MS:.0f}", "ms",
                        max(drawn) < TARGET_PAINT_MS))
        engine.dispose()
    finally:
        shutil.rmtree(root, ignore_errors=True)
    print_table("dashboard at scale (bench.dashboard)", rows)
    return rows


if __name__ == "__main__":
    sys.exit(1 if any(row.ok is False for row in main(sys.argv[1:])) else 0)
