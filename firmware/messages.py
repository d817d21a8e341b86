# The JSON payloads and topics a box sends, exactly per schemas/*.schema.json and topics.json.
import json

from micropython import const

FW_VERSION = "0.1.0"
_SCHEMA_V = const(1)

QOS_PRESS = const(1)
QOS_STATUS = const(0)
QOS_PRESENCE = const(1)
_FLAG_NAMES = const(("suppressed", "test"))  # bit 0, bit 1 of the outbox flags

CLOCK_TOPIC = "rating/clock"


def topic(box, kind):
    """kind: press, status, presence or cmd."""
    return "rating/" + box + "/" + kind


def press(box, counter, rec, scale, t, clock):
    """rec: (seq, boot, up, level, flags) from the outbox; t: UTC ms or None (clock 'none')."""
    seq, boot, up, level, flags = rec
    names = []  # a loop, not a comprehension: that would be one more function held in RAM
    for i in range(len(_FLAG_NAMES)):
        if flags & (1 << i):
            names.append(_FLAG_NAMES[i])
    if t is None:
        clock = "none"
    return json.dumps({
        "v": _SCHEMA_V, "box": box, "counter": counter, "seq": seq, "boot": boot, "up": up,
        "t": t, "clock": clock, "scale": scale, "level": level, "flags": names, "fw": FW_VERSION,
    })


def status(box, counter, boot, up, reset, rssi, heap_free, outbox, presses, clock, err):
    if err is not None and len(err) > 120:
        err = err[:120]
    return json.dumps({
        "v": _SCHEMA_V, "box": box, "counter": counter, "boot": boot, "up": up, "fw": FW_VERSION,
        "reset": reset, "rssi": rssi, "heap_free": heap_free, "outbox": outbox,
        "presses": presses, "clock": clock, "err": err,
    })


def presence(box, counter, boot, online):
    return json.dumps({
        "v": _SCHEMA_V, "box": box, "counter": counter, "state": "online" if online else "offline",
        "boot": boot, "fw": FW_VERSION,
    })


# Bounds of defs.schema.json utc_ms: a beacon outside them is someone's mistake, not a time.
_UTC_MIN = const(1500000000000)
_UTC_MAX = const(4102444800000)


def parse_clock(payload):
    """UTC ms from a clock beacon {"v":1,"t":...}, or None if it is not one."""
    try:
        msg = json.loads(payload)
        t = msg["t"]
        if msg["v"] == _SCHEMA_V and isinstance(t, int) and not isinstance(t, bool) and _UTC_MIN <= t <= _UTC_MAX:
            return t
    except (ValueError, KeyError, TypeError):
        pass
    return None


_STORED_MAX = const(64)  # seqs in one "stored" message (schemas/stored.schema.json)


def parse_stored(payload):
    """The seqs of a collector's {"v":1,"stored":[...]} on the box's command topic, or None if it
    is not one (then nothing is confirmed: the presses stay in flash and are sent again)."""
    try:
        msg = json.loads(payload)
        seqs = msg["stored"]
        if msg["v"] != _SCHEMA_V or not isinstance(seqs, list) or len(seqs) > _STORED_MAX:
            return None
        for seq in seqs:
            if not isinstance(seq, int) or isinstance(seq, bool) or seq < 1:
                return None
        return seqs
    except (ValueError, KeyError, TypeError):
        return None
