# Once per boot: load and validate the config, open the box, or blink why it cannot work.
# app.run() imports this module and drops it again once the box runs (its heap is given back).
import sys
import time

from micropython import const

import app
import feedback
import messages

_E_FLASH = const(9)                # blink code: the flash (outbox) cannot be opened
_WATCHDOG_ERROR_MS = const(10000)  # watchdog of a box blinking an error code (no config to ask)


class BootError(Exception):
    def __init__(self, code, reason, pins):
        super().__init__(reason)
        self.code = code
        self.reason = reason
        self.pins = pins


def open_box(board, root, log=print):
    """Load and validate root/config.json and open the box on `board`: an app.Box ready to
    start(), or BootError(blink code, reason, pins to blink with)."""
    import config
    path = root + "config.json"
    try:
        cfg = config.load(path)
    except config.ConfigError as e:
        raise BootError(e.code, e.reason, config.pins_for_errors(path))
    try:
        box = app.Box(cfg, board, root, log)
    except (OSError, ValueError) as e:
        raise BootError(_E_FLASH, "flash: %r" % (e,), cfg["pins"])
    # Validation is done: give the config module's heap back.
    sys.modules.pop("config", None)
    return box


def error_code_pattern(code):
    """code blinks of 250 ms then a 1.5 s pause, repeated: error code `code`."""
    p = [250] * (2 * code)
    p[-1] = 1500
    return tuple(p)


def blink_forever(code, pins, board):
    """A box that cannot work says why on its status LED, forever, without boot-looping."""
    try:
        board.init(pins)
    except Exception as e:
        print("board init failed:", repr(e))
    board.watchdog_start(_WATCHDOG_ERROR_MS)
    led = feedback.Blinker(lambda on: board.set_led(1, on))
    led.play(error_code_pattern(code), time.ticks_ms(), repeat=True)
    while True:
        led.tick(time.ticks_ms())
        board.watchdog_feed()
        time.sleep_ms(20)


def boot(board):
    """The box on the board module and its flash, ready to run; on a config or flash error,
    blinks its code forever instead (never returns)."""
    print("rating box fw %s, board %s" % (messages.FW_VERSION, board.unique_id()))
    try:
        box = open_box(board, board.FLASH_ROOT)
    except BootError as e:
        print("%s error %d: %s" % ("flash" if e.code == _E_FLASH else "config", e.code, e.reason))
        blink_forever(e.code, e.pins, board)
        raise
    print("boot %d box %s counter %s reset %s outbox %d next seq %d" % (
        box.boot, box.box, box.cfg["counter"], box.reset_cause, box.ob.pending, box.ob.next_seq))
    return box
