# Load and validate /config.json. A bad config must stop the box visibly (blink code on the
# status LED) rather than publish wrong data, so every field is checked here, once.
import json

from micropython import const

# Rating scales: name -> number of levels. tests/firmware/test_config.py compares this table
# with schemas/scales.json, the wire contract.
SCALES = {"sat2": 2, "vn3": 3, "smiley4": 4}

TIMING_DEFAULTS = {
    "debounce_ms": 50, "poll_ms": 5, "lockout_ms": 4000, "stuck_ms": 10000,
    "heartbeat_s": 60, "keepalive_s": 30, "watchdog_ms": 10000, "clock_wait_s": 0,
    "ack_timeout_s": 5, "backoff_max_s": 60, "confirm_wait_s": 20,
}
_NTP_PORT = const(123)
# The wiring of this center's boxes (the README's wiring table): rating-tech writes these pins
# into config.json (the first 2, 3 or 4 buttons by the scale), and a box blinks an error code on
# them when the config itself cannot tell which pins to use. None of them is a strapping, flash or
# input-only pin.
DEFAULT_PINS = {"buttons": [32, 33, 25, 26], "led_feedback": 18, "led_status": 4, "buzzer": 19}

# Error codes, blinked on the status LED (see README). 1 is unused so one blink means nothing.
_E_MISSING = const(2)   # config.json absent or unreadable
_E_JSON = const(3)      # not valid JSON / not an object
_E_IDENTITY = const(4)  # box, counter
_E_RATING = const(5)    # scale, levels
_E_PINS = const(6)      # pins
_E_NETWORK = const(7)   # wifi, broker, ntp
_E_TIMINGS = const(8)   # timings

_ALNUM = const("abcdefghijklmnopqrstuvwxyz0123456789")


class ConfigError(Exception):
    def __init__(self, code, reason):
        super().__init__(reason)
        self.code = code
        self.reason = reason


def _need(ok, code, reason):
    if not ok:
        raise ConfigError(code, reason)


def _is_int(v):
    return isinstance(v, int) and not isinstance(v, bool)


def _chars_ok(text, allowed):
    for ch in text:
        if ch not in allowed:
            return False
    return True


def valid_box_id(box):
    # Same rule as defs.schema.json box_id: ^box-[a-z0-9][a-z0-9-]{0,27}$
    if not isinstance(box, str) or not box.startswith("box-"):
        return False
    rest = box[4:]
    return 1 <= len(rest) <= 28 and rest[0] in _ALNUM and _chars_ok(rest, _ALNUM + "-")


def valid_counter(counter):
    # defs.schema.json counter: ^[A-Za-z0-9][A-Za-z0-9_-]{0,15}$
    if not isinstance(counter, str) or not 1 <= len(counter) <= 16:
        return False
    lower = counter.lower()
    return lower[0] in _ALNUM and _chars_ok(lower, _ALNUM + "_-")


def _pin(v):
    return _is_int(v) and 0 <= v <= 48


def _check_pins(pins):
    _need(isinstance(pins, dict), _E_PINS, "pins must be an object")
    buttons = pins.get("buttons")
    _need(isinstance(buttons, list) and 2 <= len(buttons) <= 4, _E_PINS, "pins.buttons: 2..4 pins")
    for p in buttons:
        _need(_pin(p), _E_PINS, "pins.buttons: bad pin %r" % (p,))
    _need(_pin(pins.get("led_feedback")), _E_PINS, "pins.led_feedback: bad pin")
    _need(_pin(pins.get("led_status")), _E_PINS, "pins.led_status: bad pin")
    buzzer = pins.get("buzzer")
    _need(buzzer is None or _pin(buzzer), _E_PINS, "pins.buzzer: bad pin")
    used = buttons + [pins["led_feedback"], pins["led_status"]] + ([buzzer] if buzzer is not None else [])
    _need(len(set(used)) == len(used), _E_PINS, "pins: a pin is used twice")


def _check_str(section, key, code, empty_ok=False):
    v = section.get(key)
    _need(isinstance(v, str) and (empty_ok or v != ""), code, "%s must be a non-empty string" % key)


