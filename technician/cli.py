"""rating-tech: the technician's one command (build, provision, check, bulk, replace)."""

from __future__ import annotations

import csv
import time
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from collector.device_flags import FLAG_RULES
from technician.device import MIN_VERSION, TESTED_VERSION, DeviceError
from technician.settings import DEFAULT_BUTTON_PINS, TechSettings, load_settings, mask

app = typer.Typer(help="Build the box firmware and provision, check and replace boxes over USB serial "
                       "or socket:// (mpremote). Settings: RATING_TECH_* / technician.env, see technician/README.md.",
                  no_args_is_help=True, add_completion=False)
console = Console(highlight=False, soft_wrap=True)
errors = Console(stderr=True, highlight=False, soft_wrap=True)

_settings_file: Path | None = None


@app.callback()
def main(
    settings: Annotated[Path | None, typer.Option(
        "--settings", help="settings file (KEY=value lines, RATING_TECH_*); default ./technician.env")] = None,
) -> None:
    global _settings_file, _loaded
    _settings_file = settings
    _loaded = None


_loaded: TechSettings | None = None


def _settings() -> TechSettings:
    """The settings, read once per command; says which keys it ignored."""
    global _loaded
    if _loaded is None:
        try:
            _loaded = load_settings(_settings_file)
        except (FileNotFoundError, ValueError) as error:
            errors.print(f"[red]error:[/] {error}")
            raise typer.Exit(2) from None
        if _loaded.ignored:
            errors.print(f"[yellow]warning:[/] not a setting, ignored: {', '.join(_loaded.ignored)}. The settings are "
                         "RATING_TECH_* and the collector's RATING_* (technician/README.md, Settings)")
    return _loaded


def _fail(message: str, code: int = 1) -> typer.Exit:
    errors.print(f"[red]error:[/] {message}")
    return typer.Exit(code)


def _technician(release: Path | None, progress: Any = None) -> Any:
    from technician.provision import Technician

    settings = _settings()
    return Technician(settings, settings.collector, release_dir=release,
                      say=lambda text: console.print(f"  {text}"), progress=progress)


ReleaseOpt = Annotated[Path | None, typer.Option("--release", help="release folder (default: RATING_TECH_RELEASE_DIR "
                                                                   "or ./release)")]
TimeoutOpt = Annotated[float | None, typer.Option("--timeout", help="seconds to wait for the box to come online")]
LoopbackOpt = Annotated[bool, typer.Option(
    "--allow-loopback-broker", help="write a loopback broker address (127.0.0.1, localhost) into a real box's "
                                    "config anyway (refused by default: the box could never reach the broker)")]


@app.command()
def build(
    out: Annotated[Path | None, typer.Option("--out", help="release folder (emptied first); default ./release")] = None,
    board: Annotated[Path | None, typer.Option(
        help="a board.py replacing firmware/board.py (simulator/board/board.py for virtual boxes)")] = None,
    source_lines: Annotated[bool, typer.Option(
        "--source-lines", help="keep line numbers in tracebacks (0.9 KB more heap on the box; for debugging)")] = False,
    target: Annotated[str | None, typer.Option(
        "--target", help="the board the release is for, recorded in the manifest: esp32 or virtual (default: esp32, "
                         "virtual with the simulator's board.py; another --board must say)")] = None,
    key_file: Annotated[Path | None, typer.Option(
        "--key-file", help="the fleet key (hex): signs the release (manifest.sig) so that boxes take it over the air")] = None,
    firmware: Annotated[Path | None, typer.Option(
        "--firmware", help="the firmware source folder (default: the repository's firmware/)")] = None,
) -> None:
    """Compile the firmware to .mpy with mpy-cross into a release folder with a manifest. A release
    leaves out the line-number tables: tracebacks name module and function, every line reads 1."""
    from technician.build import FIRMWARE_DIR, BuildError, read_fleet_key
    from technician.build import build as do_build

    out_dir = out or _settings().release_dir
    try:
        key = read_fleet_key(key_file) if key_file else None
        manifest = do_build(out_dir, firmware_dir=firmware or FIRMWARE_DIR, board=board, source_lines=source_lines,
                            target=target, key=key)
    except BuildError as error:
        raise _fail(str(error)) from None
    table = Table(title=f"firmware {manifest.version} for {manifest.board} in {out_dir}")
    table.add_column("file")
    table.add_column("bytes", justify="right")
    table.add_column("sha256")
    for name, digest in manifest.files.items():
        table.add_row(name, str((out_dir / name).stat().st_size), digest[:16])
    console.print(table)
    console.print(f"{manifest.mpy_cross}; total {manifest.total_bytes(out_dir)} bytes")
    console.print("signed with the fleet key (manifest.sig)" if key_file else
                  "not signed (no --key-file): boxes refuse it over the air")


