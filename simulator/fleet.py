"""A fleet of virtual boxes driven by a scenario, and its acceptance report.

    fleet = Fleet(broker_dir, broker_port=1883, scenario=load_scenario("office-day"), seed=1,
                  collector_url="http://127.0.0.1:8000", token=...)
    fleet.start()        # accounts registered, broker reloaded, boxes booted
    fleet.run()          # plays the scenario (blocks; or fleet.start_traffic() for a thread)
    print(fleet.report().text())
    fleet.stop()
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import socket
import tempfile
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from collector.broker import set_passwords
from simulator.box import BoxError, VirtualBox, make_config
from simulator.traffic import Action, Scenario, plan

ACK_WINDOW_S = 1.0  # the citizen must see the feedback within this after the contact settled


class FleetError(RuntimeError):
    pass


def box_id(i: int, n: int) -> str:
    return f"box-{i + 1:0{max(2, len(str(n)))}d}"


def check_broker(host: str, port: int) -> None:
    try:
        with socket.create_connection((host, port), timeout=2):
            return
    except OSError:
        raise FleetError(f"no MQTT broker is listening on {host}:{port}; start it first "
                         "(python -m collector broker ..., or make run)") from None


def reload_broker(broker_dir: Path) -> bool:
    """SIGHUP the Mosquitto that runs broker_dir's configuration (it re-reads accounts). Found by
    its exact config path, never by name alone. Returns False when no such process runs here."""
    conf = str(Path(broker_dir).resolve() / "mosquitto.conf")
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if argv and argv[0].endswith(b"mosquitto") and conf.encode() in argv:
            os.kill(int(entry.name), signal.SIGHUP)
            return True
    return False


@dataclass
class PressRecord:
    action: Action
    box: str
    settled: float  # host time the contact settled (for a test: when both buttons closed)


@dataclass
class Report:
    boxes: int
    made: dict[str, int]  # press / mash / test
    acknowledged: int  # ordinary presses whose feedback LED lit within ACK_WINDOW_S
    stored: int | None  # distinct (box, seq) at the collector
    duplicated: int | None  # rows beyond the first for a (box, seq)
    missing: int | None  # made but not stored
    by_box: dict[str, dict[str, Any]] = field(default_factory=dict)
    cpu_percent_per_box: float = 0.0
    rss_mb_per_box: float = 0.0
    elapsed_s: float = 0.0
    boots: int = 0
    feedback_ms: dict[str, int] = field(default_factory=dict)  # latency from settle to LED on
    notes: list[str] = field(default_factory=list)

    @property
    def made_total(self) -> int:
        return sum(self.made.values())

    def as_dict(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items()} | {"made_total": self.made_total}

    def text(self) -> str:
        lines = [
            f"boxes                 {self.boxes}   ({self.elapsed_s:.0f} s, {self.boots} boots)",
            f"presses made          {self.made_total}   (ordinary {self.made.get('press', 0)}, "
            f"mashing {self.made.get('mash', 0)}, technician tests {self.made.get('test', 0)})",
            f"acknowledged          {self.acknowledged} of {self.made.get('press', 0)} ordinary presses "
            f"(feedback LED within {ACK_WINDOW_S:.0f} s)",
            "feedback latency      " + ", ".join(f"{k} {v} ms" for k, v in self.feedback_ms.items()),
        ]
        if self.stored is None:
            lines.append("stored                (no collector given)")
        else:
            lines += [
                f"stored                {self.stored}",
                f"missing               {self.missing}",
                f"duplicated            {self.duplicated}",
            ]
        lines.append(f"per box               {self.cpu_percent_per_box:.1f} % CPU, {self.rss_mb_per_box:.1f} MB RSS")
        lines += [f"note: {n}" for n in self.notes]
        return "\n".join(lines)


class Fleet:
    def __init__(
        self,
        broker_dir: Path | str,
        *,
        scenario: Scenario,
        broker_host: str = "127.0.0.1",
        broker_port: int = 1883,
        boxes: int | None = None,
        seed: int = 1,
        workdir: Path | str | None = None,
        collector_url: str | None = None,
        token: str | None = None,
        reload: Callable[[], None] | None = None,
        echo: Callable[[str, str], None] | None = None,
        on_action: Callable[[PressRecord], None] | None = None,
        mpy: bool = False,
        timings: dict[str, int] | None = None,
    ):
        self.broker_dir = Path(broker_dir)
        self.scenario = scenario
        self.broker = (broker_host, broker_port)
        self.n = boxes or scenario.boxes
        self.seed = seed
        self.workdir = Path(workdir) if workdir else Path(tempfile.mkdtemp(prefix="fleet-"))
        self.collector_url = collector_url.rstrip("/") if collector_url else None
        self.token = token
        self._reload = reload
        self.echo = echo
        self.on_action = on_action
        self.mpy = mpy
        self.timings = {"lockout_ms": int(scenario.lockout_s * 1000), **(timings or {})}
        self.boxes: list[VirtualBox] = []
        self.records: list[PressRecord] = []
        self._stop = threading.Event()
        self._traffic: threading.Thread | None = None
        self._t0 = 0.0
        self._cpu0: dict[str, float] = {}
        self.done = threading.Event()

    # ------------------------------------------------------------------ lifecycle
    def credentials(self) -> dict[str, str]:
        """Each box's broker password: made once, kept (mode 0600) in the fleet's folder."""
        path = self.workdir / "credentials.json"
        creds: dict[str, str] = json.loads(path.read_text()) if path.exists() else {}
        ids = [box_id(i, self.n) for i in range(self.n)]
        if any(b not in creds for b in ids):
            creds.update({b: secrets.token_urlsafe(18) for b in ids if b not in creds})
            self.workdir.mkdir(parents=True, exist_ok=True)
            path.touch(mode=0o600)
            path.write_text(json.dumps(creds))
        return {b: creds[b] for b in ids}

    def start(self, timeout: float = 60.0) -> Fleet:
        check_broker(*self.broker)
        creds = self.credentials()
        set_passwords(self.broker_dir, creds)
        if self._reload:
            self._reload()
        elif not reload_broker(self.broker_dir):
            raise FleetError(f"accounts written to {self.broker_dir}, but no Mosquitto runs that configuration "
                             "here: reload the broker (SIGHUP) yourself and pass reload=")
        for i, (box, password) in enumerate(creds.items()):
            counter = box.split("-", 1)[1]
            cfg = make_config(box, counter, password=password, broker_host=self.broker[0],
                              broker_port=self.broker[1], ntp="pool.ntp.org" if self.scenario.ntp else None,
                              timings=self.timings)
            self.boxes.append(VirtualBox(cfg, self.workdir / box, seed=self.seed * 1000 + i, echo=self.echo,
                                         ntp=self.scenario.ntp, mpy=self.mpy))
        with ThreadPoolExecutor(8) as pool:
            errors = [f.exception() for f in [pool.submit(b.start, timeout) for b in self.boxes]]
        if any(errors):
            self.stop()
            raise FleetError(f"boxes did not boot: {next(e for e in errors if e)}")
        self._t0 = time.time()
        self._cpu0 = {b.box_id: b.usage()[0] for b in self.boxes}
        return self

    def stop_traffic(self) -> None:
        """No more presses; the boxes keep running (and sending what they hold)."""
        self._stop.set()
        if self._traffic:
            self._traffic.join(timeout=5)

    def stop(self) -> None:
        self.stop_traffic()
        with ThreadPoolExecutor(8) as pool:
            list(pool.map(lambda b: b.stop(), self.boxes))

    def __enter__(self) -> Fleet:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def box(self, box: str) -> VirtualBox:
        return next(b for b in self.boxes if b.box_id == box)

    # ------------------------------------------------------------------ traffic
    def plan(self) -> list[Action]:
        return plan(self.scenario, self.seed, self.n)

    def run(self, duration: float | None = None) -> None:
        """Play the scenario in real time (blocks) for its whole length or `duration` seconds."""
        start = time.time()
        end = start + (duration if duration is not None else self.scenario.real_seconds)
        for action in self.plan():
            due = start + action.at
            if due > end or self._stop.wait(max(0.0, due - time.time())):
                break
            self._do(action)
        self._stop.wait(max(0.0, min(end, start + self.scenario.real_seconds) - time.time()))
        self.done.set()

    def start_traffic(self, duration: float | None = None) -> None:
        self._traffic = threading.Thread(target=self.run, args=(duration,), name="fleet-traffic", daemon=True)
        self._traffic.start()

    def _do(self, action: Action) -> None:
        vbox = self.boxes[action.box]
        try:
            if action.kind == "test":
                settled = vbox.hold([0, 1], action.hold_ms)
            else:
                settled = vbox.press(action.button, bounce_edges=action.bounce_edges, bounce_ms=action.bounce_ms,
                                     hold_ms=action.hold_ms, seed=action.seed)
        except BoxError:
            return  # the box is off (power cut): nobody can press it
        record = PressRecord(action, vbox.box_id, settled)
        self.records.append(record)
        if self.on_action:
            self.on_action(record)

    # ------------------------------------------------------------------ the report
    def stored(self, box: str) -> list[dict[str, Any]]:
        """Every press the collector stored for a box (GET /api/v1/presses, cursor-paged)."""
        import httpx

        assert self.collector_url
        rows: list[dict[str, Any]] = []
        cursor = None
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        while True:
            params: dict[str, Any] = {"box": box, "limit": 1000}
            if cursor:
                params["cursor"] = cursor
            try:
                r = httpx.get(f"{self.collector_url}/api/v1/presses", params=params, headers=headers, timeout=10)
            except httpx.HTTPError as e:
                raise FleetError(f"collector at {self.collector_url} unreachable: {e}") from None
            if r.status_code != 200:
                raise FleetError(f"collector answered {r.status_code} to GET /api/v1/presses: {r.text[:200]}")
            page = r.json()
            rows += page["items"]
            cursor = page.get("next_cursor")
            if not cursor:
                return rows

    def report(self, drain_timeout: float = 30.0) -> Report:
        if self.records:  # let the last citizen's feedback happen before judging it
            time.sleep(max(0.0, self.records[-1].settled + ACK_WINDOW_S + 0.1 - time.time()))
        made: dict[str, int] = {"press": 0, "mash": 0, "test": 0}
        by_box: dict[str, dict[str, Any]] = {}
        acknowledged = 0
        latencies: list[float] = []
        late: list[str] = []
        for rec in list(self.records):
            made[rec.action.kind] += 1
            entry = by_box.setdefault(rec.box, {"made": 0, "acknowledged": 0})
            entry["made"] += 1
            if rec.action.kind == "press":
                lit = [t for t, on in self.box(rec.box).feedback(rec.settled) if on and t <= rec.settled + ACK_WINDOW_S]
                if lit:
                    acknowledged += 1
                    entry["acknowledged"] += 1
                    latencies.append(lit[0] - rec.settled)
                else:
                    late.append(f"{rec.box} at {time.strftime('%H:%M:%S', time.localtime(rec.settled))}"
                                f".{int(rec.settled * 1000) % 1000:03d}")
        rep = Report(self.n, made, acknowledged, None, None, None, by_box)
        if latencies:
            latencies.sort()
            rep.feedback_ms = {"p50": round(1000 * latencies[len(latencies) // 2]),
                               "p99": round(1000 * latencies[int(len(latencies) * 0.99)]),
                               "max": round(1000 * latencies[-1])}
        if late:
            rep.notes.append(f"no feedback within {ACK_WINDOW_S:.0f} s: {', '.join(late[:5])}"
                             + (f" and {len(late) - 5} more" if len(late) > 5 else ""))
        rep.elapsed_s = time.time() - self._t0
        rep.boots = sum(b.boots for b in self.boxes)
        cpu = [b.usage()[0] - self._cpu0.get(b.box_id, 0.0) for b in self.boxes if b.pid]
        rss = [b.usage()[1] for b in self.boxes if b.pid]
        if cpu and rep.elapsed_s > 0:
            rep.cpu_percent_per_box = 100 * sum(cpu) / len(cpu) / rep.elapsed_s
            rep.rss_mb_per_box = sum(rss) / len(rss) / 2**20
        if not self.collector_url:
            return rep
        # The boxes may still be sending: wait until everything made is stored or nothing moves.
        deadline = time.monotonic() + drain_timeout
        while True:
            rows = {b.box_id: self.stored(b.box_id) for b in self.boxes}
            if sum(len(r) for r in rows.values()) >= rep.made_total or time.monotonic() > deadline:
                break
            time.sleep(1.0)
        rep.stored = rep.duplicated = rep.missing = 0
        for box, items in rows.items():
            keys = [(p["box"], p["seq"]) for p in items]
            distinct = len(set(keys))
            entry = by_box.setdefault(box, {"made": 0, "acknowledged": 0})
            entry["stored"] = distinct
            entry["duplicated"] = len(keys) - distinct
            entry["missing"] = max(0, entry["made"] - distinct)
            rep.stored += distinct
            rep.duplicated += len(keys) - distinct
            rep.missing += entry["missing"]
            if distinct > entry["made"]:
                rep.notes.append(f"{box}: {distinct - entry['made']} stored presses nobody made")
        return rep


def clean(workdir: Path) -> None:
    shutil.rmtree(workdir, ignore_errors=True)
