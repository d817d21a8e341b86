"""`rating-tech fleet`: every box as the collector last heard it (GET /api/v1/devices/status), as a
table or JSON, with the boxes that need a technician flagged.

The flags have one home, `flags()`. The devices API gives each box's last status only, not its
history, so both rules read that one status:
- "reboots": the box's last reset was a crash (watchdog) or a power dip (brownout), less than
  REBOOT_WINDOW_S ago. A box that keeps crashing is always inside that window.
- "outbox": the box holds OUTBOX_BACKLOG presses or more not yet confirmed. A box that reaches the
  collector holds 0 to a few in flight; a backlog means its presses are not getting through.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from rich.table import Table

REBOOT_WINDOW_S = 3600
CRASH_RESETS = ("watchdog", "brownout")
OUTBOX_BACKLOG = 10

FLAG_RULES = (f"reboots: last reset by {' or '.join(CRASH_RESETS)} less than {REBOOT_WINDOW_S // 60} min ago; "
              f"outbox: {OUTBOX_BACKLOG} or more presses not yet confirmed")


def flags(item: dict[str, Any]) -> list[str]:
    """What needs a technician at this box (FLAG_RULES); a retired box needs nobody."""
    if item.get("status") == "retired":
        return []
    found = []
    up_ms = item.get("up")
    if item.get("reset_cause") in CRASH_RESETS and up_ms is not None and up_ms < REBOOT_WINDOW_S * 1000:
        found.append("reboots")
    if (item.get("outbox") or 0) >= OUTBOX_BACKLOG:
        found.append("outbox")
    return found


def rollout_state(item: dict[str, Any]) -> str | None:
    """The box's rollout state, when the devices API gives one (a text, or an object with `state`)."""
    value = item.get("rollout")
    if isinstance(value, dict):
        value = value.get("state")
    return str(value) if value else None


@dataclass
class Fleet:
    items: list[dict[str, Any]]
    timezone: str
    summary: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_status(cls, status: dict[str, Any], timezone: str) -> Fleet:
        items = [{**item, "flags": flags(item), "rollout": rollout_state(item)} for item in status["items"]]
        summary = {key: status.get(key) for key in ("online", "offline", "retired", "silent")}
        summary["flagged"] = [item["box"] for item in items if item["flags"]]
        return cls(items, timezone, summary)

    def as_json(self) -> dict[str, Any]:
        """The API's fields as it gave them (times in UTC), plus `flags` and `rollout`."""
        return {**self.summary, "flag_rules": FLAG_RULES, "items": self.items}

    def table(self, now: datetime | None = None) -> Table:
        now = now or datetime.now(UTC)
        zone = ZoneInfo(self.timezone)
        table = Table(title=f"{len(self.items)} boxes (last seen in {self.timezone})", title_justify="left")
        for name, justify in (("box", "left"), ("counter", "left"), ("fw", "left"), ("state", "left"),
                              ("last seen", "left"), ("outbox", "right"), ("rssi", "right"), ("heap free", "right"),
                              ("reset", "left"), ("boots", "right"), ("rollout", "left"), ("flags", "left")):
            table.add_column(name, justify=justify)  # type: ignore[arg-type]
        for item in self.items:
            table.add_row(item["box"], item.get("counter") or "-", item.get("fw") or "-", _state(item),
                          _seen(item.get("last_seen"), zone, now), _number(item.get("outbox")),
                          _number(item.get("rssi"), " dBm"), _number(item.get("heap_free"), " B"),
                          item.get("reset_cause") or "-", _number(item.get("boot")), item.get("rollout") or "-",
                          f"[red]{', '.join(item['flags'])}[/]" if item["flags"] else "")
        return table

    def footer(self) -> str:
        s = self.summary
        flagged = s["flagged"]
        return (f"{s['online']} online, {s['offline']} offline, {s['retired']} retired; "
                f"{len(flagged)} flagged{': ' + ', '.join(flagged) if flagged else ''}")


def _state(item: dict[str, Any]) -> str:
    status = str(item.get("status"))
    colour = {"online": "green", "offline": "red", "never_seen": "yellow"}.get(status)
    text = status.replace("_", " ") + (" (silent)" if status == "online" and item.get("silent") else "")
    return f"[{colour}]{text}[/]" if colour else text


def _seen(value: str | None, zone: ZoneInfo, now: datetime) -> str:
    if not value:
        return "never"
    moment = datetime.fromisoformat(value)
    return f"{moment.astimezone(zone):%Y-%m-%d %H:%M} ({_ago((now - moment).total_seconds())})"


def _ago(seconds: float) -> str:
    minutes = max(0, int(seconds // 60))
    if minutes < 60:
        return f"{minutes} min ago"
    if minutes < 48 * 60:
        return f"{minutes // 60} h ago"
    return f"{minutes // (24 * 60)} days ago"


def _number(value: Any, unit: str = "") -> str:
    return "-" if value is None else f"{value}{unit}"
