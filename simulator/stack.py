"""`make run`: the whole system on this machine. Mosquitto with the project's configuration, the
collector (ingest + HTTP) and a simulated fleet, one box per counter, pressing at a realistic pace.

Everything lives in the data folder (default ./data), which survives restarts: the broker's
persistence and accounts, the database, the boxes' flash. Ctrl-C stops every process it started.

Killed outright (SIGKILL, the terminal closed), a process cannot clean up after itself, and the
broker, the collector and the boxes run in sessions of their own: they would hold the ports. So the
process the user started only waits, and the stack runs in a child of it that the kernel sends
SIGTERM when its parent dies (PR_SET_PDEATHSIG); that child then stops everything it started.
"""

from __future__ import annotations

import ctypes
import os
import secrets
import signal
import subprocess
import sys
import threading
import time
import traceback
from contextlib import ExitStack
from datetime import date
from pathlib import Path

import httpx
import yaml

from collector.broker import Broker, BrokerError, refuse_busy_port
from collector.clock import local_day, utc_now
from collector.settings import get_settings
from simulator.center import counter_code, registry
from simulator.fleet import Fleet, FleetError
from simulator.traffic import load_scenario

HEALTH_TIMEOUT_S = 60
# At the stop, how long the boxes may take to send what they still hold before the report.
DRAIN_S = 30.0


def today() -> date:
    return local_day(utc_now(), get_settings().timezone)


class StackError(RuntimeError):
    pass


def _collector(env: dict[str, str], *args: str, stdin: str | None = None) -> str:
    done = subprocess.run([sys.executable, "-m", "collector", *args], env=env, capture_output=True, text=True,
                          input=stdin, check=False)
    if done.returncode != 0:
        raise StackError(f"rating-collector {' '.join(args)} failed:\n{(done.stderr or '').strip()}")
    return (done.stdout or "").strip()


def _admin_token(data_dir: Path, env: dict[str, str]) -> str:
    """The demo's admin token: made once, kept private in the data folder, never printed."""
    path = data_dir / "secrets" / "admin-token"
    if not path.exists():
        token = _collector(env, "token", "create", "--name", "make-run", "--role", "admin")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.touch(mode=0o600)
        path.write_text(token + "\n")
    return path.read_text().strip()


def _dashboard_login(data_dir: Path, env: dict[str, str]) -> Path:
    """The demo's dashboard user "admin": its password is made once and kept private in the data
    folder, never printed."""
    path = data_dir / "secrets" / "dashboard-admin-password"
    if not path.exists():
        password = secrets.token_urlsafe(12)
        _collector(env, "user", "create", "admin", "--role", "admin", "--password-stdin", stdin=password + "\n")
        path.touch(mode=0o600)
        path.write_text(password + "\n")
    return path