def validate(cfg):
    """Check cfg (the parsed JSON); return it with timings defaults filled in."""
    _need(isinstance(cfg, dict), _E_JSON, "config.json must hold an object")
    _need(valid_box_id(cfg.get("box")), _E_IDENTITY, "box must look like box-017")
    _need(valid_counter(cfg.get("counter")), _E_IDENTITY, "counter: 1-16 letters, digits, - or _")

    _need(cfg.get("scale") in SCALES, _E_RATING, "scale must be one of sat2, vn3, smiley4")
    _check_pins(cfg.get("pins"))
    levels = cfg.get("levels")
    n_levels = SCALES[cfg["scale"]]
    _need(isinstance(levels, list) and len(levels) == len(cfg["pins"]["buttons"]), _E_RATING,
          "levels: one level per button")
    for lv in levels:
        _need(_is_int(lv) and 0 <= lv < n_levels, _E_RATING, "levels: %r not in scale" % (lv,))

    wifi = cfg.get("wifi")
    _need(isinstance(wifi, dict), _E_NETWORK, "wifi must be an object")
    _check_str(wifi, "ssid", _E_NETWORK)
    _check_str(wifi, "password", _E_NETWORK, empty_ok=True)
    broker = cfg.get("broker")
    _need(isinstance(broker, dict), _E_NETWORK, "broker must be an object")
    _check_str(broker, "host", _E_NETWORK)
    port = broker.get("port", 1883)
    _need(_is_int(port) and 0 < port < 65536, _E_NETWORK, "broker.port: 1..65535")
    broker["port"] = port
    _need(broker.get("tls", False) in (True, False), _E_NETWORK, "broker.tls: true or false")
    broker["tls"] = bool(broker.get("tls", False))
    ca = broker.get("ca")
    _need(ca is None or (isinstance(ca, str) and ca != ""), _E_NETWORK, "broker.ca: file name or null")
    _check_str(broker, "username", _E_NETWORK)
    _check_str(broker, "password", _E_NETWORK)
    # The broker's ACL keys on the username: any other name would have every press refused
    # (and Mosquitto still PUBACKs refused QoS 1 publishes, so they would vanish silently).
    _need(broker["username"] == cfg["box"], _E_NETWORK, "broker.username must equal box")
    ntp = cfg.get("ntp")
    if ntp is not None:
        try:
            ntp_server(ntp)
        except ValueError as e:
            raise ConfigError(_E_NETWORK, str(e))
    cfg["ntp"] = ntp

    timings = cfg.get("timings", {})
    _need(isinstance(timings, dict), _E_TIMINGS, "timings must be an object")
    for key in timings:
        _need(key in TIMING_DEFAULTS, _E_TIMINGS, "timings: unknown key %s" % key)
    merged = {}
    for key, default in TIMING_DEFAULTS.items():
        v = timings.get(key, default)
        _need(_is_int(v) and v >= 0, _E_TIMINGS, "timings.%s: integer >= 0" % key)
        merged[key] = v
    _need(1 <= merged["poll_ms"] <= 20, _E_TIMINGS, "timings.poll_ms: 1..20")
    _need(merged["poll_ms"] <= merged["debounce_ms"] <= 200, _E_TIMINGS, "timings.debounce_ms: poll_ms..200")
    _need(merged["stuck_ms"] > merged["debounce_ms"], _E_TIMINGS, "timings.stuck_ms too small")
    _need(merged["heartbeat_s"] >= 5, _E_TIMINGS, "timings.heartbeat_s: >= 5")
    _need(5 <= merged["keepalive_s"] <= 600, _E_TIMINGS, "timings.keepalive_s: 5..600")
    _need(2000 <= merged["watchdog_ms"] <= 60000, _E_TIMINGS, "timings.watchdog_ms: 2000..60000")
    # Bounded so that a publish with its resends stays well inside the network stall limit.
    _need(1 <= merged["ack_timeout_s"] <= 20, _E_TIMINGS, "timings.ack_timeout_s: 1..20")
    _need(1 <= merged["backoff_max_s"] <= 600, _E_TIMINGS, "timings.backoff_max_s: 1..600")
    _need(1 <= merged["confirm_wait_s"] <= 600, _E_TIMINGS, "timings.confirm_wait_s: 1..600")
    cfg["timings"] = merged
    return cfg


def ntp_server(text):
    """config "ntp": 'host' or 'host:port' -> (host, port); raises ValueError."""
    if not isinstance(text, str) or text == "":
        raise ValueError("ntp: host name, host:port or null")
    host, port = text, _NTP_PORT
    i = text.rfind(":")
    if i >= 0:
        host, digits = text[:i], text[i + 1:]
        port = int(digits) if digits.isdigit() else 0
        if not 0 < port < 65536:
            raise ValueError("ntp: port 1..65535")
    if host == "" or " " in host or ":" in host:
        raise ValueError("ntp: host name, host:port or null")
    return host, port


def load(path):
    """Read and validate the config file; raise ConfigError(code, reason) on any problem."""
    try:
        with open(path) as f:
            text = f.read()
    except OSError:
        raise ConfigError(_E_MISSING, "cannot read " + path)
    try:
        cfg = json.loads(text)
    except ValueError:
        raise ConfigError(_E_JSON, path + " is not valid JSON")
    return validate(cfg)


def pins_for_errors(path):
    """Best pins to blink an error code with: the file's own if they are valid, else defaults."""
    try:
        with open(path) as f:
            pins = json.loads(f.read())["pins"]
        _check_pins(pins)
        return pins
    except Exception:
        return DEFAULT_PINS
