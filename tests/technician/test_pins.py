"""The pins rating-tech writes into a new box's config.json: the firmware's own defaults (one home,
firmware/config.py), none of them a pin that keeps a classic ESP32 from booting, and
technician/README.md's wiring table shows them."""

from __future__ import annotations

import re
from typing import Any

from technician.firmware_loader import load_firmware
from tests.helpers.paths import REPO

README = REPO / "technician" / "README.md"
# Read at reset (boot mode, flash voltage: GPIO12 high = 1.8 V flash, no boot), the SPI flash, UART0,
# input only: never a button or an LED on a classic ESP32.
NOT_SAFE = {0, 2, 5, 12, 15} | set(range(6, 12)) | {1, 3} | set(range(34, 40))
WIRING = {"button 0": 32, "button 1": 33, "button 2": 25, "button 3": 26, "feedback LED": 18, "status LED": 4,
          "buzzer": 19}


def test_settings_show_the_safe_default_pins(tech: Any) -> None:
    shown = tech("settings")
    assert shown.exit_code == 0, shown.output
    assert "32,33 / 32,33,25 / 32,33,25,26" in shown.output, shown.output
    assert "feedback LED 18, status LED 4, buzzer 19" in shown.output, shown.output


def test_the_defaults_are_the_firmwares_and_safe() -> None:
    pins = load_firmware("config").config.DEFAULT_PINS
    assert pins == {"buttons": [32, 33, 25, 26], "led_feedback": 18, "led_status": 4, "buzzer": 19}
    used = [*pins["buttons"], pins["led_feedback"], pins["led_status"], pins["buzzer"]]
    assert not set(used) & NOT_SAFE and len(set(used)) == len(used)


def test_readme_wiring_table_shows_the_defaults() -> None:
    text = README.read_text()
    assert "## Wiring" in text
    section = text.split("## Wiring", 1)[1].split("\n## ", 1)[0]
    rows = {part.split(" (")[0]: int(gpio) for part, gpio in re.findall(r"^\| ([^|]+?) \| (\d+) \|", section,
                                                                        re.MULTILINE)}
    assert rows == WIRING
