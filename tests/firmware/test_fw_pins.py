"""The firmware's default pins are safe to wire on the classic ESP32 (ESP32-WROOM-32), and
firmware/README.md's wiring table shows them: a box blinking an error code drives these pins
before any config.json has said which pins it has."""

from __future__ import annotations

import re

from tests.helpers.firmware import FIRMWARE, mp_json

# The classic ESP32's GPIOs (there are no 20, 24, 28-31).
GPIOS = set(range(40)) - {20, 24, 28, 29, 30, 31}
# Wired to the module's SPI flash: using them crashes the chip.
FLASH = set(range(6, 12))
# Read at reset to choose the boot mode and flash voltage (GPIO12 high = 1.8 V flash: no boot).
STRAPPING = {0, 2, 5, 12, 15}
# UART0: the REPL over USB that flashing and `rating-tech check` use.
UART0 = {1, 3}
# Input only, and without internal pull-ups: no LED, no buzzer, no button on the internal pull-up.
INPUT_ONLY = set(range(34, 40))


def unsafe(pin: int, role: str) -> str | None:
    """Why `pin` is not safe for `role` ("button": input with the internal pull-up; else output)."""
    if pin not in GPIOS:
        return "no such GPIO"
    for pins, why in ((FLASH, "flash pin"), (STRAPPING, "strapping pin"), (UART0, "UART0 (REPL)")):
        if pin in pins:
            return why
    if pin in INPUT_ONLY:
        return "input only, no internal pull-up" if role == "button" else "input only"
    return None


def test_the_rule_refuses_the_pins_it_names() -> None:
    assert unsafe(12, "button") == "strapping pin"
    assert unsafe(2, "led") == "strapping pin"
    assert unsafe(8, "button") == "flash pin"
    assert unsafe(35, "button") == "input only, no internal pull-up"
    assert unsafe(14, "button") is None


def test_default_pins_are_safe_to_wire() -> None:
    pins = mp_json("config_default_pins.py")
    roles = [(p, "button") for p in pins["buttons"]]
    roles += [(pins[k], k) for k in ("led_feedback", "led_status", "buzzer") if pins[k] is not None]
    bad = {f"{role} GPIO{pin}": unsafe(pin, role) for pin, role in roles if unsafe(pin, role)}
    assert not bad, bad


def wiring_table() -> dict[str, int]:
    """firmware/README.md's wiring table: part -> GPIO."""
    text = (FIRMWARE / "README.md").read_text()
    assert "## Wiring" in text, "no wiring section in firmware/README.md"
    section = text.split("## Wiring", 1)[1].split("\n## ", 1)[0]
    rows = re.findall(r"^\| ([^|]+?) \| (\d+) \|", section, re.MULTILINE)
    assert rows, "no wiring table in firmware/README.md"
    return {part: int(gpio) for part, gpio in rows}


def test_readme_wiring_shows_the_defaults_and_only_safe_pins() -> None:
    table = wiring_table()
    pins = mp_json("config_default_pins.py")
    shown = {part.split(" (")[0]: gpio for part, gpio in table.items()}
    for i, pin in enumerate(pins["buttons"]):
        assert shown[f"button {i}"] == pin
    assert shown["feedback LED"] == pins["led_feedback"]
    assert shown["status LED"] == pins["led_status"]
    bad = {part: unsafe(gpio, "button" if part.startswith("button") else "output")
           for part, gpio in table.items()}
    assert not any(bad.values()), bad
    assert len(set(table.values())) == len(table), "a pin is shown twice"
