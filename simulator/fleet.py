"""A fleet of virtual boxes driven by a scenario (with its faults), and its acceptance report.

    fleet = Fleet(broker_dir, broker_port=1883, scenario=load_scenario("office-day"), seed=1,
                  collector_url="http://127.0.0.1:8000", token=..., broker_control=broker)
    fleet.start()        # accounts registered, broker reloaded, boxes booted
    fleet.run()          # plays the scenario and its fault timeline (blocks; or start_traffic())
    print(fleet.report().text())
    fleet.stop()

Full boxes (default) are MicroPython processes running the firmware's .mpy release; light=True
runs every box's firmware logic in this process (simulator/light.py) for load tests.
"""

from __future__ import annotations

import functools
import json
import os
import random
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
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol, Self

from collector.broker import bind_client_ids, set_passwords
from simulator.box import DEFAULT_TIMINGS, BoxError, VirtualBox, make_config
from simulator.traffic import Action, Fault, Scenario, box_name, plan

ACK_WINDOW_S = 1.0  # the citizen must see the feedback within this after the contact settled
TIME_TOLERANCE_S = 2.0  # a stored press's time must be within this of when it was pressed
LOCKOUT_MARGIN_S = 0.3  # fault presses keep this far from the lockout's edge, so their fate is known
box_id = box_name


class FleetError(RuntimeError):
    pass


class BrokerControl(Protocol):
    """What the fleet needs to stop and restart the broker (collector.broker.Broker fits)."""

    def stop(self) -> None: ...

    def start(self) -> Any: ...


def check_broker(host: str, port: int) -> None:
    try:
        with socket.create_connection((host, port), timeout=2):
            return
    except OSError:
        raise FleetError(f"no MQTT broker is listening on {host}:{port}; start it first "
                         "(python -m collector broker ..., or make run)") from None


def admit_boxes(broker_dir: Path, passwords: dict[str, str]) -> None:
    """Accounts for these boxes with these passwords, made as `rating-collector broker add-box`
    makes one (collector.broker.add_box): each bound to its box id as client id
    (bind_client_ids: told to the running broker, or written for its next start) before its
    password exists, so it is never unbound; then one password file update for them all. The
    broker still has to re-read its password file (reload_broker)."""
    bind_client_ids(Path(broker_dir), list(passwords))
    set_passwords(Path(broker_dir), passwords)


def reload_broker(broker_dir: Path) -> bool:
    """SIGHUP the Mosquitto that runs broker_dir's configuration (it re-reads accounts)."""
    from collector.broker import reload_running

    return reload_running(Path(broker_dir))


class ExternalBroker:
    """Stops and restarts a Mosquitto this process did not start (the `fleet` command's broker
    faults): stop = SIGTERM to the process running broker_dir's configuration; start = a new one
    with the same configuration, left running in the background."""

    def __init__(self, broker_dir: Path, host: str, port: int):
        self.broker_dir, self.host, self.port = Path(broker_dir), host, port

    def stop(self) -> None:
        from collector.broker import running_pid

        pid = running_pid(self.broker_dir)
        if pid is None:
            raise FleetError(f"no Mosquitto runs {self.broker_dir}/mosquitto.conf here: cannot stop it")
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + 10
        while Path(f"/proc/{pid}").exists() and time.monotonic() < deadline:
            time.sleep(0.05)

    def start(self) -> None:
        from collector.broker import Broker

        Broker(self.broker_dir, host=self.host, port=self.port).start()


@dataclass
class PressRecord:
    action: Action
    box: str
    settled: float  # host time the contact settled (for a test: when both buttons closed)
    fault: str | None = None  # made by a fault (mash, stuck), not by the scenario's citizens


