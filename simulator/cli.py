"""rating-sim: virtual boxes running the real firmware (python -m simulator --help)."""

from __future__ import annotations

import json
import signal
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import typer

from simulator.box import BoxError, VirtualBox, make_config
from simulator.fleet import ExternalBroker, Fleet, FleetError, check_broker, reload_broker
from simulator.traffic import ScenarioError, load_scenario

app = typer.Typer(help="Virtual rating boxes: the real firmware on the MicroPython unix port.",
                  no_args_is_help=True, pretty_exceptions_enable=False)


def _fail(message: str) -> None:
    typer.secho(f"error: {message}", fg=typer.colors.RED, err=True)
    raise typer.Exit(2)


def _lit_after(vbox: VirtualBox, settled: float) -> Callable[[], list[float]]:
    return lambda: [t for t, on in vbox.feedback(settled - 1) if on]


@app.command()
def box(
    box_id: str = typer.Option("box-01", "--box", help="box id, also its broker username"),
    counter: str = typer.Option("01", help="counter the box serves"),
    broker_dir: Path = typer.Option(..., help="the broker's folder (collector.broker): the box's account goes there"),
    broker_host: str = typer.Option("127.0.0.1"),
    broker_port: int = typer.Option(1883),
    repl_port: int = typer.Option(0, help="TCP port of the box's console for mpremote (0: any free port)"),
    workdir: Path | None = typer.Option(None, help="keep the box's flash here (default: a temporary folder)"),
    no_ntp: bool = typer.Option(False, help="a box without NTP (it waits for the collector's clock beacon)"),
) -> None:
    """One box, interactive: 0/1 press a button, t self-test, w Wi-Fi, n NTP, p power cut, h freeze, q quit."""
    import re

    if not re.fullmatch(r"box-[a-z0-9][a-z0-9-]{0,27}", box_id):
        _fail(f"box id {box_id!r} must match box-[a-z0-9][a-z0-9-]{{0,27}}")
    try:
        check_broker(broker_host, broker_port)
    except FleetError as e:
        _fail(str(e))
    from collector.broker import BrokerError, add_box

    try:  # as `rating-collector broker add-box`: bound to its box id as client id, then a password
        password = add_box(broker_dir, box_id)
    except BrokerError as e:
        _fail(str(e))
    if not reload_broker(broker_dir):
        typer.echo("warning: no Mosquitto runs that broker folder here; reload it yourself (SIGHUP)", err=True)
    cfg = make_config(box_id, counter, password=password, broker_host=broker_host, broker_port=broker_port,
                      ntp=None if no_ntp else "sim")
    vbox = VirtualBox(cfg, workdir or Path(tempfile.mkdtemp(prefix=f"{box_id}-")), repl_port=repl_port,
                      ntp=not no_ntp, echo=lambda b, line: typer.echo(f"[{b}] {line}"))
    try:
        vbox.start()
    except BoxError as e:
        _fail(str(e))
    typer.echo(f"{box_id} runs (flash {vbox.image}); console: mpremote connect socket://127.0.0.1:{vbox.repl_port} "
               "resume repl")
    wifi = ntp_on = True
    try:
        while True:
            cmd = input().strip()
            if cmd in ("0", "1", "2", "3"):
                settled = vbox.press(int(cmd))
                lit = vbox.wait_for(_lit_after(vbox, settled), 3)
                typer.echo(f"  feedback LED after {(lit[0] - settled) * 1000:.0f} ms")
            elif cmd == "t":
                vbox.hold([0, 1], 5500)
            elif cmd == "w":
                wifi = not wifi
                vbox.wifi(wifi)
                typer.echo(f"  wifi {'up' if wifi else 'down'}")
            elif cmd == "n":
                ntp_on = not ntp_on
                vbox.ntp(ntp_on)
                typer.echo(f"  NTP {'answers' if ntp_on else 'silent'}")
            elif cmd == "p":
                vbox.power_cut(off_s=1.0)
                typer.echo("  power cut; back in 1 s")
            elif cmd == "h":
                vbox.hang()
                typer.echo("  firmware frozen; the watchdog will reset the box")
            elif cmd == "q":
                break
            elif cmd:
                typer.echo("  0/1 press, t self-test, w toggle Wi-Fi, n toggle NTP, p power cut, h freeze, q quit")
    except (EOFError, KeyboardInterrupt, TimeoutError):
        pass
    finally:
        vbox.stop()