def _copy_progress() -> Progress:
    return Progress(TextColumn("  copying"), BarColumn(), DownloadColumn(), TimeElapsedColumn(), console=console,
                    transient=True)


def _provision_one(port: str, counter: str | None, box: str | None, release: Path | None, timeout: float | None,
                   replace: bool = False, allow_loopback: bool = False) -> Any:
    from technician.provision import ProvisionError

    with _copy_progress() as bar:
        task = bar.add_task("copy", total=None)
        technician = _technician(release, progress=lambda done, total: bar.update(task, completed=done, total=total))
        try:
            return technician.provision(port, counter=counter, box=box, replace=replace, online_timeout=timeout,
                                        allow_loopback=allow_loopback)
        except ProvisionError as error:
            raise _fail(str(error)) from None


@app.command()
def provision(
    port: Annotated[str, typer.Argument(help="serial port (/dev/ttyUSB0) or socket://host:port")],
    counter: Annotated[str | None, typer.Option(help="the counter this box serves (registry code)")] = None,
    box: Annotated[str | None, typer.Option(help="the box id, as listed in the registry")] = None,
    release: ReleaseOpt = None,
    timeout: TimeoutOpt = None,
    allow_loopback_broker: LoopbackOpt = False,
) -> None:
    """Put the firmware, config.json and a fresh broker password on a box and wait until it is online.

    Re-running it on a provisioned box upgrades the firmware and keeps its identity and unsent presses."""
    if counter is None and box is None:
        console.print("  no --counter/--box: upgrading the box with the identity it has")
    result = _provision_one(port, counter, box, release, timeout, allow_loopback=allow_loopback_broker)
    console.print(f"[green]ok[/] {result.box} is online at counter {result.counter} with firmware {result.fw} "
                  f"(boot {result.boot}, {result.mode}, {result.seconds:.1f} s)")


@app.command()
def replace(
    port: Annotated[str, typer.Argument(help="the new box's port (a blank box with MicroPython)")],
    counter: Annotated[str, typer.Option(help="the counter the new box takes over")],
    release: ReleaseOpt = None,
    timeout: TimeoutOpt = None,
    allow_loopback_broker: LoopbackOpt = False,
) -> None:
    """A new box takes over a counter: new box id, the old box's broker account revoked, and the
    registry closes the old assignment and opens the new one from now."""
    result = _provision_one(port, counter, None, release, timeout, replace=True, allow_loopback=allow_loopback_broker)
    old = f" replacing {result.replaced_box}" if result.replaced_box else ""
    console.print(f"[green]ok[/] {result.box} is online at counter {result.counter}{old} with firmware {result.fw}")


@app.command()
def check(
    port: Annotated[str, typer.Argument(help="serial port or socket://host:port")],
    no_reset: Annotated[bool, typer.Option("--no-reset", help="leave the box at the REPL afterwards")] = False,
) -> None:
    """Firmware version, configuration (secrets masked), outbox depth, Wi-Fi and broker state and
    the last error, read over the REPL. The box is reset afterwards so that it serves again."""
    from technician.inspect_box import read_box

    try:
        report = read_box(port, reset=not no_reset)
    except DeviceError as error:
        raise _fail(str(error)) from None
    info, state = report.info, report.state
    version = ".".join(map(str, info.version))
    supported = "supported" if info.supported else f"UNSUPPORTED (needs {'.'.join(map(str, MIN_VERSION))}+)"
    table = Table(title=f"box at {port}", show_header=False)
    table.add_column("what", style="bold")
    table.add_column("value")
    table.add_row("MicroPython", f"{version} on {info.machine or '?'} ({supported}; tested {TESTED_VERSION})")
    table.add_row("flash", f"{info.free_bytes // 1024} KB free of {info.total_bytes // 1024} KB")
    table.add_row("firmware", str(state.get("fw", "not installed")))
    table.add_row("config.json", report.config_state)
    cfg = report.config or {}
    if cfg:
        broker = cfg.get("broker", {})
        wifi = cfg.get("wifi", {})
        table.add_row("box / counter", f"{cfg.get('box')} / {cfg.get('counter')} ({cfg.get('scale')})")
        table.add_row("wifi (config)", f"ssid {wifi.get('ssid')!r}, password {wifi.get('password') or '(empty)'}")
        table.add_row("broker (config)", f"{broker.get('host')}:{broker.get('port')} tls={broker.get('tls')} "
                                         f"user {broker.get('username')} password {broker.get('password')}")
        table.add_row("ntp", str(cfg.get("ntp")))
    outbox = state.get("outbox_live", state.get("outbox"))
    table.add_row("outbox", "unknown" if outbox is None else f"{outbox} presses not yet sent")
    table.add_row("boots", str(state.get("boot", 0)))
    wifi_state = state.get("wifi")
    table.add_row("wifi", "unknown (firmware not running)" if wifi_state is None else
                  ("connected" + (f", rssi {state.get('rssi')}" if state.get("rssi") is not None else ""))
                  if wifi_state else "not connected")
    broker_state = state.get("broker")
    table.add_row("broker", "unknown (firmware does not expose app.current)" if broker_state is None else
                  ("connected" if broker_state else "not connected"))
    table.add_row("last error", str(state.get("last_error") or ("none" if "last_error" in state else "unknown")))
    presence = _broker_view(report.box) if report.box else None
    if presence is not None:
        table.add_row("broker's view", presence)
    for key in ("outbox_error", "wifi_error", "app_error", "error"):
        if state.get(key):
            table.add_row(key.replace("_", " "), str(state[key]))
    console.print(table)
    if report.reset_error:
        raise _fail(f"{report.reset_error}. It is left at its REPL, not serving: power-cycle it (unplug it and "
                    "plug it in again) or press its EN/reset button")
    if not no_reset:
        console.print("  box reset: it runs its firmware again")


