"""`rating-tech ota`: start a rollout of a release with its canaries, widen it to all or a share of
the fleet, follow it. It asks the collector's admin API (collector/api/routes/rollouts.py), which
tells the boxes and watches the versions they report; the release must have been added there
first (`rating-collector releases add FOLDER`)."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from rich.table import Table

from technician.collector_client import CollectorClient, CollectorError

POLL_S = 2.0  # how often --wait asks the collector
STATE_STYLE = {"pending": "dim", "sent": "yellow", "updated": "green", "failed": "red", "rolled_back": "red"}


def request_stage(client: CollectorClient, version: str, *, canary: list[str] | None = None, all_boxes: bool = False,
                  percent: int | None = None) -> dict[str, Any]:
    """Start the rollout of `version` with its canaries, or widen it (all, percent): the rollout."""
    body: dict[str, Any] = {"version": version}
    if canary is not None:
        body["canary"] = canary
    elif all_boxes:
        body["all"] = True
    else:
        body["percent"] = percent
    answer: dict[str, Any] = client.post("/api/v1/rollouts", body)
    return answer


def rollouts(client: CollectorClient, version: str | None = None) -> list[dict[str, Any]]:
    if version is not None:
        return [client.get(f"/api/v1/rollouts/{version}")]
    items: list[dict[str, Any]] = client.get("/api/v1/rollouts")["items"]
    return items


def settled(rollout: dict[str, Any]) -> bool:
    """Nothing left to wait for: it stopped, or no box is pending or sent."""
    return rollout["state"] == "stopped" or not any(b["state"] in ("pending", "sent") for b in rollout["boxes"])


def wait(client: CollectorClient, version: str, timeout: float, on_change: Callable[[dict[str, Any]], None],
         clock: Callable[[], float] = time.monotonic, sleep: Callable[[float], None] = time.sleep) -> dict[str, Any]:
    """Follow the rollout until it settles or `timeout` s pass; the rollout as last seen."""
    deadline = clock() + timeout
    seen: tuple[Any, ...] = ()
    while True:
        rollout = rollouts(client, version)[0]
        now = tuple((b["box"], b["state"]) for b in rollout["boxes"]) + (rollout["state"],)
        if now != seen:
            on_change(rollout)
            seen = now
        if settled(rollout) or clock() >= deadline:
            return rollout
        sleep(POLL_S)


def _local(stamp: str | None, zone: ZoneInfo) -> str:
    return datetime.fromisoformat(stamp).astimezone(zone).strftime("%Y-%m-%d %H:%M:%S") if stamp else ""


def rollout_table(rollout: dict[str, Any], tz_name: str) -> Table:
    zone = ZoneInfo(tz_name)
    counts = ", ".join(f"{n} {state}" for state, n in rollout["counts"].items() if n)
    title = f"rollout {rollout['version']}: {rollout['state']}" + (f" ({rollout['reason']})" if rollout["reason"] else "")
    table = Table(title=title, caption=f"{counts or 'no boxes'}; times in {tz_name}")
    for column in ("box", "stage", "state", "was on", "runs", "told", "last told", "detail"):
        table.add_column(column)
    for box in rollout["boxes"]:
        style = STATE_STYLE.get(box["state"], "")
        table.add_row(box["box"], "canary" if box["canary"] else "fleet", f"[{style}]{box['state']}[/]",
                      box["from_fw"] or "?", box["fw"] or "?", str(box["attempts"]), _local(box["sent_at"], zone),
                      box["detail"] or "")
    return table


__all__ = ["CollectorError", "request_stage", "rollout_table", "rollouts", "settled", "wait"]
