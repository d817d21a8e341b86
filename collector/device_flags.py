"""What needs a technician at a box, read from its last status: the one home of the rule that the
devices API, the dashboard's devices page and `rating-tech fleet` show.

The device table keeps a box's last status only, not its history, so both rules read that status:
- "reboots": the box's last reset was a crash (watchdog) or a power dip (brownout), less than
  REBOOT_WINDOW_S ago. A box that keeps crashing is always inside that window.
- "outbox": the box holds OUTBOX_BACKLOG presses or more not yet confirmed. A box that reaches the
  collector holds 0 to a few in flight; a backlog means its presses are not getting through.
"""

from __future__ import annotations

from typing import Any

REBOOT_WINDOW_S = 3600
CRASH_RESETS = ("watchdog", "brownout")
OUTBOX_BACKLOG = 10

FLAG_RULES = (f"reboots: last reset by {' or '.join(CRASH_RESETS)} less than {REBOOT_WINDOW_S // 60} min ago; "
              f"outbox: {OUTBOX_BACKLOG} or more presses not yet confirmed")


def flags(item: dict[str, Any]) -> list[str]:
    """What needs a technician at this box (FLAG_RULES), from the devices API's fields of it; a
    retired box needs nobody."""
    if item.get("status") == "retired":
        return []
    found = []
    up_ms = item.get("up")
    if item.get("reset_cause") in CRASH_RESETS and up_ms is not None and up_ms < REBOOT_WINDOW_S * 1000:
        found.append("reboots")
    if (item.get("outbox") or 0) >= OUTBOX_BACKLOG:
        found.append("outbox")
    return found