def _broker_view(box: str) -> str | None:
    """The box's retained presence, when the broker is reachable from here (best effort)."""
    from technician.provision import ProvisionError

    try:
        with _technician(None).watch() as watch:
            seen = watch.retained(box)
    except (ProvisionError, OSError):
        return None
    if seen is None:
        return "never seen"
    return f"{seen.payload.get('state')} (boot {seen.payload.get('boot')}, fw {seen.payload.get('fw')})"


def _read_counters(path: Path) -> list[dict[str, str]]:
    try:
        with path.open(newline="", encoding="utf-8-sig") as handle:
            rows = [{k.strip().lower(): (v or "").strip() for k, v in row.items() if k} for row in csv.DictReader(handle)]
    except OSError as error:
        raise _fail(f"cannot read {path}: {error.strerror}", 2) from None
    if not rows or "counter" not in rows[0]:
        raise _fail(f"{path}: needs a header with a 'counter' column (optional: 'port')", 2)
    return [r for r in rows if r.get("counter")]


def _serial_ports() -> set[str]:
    from serial.tools import list_ports

    return {p.device for p in list_ports.comports()}


def _wait_for_unplug(port: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while port in _serial_ports() and time.monotonic() < deadline:
        time.sleep(0.3)


def _wait_for_new_port(known: set[str], timeout: float) -> str | None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        new = _serial_ports() - known
        if new:
            time.sleep(1.0)  # let the USB serial adapter settle
            return min(new)
        time.sleep(0.3)
    return None


@app.command()
def bulk(
    file: Annotated[Path, typer.Argument(help="CSV with a 'counter' column (and optionally 'port')")],
    ports: Annotated[str | None, typer.Option(help="comma-separated ports, one per row, in order; default: "
                                                   "wait for each box to be plugged in")] = None,
    release: ReleaseOpt = None,
    timeout: TimeoutOpt = None,
    plug_timeout: Annotated[float, typer.Option(help="seconds to wait for the next box to be plugged in")] = 300.0,
    allow_loopback_broker: LoopbackOpt = False,
) -> None:
    """Provision a box for each counter of a CSV, one after another, with a closing table."""
    from technician.provision import ProvisionError

    rows = _read_counters(file)
    port_list = [p.strip() for p in ports.split(",") if p.strip()] if ports else []
    if port_list and len(port_list) < len(rows) and not all(r.get("port") for r in rows[len(port_list):]):
        raise _fail(f"{len(rows)} counters but {len(port_list)} ports", 2)
    outcomes: list[tuple[str, str, str, str]] = []
    waiting = not port_list and not all(r.get("port") for r in rows)
    known = _serial_ports() if waiting else set()
    progress = Progress(TextColumn("{task.description}"), BarColumn(), TextColumn("{task.completed}/{task.total}"),
                        TimeElapsedColumn(), console=console)
    with progress:
        overall = progress.add_task("boxes", total=len(rows))
        for i, row in enumerate(rows):
            counter = row["counter"]
            port = row.get("port") or (port_list[i] if i < len(port_list) else None)
            if port is None:
                progress.update(overall, description=f"plug in the box for counter {counter}")
                port = _wait_for_new_port(known, plug_timeout)
                if port is None:
                    outcomes.append((counter, "-", "-", "FAILED: no box was plugged in"))
                    break
            progress.update(overall, description=f"counter {counter} on {port}")
            try:
                result = _technician(release).provision(port, counter=counter, online_timeout=timeout,
                                                        allow_loopback=allow_loopback_broker)
                outcomes.append((counter, port, result.box,
                                 f"online, fw {result.fw} ({result.mode}, {result.seconds:.0f} s)"))
            except ProvisionError as error:
                outcomes.append((counter, port, "-", f"FAILED: {error}"))
            progress.advance(overall)
            if waiting and i + 1 < len(rows):
                progress.update(overall, description=f"unplug the box on {port}")
                _wait_for_unplug(port, plug_timeout)
                known = _serial_ports()
    table = Table(title=f"bulk provisioning from {file}")
    for column in ("counter", "port", "box", "result"):
        table.add_column(column)
    for counter, port, box_id, text in outcomes:
        table.add_row(counter, port, box_id, f"[red]{text}[/]" if text.startswith("FAILED") else f"[green]{text}[/]")
    for row in rows[len(outcomes):]:
        table.add_row(row["counter"], "-", "-", "[yellow]not done[/]")
    console.print(table)
    online = sum(1 for o in outcomes if o[3].startswith("online"))
    console.print(f"{online} of {len(rows)} boxes online")
    if online < len(rows):
        raise typer.Exit(1)


@app.command("settings")
def show_settings() -> None:
    """Show the settings in use (secrets masked)."""
    s = _settings()
    c = s.collector
    table = Table(show_header=False)
    for key, value in (
        ("settings file", str(s.file) if s.file else "(none)"),
        ("data folder", str(c.data_dir)),
        ("wifi ssid", s.wifi_ssid or "(not set)"),
        ("wifi password", mask(s.wifi_password.get_secret_value())),
        ("broker (boxes)", f"{s.broker_host or c.mqtt_host}:{s.broker_port or c.mqtt_port} tls={s.broker_tls}"),
        ("broker (watch)", f"{c.mqtt_host}:{c.mqtt_port} as {s.mqtt_username or c.mqtt_username}"),
        ("broker accounts", str(c.broker_dir / "passwd")),
        ("registry database", c.database_url.split("@")[-1]),
        ("ntp", str(s.ntp)),
        ("button pins", s.button_pins or " / ".join(",".join(map(str, DEFAULT_BUTTON_PINS[n])) for n in (2, 3, 4))
         + ("" if s.button_pins else " (2 / 3 / 4 buttons)")),
        ("other pins", f"feedback LED {s.led_feedback_pin}, status LED {s.led_status_pin}, buzzer {s.buzzer_pin}"),
        ("release", str(s.release_dir)),
    ):
        table.add_row(key, value)
    console.print(table)


@app.command()
def ota(
    version: Annotated[str | None, typer.Argument(help="the release's version, e.g. 0.2.0")] = None,
    canary: Annotated[str | None, typer.Option(
        "--canary", help="start the rollout with these boxes (comma list, e.g. box-017,box-018)")] = None,
    all_boxes: Annotated[bool, typer.Option("--all", help="widen to every box behind the version")] = False,
    percent: Annotated[int | None, typer.Option("--percent", help="widen to this share (1-100) of the boxes left")] = None,
    status: Annotated[bool, typer.Option("--status", help="show the rollouts (or VERSION's), change nothing")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="print the rollouts as JSON")] = False,
    wait_s: Annotated[float, typer.Option(
        "--wait", help="then follow the rollout up to this many seconds, until no box is pending or sent")] = 0.0,
) -> None:
    """Update boxes over the air: `ota 0.2.0 --canary box-017,box-018`, then, once the canaries run
    it (RATING_ROLLOUT_SOAK_S on the collector), `ota 0.2.0 --all` or `--percent 10`. A canary that
    fails or rolls back stops the rollout by itself. Needs an admin token (technician/README.md).
    Exit 1 when the rollout stopped or a box failed or rolled back."""
    import json

    from technician import ota as rollout

    stages = sum((canary is not None, all_boxes, percent is not None))
    if status and stages or not status and (stages != 1 or version is None):
        raise _fail("give VERSION and one of --canary, --all or --percent; or --status [VERSION]", 2)
    settings = _settings()
    tz_name = settings.collector.timezone

    def show(found: list[dict[str, Any]]) -> None:
        if as_json:
            console.print_json(json.dumps(found))
            return
        for item in found:
            console.print(rollout.rollout_table(item, tz_name))
        if not found:
            console.print("no rollouts")

    try:
        with rollout.CollectorClient.from_settings(settings) as client:
            if status:
                found = rollout.rollouts(client, version)
            else:
                assert version is not None
                boxes = [b.strip() for b in canary.split(",") if b.strip()] if canary is not None else None
                found = [rollout.request_stage(client, version, canary=boxes, all_boxes=all_boxes, percent=percent)]
            if wait_s > 0 and version is not None:
                found = [rollout.wait(client, version, wait_s, lambda r: None if as_json else errors.print(
                    f"{r['version']}: {r['state']}, " + ", ".join(f"{n} {s}" for s, n in r["counts"].items() if n)))]
    except rollout.CollectorError as error:
        raise _fail(str(error), 2 if error.status == 422 else 1) from None
    show(found)
    if any(r["state"] == "stopped" or r["counts"].get("failed") or r["counts"].get("rolled_back") for r in found):
        raise typer.Exit(1)


