"""`check`: what a box says about itself over the REPL, read without changing anything on it.

The firmware is interrupted to get the REPL; its modules stay loaded, so the board module tells
the Wi-Fi state, and the running App (when the firmware exposes it as `app.current`) tells the
broker link, the outbox and the last error. Afterwards the box is reset so that it serves again.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from technician.device import BoardInfo, Device, DeviceError

# Read-only: counts valid records above the acked mark with the firmware's own outbox.unpack,
# never instantiating outbox.Outbox (its constructor tidies the folder).
_STATE = r"""
import os, sys, json
r = {}
try:
    import outbox
    d = 'ob'
    mark = 0
    try:
        with open(d + '/acked') as f:
            t = f.read().strip()
            mark = int(t) if t.isdigit() else 0
    except OSError:
        pass
    n = 0
    segs = 0
    for name in os.listdir(d):
        if name[0] == 's' and name[1:].isdigit():
            segs += 1
            with open(d + '/' + name, 'rb') as f:
                while True:
                    b = f.read(outbox.REC_SIZE)
                    if len(b) < outbox.REC_SIZE:
                        break
                    x = outbox.unpack(b)
                    if x and x[0] > mark:
                        n += 1
    r['outbox'] = n
    r['segments'] = segs
    r['acked'] = mark
except Exception as e:
    r['outbox_error'] = repr(e)
try:
    with open('ob/boot') as f:
        r['boot'] = int(f.read().strip())
except Exception:
    pass
b = sys.modules.get('board')
if b:
    try:
        r['wifi'] = bool(b.wifi_connected())
        r['rssi'] = b.wifi_rssi()
    except Exception as e:
        r['wifi_error'] = repr(e)
a = sys.modules.get('app')
cur = getattr(a, 'current', None) if a else None
if cur is not None:
    try:
        r['broker'] = bool(cur.online())
        r['last_error'] = cur.err
        r['outbox_live'] = cur.ob.pending
        r['presses'] = cur.presses
    except Exception as e:
        r['app_error'] = repr(e)
r['firmware_running'] = a is not None
try:
    import messages
    r['fw'] = messages.FW_VERSION
except Exception:
    pass
print(json.dumps(r))
"""

SECRET_KEYS = ("password",)


def masked(cfg: Any) -> Any:
    if isinstance(cfg, dict):
        return {k: ("****" if k in SECRET_KEYS and v else masked(v)) for k, v in cfg.items()}
    if isinstance(cfg, list):
        return [masked(v) for v in cfg]
    return cfg


@dataclass
class BoxReport:
    port: str
    info: BoardInfo
    files: dict[str, int]
    config: dict[str, Any] | None
    config_state: str  # ok | missing | unreadable | interrupted upgrade (config.bak)
    state: dict[str, Any]
    presence: dict[str, Any] | None = None
    notes: list[str] = field(default_factory=list)
    reset_error: str | None = None  # asked to reset the box, and it did not: why

    @property
    def box(self) -> str | None:
        return self.config.get("box") if self.config else None


def read_box(port: str, *, reset: bool = True) -> BoxReport:
    device = Device(port)
    device.open()
    try:
        info = device.info()
        files = device.listdir()
        config: dict[str, Any] | None = None
        if "config.json" in files:
            config = device.read_json("config.json")
            config_state = "ok" if config is not None else "unreadable"
        elif "config.bak" in files:
            config = device.read_json("config.bak")
            config_state = "interrupted upgrade (config.bak): provision again"
        else:
            config_state = "missing (blank box)"
        device.feed()
        try:
            state = json.loads(device.exec(_STATE, timeout=20).strip().splitlines()[-1])
        except (DeviceError, ValueError, IndexError) as error:
            state = {"error": str(error)}
        report = BoxReport(port, info, files, masked(config) if config else None, config_state, state)
    except BaseException:
        _leave(device, reset)
        raise
    report.reset_error = _leave(device, reset)
    return report


def _leave(device: Device, reset: bool) -> str | None:
    """Reset the box (or only let it go); why the reset did not happen, or None."""
    if not reset:
        device.close()
        return None
    try:
        device.reset()
    except DeviceError as error:
        return str(error)
    finally:
        device.close()
    return None
