"""The technician's settings: what every box of this center gets (Wi-Fi, the broker address boxes
use) and where the collector's data lives. From RATING_TECH_* environment variables or a settings
file in the same KEY=value form (default ./technician.env; never commit it: it holds the Wi-Fi
password). The collector's own RATING_* settings (data dir, database, MQTT host/port) are read
through collector.settings from the same environment and file, into the same object (`.collector`),
so the technician's laptop and the collector agree on one data folder.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from pydantic import PrivateAttr, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from collector.settings import Settings as CollectorSettings
from technician.firmware_loader import load_firmware

DEFAULT_SETTINGS_FILE = Path("technician.env")
# The boxes' wiring has one home, the firmware's config.DEFAULT_PINS (firmware/README.md, Wiring):
# buttons 32, 33, 25, 26, feedback LED 18, status LED 4, buzzer 19, none of them a strapping pin
# (GPIO12 held high at reset selects 1.8 V flash: a pressed button there keeps a box from booting).
DEFAULT_PINS: dict[str, Any] = load_firmware("config").config.DEFAULT_PINS
# Button pins per number of buttons (2 = sat2, 3 = vn3, 4 = smiley4): the first N of the wiring.
DEFAULT_BUTTON_PINS = {n: list(DEFAULT_PINS["buttons"][:n]) for n in (2, 3, 4)}


TECH_PREFIX, COLLECTOR_PREFIX = "RATING_TECH_", "RATING_"


class TechSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix=TECH_PREFIX, extra="ignore")
    # Filled by load_settings from the same environment and file (the collector's own settings).
    _collector: CollectorSettings | None = PrivateAttr(default=None)
    _file: Path | None = PrivateAttr(default=None)
    _ignored: list[str] = PrivateAttr(default_factory=list)

    wifi_ssid: str = ""
    wifi_password: SecretStr = SecretStr("")
    # The broker address as the boxes reach it (may differ from the laptop's RATING_MQTT_HOST).
    broker_host: str = ""  # default: RATING_MQTT_HOST
    broker_port: int = 0  # default: RATING_MQTT_PORT
    broker_tls: bool = False
    ntp: str | None = "pool.ntp.org"  # empty = none (the collector's clock beacon anchors time)
    button_pins: str = ""  # e.g. "32,33"; default from DEFAULT_BUTTON_PINS by the counter's scale
    led_feedback_pin: int = DEFAULT_PINS["led_feedback"]
    led_status_pin: int = DEFAULT_PINS["led_status"]
    buzzer_pin: int | None = DEFAULT_PINS["buzzer"]
    release_dir: Path = Path("release")
    # The fleet key (hex, `openssl rand -hex 32`) that signs releases: provision puts it on each box
    # as fleet.key so that it takes signed releases over the air. Never in the repository.
    fleet_key_file: Path | None = None
    repl_timeout_s: float = 8.0  # how long a board may take to answer Ctrl-C / Ctrl-A
    online_timeout_s: float = 90.0  # Wi-Fi join + broker connect on a real ESP32 take a few seconds
    # The account the tool watches the broker with (it reads rating/+/presence): the collector's
    # by default, or a technician account given read access in the ACL.
    mqtt_username: str = ""
    mqtt_password_file: Path | None = None
    # The collector's HTTP API (fleet, retire, label, ota: technician/collector_client.py). Default
    # URL: the collector's RATING_HTTP_HOST/_PORT; default token: the one `make run` writes in
    # $RATING_DATA_DIR/secrets/admin-token. A file, never the environment, holds the token.
    collector_url: str = ""
    token_file: Path | None = None
    collector_timeout_s: float = 10.0

    @property
    def collector(self) -> CollectorSettings:
        """The collector's RATING_* settings this technician works with (broker folder, registry
        database, the broker to watch), read from the environment and the same settings file."""
        if self._collector is None:
            self._collector = CollectorSettings()
        return self._collector

    @property
    def file(self) -> Path | None:
        """The settings file read (None: there was none)."""
        return self._file

    @property
    def ignored(self) -> list[str]:
        return list(self._ignored)

    @field_validator("ntp", mode="before")
    @classmethod
    def _empty_ntp(cls, value: object) -> object:
        return None if value in ("", "none", "null") else value

    @field_validator("buzzer_pin", mode="before")
    @classmethod
    def _empty_buzzer(cls, value: object) -> object:
        return None if value in ("", "none", "null") else value


def load_settings(settings_file: Path | None = None) -> TechSettings:
    """The one settings object: the technician's RATING_TECH_* and the collector's RATING_* (data
    folder, database, MQTT host and port, ...), each from the environment or else the settings file.
    Keys of the file that are neither (a typo, a setting of another program) are listed in
    `ignored`, for the command to say so."""
    path = settings_file or Path(os.environ.get("RATING_TECH_SETTINGS", DEFAULT_SETTINGS_FILE))
    if settings_file is not None and not path.exists():
        raise FileNotFoundError(f"settings file {path} does not exist")
    env_file = path if path.is_file() else None
    settings = TechSettings(_env_file=env_file)  # type: ignore[call-arg]
    settings._collector = CollectorSettings(_env_file=env_file)  # type: ignore[call-arg]
    settings._file = env_file
    settings._ignored = ignored_keys(env_file)
    return settings


def ignored_keys(env_file: Path | None) -> list[str]:
    """The settings file's keys, and the environment's RATING_TECH_* names, that no setting reads."""
    from dotenv import dotenv_values

    found = [(name, f"in {env_file}") for name in dotenv_values(env_file)] if env_file is not None else []
    found += [(name, "in the environment") for name in os.environ if name.upper().startswith(TECH_PREFIX)]
    return [f"{name} ({where})" for name, where in found if not _known(name)]


def _known(name: str) -> bool:
    key = name.upper()
    if key == "RATING_TECH_SETTINGS":
        return True
    if key.startswith(TECH_PREFIX):
        return key[len(TECH_PREFIX):].lower() in TechSettings.model_fields
    if key.startswith(COLLECTOR_PREFIX):
        return key[len(COLLECTOR_PREFIX):].lower() in CollectorSettings.model_fields
    return False


def mask(secret: str) -> str:
    """What a secret looks like on screen: its length only."""
    return f"****({len(secret)})" if secret else "(empty)"
