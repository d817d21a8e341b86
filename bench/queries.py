"""Query latency at national scale: supervisors' reports from the rollups against the straightforward
GROUP BY over the raw presses, in the same run, on SQLite and PostgreSQL.

Data (generated in the database itself, INSERT ... SELECT, rollups rebuilt in SQL by the same
`rebuild_rollups` the migration uses): --presses presses (default 10 million) over three years
(2023-2025) at ~3,300 presses per counter (10 M -> 3,000 counters), five counters per department,
ten departments per site (a provincial center), an officer per counter changing every half year,
2% suppressed, 0.5% test presses.

Measured, each as p95 over --repeat runs with a different counter/site/year/month each time:
- year per counter, whole country: the one-year per-counter report over the national data;
- month per officer, whole country: the monthly report's rows (per department and officer) over it;
  (the raw queries read a year's or a month's presses: the case rollups exist for; held to x20)
- and, for information, a share of them: one counter's year by month (the trend of its report), a
  site's year per counter (50 counters), a site's month per department and officer.
Each side reads the counts per group and level (the rollups; the GROUP BY over the presses), then
builds the same report from them with the same code (the figures of every group: counts per level,
rate, index); the first run of each case checks that the two reports agree group for group.
Targets: the report's p95 < 100 ms in every case; and, for the national reports, reading the rollups
>= 20x faster than the straightforward GROUP BY over the presses (a counter's or a site's raw query
names its counters and uses the press table's (counter, day) index, so there it is shown only). The
speed-up is the reads' (query against query, the same counts out); that of the whole reports is
printed too: building the figures is the same work on both sides (~3 us a group, ~6,000 groups in a
month in which officers change hands), so it narrows that ratio whatever the read.

    python -m bench.queries --presses 1000000        # a quick look
    python -m bench.queries                          # 10 M, both databases (~35 min on 2 cores:
                                                     # 19 to generate, the raw SQLite year ~10 s a run)
    python -m bench.queries --db sqlite --keep DIR   # keep the generated databases
    python -m bench.queries --reuse DIR              # measure them again, without generating
    python -m bench.queries --reuse DIR --case "month per officer, whole country"   # one case
"""

from __future__ import annotations

import argparse
import gc
import os
import random
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from alembic.migration import MigrationContext
from sqlmodel import Session

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench import Row, print_table
from bench.postgres import Postgres
from collector.db import make_engine, upgrade
from collector.figures import Counts, figures, no_counts
from collector.periods import month_end
from collector.rollups import rebuild_rollups
from collector.satisfaction import Filters, tally

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
        # A counter's rating, hour and minute vary from press to press (s, its press number): drawn
        # from k alone they would repeat per counter, as the counter count is a multiple of 100, and
        # every counter would get one level and one hour (half the rollup rows a real center has).
        draw = "((s * 61 + ci * 37) % 100)"  # 82 % satisfied
        hour = "((s * 7 + ci * 3) % 10)"  # after 07:00 local
        minute = "((s * 13 + ci * 7) % 60)"
        if sqlite:
            rows = (f"WITH RECURSIVE n(k) AS (SELECT 0 UNION ALL SELECT k + 1 FROM n WHERE k < {n - 1}), "
                    f"r AS (SELECT k, k % {c} AS ci, k / {c} AS s, (k / {c}) * {DAYS} / {per} AS d FROM n) ")
            box, counter = "printf('box-%05d', ci)", "printf('C%05d', ci)"
            day = f"date('{START}', '+' || d || ' days')"
            at = f"datetime('{START}', '+' || d || ' days', '+' || {hour} || ' hours', '+' || {minute} || ' minutes')"
            true, false = "1", "0"
        else:
            rows = (f"WITH r AS (SELECT k, k % {c} AS ci, k / {c} AS s, (k / {c}) * {DAYS} / {per} AS d "
                    f"FROM generate_series(0::bigint, {n - 1}) AS k) ")
            box, counter = "'box-' || lpad(ci::text, 5, '0')", "'C' || lpad(ci::text, 5, '0')"
            day = f"DATE '{START}' + d::int"
            at = (f"(TIMESTAMP '{START}' + make_interval(days => d::int, hours => {hour}::int, "
                  f"mins => {minute}::int)) AT TIME ZONE 'UTC'")
            true, false = "true", "false"
        statement = (
            "INSERT INTO press (box, seq, counter, scale, level, suppressed, test, pressed_at, day, time_approximate, "
            "clock, boot, up, fw, received_at, officer_id, department_id) " + rows +
            f"SELECT {box}, s + 1, {counter}, 'sat2', CASE WHEN {draw} < 82 THEN 1 ELSE 0 END, "
            f"CASE WHEN (s + ci) % 50 = 0 THEN {true} ELSE {false} END, CASE WHEN k % 211 = 0 THEN {true} ELSE {false} END, "
            f"{at}, {day}, {false}, 'sync', 1, k, '0.1.0', {at}, ci * 6 + d * 6 / {DAYS} + 1, "
            f"ci / {COUNTERS_PER_DEPT} + 1 FROM r"
        )
        db.exec_driver_sql(statement if sqlite else statement.replace("%", "%%"))  # psycopg's placeholders
        log(f"  {n:,} presses inserted in {time.monotonic() - started:.0f} s")
        started = time.monotonic()
        rebuild_rollups(db, TZ)
        log(f"  rollups rebuilt in {time.monotonic() - started:.0f} s")
    analyze(engine)
    return dims