def _collector() -> Any:
    """A client of the collector's HTTP API (technician/collector_client.py)."""
    from technician.collector_client import CollectorClient, CollectorError

    try:
        return CollectorClient.from_settings(_settings())
    except CollectorError as error:
        raise _fail(str(error)) from None


@app.command(help="Every box as the collector last heard from it: counter, firmware, online/offline, last seen "
                  "(the center's zone), outbox, RSSI, free heap, reset cause, boots, rollout state, flags. "
                  f"Flagged: {FLAG_RULES}.")
def fleet(
    as_json: Annotated[bool, typer.Option("--json", help="JSON (times in UTC, as the collector's API gives them)")]
    = False,
) -> None:
    import json

    from technician.collector_client import CollectorError
    from technician.fleet import Fleet

    try:
        with _collector() as client:
            status = client.get("/api/v1/devices/status")
    except CollectorError as error:
        raise _fail(str(error)) from None
    boxes = Fleet.from_status(status, _settings().collector.timezone)
    if as_json:
        typer.echo(json.dumps(boxes.as_json(), indent=1, ensure_ascii=False))
        return
    console.print(boxes.table())
    console.print(boxes.footer())


@app.command()
def retire(box: Annotated[str, typer.Argument(help="the box id, e.g. box-017")]) -> None:
    """Take a box out of service for good: the collector revokes its broker account, closes its
    current assignment to a counter and marks it retired; its presses and history stay. Needs an
    admin token. Again on a retired box: nothing changes. Exit 1 for a box the collector does not know."""
    from technician.collector_client import CollectorError
    from technician.retire import report
    from technician.retire import retire as do_retire

    try:
        with _collector() as client:
            done = do_retire(client, box)
    except CollectorError as error:
        raise _fail(str(error), 2 if error.status == 422 else 1) from None
    said, warnings = report(done, _settings().collector.timezone)
    for line in said:
        console.print(line)
    for line in warnings:
        errors.print(f"[yellow]warning:[/] {line}")


