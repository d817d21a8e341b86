"""Fixtures of the firmware tests; the helpers live in fwtools.py (a unique module name: tests/
has other conftest.py files)."""

from fwtools import listener, make_box, mosquitto, sntp

__all__ = ["listener", "make_box", "mosquitto", "sntp"]
