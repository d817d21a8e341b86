# Stand-in for the ESP32's network module, for bench.firmware's heap scripts (see machine.py here):
# WLAN(STA_IF) is a static C object on the ESP32, so the one station interface is made at import.
# The script says whether Wi-Fi comes up (`up`) and reads whether the box asked for it (`ssid`).
STA_IF = 0


class _WLAN:
    def __init__(self):
        self.up = False  # set by the script: does a connection attempt succeed
        self.on = False
        self.ssid = None  # the network the box asked for, None until it asks

    def active(self, on=None):
        if on is None:
            return self.on
        self.on = on
        return None

    def connect(self, ssid, password):
        self.ssid = ssid

    def isconnected(self):
        return self.on and self.up

    def status(self, what=None):
        return -50 if what == "rssi" else 1010


_sta = _WLAN()


def WLAN(interface=STA_IF):  # a function: the ESP32 returns its static interface
    return _sta
