# The stand-ins for what the ESP32 holds in flash, not in its heap, loaded before the heap scripts
# read their baseline: machine and network (bench/firmware_hardware: C on the ESP32, their Pin, WDT
# and WLAN objects static there, so the stand-ins make theirs at import), with Wi-Fi coming up or
# not as P["online"] says, and os (C on the ESP32 and on the unix port, a frozen Python package on
# the WebAssembly port; outbox imports it).
import os  # noqa: F401

import machine  # noqa: F401
import network
from bench_box import P

network.WLAN(network.STA_IF).up = P["online"]  # type: ignore[attr-defined]  # the stand-in's switch


def wifi_asked():
    return network.WLAN(network.STA_IF).ssid is not None  # type: ignore[attr-defined]