@app.command()
def fleet(
    broker_dir: Path = typer.Option(..., help="the broker's folder (collector.broker): box accounts go there"),
    scenario: str = typer.Option("office-day", help="scenario name (simulator/scenarios) or a JSON file"),
    boxes: int | None = typer.Option(None, help="number of boxes (default: the scenario's)"),
    speed: float | None = typer.Option(None, help="real minutes per working day (default: the scenario's)"),
    seed: int = typer.Option(1, help="same seed, same presses"),
    duration: float | None = typer.Option(None, help="stop after this many real seconds"),
    broker_host: str = typer.Option("127.0.0.1"),
    broker_port: int = typer.Option(1883),
    collector_url: str | None = typer.Option(None, help="collector API, for the stored counts"),
    token: str | None = typer.Option(None, envvar="RATING_API_TOKEN", help="API token (or RATING_API_TOKEN)"),
    workdir: Path | None = typer.Option(None, help="keep the boxes' flash and credentials here"),
    as_json: bool = typer.Option(False, "--json", help="print the report as JSON"),
    fault: list[str] = typer.Option([], help="add a fault to the scenario's timeline: KIND@AT[,key=value...], "
                                    "e.g. wifi@30,for_s=20,boxes=all  power_cut@10-50,boxes=random  "
                                    "broker@60,for_s=15  stuck@5,boxes=box-03,for_s=12  mash@8,presses=6  "
                                    "no_ntp@0,boxes=box-02  hang@20,boxes=random"),
    light: bool = typer.Option(False, "--light", help="light mode: every box's firmware in this one process"),
    mpy: bool = typer.Option(True, "--mpy/--py", help="full boxes run the compiled .mpy release (default) or .py"),
) -> None:
    """N boxes playing a scenario (and its faults) against a running broker; prints the acceptance
    report. Exit code 1 when a press the citizen saw is missing, doubled or invented."""
    try:
        sc = load_scenario(scenario, day_minutes=speed, boxes=boxes, faults_extra=[parse_fault_option(f) for f in fault])
        check_broker(broker_host, broker_port)
    except (ScenarioError, FleetError) as e:
        _fail(str(e))
    control = ExternalBroker(broker_dir, broker_host, broker_port) if any(f.fault == "broker" for f in sc.faults) \
        else None
    fl = Fleet(broker_dir, scenario=sc, broker_host=broker_host, broker_port=broker_port, seed=seed,
               workdir=workdir, collector_url=collector_url, token=token, light=light, mpy=mpy,
               broker_control=control)
    signal.signal(signal.SIGTERM, lambda *a: fl._stop.set())
    try:
        t = time.time()
        fl.start()
        typer.echo(f"{fl.n} boxes up in {time.time() - t:.1f} s; scenario {sc.name}: "
                   f"{sc.days} day(s) of {sc.day_minutes} min, {len(fl.plan())} actions", err=True)
        try:
            fl.run(duration)
        except KeyboardInterrupt:
            typer.echo("interrupted: reporting what was done", err=True)
        rep = fl.report()
    except FleetError as e:
        _fail(str(e))
    finally:
        fl.stop()
    typer.echo(json.dumps(rep.as_dict(), indent=2, default=str) if as_json else rep.text())
    if rep.stored is not None and not rep.ok:
        raise typer.Exit(1)