def analyze(engine: sa.Engine) -> None:
    """The planner's statistics, and VACUUM too on PostgreSQL (autovacuum's job in service): it marks
    the pages all-visible, which index-only scans need."""
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as db:
        db.exec_driver_sql("ANALYZE" if engine.dialect.name == "sqlite" else "VACUUM ANALYZE")


# --- measuring ----------------------------------------------------------------------------------


def p95(samples: list[float]) -> float:
    ordered = sorted(samples)
    return ordered[max(0, round(0.95 * len(ordered)) - 1)]


Groups = dict[tuple[Any, str | None], Counts]  # (group, bucket) -> counts per scale and level


def raw_counts(session: Session, *, first: date, last: date, group: str | None, by: str | None,
               counters: list[str] | None) -> Groups:
    """The straightforward way to the same counts: GROUP BY over the presses (indexed by counter
    and day; by day alone there is no index, so the whole country's month reads the table)."""
    keys = {None: [], "counter": ["counter"], "department,officer": ["department_id", "officer_id"]}[group]
    if by == "month":
        keys = [*keys, "substr(day, 1, 7)" if session.get_bind().dialect.name == "sqlite" else "to_char(day, 'YYYY-MM')"]
    where = "day >= :first AND day <= :last AND suppressed = :no AND test = :no"
    params: dict[str, Any] = {"first": first, "last": last, "no": False}
    if counters is not None:
        where += f" AND counter IN ({', '.join(f':c{i}' for i in range(len(counters)))})"
        params.update({f"c{i}": code for i, code in enumerate(counters)})
    listed = ", ".join([*keys, "scale", "level"])
    rows = session.execute(sa.text(f"SELECT {listed}, COUNT(*) FROM press WHERE {where} GROUP BY {listed}"), params)
    width = len(keys) - (by is not None)
    counts: Groups = {}
    for row in rows:
        key = None if width == 0 else row[0] if width == 1 else tuple(row[:width])
        label = row[width] if by is not None else None
        counts.setdefault((key, label), {}).setdefault(row[-3], no_counts())[row[-2]] = row[-1]
    return counts


def report(counts: Groups) -> dict[tuple[Any, str | None], dict[str, Any]]:
    """The report both sides build from their counts: the figures of every group."""
    return {key: figures(c) for key, c in counts.items()}


# The cases measured, in order (--case picks one).
CASES = ("year per counter, whole country", "month per officer, whole country", "year of one counter, by month",
         "year per counter of a site (50 counters)", "month per officer of a site (report rows)")
HELD = CASES[:2]  # the two reports over the national data, held to the x20 target


