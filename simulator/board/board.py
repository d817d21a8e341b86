# The virtual box's board: same functions as firmware/board.py, backed by the simulated hardware
# (simhw, which the simulator loads before mounting this flash). Keep it as thin as the ESP32 one.
from simhw import hw, now_ms

FLASH_ROOT = "/"  # the LittleFS image is mounted at /, as on the ESP32

_pins = None


def init(pins):
    global _pins
    _pins = pins
    hw.contacts.add(len(pins["buttons"]) - 1, 0, [])
    hw.send("init", pins=pins)


def read_buttons():
    """Raw (bouncing) contact state as a bit mask, bit i set while button i is closed."""
    hw.poll()
    t = now_ms()
    hw.check_watchdog(t)
    return hw.contacts.mask(t)


def set_led(index, on):
    """index 0: the citizen's feedback LED, 1: the technician's status LED."""
    on = 1 if on else 0
    if hw.leds[index] != on:
        hw.leds[index] = on
        hw.send("led", i=index, on=on)


def set_buzzer(freq):
    """freq in Hz, 0 for silence."""
    if _pins is not None and _pins.get("buzzer") is None:
        return
    if hw.buzzer != freq:
        hw.buzzer = freq
        hw.send("buzzer", f=freq)


def wifi_connect(ssid, password):
    """Start connecting; returns at once. Poll wifi_connected()."""
    hw.poll()
    if not hw.wifi_wanted:
        hw.wifi_wanted = True
        hw.wifi_ready_at = now_ms() + hw.wifi_delay
        hw.send("wifi_connect", ssid=ssid)


def wifi_connected():
    hw.poll()
    return hw.wifi_wanted and hw.link_up and now_ms() >= hw.wifi_ready_at


def wifi_rssi():
    return hw.rssi if wifi_connected() else None


def watchdog_start(timeout_ms):
    hw.wdt_ms = timeout_ms
    hw.last_feed = hw.last_feed_sent = now_ms()
    hw.send("wdt", ms=timeout_ms)


def watchdog_feed():
    if not hw.wdt_ms:
        return
    t = now_ms()
    hw.check_watchdog(t)
    hw.last_feed = t
    # The host resets a box that stops feeding altogether; tell it we are alive, sparingly.
    if t - hw.last_feed_sent >= hw.wdt_ms / 4:
        hw.last_feed_sent = t
        hw.send("feed")


def reset_cause():
    return hw.cause


def reset():
    hw.send("reset", why="soft")
    hw.die()


def unique_id():
    return hw.uid
