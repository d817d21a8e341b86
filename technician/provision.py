"""Provision, upgrade and replace boxes: the firmware release, config.json, the box's broker
account and its registry assignment, in an order that never leaves a box that looks healthy
but is not:

1. everything that can refuse is asked first, before the box is touched: the release, the
   settings, the registry, the broker (reachable, the box id not in use elsewhere), the board
   (MicroPython, version, free flash);
2. an already provisioned box's config.json is renamed to config.bak: from here until step 5 the
   box blinks "config missing" if anything fails (and a re-run finds its identity in config.bak);
3. the firmware files are copied (unchanged ones skipped by hash) and checked by hash;
4. the broker account (collector.broker.add_box: bound to its box id as client id, a fresh
   password, other accounts kept) and the registry assignment;
5. config.json last: written as config.tmp, checked, renamed (atomic on LittleFS);
6. (replace) the old box's account is revoked; the box is reset and must announce itself online
   on the broker with the right counter and firmware.

The outbox (ob/) is never written, renamed or deleted: unsent presses and the box's sequence
numbers survive every re-provisioning.
"""

from __future__ import annotations

import copy
import hashlib
import ipaddress
import json
import re
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from collector import broker as broker_accounts
from collector.broker import COLLECTOR_USER
from collector.settings import Settings as CollectorSettings
from schemas.contract import box_topic
from technician.assignments import Assignment, AssignmentError, Registry, new_box_id, now
from technician.build import BOARDS, BuildError, Manifest, read_fleet_key, read_manifest
from technician.device import MIN_VERSION, TESTED_VERSION, BoardInfo, Device, DeviceError
from technician.firmware_loader import load_firmware
from technician.settings import DEFAULT_BUTTON_PINS, TechSettings
from technician.watch import BrokerUnreachable, BrokerWatch, publish_retained

CONFIG, CONFIG_TMP, CONFIG_BAK = "config.json", "config.tmp", "config.bak"
FLEET_KEY = "fleet.key"  # the key a box checks signed releases with (firmware/ota.py)
FREE_RESERVE = 32 * 1024  # flash left for the outbox after an install (~2,000 presses)
SCALE_BUTTONS = {"sat2": 2, "vn3": 3, "smiley4": 4}
BUILD_FOR = {"esp32": "build its release with `rating-tech build --out release`",
             "virtual": "build its release with `rating-tech build --board simulator/board/board.py --out release-sim`"}


class ProvisionError(RuntimeError):
    """Refused or failed, with a message for the technician. `touched` tells whether the box was
    changed (and so blinks 'config missing' until provisioned again)."""

    def __init__(self, message: str, *, touched: bool = False):
        super().__init__(message)
        self.touched = touched


@dataclass
class Result:
    port: str
    box: str
    counter: str
    fw: str
    boot: int | None
    mode: str  # new | upgrade | replace
    seconds: float
    copied: int
    skipped: int
    replaced_box: str | None = None
    notes: list[str] = field(default_factory=list)


Say = Callable[[str], None]


_ERROR_LINE = re.compile(r"^[A-Z]\w*(Error|Exception|Interrupt)\b.*")
_BOOT_ERROR = re.compile(r"^(config|flash) error \d+: .*")


def diagnose(console: str) -> tuple[str, str]:
    """(kind, line) from what a box printed while it booted (firmware/startup.py, firmware/app.py):
    "crash" (a traceback's last line, or the board failing to start its hardware), "boot" (a
    config or flash error it blinks), "wifi" or "broker" (its last error of that kind), or ""
    with its last line ("" when it said nothing)."""
    lines = [line.strip() for line in console.splitlines() if line.strip()]
    tail = lines[max((i for i, line in enumerate(lines) if line.startswith("Traceback")), default=len(lines)):]
    crash = [line for line in tail if _ERROR_LINE.match(line)]
    if crash:
        return "crash", crash[-1]
    for line in reversed(lines):
        if line.startswith("board init failed"):
            return "crash", line
        if _BOOT_ERROR.match(line):
            return "boot", line
    for line in reversed(lines):
        if line.startswith("error: wifi"):
            return "wifi", line
        if line.startswith("error: broker"):
            return "broker", line
    return "", lines[-1] if lines else ""


