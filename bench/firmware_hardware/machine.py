# Stand-in for the ESP32's machine module, for bench.firmware's heap scripts: the real
# firmware/board.py runs on it unchanged. On the ESP32 machine is C in flash, and the objects
# board.py gets from it (a Pin per GPIO, the WDT) are static C objects: no heap. So every object is
# made here, when this module is imported, before the scripts read their baseline, and
# Pin(n, ...) / WDT(...) hand them out without allocating. No contact is ever closed.
PWRON_RESET = 1
HARD_RESET = 2
WDT_RESET = 3
DEEPSLEEP_RESET = 4
SOFT_RESET = 5


class _Pin:
    def __init__(self):
        self.level = 1  # inputs are pulled up: an open contact reads 1

    def value(self, level=None):
        if level is None:
            return self.level
        self.level = level
        return None


class _PinClass:
    """machine.Pin: its constants, and Pin(n, ...) gives GPIO n's (static) object."""

    IN = 1
    OUT = 3
    PULL_UP = 1

    def __init__(self):
        self.gpio = []
        for _ in range(40):
            self.gpio.append(_Pin())

    def __call__(self, n, mode=-1, pull=-1, value=None):
        pin = self.gpio[n]
        if value is not None:
            pin.level = value
        return pin


Pin = _PinClass()


class _WDT:
    def __init__(self):
        self.feeds = 0

    def feed(self):
        self.feeds += 1


_wdt = _WDT()


def WDT(id=0, timeout=5000):  # a function: the ESP32 returns its one static WDT
    return _wdt


class PWM:  # a heap object on the ESP32 too; the bench's boxes have no buzzer
    def __init__(self, pin, freq=0, duty_u16=0):
        self.pin = pin
        self.f = freq
        self.d = duty_u16

    def freq(self, f):
        self.f = f

    def duty_u16(self, d):
        self.d = d


def reset_cause():
    return PWRON_RESET


def reset():
    raise SystemExit(3)


def unique_id():
    return b"\x0a\x0b\x0c\x0d\x0e\x0f"
