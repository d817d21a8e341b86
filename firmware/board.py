# The ESP32 board: the only firmware module that touches machine, network and esp32.
# Everything else is plain MicroPython. The simulator ships its own board.py with the same
# functions (simulator/board/board.py), so the rest of the firmware runs unchanged on the host.
#
# Keep this file thin: no logic that a test would want to exercise lives here.

import machine
import network

FLASH_ROOT = "/"  # LittleFS is mounted at / on the ESP32

_buttons = []  # type: list[machine.Pin]
_leds = []  # type: list[machine.Pin]
_buzzer = None
_wlan = None
_wdt = None

_RESET_CAUSES = {
    machine.PWRON_RESET: "power_on",
    machine.HARD_RESET: "hard",
    machine.WDT_RESET: "watchdog",
    machine.DEEPSLEEP_RESET: "deep_sleep",
    machine.SOFT_RESET: "soft",
}


def init(pins):
    """pins: the validated "pins" section of config.json."""
    global _buzzer
    for number in pins["buttons"]:
        _buttons.append(machine.Pin(number, machine.Pin.IN, machine.Pin.PULL_UP))
    for number in (pins["led_feedback"], pins["led_status"]):
        _leds.append(machine.Pin(number, machine.Pin.OUT, value=0))
    if pins.get("buzzer") is not None:
        _buzzer = machine.PWM(machine.Pin(pins["buzzer"]), freq=2000, duty_u16=0)


def read_buttons():
    """Raw (bouncing) contact state as a bit mask, bit i set while button i is closed."""
    mask = 0
    for i in range(len(_buttons)):
        if not _buttons[i].value():  # pulled up: a closed contact reads 0
            mask |= 1 << i
    return mask


def set_led(index, on):
    """index 0: the citizen's feedback LED, 1: the technician's status LED."""
    _leds[index].value(1 if on else 0)


def set_buzzer(freq):
    """freq in Hz, 0 for silence. Does nothing when no buzzer is fitted."""
    if _buzzer is None:
        return
    if freq:
        _buzzer.freq(freq)
        _buzzer.duty_u16(32768)
    else:
        _buzzer.duty_u16(0)


def wifi_connect(ssid, password):
    """Start connecting; returns at once. Poll wifi_connected()."""
    global _wlan
    if _wlan is None:
        _wlan = network.WLAN(network.STA_IF)
        _wlan.active(True)
    if not _wlan.isconnected():
        _wlan.connect(ssid, password)


def wifi_connected():
    return _wlan is not None and _wlan.isconnected()


def wifi_rssi():
    try:
        return _wlan.status("rssi") if _wlan is not None and _wlan.isconnected() else None
    except Exception:
        return None


def watchdog_start(timeout_ms):
    global _wdt
    _wdt = machine.WDT(timeout=timeout_ms)


def watchdog_feed():
    if _wdt is not None:
        _wdt.feed()


def reset_cause():
    return _RESET_CAUSES.get(machine.reset_cause(), "unknown")


def reset():
    machine.reset()


def unique_id():
    return "".join("%02x" % b for b in machine.unique_id())
