# ruff: noqa: UP031 (MicroPython code)
# Test double of firmware/board.py for the unix port. The flash is the current folder.
# Buttons: the test writes the mask (decimal) into buttons.txt, or "hang" (the firmware blocks
# for ever inside the board, as a driver that never returns) or "raise" (reading fails).
# Watchdog: each feed rewrites wdt.txt (the harness resets a box whose feeds stop); the reset
# cause is $FAKE_RESET_CAUSE. Output changes go to outputs.txt only when OUTPUT_LOG is set.
import os
import sys
import time

FLASH_ROOT = "./"
OUTPUT_LOG = False

leds = [False, False]
buzzer = 0
feeds = 0
wdt_ms = None


def _read(name):
    try:
        with open(name) as f:
            return f.read().strip()
    except OSError:
        return ""


def init(pins):
    global n_buttons
    n_buttons = len(pins["buttons"])


def read_buttons():
    text = _read("buttons.txt")
    if text == "hang":
        while True:
            time.sleep(1)
    if text == "raise":
        raise OSError(5)  # EIO
    return int(text) if text.isdigit() else 0


def _out(what):
    if OUTPUT_LOG:
        with open("outputs.txt", "a") as f:
            f.write(what + "\n")


def set_led(index, on):
    if leds[index] != bool(on):
        leds[index] = bool(on)
        _out("led%d %d" % (index, 1 if on else 0))


def set_buzzer(freq):
    global buzzer
    if buzzer != freq:
        buzzer = freq
        _out("buzzer %d" % freq)


def wifi_connect(ssid, password):
    pass


def wifi_connected():
    return _read("wifi_down.txt") == ""


def wifi_rssi():
    return -55


def watchdog_start(ms):
    global wdt_ms
    wdt_ms = ms
    watchdog_feed()


def watchdog_feed():
    global feeds
    feeds += 1
    with open("wdt.txt", "w") as f:
        f.write("%d %d" % (wdt_ms, feeds))


def reset_cause():
    return os.getenv("FAKE_RESET_CAUSE") or "power_on"


def reset():
    sys.exit(3)


def unique_id():
    return "0a0b0c0d0e0f"