def _wait_healthy(url: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + HEALTH_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise StackError(f"the collector exited with code {process.returncode}; see {log}")
        try:
            if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise StackError(f"the collector did not become healthy within {HEALTH_TIMEOUT_S} s; see {log}")


def _stop_process(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def total_stored(url: str, token: str, counters: int, since: date) -> int:
    """Presses stored from the local day `since` to today over all counters (suppressed and test
    presses included), as a supervisor would ask for them."""
    headers = {"Authorization": f"Bearer {token}"}
    params = {"include": "suppressed,test", "from": since.isoformat(), "to": today().isoformat()}
    total = 0
    with httpx.Client(base_url=url, headers=headers, timeout=10) as client:
        for number in range(1, counters + 1):
            answer = client.get(f"/api/v1/counters/{counter_code(number)}/satisfaction", params=params)
            answer.raise_for_status()
            total += answer.json()["total"]
    return total


def run(data_dir: Path, *, mqtt_port: int, http_port: int, boxes: int, scenario_name: str, seed: int,
        duration: float = 0, report_every_s: float = 15.0) -> bool:
    """Run until Ctrl-C (or for `duration` seconds), then print the acceptance report.
    Returns False when that report finds a press missing or duplicated."""
    data_dir = data_dir.resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    logs = data_dir / "logs"
    logs.mkdir(exist_ok=True)
    env = {**os.environ, "RATING_DATA_DIR": str(data_dir), "RATING_MQTT_PORT": str(mqtt_port),
           "RATING_HTTP_PORT": str(http_port)}
    url = f"http://127.0.0.1:{http_port}"
    scenario = load_scenario(scenario_name, boxes=boxes)
    started = today()
    refuse_busy_port("127.0.0.1", mqtt_port, "MQTT")
    refuse_busy_port("127.0.0.1", http_port, "HTTP")

    stop = _stop_on_signals()

    _collector(env, "broker", "setup")
    registry_file = data_dir / "registry.yaml"
    if not registry_file.exists():
        registry_file.write_text(yaml.safe_dump(registry(counters=boxes), allow_unicode=True, sort_keys=False))
    _collector(env, "registry", "load", str(registry_file))
    token = _admin_token(data_dir, env)
    dashboard_password = _dashboard_login(data_dir, env)

    with ExitStack() as running:
        broker = Broker(data_dir / "broker", port=mqtt_port, log_path=logs / "mosquitto.log",
                        autosave_changes=get_settings().broker_autosave_changes).start()
        running.callback(broker.stop)
        print(f"broker     mqtt://127.0.0.1:{mqtt_port}   (log: {logs / 'mosquitto.log'})", flush=True)

        collector_log = logs / "collector.log"
        with open(collector_log, "ab") as log:
            collector = subprocess.Popen([sys.executable, "-m", "collector", "serve"], env=env, stdout=log,
                                         stderr=subprocess.STDOUT, start_new_session=True)
        running.callback(_stop_process, collector)
        _wait_healthy(url, collector, collector_log)
        print(f"collector  {url}   API docs {url}/docs   (log: {collector_log})", flush=True)
        print(f"dashboard  {url}/dashboard   user admin, password in {dashboard_password}", flush=True)
        print(f"API        bearer token in {data_dir / 'secrets' / 'admin-token'}", flush=True)
        # What a data folder of an earlier run holds already: the status line counts this run's.
        stored_before = total_stored(url, token, scenario.boxes, started)

        fleet = Fleet(data_dir / "broker", scenario=scenario, broker_port=mqtt_port, seed=seed,
                      workdir=data_dir / "fleet", collector_url=url, token=token, reload=broker.reload,
                      broker_control=broker)
        print(f"fleet      starting {scenario.boxes} virtual boxes ...", flush=True)
        fleet.start()
        running.callback(fleet.stop)
        print(f"fleet      {scenario.boxes} boxes running scenario {scenario.name!r}; Ctrl-C stops everything",
              flush=True)

        def traffic() -> None:
            day = 0
            while not stop.is_set():
                fleet.seed = seed + day  # each simulated day is different, and reproducible
                fleet.run()
                day += 1

        threading.Thread(target=traffic, name="traffic", daemon=True).start()
        if duration:
            threading.Timer(duration, stop.set).start()
        while not stop.wait(report_every_s):
            try:
                stored = total_stored(url, token, scenario.boxes, started) - stored_before
            except httpx.HTTPError as error:
                print(f"collector unreachable: {error}", flush=True)
                continue
            print(f"{time.strftime('%H:%M:%S')}  {status_line(len(fleet.records), stored)}", flush=True)
        fleet.stop_traffic()
        print(f"stopping: the boxes send what they hold (up to {DRAIN_S:.0f} s), then the acceptance report",
              flush=True)
        report = fleet.report(drain_timeout=DRAIN_S)
        print(report.text(), flush=True)
        stored = total_stored(url, token, scenario.boxes, started) - stored_before
        print(f"stored (satisfaction API, all counters) {stored}", flush=True)
        return report.missing == 0 and report.duplicated == 0


def status_line(made: int, stored: int) -> str:
    """This run's presses made by the fleet and stored by the collector, and what the gap means."""
    line = f"presses made {made:6d}   presses stored {stored:6d}"
    if stored < made:
        return line + f"   ({made - stored} still in the boxes' flash or on their way)"
    if stored > made:
        return line + f"   ({stored - made} more stored than made: the acceptance report at the stop tells which)"
    return line + "   (all stored)"


def _stop_on_signals() -> threading.Event:
    """An event that SIGINT or SIGTERM sets. Ctrl-C reaches the stack twice (from the terminal and
    from the waiting parent): a second signal within a second is that echo; a later one stops at
    once, without waiting for the boxes or the report."""
    stop = threading.Event()
    first: list[float] = []

    def handle(signum: int, _frame: object) -> None:
        if not first:
            first.append(time.monotonic())
            stop.set()
        elif time.monotonic() - first[0] > 1.0:
            raise KeyboardInterrupt

    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, handle)
    return stop


PR_SET_PDEATHSIG = 1  # <linux/prctl.h>


def _die_with_parent(parent: int) -> None:
    """SIGTERM this process when `parent` ends, however it ends."""
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_PDEATHSIG) failed")
    if os.getppid() != parent:  # it ended before the signal was armed
        os.kill(os.getpid(), signal.SIGTERM)


def _wait_for(child: int) -> int:
    """The parent's whole job: hand on the signals meant for the stack, and its exit code."""
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda signum, _frame: os.kill(child, signum))
    _, status = os.waitpid(child, 0)
    code = os.waitstatus_to_exitcode(status)
    return code if code >= 0 else 1


def main(data_dir: Path, *, mqtt_port: int, http_port: int, boxes: int, scenario: str, seed: int,
         duration: float = 0) -> int:
    parent = os.getpid()
    sys.stdout.flush()
    sys.stderr.flush()
    child = os.fork()
    if child:
        return _wait_for(child)
    code = 1
    try:
        _die_with_parent(parent)
        code = _run_reporting_errors(data_dir, mqtt_port=mqtt_port, http_port=http_port, boxes=boxes,
                                     scenario=scenario, seed=seed, duration=duration)
    except Exception:  # noqa: BLE001 - shown, then the exit below: never let the child go on
        traceback.print_exc()
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)  # the child must never go on to run the parent's code (typer's exit)


def _run_reporting_errors(data_dir: Path, *, mqtt_port: int, http_port: int, boxes: int, scenario: str,
                          seed: int, duration: float) -> int:
    try:
        accepted = run(data_dir, mqtt_port=mqtt_port, http_port=http_port, boxes=boxes, scenario_name=scenario,
                       seed=seed, duration=duration)
    except (StackError, BrokerError, FleetError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("stopped at once, without the acceptance report", file=sys.stderr)
        return 130
    return 0 if accepted else 1
