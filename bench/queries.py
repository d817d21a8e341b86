"""Query latency at national scale: supervisors' reports from the rollups against the straightforward
GROUP BY over the raw presses, in the same run, on SQLite and PostgreSQL.

Data (generated in the database itself, INSERT ... SELECT, rollups rebuilt in SQL by the same
`rebuild_rollups` the migration uses): --presses presses (default 10 million) over three years
(2023-2025) at ~3,300 presses per counter (10 M -> 3,000 counters), five counters per department,
ten departments per site (a provincial center), an officer per counter changing every half year,
2% suppressed, 0.5% test presses.

Measured, each as p95 over --repeat runs with a different counter/site/month each time:
- year per counter: one counter's year, by month (the trend of a one-year per-counter report);
- year per counter of a site: a year for each of a site's 50 counters (the table of that report);
- month per officer of a site: one site's month per department and officer (the monthly report's rows);
- month per officer, whole country: the same for every department (the raw query has no index on the
  day alone, so it reads the table: the case rollups exist for).
Target: p95 < 100 ms, and >= 20x faster than the GROUP BY over the presses (which uses the press
table's (counter, day) index: the site's counters are named in the query).

    python -m bench.queries --presses 1000000        # a quick look
    python -m bench.queries                          # 10 M, both databases (~15 min on 2 cores)
    python -m bench.queries --db sqlite --keep DIR   # keep the generated databases
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench import Row, print_table
from collector.db import make_engine, upgrade
from collector.satisfaction import Filters, figures, rebuild_rollups, tally

TZ = "Asia/Ho_Chi_Minh"
START = date(2023, 1, 1)
DAYS = 1095
PER_COUNTER = 3300
COUNTERS_PER_DEPT = 5
DEPTS_PER_SITE = 10
TARGET_MS = 100.0
TARGET_SPEEDUP = 20.0


# --- generating ---------------------------------------------------------------------------------


def shape(presses: int) -> dict[str, int]:
    counters = max(COUNTERS_PER_DEPT * DEPTS_PER_SITE, presses // PER_COUNTER)
    counters -= counters % (COUNTERS_PER_DEPT * DEPTS_PER_SITE)
    return {"presses": presses, "counters": counters, "per_counter": presses // counters,
            "departments": counters // COUNTERS_PER_DEPT, "sites": counters // (COUNTERS_PER_DEPT * DEPTS_PER_SITE)}


def generate(engine: sa.Engine, presses: int, log: Callable[[str], None]) -> dict[str, int]:
    dims = shape(presses)
    n, c, per = dims["counters"] * dims["per_counter"], dims["counters"], dims["per_counter"]
    dims["presses"] = n
    sqlite = engine.dialect.name == "sqlite"
    started = time.monotonic()
    with engine.begin() as db:
        if sqlite:
            db.exec_driver_sql("PRAGMA synchronous=OFF")
            db.exec_driver_sql("PRAGMA cache_size=-1000000")
        db.execute(sa.text("INSERT INTO department (id, code, name, site) VALUES (:id, :code, :name, :site)"),
                   [{"id": d + 1, "code": f"D{d:05d}", "name": f"Đơn vị {d}", "site": f"S{d // DEPTS_PER_SITE:03d}"}
                    for d in range(dims["departments"])])
        db.execute(sa.text("INSERT INTO counter (id, code, name, department_id, scale) "
                           "VALUES (:id, :code, :name, :dept, 'sat2')"),
                   [{"id": i + 1, "code": f"C{i:05d}", "name": f"Quầy {i}", "dept": i // COUNTERS_PER_DEPT + 1}
                    for i in range(c)])
        db.execute(sa.text("INSERT INTO officer (id, code, name, department_id) VALUES (:id, :code, :name, :dept)"),
                   [{"id": i * 6 + h + 1, "code": f"O{i:05d}-{h}", "name": f"Cán bộ {i}-{h}",
                     "dept": i // COUNTERS_PER_DEPT + 1} for i in range(c) for h in range(6)])
        # row k: press k / c of counter k % c, the presses of a counter spread evenly over the three
        # years at local office hours. Rows go in in time order with the counters interleaved, as a
        # live collector writes them: a table laid out counter by counter would flatter the raw GROUP BY.
        if sqlite:
            rows = (f"WITH RECURSIVE n(k) AS (SELECT 0 UNION ALL SELECT k + 1 FROM n WHERE k < {n - 1}), "
                    f"r AS (SELECT k, k % {c} AS ci, k / {c} AS s, (k / {c}) * {DAYS} / {per} AS d, "
                    f"7 + (k * 7919) % 10 AS h FROM n) ")
            box, counter = "printf('box-%05d', ci)", "printf('C%05d', ci)"
            day = f"date('{START}', '+' || d || ' days')"
            at = f"datetime('{START}', '+' || d || ' days', '+' || (h - 7) || ' hours', '+' || (k % 60) || ' minutes')"
            true, false = "1", "0"
        else:
            rows = (f"WITH r AS (SELECT k, k % {c} AS ci, k / {c} AS s, (k / {c}) * {DAYS} / {per} AS d, "
                    f"7 + (k * 7919) % 10 AS h FROM generate_series(0::bigint, {n - 1}) AS k) ")
            box, counter = "'box-' || lpad(ci::text, 5, '0')", "'C' || lpad(ci::text, 5, '0')"
            day = f"DATE '{START}' + d::int"
            at = (f"(TIMESTAMP '{START}' + make_interval(days => d::int, hours => (h - 7)::int, "
                  f"mins => (k % 60)::int)) AT TIME ZONE 'UTC'")
            true, false = "true", "false"
        statement = (
            "INSERT INTO press (box, seq, counter, scale, level, suppressed, test, pressed_at, day, time_approximate, "
            "clock, boot, up, fw, received_at, officer_id, department_id) " + rows +
            f"SELECT {box}, s + 1, {counter}, 'sat2', CASE WHEN (k * 2654435761) % 100 < 82 THEN 1 ELSE 0 END, "
            f"CASE WHEN k % 50 = 0 THEN {true} ELSE {false} END, CASE WHEN k % 211 = 0 THEN {true} ELSE {false} END, "
            f"{at}, {day}, {false}, 'sync', 1, k, '0.1.0', {at}, ci * 6 + d * 6 / {DAYS} + 1, "
            f"ci / {COUNTERS_PER_DEPT} + 1 FROM r"
        )
        db.exec_driver_sql(statement if sqlite else statement.replace("%", "%%"))  # psycopg's placeholders
        log(f"  {n:,} presses inserted in {time.monotonic() - started:.0f} s")
        started = time.monotonic()
        rebuild_rollups(db, TZ)
        log(f"  rollups rebuilt in {time.monotonic() - started:.0f} s")
    # VACUUM too on PostgreSQL (autovacuum's job in service): it marks the pages all-visible, which
    # index-only scans need.
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as db:
        db.exec_driver_sql("ANALYZE" if sqlite else "VACUUM ANALYZE")
    return dims


# --- measuring ----------------------------------------------------------------------------------


def p95(samples: list[float]) -> float:
    ordered = sorted(samples)
    return ordered[max(0, round(0.95 * len(ordered)) - 1)]


def raw_group_by(session: Session, *, first: date, last: date, counters: list[str], group: str) -> Any:
    """The straightforward query: GROUP BY over the presses (indexed by counter and day)."""
    keys = {"counter": "counter", "officer": "department_id, officer_id"}[group]
    marks = ", ".join(f":c{i}" for i in range(len(counters)))
    query = (f"SELECT {keys}, scale, level, COUNT(*) FROM press WHERE counter IN ({marks}) "
             f"AND day >= :first AND day <= :last AND suppressed = :no AND test = :no GROUP BY {keys}, scale, level")
    params: dict[str, Any] = {f"c{i}": code for i, code in enumerate(counters)}
    params.update(first=first, last=last, no=False)
    return session.execute(sa.text(query), params).all()


def raw_all(session: Session, first: date, last: date) -> Any:
    return session.execute(sa.text(
        "SELECT department_id, officer_id, scale, level, COUNT(*) FROM press WHERE day >= :first AND day <= :last "
        "AND suppressed = :no AND test = :no GROUP BY department_id, officer_id, scale, level"
    ), {"first": first, "last": last, "no": False}).all()


def measure(engine: sa.Engine, dims: dict[str, int], repeat: int, label: str, log: Callable[[str], None]) -> list[Row]:
    rng = random.Random(20251128)
    counters_per_site = COUNTERS_PER_DEPT * DEPTS_PER_SITE
    cases: dict[str, tuple[Callable[[Session, Any], Any], Callable[[Session, Any], Any], Callable[[], Any]]] = {}

    def one_counter() -> Any:
        return f"C{rng.randrange(dims['counters']):05d}", rng.choice([2023, 2024, 2025])

    def a_site() -> Any:
        site = rng.randrange(dims["sites"])
        return site, rng.choice([2023, 2024, 2025]), rng.randrange(1, 13)

    def site_counters(site: int) -> list[str]:
        return [f"C{site * counters_per_site + i:05d}" for i in range(counters_per_site)]

    def site_departments(site: int) -> list[int]:
        return [site * DEPTS_PER_SITE + d + 1 for d in range(DEPTS_PER_SITE)]

    def month_range(year: int, month: int) -> tuple[date, date]:
        last = date(year + (month == 12), month % 12 + 1, 1)
        return date(year, month, 1), date.fromordinal(last.toordinal() - 1)

    cases["year per counter (one counter, by month)"] = (
        lambda s, a: [figures(v) for v in tally(s, first=date(a[1], 1, 1), last=date(a[1], 12, 31), group=None,
                                                by="month", filters=Filters(counters=[a[0]])).values()],
        lambda s, a: raw_group_by(s, first=date(a[1], 1, 1), last=date(a[1], 12, 31), counters=[a[0]],
                                  group="counter"),
        one_counter,
    )
    cases["year per counter of a site (50 counters)"] = (
        lambda s, a: [figures(v) for v in tally(s, first=date(a[1], 1, 1), last=date(a[1], 12, 31), group="counter",
                                                by=None, filters=Filters(counters=site_counters(a[0]))).values()],
        lambda s, a: raw_group_by(s, first=date(a[1], 1, 1), last=date(a[1], 12, 31), counters=site_counters(a[0]),
                                  group="counter"),
        a_site,
    )
    cases["month per officer of a site (report rows)"] = (
        lambda s, a: [figures(v) for v in tally(s, first=month_range(a[1], a[2])[0], last=month_range(a[1], a[2])[1],
                                                group="department,officer", by=None,
                                                filters=Filters(department_ids=site_departments(a[0]))).values()],
        lambda s, a: raw_group_by(s, first=month_range(a[1], a[2])[0], last=month_range(a[1], a[2])[1],
                                  counters=site_counters(a[0]), group="officer"),
        a_site,
    )
    cases["month per officer, whole country"] = (
        lambda s, a: [figures(v) for v in tally(s, first=month_range(a[1], a[2])[0], last=month_range(a[1], a[2])[1],
                                                group="department,officer", by=None, filters=Filters()).values()],
        lambda s, a: raw_all(s, *month_range(a[1], a[2])),
        a_site,
    )
    rows: list[Row] = []
    with Session(engine) as session:
        for name, (fast, raw, pick) in cases.items():
            args = [pick() for _ in range(repeat)]
            fast(session, args[0])  # warm the cache: both get one unmeasured run
            raw(session, args[0])
            timings: dict[str, list[float]] = {"rollup": [], "raw": []}
            for a in args:
                for kind, function in (("rollup", fast), ("raw", raw)):
                    started = time.perf_counter()
                    function(session, a)
                    timings[kind].append((time.perf_counter() - started) * 1000)
            fast_p95, raw_p95 = p95(timings["rollup"]), p95(timings["raw"])
            speedup = raw_p95 / fast_p95 if fast_p95 else float("inf")
            log(f"  {label} {name}: rollup p95 {fast_p95:.2f} ms, raw GROUP BY p95 {raw_p95:.1f} ms, x{speedup:.0f}")
            rows.append(Row(f"{label} {name}: p95", round(fast_p95, 2), f"< {TARGET_MS:g}", "ms",
                            fast_p95 < TARGET_MS))
            rows.append(Row(f"{label} {name}: raw GROUP BY p95", round(raw_p95, 1), None, "ms", None))
            rows.append(Row(f"{label} {name}: speed-up", round(speedup, 1), f">= {TARGET_SPEEDUP:g}", "x",
                            speedup >= TARGET_SPEEDUP))
    return rows


# --- databases ----------------------------------------------------------------------------------


def _pg_bin(name: str) -> str | None:
    import glob

    found = shutil.which(name)
    if found:
        return found
    candidates = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    return candidates[-1] if candidates else None


class Postgres:
    """A throwaway PostgreSQL server in a temp dir (as the `postgres` user when run as root)."""

    def __init__(self, root: Path) -> None:
        import socket

        self.root = root
        self.as_user = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        initdb, self.pg_ctl = _pg_bin("initdb"), _pg_bin("pg_ctl")
        if not (initdb and self.pg_ctl):
            raise RuntimeError("PostgreSQL is not installed (apt-get install postgresql)")
        if self.as_user:
            shutil.chown(root, "postgres", "postgres")
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            self.port = sock.getsockname()[1]
        self.data = root / "data"
        subprocess.run([*self.as_user, initdb, "-D", str(self.data), "-A", "trust", "-U", "postgres", "-E", "UTF8",
                        "--no-sync"], check=True, capture_output=True)
        options = (f"-p {self.port} -k {root} -c listen_addresses=127.0.0.1 -c fsync=off "
                   "-c shared_buffers=512MB -c work_mem=64MB -c maintenance_work_mem=512MB")
        subprocess.run([*self.as_user, self.pg_ctl, "-D", str(self.data), "-o", options, "-l", str(root / "log"),
                        "-w", "start"], check=True, capture_output=True)

    @property
    def url(self) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"

    def stop(self) -> None:
        subprocess.run([*self.as_user, str(self.pg_ctl), "-D", str(self.data), "-m", "fast", "stop"], check=False,
                       capture_output=True)


def run(kind: str, presses: int, repeat: int, workdir: Path, log: Callable[[str], None]) -> list[Row]:
    server = None
    if kind == "sqlite":
        url = f"sqlite:///{workdir / 'bench.sqlite3'}"
    else:
        pg_root = workdir / "pg"
        pg_root.mkdir()
        pg_root.chmod(0o755)
        server = Postgres(pg_root)
        url = server.url
    engine = make_engine(url)
    try:
        upgrade(engine)
        log(f"{kind}: generating {presses:,} presses")
        started = time.monotonic()
        dims = generate(engine, presses, log)
        log(f"  {dims['counters']:,} counters, {dims['departments']:,} departments, {dims['sites']} sites "
            f"({time.monotonic() - started:.0f} s)")
        rows = [Row(f"{kind} presses stored", dims["presses"], None, "presses", None)]
        return rows + measure(engine, dims, repeat, kind, log)
    finally:
        engine.dispose()
        if server:
            server.stop()


def main(argv: list[str] | None = None) -> list[Row]:
    parser = argparse.ArgumentParser(prog="python -m bench.queries", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--presses", type=int, default=int(os.environ.get("BENCH_QUERY_PRESSES", "10000000")))
    parser.add_argument("--db", choices=["sqlite", "postgresql", "both"], default="both")
    parser.add_argument("--repeat", type=int, default=50, help="runs per query (p95 over them)")
    parser.add_argument("--keep", type=Path, help="generate into this dir and keep it")
    args = parser.parse_args([] if argv is None else argv)

    def log(text: str) -> None:
        print(text, flush=True)

    rows: list[Row] = []
    if args.keep:
        args.keep.mkdir(parents=True, exist_ok=True)
    for kind in (["sqlite", "postgresql"] if args.db == "both" else [args.db]):
        workdir = Path(tempfile.mkdtemp(prefix=f"bench-queries-{kind}-", dir=args.keep))
        workdir.chmod(0o755)
        try:
            rows += run(kind, args.presses, args.repeat, workdir, log)
        finally:
            if args.keep is None:
                shutil.rmtree(workdir, ignore_errors=True)
    return rows


if __name__ == "__main__":
    result = main(sys.argv[1:])
    print_table("query latency", result)
    sys.exit(1 if any(r.ok is False for r in result) else 0)