def measure(engine: sa.Engine, dims: dict[str, int], repeat: int, label: str, log: Callable[[str], None],
            only: str | None = None) -> list[Row]:
    rng = random.Random()  # seeded per case (below)
    counters_per_site = COUNTERS_PER_DEPT * DEPTS_PER_SITE

    def site_counters(site: int) -> list[str]:
        return [f"C{site * counters_per_site + i:05d}" for i in range(counters_per_site)]

    def site_departments(site: int) -> list[int]:
        return [site * DEPTS_PER_SITE + d + 1 for d in range(DEPTS_PER_SITE)]

    def a_year() -> tuple[date, date]:
        year = rng.choice([2023, 2024, 2025])
        return date(year, 1, 1), date(year, 12, 31)

    def a_month() -> tuple[date, date]:
        year, month = rng.choice([2023, 2024, 2025]), rng.randrange(1, 13)
        return date(year, month, 1), month_end(date(year, month, 1))

    # name -> pick() -> (first, last, group, by, the rollups' filters, the raw query's counters)
    def one_counter_year() -> Any:
        code = f"C{rng.randrange(dims['counters']):05d}"
        return *a_year(), None, "month", Filters(counters=[code]), [code]

    def site_year() -> Any:
        site = rng.randrange(dims["sites"])
        return *a_year(), "counter", None, Filters(counters=site_counters(site)), site_counters(site)

    def site_month() -> Any:
        site = rng.randrange(dims["sites"])
        return (*a_month(), "department,officer", None, Filters(department_ids=site_departments(site)),
                site_counters(site))

    def country_year() -> Any:
        return *a_year(), "counter", None, Filters(), None

    def country_month() -> Any:
        return *a_month(), "department,officer", None, Filters(), None

    # name -> pick: besides the HELD reports, a counter's or a site's share of them is shown, with its
    # speed-up for information (where the raw query reads a few thousand presses through its index,
    # it takes a few ms itself).
    cases = dict(zip(CASES, (country_year, country_month, one_counter_year, site_year, site_month), strict=True))

    def fast(session: Session, case: Any) -> Groups:
        first, last, group, by, filters, _ = case  # what the API and the report builder read
        return tally(session, first=first, last=last, group=group, by=by, filters=filters)

    def raw(session: Session, case: Any) -> Groups:
        first, last, group, by, _, counters = case
        return raw_counts(session, first=first, last=last, group=group, by=by, counters=counters)

    rows: list[Row] = []
    gc.freeze()  # as `collector serve` does before serving (see there)
    with Session(engine) as session:
        for name, pick in cases.items():
            if only is not None and name != only:
                continue
            rng.seed(f"20251128/{name}")  # a case's picks do not depend on which cases ran before it
            held = name in HELD
            args = [pick() for _ in range(repeat)]
            # one unmeasured run each, to warm the caches, and the check that both give the same report
            expected, got = report(raw(session, args[0])), report(fast(session, args[0]))
            differ = sum(1 for key in expected.keys() | got.keys() if expected.get(key) != got.get(key))
            # (read, whole report) times of each side; the report's figures are timed in the same run.
            # One side's runs after the other's, not interleaved: the raw queries read gigabytes, which
            # would push the rollups' pages out of the caches (the OS's and the database's) before each
            # of their runs, a cost a collector that never scans the presses does not have.
            timings: dict[str, tuple[list[float], list[float]]] = {"rollup": ([], []), "raw": ([], [])}
            for case in args[1:]:
                # The rollups are small and hot on a collector that serves reports: warm the pages of
                # every case once, unmeasured (the raw side's single warm-up run above is all it gets:
                # a pass over its gigabytes per case would take minutes and not stay in cache anyway).
                fast(session, case)
            for kind, read in (("rollup", fast), ("raw", raw)):
                for case in args:
                    started = time.perf_counter()
                    counts = read(session, case)
                    read_done = time.perf_counter()
                    report(counts)
                    timings[kind][0].append((read_done - started) * 1000)
                    timings[kind][1].append((time.perf_counter() - started) * 1000)
            (read_p95, report_p95), (raw_read_p95, raw_report_p95) = (
                (p95(timings[kind][0]), p95(timings[kind][1])) for kind in ("rollup", "raw"))
            speedup = raw_read_p95 / read_p95 if read_p95 else float("inf")
            log(f"  {label} {name}: read p95 {read_p95:.2f} ms (raw GROUP BY {raw_read_p95:.1f}, x{speedup:.0f}), "
                f"report p95 {report_p95:.2f} ms (raw {raw_report_p95:.1f}, x{raw_report_p95 / report_p95:.0f})"
                + (f"; {differ} of {len(expected)} groups DIFFER from the raw query's" if differ else ""))
            name = f"{label} {name}"
            rows += [
                Row(f"{name}: groups whose figures differ", differ, "= 0", "groups", not differ),
                Row(f"{name}: report p95", round(report_p95, 2), f"< {TARGET_MS:g}", "ms", report_p95 < TARGET_MS),
                Row(f"{name}: read p95", round(read_p95, 2), None, "ms", None),
                Row(f"{name}: raw GROUP BY p95", round(raw_read_p95, 1), None, "ms", None),
                Row(f"{name}: read speed-up", round(speedup, 1), f">= {TARGET_SPEEDUP:g}" if held else None, "x",
                    speedup >= TARGET_SPEEDUP if held else None),
                Row(f"{name}: report speed-up (raw GROUP BY + the same figures)", round(raw_report_p95 / report_p95, 1),
                    None, "x", None),
            ]
    return rows


