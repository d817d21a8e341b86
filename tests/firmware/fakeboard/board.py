# ruff: noqa: UP031 (MicroPython code)
# Test double of firmware/board.py for the unix port. The flash is the current folder.
# Buttons: the test writes the mask (decimal) into buttons.txt; NTP: UTC ms in ntp.txt.
# Output changes are appended to outputs.txt only when OUTPUT_LOG is set (keeps polls cheap).
import sys

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


def ntp_utc_ms(host):
    text = _read("ntp.txt")
    return int(text) if text.isdigit() else None


def watchdog_start(ms):
    global wdt_ms
    wdt_ms = ms


def watchdog_feed():
    global feeds
    feeds += 1


def reset_cause():
    return "power_on"


def reset():
    sys.exit(3)


def unique_id():
    return "0a0b0c0d0e0f"