@app.command()
def label(
    boxes: Annotated[list[str] | None, typer.Argument(help="box ids, e.g. box-017 box-018")] = None,
    all_boxes: Annotated[bool, typer.Option("--all", help="every box the registry has at a counter now")] = False,
    size: Annotated[str, typer.Option("--size", help="sticker width x height in mm (the label printer's roll)")]
    = "62x29",
    out: Annotated[Path, typer.Option("--out", help="the PDF to write")] = Path("labels.pdf"),
) -> None:
    """Stickers for boxes as a PDF, one page per sticker at the label printer's size: box id, counter,
    the day it was installed there (the center's zone) and a QR code of the box id. From the
    collector's registry (any token)."""
    from datetime import UTC, datetime

    from technician.collector_client import CollectorError
    from technician.label import LabelError, parse_size, render_pdf, stickers

    if bool(boxes) == all_boxes:
        raise _fail("give box ids or --all", 2)
    try:
        parse_size(size)
    except LabelError as error:
        raise _fail(str(error), 2) from None
    try:
        with _collector() as client:
            registry, counters = client.get("/api/v1/registry/boxes"), client.get("/api/v1/registry/counters")
        made = stickers(registry, counters, None if all_boxes else list(boxes or []), _settings().collector.timezone,
                        datetime.now(UTC))
        pdf = render_pdf(made, size)
    except (CollectorError, LabelError) as error:
        raise _fail(str(error)) from None
    try:
        out.write_bytes(pdf)
    except OSError as error:
        raise _fail(f"cannot write {out}: {error.strerror}") from None
    console.print(f"{len(made)} stickers ({size} mm) in {out}: " + ", ".join(s.box for s in made))