# --- databases ----------------------------------------------------------------------------------


def revision(engine: sa.Engine) -> str | None:
    """The database's migration revision (None before the first)."""
    with engine.connect() as db:
        return MigrationContext.configure(db).get_current_revision()


def stored_shape(engine: sa.Engine) -> dict[str, int]:
    """The shape of a database generated earlier (--reuse)."""
    with engine.connect() as db:
        presses, counters = (db.exec_driver_sql(f"SELECT COUNT(*) FROM {table}").scalar_one()
                             for table in ("press", "counter"))
    dims = shape(presses)
    dims["presses"] = presses
    if dims["counters"] != counters:
        raise RuntimeError(f"the kept database has {counters} counters, not the {dims['counters']} of its presses")
    return dims


def run(kind: str, presses: int, repeat: int, workdir: Path, log: Callable[[str], None], reuse: bool = False,
        only: str | None = None) -> list[Row]:
    server = None
    if kind == "sqlite":
        url = f"sqlite:///{workdir / 'bench.sqlite3'}"
    else:
        pg_root = workdir / "pg"
        pg_root.mkdir(exist_ok=reuse)
        pg_root.chmod(0o755)
        server = Postgres(pg_root, durable=False)
        url = server.url
    engine = make_engine(url)
    try:
        before = revision(engine)
        upgrade(engine)  # a kept database is brought up to date, as a deployed one would be
        if reuse:
            dims = stored_shape(engine)
            log(f"{kind}: {dims['presses']:,} presses kept in {workdir}")
            if before != revision(engine):  # tables a migration rebuilt have no statistics yet
                started = time.monotonic()
                analyze(engine)
                log(f"  migrated from {before} to {revision(engine)}, then analyzed ({time.monotonic() - started:.0f} s)")
        else:
            log(f"{kind}: generating {presses:,} presses")
            started = time.monotonic()
            dims = generate(engine, presses, log)
            log(f"  {dims['counters']:,} counters, {dims['departments']:,} departments, {dims['sites']} sites "
                f"({time.monotonic() - started:.0f} s)")
        rows = [Row(f"{kind} presses stored", dims["presses"], None, "presses", None)]
        return rows + measure(engine, dims, repeat, kind, log, only)
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
    parser.add_argument("--reuse", type=Path, help="measure the databases a run with --keep DIR left in DIR")
    parser.add_argument("--case", choices=CASES, help="measure this case only (default: all)")
    args = parser.parse_args([] if argv is None else argv)

    def log(text: str) -> None:
        print(text, flush=True)

    rows: list[Row] = []
    if args.keep:
        args.keep.mkdir(parents=True, exist_ok=True)
    for kind in (["sqlite", "postgresql"] if args.db == "both" else [args.db]):
        if args.reuse:
            kept = sorted(args.reuse.glob(f"bench-queries-{kind}-*"))
            if not kept:
                parser.error(f"no kept {kind} database in {args.reuse}")
            rows += run(kind, args.presses, args.repeat, kept[-1], log, reuse=True, only=args.case)
            continue
        workdir = Path(tempfile.mkdtemp(prefix=f"bench-queries-{kind}-", dir=args.keep))
        workdir.chmod(0o755)
        try:
            rows += run(kind, args.presses, args.repeat, workdir, log, only=args.case)
        finally:
            if args.keep is None:
                shutil.rmtree(workdir, ignore_errors=True)
    return rows


if __name__ == "__main__":
    result = main(sys.argv[1:])
    print_table("query latency", result)
    sys.exit(1 if any(r.ok is False for r in result) else 0)