def is_loopback(host: str) -> bool:
    """127.0.0.1, ::1, localhost, 0.0.0.0 and the like: addresses that mean "this machine"."""
    name = host.strip().strip("[]").lower().rstrip(".")
    if name == "localhost" or name.endswith(".localhost") or name == "localhost.localdomain":
        return True
    try:
        address = ipaddress.ip_address(name)
    except ValueError:
        return False
    return address.is_loopback or address.is_unspecified


def mpy_major(release_dir: Path, manifest: Manifest) -> int | None:
    for name in manifest.files:
        if name.endswith(".mpy"):
            return (release_dir / name).read_bytes()[1]
    return None


class Technician:
    def __init__(
        self,
        settings: TechSettings,
        collector: CollectorSettings,
        *,
        release_dir: Path | None = None,
        reload: Callable[[], bool] | None = None,
        say: Say = lambda text: None,
        progress: Callable[[int, int], None] | None = None,
    ):
        self.s = settings
        self.c = collector
        self.release_dir = Path(release_dir or settings.release_dir)
        self.broker_dir = collector.broker_dir
        self._reload = reload or (lambda: broker_accounts.reload_running(self.broker_dir))
        self.say = say
        self.progress = progress  # (bytes done, bytes total) while copying

    # -- shared checks -------------------------------------------------------------------------------
    def release(self) -> Manifest:
        try:
            return read_manifest(self.release_dir)
        except BuildError:
            raise ProvisionError(f"no firmware release in {self.release_dir}: run `rating-tech build` first") from None

    def fleet_key(self) -> bytes:
        assert self.s.fleet_key_file is not None
        try:
            return read_fleet_key(self.s.fleet_key_file)
        except BuildError as error:
            raise ProvisionError(str(error)) from None

    def registry(self) -> Registry:
        try:
            return Registry(self.c.database_url, self.c.timezone)
        except AssignmentError as error:
            raise ProvisionError(str(error)) from None

    def watch(self) -> BrokerWatch:
        user = self.s.mqtt_username or self.c.mqtt_username or COLLECTOR_USER
        password_file = self.s.mqtt_password_file or self.c.mqtt_password_file
        try:
            password = Path(password_file).read_text(encoding="utf-8").strip() if password_file else ""
        except OSError:
            raise ProvisionError(f"the broker password for {user!r} is not readable at {password_file}") from None
        try:
            return BrokerWatch(self.c.mqtt_host, self.c.mqtt_port, user, password).connect()
        except BrokerUnreachable as error:
            raise ProvisionError(f"{error}; nothing was changed") from None

    def reload_broker(self) -> None:
        if not self._reload():
            raise ProvisionError(
                f"no running Mosquitto uses {self.broker_dir}/mosquitto.conf on this machine, so the new account "
                "cannot be activated: run rating-tech where the broker runs (or reload it: kill -HUP <pid>)",
                touched=True,
            )

    def open_device(self, port: str, manifest: Manifest) -> tuple[Device, BoardInfo]:
        device = Device(port, timeout=self.s.repl_timeout_s)
        try:
            device.open()
            info = device.info()
        except DeviceError as error:
            device.close()
            raise ProvisionError(str(error)) from None
        problem = None
        if info.name != "micropython":
            problem = f"the board runs {info.name!r}, not MicroPython"
        elif not manifest.board:
            problem = (f"the release in {self.release_dir} does not say which board it was built for (it was made "
                       "before releases recorded it): build it again with `rating-tech build`")
        elif manifest.board != info.board:
            problem = (f"the release in {self.release_dir} was built for {BOARDS.get(manifest.board, manifest.board)}"
                       f", but the box at {device.port} is {BOARDS.get(info.board, repr(info.board))} "
                       f"({info.machine or info.platform}): {BUILD_FOR.get(info.board, 'build a release for it')}, "
                       "and provision with --release")
        elif tuple(info.version[:2]) < MIN_VERSION:
            problem = (f"MicroPython {'.'.join(map(str, info.version))} is too old: this firmware needs "
                       f"{'.'.join(map(str, MIN_VERSION))} or newer (tested with {TESTED_VERSION}); "
                       "flash a newer MicroPython (technician/README.md)")
        else:
            major = mpy_major(self.release_dir, manifest)
            if major is not None and info.mpy and info.mpy != major:
                problem = (f"MicroPython {'.'.join(map(str, info.version))} loads .mpy version {info.mpy}, the "
                           f"release has version {major}: use a MicroPython the release was built for ({TESTED_VERSION})")
        if problem:
            device.close()
            raise ProvisionError(problem + "; the box was not changed")
        return device, info

    # -- config ------------------------------------------------------------------------------------
    def box_config(self, box: str, counter: str, scale: str, password: str, old: dict[str, Any] | None) -> bytes:
        """config.json for the box. Hardware-specific sections (pins, timings) of an existing
        config are kept; identity, scale, network and credentials are (re)written."""
        if not self.s.wifi_ssid:
            raise ProvisionError("the Wi-Fi SSID is not set (RATING_TECH_WIFI_SSID or the settings file)")
        buttons = SCALE_BUTTONS[scale]
        pins: dict[str, Any] | None = None
        if old and isinstance(old.get("pins"), dict) and len(old["pins"].get("buttons") or []) == buttons:
            pins = old["pins"]
        if pins is None:
            wanted = [int(p) for p in self.s.button_pins.split(",") if p.strip()] if self.s.button_pins else \
                DEFAULT_BUTTON_PINS[buttons]
            if len(wanted) != buttons:
                raise ProvisionError(f"counter {counter} uses scale {scale} ({buttons} buttons) but the settings give "
                                     f"{len(wanted)} button pins (RATING_TECH_BUTTON_PINS)")
            pins = {"buttons": wanted, "led_feedback": self.s.led_feedback_pin, "led_status": self.s.led_status_pin,
                    "buzzer": self.s.buzzer_pin}
        cfg: dict[str, Any] = {
            "box": box,
            "counter": counter,
            "scale": scale,
            "levels": list(range(buttons)),
            "pins": pins,
            "wifi": {"ssid": self.s.wifi_ssid, "password": self.s.wifi_password.get_secret_value()},
            "broker": {"host": self.broker_host(), "port": self.s.broker_port or self.c.mqtt_port,
                       "tls": self.s.broker_tls, "ca": None, "username": box, "password": password},
            "ntp": self.s.ntp,
        }
        if old and isinstance(old.get("timings"), dict):
            cfg["timings"] = old["timings"]
        checker = load_firmware("config").config  # the box's own validator
        try:
            checker.validate(copy.deepcopy(cfg))
        except checker.ConfigError as error:
            raise ProvisionError(f"the box would reject this config (error {error.code}): {error.reason}") from None
        return json.dumps(cfg, separators=(",", ":")).encode()

    # -- the commands -----------------------------------------------------------------------------------
    def why_not_online(self, device: Device) -> str:
        """What the box printed since its reset says about why it is not online, worded for the
        technician: a crash (a module or hardware missing), a config error, Wi-Fi or the broker."""
        broker = f"{self.broker_host()}:{self.s.broker_port or self.c.mqtt_port}"
        look = f"look at it with `rating-tech check {device.port}`"
        kind, line = diagnose(device.console())
        if kind == "crash":
            return (f"The box reported: {line!r}: its firmware stopped there, before it used Wi-Fi, so Wi-Fi and "
                    "the broker are not the cause: the board lacks a module or hardware the firmware needs (a "
                    "release built for another board, a MicroPython build without that module, a part missing or "
                    f"miswired). Its console: mpremote connect {device.port} resume repl")
        if kind == "boot":
            return f"The box reported: {line!r}; {look}"
        if kind == "wifi":
            return (f"The box reported: {line!r}: check the Wi-Fi it is configured for, {self.s.wifi_ssid!r} "
                    "(RATING_TECH_WIFI_SSID / _WIFI_PASSWORD), and that the box is in its reach")
        if kind == "broker":
            return (f"The box reported: {line!r}: it is on Wi-Fi but did not get to the broker {broker}: check "
                    "RATING_TECH_BROKER_HOST / _BROKER_PORT and that the boxes' network reaches the broker")
        return (f"It is configured for Wi-Fi {self.s.wifi_ssid!r} and broker {broker}: check them, or {look}"
                + (f" (its last words: {line!r})" if line else ""))

    def broker_host(self) -> str:
        """The broker's address as written into the boxes' config.json."""
        return self.s.broker_host or self.c.mqtt_host

    def check_broker_host(self, info: BoardInfo, allow_loopback: bool) -> None:
        """A real box given a loopback broker address (the default, 127.0.0.1) would look for the
        broker on itself, never find it, and only time out: refused unless asked for."""
        host = self.broker_host()
        if info.board == "virtual" or allow_loopback or not is_loopback(host):
            return
        origin = "RATING_TECH_BROKER_HOST" if self.s.broker_host else "RATING_TECH_BROKER_HOST is not set, so " \
            "RATING_MQTT_HOST (default 127.0.0.1)"
        raise ProvisionError(
            f"the broker address for boxes is {host} ({origin}): that is the box's own address, so a "
            f"real box ({info.machine or info.platform}) would never reach the broker. Set RATING_TECH_BROKER_HOST "
            "(environment or technician.env) to the broker's address on the center's network, e.g. 192.168.1.10, "
            "or give --allow-loopback-broker to write it anyway; the box was not changed")

    def provision(self, port: str, *, counter: str | None = None, box: str | None = None,
                  replace: bool = False, online_timeout: float | None = None,
                  allow_loopback: bool = False) -> Result:
        started = time.monotonic()
        manifest = self.release()
        if self.s.fleet_key_file is not None:
            self.fleet_key()  # refused before the box is touched
        if not self.s.wifi_ssid:
            raise ProvisionError("the Wi-Fi SSID is not set (RATING_TECH_WIFI_SSID or the settings file)")
        if not (self.broker_dir / "passwd").exists():
            raise ProvisionError(f"no broker accounts in {self.broker_dir}: run `rating-collector broker setup` "
                                 "(and check RATING_DATA_DIR)")
        registry = self.registry()
        try:
            with self.watch() as watch:
                device, info = self.open_device(port, manifest)
                try:
                    self.check_broker_host(info, allow_loopback)
                    return self._provision(device, info, manifest, registry, watch, counter=counter, box=box,
                                           replace=replace, started=started,
                                           timeout=online_timeout or self.s.online_timeout_s)
                finally:
                    device.close()
        finally:
            registry.close()

    def _in_use(self, box: str, registry: Registry, watch: BrokerWatch, claimed: str | None) -> str | None:
        """Why another device holds `box`, or None. `claimed`: the id this device's own unfinished
        first provisioning wrote in its config.tmp (a re-run may finish it)."""
        seen = watch.retained(box)
        if seen is not None:
            return f"the broker has its presence ({seen.payload.get('state')}, boot {seen.payload.get('boot')})"
        if registry.box_seen(box):
            return "the collector has heard from it"
        if box != claimed and box in broker_accounts.list_accounts(self.broker_dir):
            return ("it was provisioned onto a device before (the broker has its account), which may never have "
                    "come online; provision that device again to finish it")
        return None

    def _plan(self, device_box: str | None, registry: Registry, watch: BrokerWatch, *, counter: str | None,
              box: str | None, replace: bool, claimed: str | None = None,
              ) -> tuple[str, Assignment | None, str, str, Assignment | None]:
        """(mode, current assignment of the target box, box id, counter, assignment to close)."""
        if counter is not None:
            try:
                registry.counter(counter)
            except AssignmentError as error:
                raise ProvisionError(str(error)) from None
        if replace:
            assert counter is not None
            if device_box:
                raise ProvisionError(
                    f"this device is already {device_box}: box id in use. A replacement must be a blank box "
                    "(MicroPython only); an old box keeps its identity (see technician/README.md to erase one)")
            old = registry.box_at_counter(counter)
            new = new_box_id(counter, lambda b: registry.box_known(b) or b in broker_accounts.list_accounts(
                self.broker_dir) or watch.retained(b, grace=0.2) is not None)
            return "replace", None, new, counter, old
        if device_box:  # an already provisioned box: upgrade it, keeping its identity
            current = registry.counter_of_box(device_box)
            at_counter = registry.box_at_counter(counter) if counter else None
            wanted = box or (at_counter.box if at_counter else None)
            if box and box != device_box:
                raise ProvisionError(f"this device is {device_box}, not {box}: box id already in use. Provisioning "
                                     "keeps a box's identity; to put a new device at a counter use `replace`")
            if current is None:
                raise ProvisionError(f"this device is {device_box}, which the registry has at no counter now; "
                                     "fix the registry, or use a blank box with `replace`")
            if counter and counter != current.counter:
                raise ProvisionError(
                    f"this device is {device_box}, serving counter {current.counter}, not {counter}: box id already "
                    f"in use. {('Counter ' + counter + ' is served by ' + wanted + '. ') if wanted else ''}"
                    "To move a box, change the registry first; to put a new device at a counter use `replace`")
            return "upgrade", current, device_box, current.counter, None
        # A blank device.
        if box:
            assignment = registry.counter_of_box(box)
            if assignment is None:
                raise ProvisionError(f"box {box} is at no counter in the registry; add it, or use --counter")
            if counter and counter != assignment.counter:
                raise ProvisionError(f"box {box} serves counter {assignment.counter} in the registry, not {counter}")
        else:
            assert counter is not None
            assignment = registry.box_at_counter(counter)
        if assignment is not None:
            used = self._in_use(assignment.box, registry, watch, claimed)
            if used:
                raise ProvisionError(
                    f"{assignment.box} (counter {assignment.counter}) is already in use by another device: {used}. "
                    f"To put this new device at counter {assignment.counter}: rating-tech replace --counter "
                    f"{assignment.counter} PORT")
            return "new", assignment, assignment.box, assignment.counter, None
        assert counter is not None
        if claimed and not self._in_use(claimed, registry, watch, claimed) and not registry.box_known(claimed):
            return "new", None, claimed, counter, None  # finishing this device's own first provisioning
        new = new_box_id(counter, lambda b: registry.box_known(b) or b in broker_accounts.list_accounts(
            self.broker_dir) or watch.retained(b, grace=0.2) is not None)
        return "new", None, new, counter, None

    def _retire_presence(self, box: str, watch: BrokerWatch) -> None:
        """A replaced box's retained presence becomes "offline": left "online", every subscriber
        would be told at each subscribe that the retired box is up. Published as the box itself
        (only it may write its presence), with a password of the tool's own just before the
        account is revoked."""
        seen = watch.retained(box)
        if seen is None or not seen.online:
            return
        password = broker_accounts.add_box(self.broker_dir, box, password=secrets.token_urlsafe(18))
        self.reload_broker()
        try:
            publish_retained(self.c.mqtt_host, self.c.mqtt_port, box, password, box_topic("presence", box),
                             {**seen.payload, "state": "offline"})
        except BrokerUnreachable as error:
            self.say(f"{box}'s presence still says online ({error})")

    def _provision(self, device: Device, info: BoardInfo, manifest: Manifest, registry: Registry,
                   watch: BrokerWatch, *, counter: str | None, box: str | None, replace: bool, started: float,
                   timeout: float) -> Result:
        files = device.listdir()
        old_cfg = device.read_json(CONFIG) if CONFIG in files else None
        if old_cfg is None and CONFIG_BAK in files:  # an upgrade that stopped half-way
            old_cfg = device.read_json(CONFIG_BAK)
        device_box = old_cfg.get("box") if old_cfg and isinstance(old_cfg.get("box"), str) else None
        unfinished = device.read_json(CONFIG_TMP) if old_cfg is None and CONFIG_TMP in files else None
        claimed = unfinished.get("box") if unfinished and isinstance(unfinished.get("box"), str) else None
        if counter is None and box is None and not device_box:
            raise ProvisionError("this box is blank: say which counter it serves (--counter N) or which box it is (--box ID)")
        mode, assignment, box_id, counter_code, closing = self._plan(device_box, registry, watch, counter=counter,
                                                                    box=box, replace=replace, claimed=claimed)
        scale = registry.counter(counter_code).scale
        self.say(f"{box_id} for counter {counter_code} ({scale}), firmware {manifest.version} "
                 f"on MicroPython {'.'.join(map(str, info.version))} ({info.machine or 'unknown board'})")

        # Which files change, and does the flash have room for them?
        todo: list[str] = []
        for name in manifest.files:
            if name in files and device.sha256(name) == manifest.files[name]:
                continue
            todo.append(name)
        stale = [n for n in files if n.endswith((".py", ".mpy")) and n not in manifest.files
                 and (Path(n).stem + ".mpy" in manifest.files or Path(n).stem + ".py" in manifest.files)]
        bs = info.block_size or 4096
        need = sum(((self.release_dir / n).stat().st_size // bs + 2) * bs for n in todo) + 2 * bs + FREE_RESERVE
        freed = sum(((files.get(n, 0) or 0) // bs + 1) * bs for n in todo + stale if files.get(n, 0) > 0)
        if info.total_bytes and info.free_bytes + freed < need:
            raise ProvisionError(
                f"the box's flash is full: {info.free_bytes // 1024} KB free, this firmware needs "
                f"{need // 1024} KB (with {FREE_RESERVE // 1024} KB kept for presses); the box was not changed")

        # From here on the box changes. Its new config.json goes on first, as config.tmp (which the
        # firmware never reads), before the id is given out on the broker and in the registry: the
        # device that holds an id's broker account is always the one with that id on its flash.
        touched = True
        password = secrets.token_urlsafe(18)
        data = self.box_config(box_id, counter_code, scale, password, old_cfg)  # may refuse: nothing changed yet
        try:
            if CONFIG in files:
                device.rename(CONFIG, CONFIG_BAK)
            device.write(CONFIG_TMP, data)
            total = sum((self.release_dir / n).stat().st_size for n in todo)
            done = 0

            def step(n: int) -> None:
                nonlocal done
                done += n
                if self.progress:
                    self.progress(done, total)

            for name in todo:
                device.write(name, (self.release_dir / name).read_bytes(), progress=step)
            for name in stale:
                device.remove(name)
            if self.s.fleet_key_file is not None:
                key = self.fleet_key().hex().encode()
                if FLEET_KEY not in files or device.sha256(FLEET_KEY) != hashlib.sha256(key).hexdigest():
                    device.write(FLEET_KEY, key)
            self.say(f"firmware copied: {len(todo)} files written, {len(manifest.files) - len(todo)} unchanged")

            # As `rating-collector broker add-box`: bound to its box id as client id, then the password.
            broker_accounts.add_box(self.broker_dir, box_id, password=password)
            self.reload_broker()
            since = now()
            if mode == "replace":
                registry.assign(box_id, counter_code, since, closing=closing)
            elif assignment is None:
                registry.assign(box_id, counter_code, since)
            device.rename(CONFIG_TMP, CONFIG)
            device.remove(CONFIG_BAK)
            boot_text = device.read("ob/boot")
            boot = int(boot_text) if boot_text and boot_text.strip().isdigit() else 0
            self.say(f"config.json written ({box_id}, counter {counter_code}, broker "
                     f"{self.broker_host()}:{self.s.broker_port or self.c.mqtt_port})")
            if closing is not None:
                self._retire_presence(closing.box, watch)
                broker_accounts.remove_box(self.broker_dir, closing.box)
                self.reload_broker()
                self.say(f"{closing.box}'s broker account revoked; the registry has {box_id} at counter "
                         f"{counter_code} from {since.isoformat(timespec='seconds')}")
            watch.follow(box_id)
        except (DeviceError, AssignmentError, broker_accounts.BrokerError, OSError) as error:
            raise ProvisionError(f"{error}. The box is left without config.json (it blinks error 2); run the same "
                                 "command again", touched=touched) from None
        try:
            device.reset(listen=True)
        except DeviceError as error:
            raise ProvisionError(f"{box_id} is provisioned, but {error}: power-cycle it (unplug it and plug it in "
                                 "again) and it starts its firmware", touched=True) from None
        try:
            seen = watch.wait_online(box_id, counter_code, manifest.version, timeout)
        except ValueError as error:
            raise ProvisionError(f"{error}; look at it with `rating-tech check {device.port}`", touched=True) from None
        except TimeoutError as error:
            raise ProvisionError(f"{error}. {self.why_not_online(device)}", touched=True) from None
        online_boot = seen.payload.get("boot")
        if boot and isinstance(online_boot, int) and online_boot <= boot:
            raise ProvisionError(f"{box_id} announced boot {online_boot}, not a new boot after {boot}", touched=True)
        return Result(device.port, box_id, counter_code, manifest.version, online_boot, mode,
                      time.monotonic() - started, len(todo), len(manifest.files) - len(todo),
                      closing.box if closing else None)
