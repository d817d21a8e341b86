"""Fixtures for the technician's tests: blank virtual boxes (MicroPython with an empty flash, as a
new ESP32 after flashing MicroPython), the firmware release for virtual boxes, a collector
database with the registry, and the environment the `rating-tech` CLI reads."""

from __future__ import annotations

import re
import shutil
import socket
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from simulator.blank import BlankBox
from simulator.box import BOARD_DIR, FIRMWARE_DIR, make_config
from tests.helpers.registry import load_registry_into
from tests.helpers.technician import Tech, TechInProcess


@pytest.fixture(scope="session")
def release(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The firmware as `rating-tech build --board simulator/board/board.py` makes it (built here, not
    the simulator's cached copy: that cache is keyed on the firmware, not on what build writes)."""
    from technician.build import build

    out = tmp_path_factory.mktemp("release-sim") / "release"
    build(out, board=BOARD_DIR / "board.py")
    return out


@pytest.fixture(scope="session")
def esp32_release(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The firmware as `rating-tech build` makes it for an ESP32."""
    from technician.build import build

    out = tmp_path_factory.mktemp("release-esp32") / "release"
    build(out)
    return out


@pytest.fixture(scope="session")
def upgrade_release(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The same firmware with another FW_VERSION: what an upgrade installs."""
    from technician.build import build

    src = tmp_path_factory.mktemp("fw-next")
    for path in FIRMWARE_DIR.glob("*.py"):
        shutil.copy(path, src / path.name)
    messages = src / "messages.py"
    messages.write_text(re.sub(r'^FW_VERSION = "[^"]+"', 'FW_VERSION = "9.9.9-test"', messages.read_text(),
                               flags=re.MULTILINE))
    out = tmp_path_factory.mktemp("release-next") / "release"
    build(out, firmware_dir=src, board=BOARD_DIR / "board.py")
    return out


@pytest.fixture
def blank_box(broker: Any, tmp_path: Path) -> Iterator[Callable[..., BlankBox]]:
    started: list[BlankBox] = []

    def start(name: str = "blank", extra_files: dict[str, bytes] | None = None) -> BlankBox:
        box = BlankBox(make_config(f"box-{name}", "0", password="-", broker_port=broker.port), tmp_path / name,
                       extra_files=extra_files)
        started.append(box)
        box.start()
        return box

    yield start
    for box in started:
        box.stop()


@pytest.fixture
def registry_url(stack_dir: Path, test_registry: dict[str, Any]) -> str:
    url = f"sqlite:///{stack_dir / 'collector.sqlite3'}"
    load_registry_into(url, test_registry, stack_dir)
    return url


@pytest.fixture
def tech_env(broker: Any, stack_dir: Path, registry_url: str, release: Path) -> dict[str, str]:
    return {
        "RATING_DATA_DIR": str(stack_dir),
        "RATING_DATABASE_URL": registry_url,
        "RATING_MQTT_HOST": broker.host,
        "RATING_MQTT_PORT": str(broker.port),
        "RATING_TECH_SETTINGS": str(stack_dir / "no-such-technician.env"),
        "RATING_TECH_WIFI_SSID": "center-wifi",
        "RATING_TECH_WIFI_PASSWORD": "wifi-secret-123",
        "RATING_TECH_NTP": "",
        "RATING_TECH_RELEASE_DIR": str(release),
        "RATING_TECH_ONLINE_TIMEOUT_S": "20",
        "RATING_TECH_REPL_TIMEOUT_S": "3",
    }


@pytest.fixture
def tech(tech_env: dict[str, str], tmp_path: Path) -> Tech:
    """The installed rating-tech, run as a process with a clean environment."""
    home = tmp_path / "technician"
    home.mkdir()
    return Tech(tech_env, home)


@pytest.fixture
def tech_in_process(tech_env: dict[str, str], tmp_path: Path) -> TechInProcess:
    return TechInProcess(tech_env, tmp_path)


@pytest.fixture
def garbage_peer() -> Iterator[int]:
    """A TCP server that answers anything with noise: a device that is not MicroPython."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(4)
    stop = threading.Event()

    def serve() -> None:
        server.settimeout(0.2)
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except OSError:
                continue
            conn.settimeout(0.1)
            with conn:
                while not stop.is_set():
                    try:
                        conn.recv(4096)
                    except TimeoutError:
                        pass
                    except OSError:
                        break
                    try:
                        conn.sendall(b"\x00\xffAT+OK garbage \x1b[0m")
                    except OSError:
                        break

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield server.getsockname()[1]
    stop.set()
    thread.join(2)
    server.close()