@dataclass
class Report:
    boxes: int
    made: dict[str, int]  # press / mash / test
    acknowledged: int  # ordinary presses whose feedback LED lit within ACK_WINDOW_S
    stored: int | None  # distinct (box, seq) at the collector
    duplicated: int | None  # rows beyond the first for a (box, seq)
    missing: int | None  # acknowledged (any kind) but not stored
    by_box: dict[str, dict[str, Any]] = field(default_factory=dict)
    cpu_percent_per_box: float = 0.0
    rss_mb_per_box: float = 0.0
    elapsed_s: float = 0.0
    boots: int = 0
    feedback_ms: dict[str, int] = field(default_factory=dict)  # latency from settle to LED on
    seen: int = 0  # presses of any kind whose feedback the citizen saw
    unseen: int = 0  # presses the box never reacted to (it was off, booting, frozen): not owed
    unsampled: int = 0  # ordinary presses not acknowledged whose hold the box left unread (see _unread_s)
    invented: int | None = None  # stored presses nobody made
    mistimed: int | None = None  # acknowledged presses stored only with a time off by > 2 s
    faults: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    light: bool = False

    @property
    def made_total(self) -> int:
        return sum(self.made.values())

    @property
    def ok(self) -> bool:
        """The acceptance criterion: nothing seen is lost, nothing doubled or invented."""
        return self.missing == 0 and self.duplicated == 0 and not self.invented

    def as_dict(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items()} | {"made_total": self.made_total, "ok": self.ok}

    def text(self) -> str:
        lines = [
            (f"boxes                 {self.boxes}   ({'light, ' if self.light else ''}{self.elapsed_s:.0f} s, "
             f"{self.boots} boots)"),
            (f"presses made          {self.made_total}   (ordinary {self.made.get('press', 0)}, "
             f"mashing {self.made.get('mash', 0)}, technician tests {self.made.get('test', 0)})"),
            (f"acknowledged          {self.acknowledged} of {self.made.get('press', 0)} ordinary presses "
             f"(feedback LED within {ACK_WINDOW_S:.0f} s)"),
            f"feedback seen         {self.seen} of {self.made_total} presses of any kind"
            + (f"; {self.unseen} pressed while the box was off or frozen" if self.unseen else ""),
            "feedback latency      " + ", ".join(f"{k} {v} ms" for k, v in self.feedback_ms.items()),
        ]
        if self.unsampled:
            lines.append(f"not sampled           {self.unsampled} of the unacknowledged presses: the box did not read "
                         f"its contacts for most of the hold (host overloaded or firmware stalled)")
        if self.stored is None:
            lines.append("stored                (no collector given)")
        else:
            lines += [
                f"stored                {self.stored}",
                f"missing               {self.missing}",
                f"duplicated            {self.duplicated}",
                f"invented              {self.invented}",
                f"time off by > {TIME_TOLERANCE_S:.0f} s    {self.mistimed}",
            ]
        lines.append(f"per box               {self.cpu_percent_per_box:.2f} % CPU, {self.rss_mb_per_box:.2f} MB RSS")
        lines += [f"fault: {f}" for f in self.faults]
        lines += [f"note: {n}" for n in self.notes]
        return "\n".join(lines)


