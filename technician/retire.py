"""`rating-tech retire BOX`: the collector takes the box out of service for good in one request
(POST /api/v1/registry/boxes/{box}/retire, admin; collector/retirement.py does the work); this says
what was done in the technician's words."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from technician.collector_client import CollectorClient


def retire(client: CollectorClient, box: str) -> dict[str, Any]:
    return dict(client.post(f"/api/v1/registry/boxes/{box}/retire"))


def report(done: dict[str, Any], timezone: str) -> tuple[list[str], list[str]]:
    """(what was done, warnings) as lines."""
    box = done["box"]
    if done["already_retired"]:
        return [f"{box} was already retired: nothing changed"], []
    said, warnings = [], []
    if done["account_revoked"]:
        said.append("broker account revoked" + (": the broker re-read its accounts, the box is cut off"
                                                if done["broker_reloaded"] else ""))
        if not done["broker_reloaded"]:
            warnings.append("no broker of the collector's data folder runs on its machine: reload the broker "
                            "(SIGHUP) or a connected box stays connected until it reconnects")
    else:
        warnings.append(f"the collector's broker files have no account for {box} (revoked before, or the broker "
                        f"runs elsewhere: there, `rating-collector broker remove-box {box}`)")
    if done["assignment_closed_at"]:
        said.append(f"its assignment to counter {done['counter']} closed at {_local(done['assignment_closed_at'], timezone)}")
    if done["retired_at"]:
        said.append(f"marked retired since {_local(done['retired_at'], timezone)}")
    return [f"{box}: " + "; ".join(said) + ". Its presses and history stay."], warnings


def _local(value: str, timezone: str) -> str:
    return f"{datetime.fromisoformat(value).astimezone(ZoneInfo(timezone)):%Y-%m-%d %H:%M} ({timezone})"
