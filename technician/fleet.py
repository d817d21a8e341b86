"""`rating-tech fleet`: every box as the collector last heard it (GET /api/v1/devices/status), as a
table or JSON, with the boxes that need a technician flagged: the API's `flags`, whose rule has its
home in collector/device_flags.py (FLAG_RULES says it)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from rich.table import Table

from collector.device_flags import FLAG_RULES


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
        items = [{**item, "flags": item.get("flags", []), "rollout": rollout_state(item)} for item in status["items"]]
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