def _stamp(t: float) -> str:
    return time.strftime("%H:%M:%S", time.localtime(t)) + f".{int(t * 1000) % 1000:03d}"


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
        mpy: bool = True,
        timings: dict[str, int] | None = None,
        broker_control: BrokerControl | None = None,
        light: bool = False,
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
        self.light = light
        self.broker_control = broker_control
        self.timings = {"lockout_ms": int(scenario.lockout_s * 1000), **(timings or {})}
        self.boxes: list[Any] = []  # VirtualBox, or light.LightBox
        self.records: list[PressRecord] = []
        self.fault_log: list[str] = []
        self._stop = threading.Event()
        self._traffic: threading.Thread | None = None
        self._host: Any = None  # the light boxes' event loop
        self._t0 = 0.0
        self._cpu0: dict[str, float] = {}
        self._self0 = (0.0, 0)
        self._last_counted: dict[int, float] = {}  # box index -> settle time of its last counted press
        self._busy_until: dict[int, float] = {}  # box index -> no citizen presses it before this
        self._rows: dict[str, list[dict[str, Any]]] = {}
        self._cursors: dict[str, str | None] = {}
        self.done = threading.Event()
        names = {box_name(i, self.n) for i in range(self.n)}
        for f in scenario.faults:
            listed = [f.boxes] if isinstance(f.boxes, str) and f.boxes not in ("all", "random") else f.boxes
            if isinstance(listed, list) and set(listed) - names:
                raise FleetError(f"fault {f.fault} names box(es) {', '.join(sorted(set(listed) - names))}, "
                                 f"but the fleet has {box_name(0, self.n)}..{box_name(self.n - 1, self.n)}")

    # ------------------------------------------------------------------ lifecycle
    def credentials(self) -> dict[str, str]:
        """Each box's broker password: made once, kept (mode 0600) in the fleet's folder."""
        path = self.workdir / "credentials.json"
        creds: dict[str, str] = json.loads(path.read_text()) if path.exists() else {}
        ids = [box_name(i, self.n) for i in range(self.n)]
        if any(b not in creds for b in ids):
            creds.update({b: secrets.token_urlsafe(18) for b in ids if b not in creds})
            self.workdir.mkdir(parents=True, exist_ok=True)
            path.touch(mode=0o600)
            path.write_text(json.dumps(creds))
        return {b: creds[b] for b in ids}

    def start(self, timeout: float = 60.0) -> Fleet:
        if any(f.fault == "broker" for f in self.scenario.faults) and self.broker_control is None:
            raise FleetError("the scenario stops the broker, but the fleet was given no broker_control")
        check_broker(*self.broker)
        creds = self.credentials()
        admit_boxes(self.broker_dir, creds)
        if self._reload:
            self._reload()
        elif not reload_broker(self.broker_dir):
            raise FleetError(f"accounts written to {self.broker_dir}, but no Mosquitto runs that configuration "
                             "here: reload the broker (SIGHUP) yourself and pass reload=")
        configs = []
        for box, password in creds.items():
            counter = box.split("-", 1)[1]
            configs.append(make_config(box, counter, password=password, broker_host=self.broker[0],
                                       broker_port=self.broker[1], ntp="sim" if self.scenario.ntp else None,
                                       timings=self.timings))
        self._self0 = _self_usage()
        # NTP unreachable from the day's start means from the boxes' boot: they booted before the day
        # began and ask NTP at once, so the fault applied at 0 would come after a first answer.
        no_ntp = {i for f in self.scenario.faults if f.fault == "no_ntp" and f.at == 0
                  for i in self._named_targets(f) or []}
        if self.light:
            from simulator.light import LightHost

            self._host = LightHost(self.workdir, echo=self.echo)
            self.boxes = [self._host.add(cfg, seed=self.seed * 1000 + i) for i, cfg in enumerate(configs)]
            for i, box in enumerate(self.boxes):
                box.ntp_on = i not in no_ntp
            try:
                self._host.start(timeout=timeout)
            except BoxError as e:
                self.stop()
                raise FleetError(str(e)) from None
        else:
            self.boxes = [VirtualBox(cfg, self.workdir / cfg["box"], seed=self.seed * 1000 + i, echo=self.echo,
                                     ntp=self.scenario.ntp and i not in no_ntp, mpy=self.mpy)
                          for i, cfg in enumerate(configs)]
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
        if self._host is not None:
            self._host.stop()
            return
        with ThreadPoolExecutor(8) as pool:
            list(pool.map(lambda b: b.stop(), self.boxes))

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def box(self, box: str) -> Any:
        return next(b for b in self.boxes if b.box_id == box)

    # ------------------------------------------------------------------ traffic and faults
    def plan(self) -> list[Action]:
        return plan(self.scenario, self.seed, self.n)

    def timeline(self) -> list[tuple[float, int, Callable[[], None], str]]:
        """(time from start, order, what) of the run: the citizens' actions and the faults' starts
        and ends, tagged "slow" (run aside: it takes a while) or "restore" (ends a fault: done at the
        end of the run if not reached). Random instants and random boxes are drawn from the seed."""
        rng = random.Random(f"faults/{self.seed}")
        items: list[tuple[float, int, Callable[[], None], str]] = []
        for a in self.plan():
            items.append((a.at, 1, functools.partial(self._do, a), ""))
        for i, f in enumerate(self.scenario.faults):
            at = f.when(rng)
            targets = self._named_targets(f)
            if targets is None:
                targets = [rng.randrange(self.n)]
            seed = rng.getrandbits(32)
            items += [(t, 0, fn, tag) for t, fn, tag in self._fault_steps(f, at, targets, seed)]
        items.sort(key=lambda item: (item[0], item[1]))
        return items

    def _named_targets(self, f: Fault) -> list[int] | None:
        """Indices of the boxes a fault names (every box for "all" and for the broker); None for a
        random box, which timeline() draws from the seed."""
        if f.boxes == "all" or f.fault == "broker":
            return list(range(self.n))
        if f.boxes == "random":
            return None
        names = [f.boxes] if isinstance(f.boxes, str) else f.boxes
        return [int(name.split("-")[1]) - 1 for name in names]

    def _fault_steps(self, f: Fault, at: float, targets: list[int],
                     seed: int) -> list[tuple[float, Callable[[], None], str]]:
        who = "all boxes" if len(targets) == self.n and self.n > 1 else ", ".join(box_name(t, self.n) for t in targets)

        def log(text: str) -> None:
            self.fault_log.append(f"{_stamp(time.time())} {text}")

        def each(fn: Callable[[Any], None]) -> Callable[[], None]:
            def run() -> None:
                for t in targets:
                    try:
                        fn(self.boxes[t])
                    except BoxError:
                        pass  # that box is off: the fault does not matter to it
            return run

        def then(first: Callable[[], None], text: str) -> Callable[[], None]:
            def run_and_log() -> None:
                first()
                log(text)
            return run_and_log

        def on_targets(fault: Callable[[int], None]) -> Callable[[], None]:
            def run() -> None:
                for target in targets:
                    fault(target)
            return run

        if f.fault == "wifi":
            return [(at, then(each(lambda b: b.wifi(False)), f"Wi-Fi down for {who}"), ""),
                    (at + (f.for_s or 0), then(each(lambda b: b.wifi(True)), f"Wi-Fi back for {who}"), "restore")]
        if f.fault == "no_ntp":
            steps = [(at, then(each(lambda b: b.ntp(False)), f"NTP unreachable for {who}"), "")]
            if f.for_s:
                steps.append((at + f.for_s, then(each(lambda b: b.ntp(True)), f"NTP back for {who}"), "restore"))
            return steps
        if f.fault == "broker":
            def broker(up: bool) -> None:
                if self.broker_control is None:  # start() refuses such a fleet; timeline() alone is fine
                    raise FleetError("the scenario stops the broker, but the fleet was given no broker_control")
                self.broker_control.start() if up else self.broker_control.stop()

            return [(at, then(lambda: broker(False), "broker stopped"), ""),
                    (at + (f.for_s or 0), then(lambda: broker(True), "broker restarted"), "restore")]
        if f.fault == "power_cut":
            return [(at, then(each(lambda b: b.power_cut(off_s=f.off_s)),
                              f"power cut ({f.off_s:g} s) at {who}"), "")]
        if f.fault == "hang":
            return [(at, then(each(lambda b: b.hang()), f"firmware of {who} frozen"), "")]
        if f.fault == "stuck":
            return [(at, on_targets(lambda t: self._stuck(t, f.button, f.for_s or 0, log)), "slow")]
        if f.fault == "mash":
            return [(at, on_targets(lambda t: self._mash(t, f.button, f.presses, seed, log)), "slow")]
        raise FleetError(f"unknown fault {f.fault}")

    def _clear_of_lockout(self, b: int) -> None:
        """Wait until a press at box b would surely count (its last counted press is out of lockout)."""
        last = self._last_counted.get(b)
        if last is not None:
            self._stop.wait(max(0.0, last + self.scenario.lockout_s + LOCKOUT_MARGIN_S - time.time()))

    def _stuck(self, b: int, button: int, seconds: float, log: Callable[[str], None]) -> None:
        self._busy_until[b] = float("inf")
        self._clear_of_lockout(b)
        vbox = self.boxes[b]
        try:
            settled = vbox.stick(button, seconds)
        except BoxError:
            return
        log(f"button {button} of {vbox.box_id} stuck for {seconds:g} s")
        self._busy_until[b] = settled + seconds + self.scenario.lockout_s + 1.0
        self._record(PressRecord(Action(settled - self._run_start, b, "press", button), vbox.box_id, settled, "stuck"))
        self._last_counted[b] = settled

    def _mash(self, b: int, button: int, presses: int, seed: int, log: Callable[[str], None]) -> None:
        """A citizen hammering a button: one counted press, then presses 0.3 s apart, suppressed while
        the lockout lasts (a press that would fall near the lockout's end waits until it is over)."""
        self._busy_until[b] = float("inf")
        self._clear_of_lockout(b)
        vbox = self.boxes[b]
        rng = random.Random(seed)
        lockout = self.scenario.lockout_s
        last_counted = None
        log(f"{vbox.box_id} mashed: {presses} presses of button {button}")
        for k in range(presses):
            kind = "press"
            if last_counted is not None:
                expected = time.time() + 0.05 + 0.03  # lead + bounce of the next press
                if expected - last_counted < lockout - LOCKOUT_MARGIN_S:
                    kind = "mash"
                else:
                    self._stop.wait(max(0.0, last_counted + lockout + LOCKOUT_MARGIN_S - time.time()))
            try:
                settled = vbox.press(button, bounce_edges=3, bounce_ms=10, hold_ms=80, seed=rng.getrandbits(32))
            except BoxError:
                break
            self._record(PressRecord(Action(settled - self._run_start, b, kind, button), vbox.box_id, settled, "mash"))
            if kind == "press":
                last_counted = settled
                self._last_counted[b] = settled
            if self._stop.wait(0.3):
                break
        self._busy_until[b] = time.time() + lockout + 1.0

    _run_start = 0.0

    def run(self, duration: float | None = None) -> None:
        """Play the scenario and its faults in real time (blocks) for its whole length or
        `duration` seconds. Faults still in force at the end (a Wi-Fi outage, a stopped broker)
        are ended then, so that the boxes can deliver what they hold."""
        start = self._run_start = time.time()
        end = start + (duration if duration is not None else self.scenario.real_seconds)
        pending = self.timeline()
        workers: list[threading.Thread] = []
        while pending:
            at, _, what, tag = pending[0]
            due = start + at
            if due > end or self._stop.wait(max(0.0, due - time.time())):
                break
            pending.pop(0)
            if tag == "slow":
                workers.append(threading.Thread(target=what, name="fleet-fault", daemon=True))
                workers[-1].start()
            else:
                what()
        self._stop.wait(max(0.0, min(end, start + self.scenario.real_seconds) - time.time()))
        for worker in workers:
            worker.join(timeout=60)
        for _, _, what, tag in pending:  # ends of faults still in force
            if tag == "restore":
                what()
        self.done.set()

    def start_traffic(self, duration: float | None = None) -> None:
        self._traffic = threading.Thread(target=self.run, args=(duration,), name="fleet-traffic", daemon=True)
        self._traffic.start()

    def _record(self, record: PressRecord) -> None:
        self.records.append(record)
        if self.on_action:
            self.on_action(record)

    def _do(self, action: Action) -> None:
        if time.time() < self._busy_until.get(action.box, 0.0):
            return  # the box is taken by a fault (stuck button, a masher): this citizen gives up
        vbox = self.boxes[action.box]
        try:
            if action.kind == "test":
                settled = vbox.hold([0, 1], action.hold_ms)
            else:
                settled = vbox.press(action.button, bounce_edges=action.bounce_edges, bounce_ms=action.bounce_ms,
                                     hold_ms=action.hold_ms, seed=action.seed)
        except BoxError:
            return  # the box is off (power cut): nobody can press it
        if action.kind == "press":
            self._last_counted[action.box] = settled
        self._record(PressRecord(action, vbox.box_id, settled))

    # ------------------------------------------------------------------ the report
    def _fetch(self, box: str) -> list[dict[str, Any]]:
        """Every press the collector stored for a box since this fleet started
        (GET /api/v1/presses, cursor-paged; only new pages are fetched on later calls)."""
        import httpx

        assert self.collector_url
        rows = self._rows.setdefault(box, [])
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        while True:
            params: dict[str, Any] = {"box": box, "limit": 1000}
            if self._cursors.get(box):
                params["cursor"] = self._cursors[box]
            try:
                r = httpx.get(f"{self.collector_url}/api/v1/presses", params=params, headers=headers, timeout=10)
            except httpx.HTTPError as e:
                raise FleetError(f"collector at {self.collector_url} unreachable: {e}") from None
            if r.status_code != 200:
                raise FleetError(f"collector answered {r.status_code} to GET /api/v1/presses: {r.text[:200]}")
            page = r.json()
            since = self._t0 - 5
            rows += [p for p in page["items"] if datetime.fromisoformat(p["received_at"]).timestamp() >= since]
            if page["items"]:
                self._cursors[box] = str(page["items"][-1]["id"])
            if not page.get("next_cursor"):
                return rows

    stored = _fetch

    def _seen(self, rec: PressRecord) -> tuple[bool, float | None]:
        """Did the citizen see the box react (and when the LED lit, for an ordinary press)?"""
        changes = [(t, on) for t, on in self.box(rec.box).feedback(rec.settled) if t <= rec.settled + ACK_WINDOW_S]
        if rec.action.kind == "press":
            lit = [t for t, on in changes if on]
            return bool(lit), (lit[0] if lit else None)
        return bool(changes), None

    def _unread_s(self, rec: PressRecord) -> float:
        """How much of a press's settled hold fell inside gaps of the box's sampling of its contacts
        (the boxes report every sample that came >= 30 ms late with edges in its gap)."""
        lo, hi = rec.settled, rec.settled + rec.action.hold_ms / 1000
        unread = 0.0
        for e in list(self.box(rec.box).events):
            if e.kind == "late_sample":
                since = e.data["since"] / 1000
                unread += max(0.0, min(hi, e.t) - max(lo, since))
        return unread

    def report(self, drain_timeout: float = 120.0) -> Report:
        if self.records:  # let the last citizen's feedback happen before judging it
            time.sleep(max(0.0, max(r.settled for r in self.records) + ACK_WINDOW_S + 0.1 - time.time()))
        made: dict[str, int] = {"press": 0, "mash": 0, "test": 0}
        by_box: dict[str, dict[str, Any]] = {b.box_id: {"made": 0, "seen": 0, "acknowledged": 0} for b in self.boxes}
        seen_records: dict[str, list[float]] = {}
        acknowledged = seen_total = unsampled = 0
        debounce_s = {**DEFAULT_TIMINGS, **self.timings}["debounce_ms"] / 1000  # as the boxes were configured
        latencies: list[float] = []
        late: list[str] = []
        consoles: list[str] = []
        for rec in list(self.records):
            made[rec.action.kind] += 1
            entry = by_box[rec.box]
            entry["made"] += 1
            seen, lit = self._seen(rec)
            if seen:
                seen_total += 1
                entry["seen"] += 1
                seen_records.setdefault(rec.box, []).append(rec.settled)
            if rec.action.kind == "press":
                if lit is not None:
                    acknowledged += 1
                    entry["acknowledged"] += 1
                    latencies.append(lit - rec.settled)
                else:
                    unread = self._unread_s(rec)
                    hold = rec.action.hold_ms / 1000
                    # The debouncer needs its window of samples showing the contact closed.
                    if hold - unread < debounce_s:
                        unsampled += 1
                    late.append(f"{rec.box} at {_stamp(rec.settled)} (held {1000 * hold:.0f} ms, "
                                f"{1000 * unread:.0f} ms of it unread)")
                    if len(late) <= 3:  # what the box said around it, for whoever looks into it
                        around = [f"  {_stamp(t)} {line}" for t, line in list(self.box(rec.box).lines)
                                  if rec.settled - 2 <= t <= rec.settled + 2]
                        consoles.append(f"{rec.box}'s console around {_stamp(rec.settled)}:\n"
                                        + ("\n".join(around) or "  (nothing in those 4 s)"))
        rep = Report(self.n, made, acknowledged, None, None, None, by_box, light=self.light)
        rep.seen, rep.unseen, rep.unsampled = seen_total, sum(made.values()) - seen_total, unsampled
        rep.faults = list(self.fault_log)
        if latencies:
            latencies.sort()
            rep.feedback_ms = {"p50": round(1000 * latencies[len(latencies) // 2]),
                               "p99": round(1000 * latencies[int(len(latencies) * 0.99)]),
                               "max": round(1000 * latencies[-1])}
        if late:
            rep.notes.append(f"no feedback within {ACK_WINDOW_S:.0f} s: {', '.join(late[:5])}"
                             + (f" and {len(late) - 5} more" if len(late) > 5 else ""))
            rep.notes += consoles
        rep.elapsed_s = time.time() - self._t0
        rep.boots = sum(b.boots for b in self.boxes)
        if self.light:
            cpu, rss = _self_usage()
            if rep.elapsed_s > 0:
                rep.cpu_percent_per_box = 100 * (cpu - self._self0[0]) / self.n / rep.elapsed_s
                rep.rss_mb_per_box = max(0, rss - self._self0[1]) / self.n / 2**20
        else:
            cpu_s = [b.usage()[0] - self._cpu0.get(b.box_id, 0.0) for b in self.boxes if b.pid]
            rss_b = [b.usage()[1] for b in self.boxes if b.pid]
            if cpu_s and rep.elapsed_s > 0:
                rep.cpu_percent_per_box = 100 * sum(cpu_s) / len(cpu_s) / rep.elapsed_s
                rep.rss_mb_per_box = sum(rss_b) / len(rss_b) / 2**20
        if not self.collector_url:
            return rep
        self._drain(by_box, drain_timeout)
        rep.stored = rep.duplicated = rep.missing = rep.invented = rep.mistimed = 0
        for box, entry in by_box.items():
            items = self._rows.get(box, [])
            keys = [(p["box"], p["seq"]) for p in items]
            distinct = {(p["box"], p["seq"]): p for p in items}
            missing, mistimed = _match(seen_records.get(box, []), list(distinct.values()))
            entry.update(stored=len(distinct), duplicated=len(keys) - len(distinct), missing=missing,
                         mistimed=mistimed, invented=max(0, len(distinct) - entry["made"]))
            rep.stored += len(distinct)
            rep.duplicated += entry["duplicated"]
            rep.missing += missing
            rep.mistimed += mistimed
            rep.invented += entry["invented"]
            if entry["invented"]:
                rep.notes.append(f"{box}: {entry['invented']} stored presses nobody made")
            if missing:
                rep.notes.append(f"{box}: {missing} presses the citizen saw counted are not stored")
        return rep

    def _drain(self, by_box: dict[str, dict[str, Any]], timeout: float) -> None:
        """Wait until every box's presses are stored: all made, or at least all seen and nothing
        arrived for 3 s (a press made while the box was off is never stored), or the timeout."""
        deadline = time.monotonic() + timeout
        last_total, quiet_since = -1, time.monotonic()
        with ThreadPoolExecutor(8) as pool:
            while True:
                list(pool.map(self._fetch, by_box))
                counts = {box: len({p["seq"] for p in self._rows.get(box, [])}) for box in by_box}
                total = sum(counts.values())
                if total != last_total:
                    last_total, quiet_since = total, time.monotonic()
                if all(counts[b] >= e["made"] for b, e in by_box.items()):
                    return
                if all(counts[b] >= e["seen"] for b, e in by_box.items()) and time.monotonic() - quiet_since > 3:
                    return
                if time.monotonic() > deadline:
                    return
                time.sleep(1.0)


def _match(seen: list[float], rows: list[dict[str, Any]]) -> tuple[int, int]:
    """(missing, mistimed): presses the citizen saw, matched in time order to stored rows whose
    time is within TIME_TOLERANCE_S; rows stored without a clock match by count."""
    timed = sorted(datetime.fromisoformat(p["pressed_at"]).timestamp() for p in rows if not p["time_approximate"])
    untimed = sum(1 for p in rows if p["time_approximate"])
    used = [False] * len(timed)
    unmatched = 0
    j0 = 0
    for t in sorted(seen):
        while j0 < len(timed) and (used[j0] or timed[j0] < t - TIME_TOLERANCE_S):
            j0 += 1
        j = j0
        while j < len(timed) and (used[j] or timed[j] < t - TIME_TOLERANCE_S):
            j += 1
        if j < len(timed) and timed[j] <= t + TIME_TOLERANCE_S:
            used[j] = True
        else:
            unmatched += 1
    spare_timed = used.count(False)
    from_untimed = min(unmatched, untimed)
    left = unmatched - from_untimed
    mistimed = min(left, spare_timed)  # stored, but not at the right time
    return left - mistimed, mistimed


def _self_usage() -> tuple[float, int]:
    from simulator.box import _proc_usage

    return _proc_usage(os.getpid())


def clean(workdir: Path) -> None:
    shutil.rmtree(workdir, ignore_errors=True)