def parse_fault_option(text: str) -> dict[str, object]:
    """KIND@AT[,key=value...] -> a scenario fault entry (checked later like one from a file)."""
    head, _, rest = text.partition(",")
    kind, at_sep, at = head.partition("@")
    if not at_sep:
        raise ScenarioError(f"--fault {text!r}: expected KIND@AT[,key=value...], e.g. wifi@30,for_s=20")
    entry: dict[str, object] = {"fault": kind, "at": _number_or_range(at, text)}
    for item in filter(None, rest.split(",")):
        key, eq, value = item.partition("=")
        if not eq:
            raise ScenarioError(f"--fault {text!r}: {item!r} is not key=value")
        if key == "boxes":
            entry[key] = value.split("+") if "+" in value else value
        else:
            entry[key] = _number_or_range(value, text)
    return entry


def _number_or_range(value: str, text: str) -> object:
    try:
        if "-" in value.lstrip("-"):
            lo, hi = value.split("-", 1)
            return [float(lo), float(hi)]
        number = float(value)
        return int(number) if number.is_integer() else number
    except ValueError:
        raise ScenarioError(f"--fault {text!r}: {value!r} is not a number (or LO-HI)") from None



@app.command("blank-box")
def blank_box_command(
    repl_port: int = typer.Option(0, help="TCP port of the box's console (0: any free port)"),
    workdir: Path | None = typer.Option(None, help="keep the box's flash here, to start it again as it was "
                                        "(default: a temporary folder, removed when it stops)"),
) -> None:
    """A blank virtual box: MicroPython with an empty flash, like an ESP32 just flashed with
    MicroPython, to try `rating-tech provision` on. Prints its port; runs until Ctrl-C or SIGTERM."""
    import shutil
    import threading

    from simulator.blank import blank_box

    folder = workdir or Path(tempfile.mkdtemp(prefix="blank-box-"))
    vbox = blank_box(folder, repl_port=repl_port)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *a: stop.set())
    try:
        vbox.start()
    except BoxError as e:
        _fail(str(e))
    port = f"socket://127.0.0.1:{vbox.repl_port}"
    typer.echo(f"blank box runs: MicroPython {'with the flash of ' + str(vbox.image) if workdir else 'with an empty flash'}")
    typer.echo(f"port: {port}")
    typer.echo(f"  rating-tech provision {port} --counter N --release release-sim")
    typer.echo("  (release-sim: rating-tech build --board simulator/board/board.py --out release-sim)")
    typer.echo(f"  mpremote connect {port} resume repl     # its console")
    typer.echo("Ctrl-C stops it")
    try:
        while not stop.wait(0.5):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        vbox.stop()
        if workdir is None:
            shutil.rmtree(folder, ignore_errors=True)
    typer.echo("blank box stopped")


@app.command()
def stack(
    data_dir: Path = typer.Option(Path("data"), envvar="RATING_DATA_DIR", help="where everything is kept; survives restarts"),
    mqtt_port: int = typer.Option(1883, envvar="RATING_MQTT_PORT", help="the broker's port on 127.0.0.1"),
    http_port: int = typer.Option(8000, envvar="RATING_HTTP_PORT", help="the collector's HTTP port on 127.0.0.1"),
    boxes: int = typer.Option(60, min=1, max=999, help="virtual boxes, one per counter"),
    scenario: str = typer.Option("office-day", help="traffic scenario (simulator/scenarios/NAME.json or a path)"),
    seed: int = typer.Option(1, help="seed of the traffic; the same seed gives the same presses"),
    duration: float = typer.Option(0, min=0, help="stop after this many seconds and print the acceptance "
                                   "report (exit 1 if a press is missing or duplicated); 0 = until Ctrl-C"),
) -> None:
    """Broker + collector + fleet in one command (this is `make run`)."""
    from simulator.stack import main as stack_main

    raise typer.Exit(stack_main(data_dir, mqtt_port=mqtt_port, http_port=http_port, boxes=boxes,
                                scenario=scenario, seed=seed, duration=duration))
