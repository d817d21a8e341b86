"""Taking a box out of service for good (`rating-tech retire BOX`, POST
/api/v1/registry/boxes/{box}/retire): its broker account revoked, its current assignment to a counter
closed, the device marked retired. Its presses, statuses and past assignments stay: reports of the
months it served still count them. Doing it again changes nothing and says so."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from sqlmodel import Session, select

from collector.broker import BrokerError, check_box_id, reload_running, remove_box
from collector.models import Counter, CounterBox, Device
from collector.registry import Entry, RegistryError, apply_entries


class RetireError(RuntimeError):
    """The box cannot be retired; `status` is the HTTP status that says why (404 unknown, 422 bad id)."""

    def __init__(self, message: str, status: int):
        super().__init__(message)
        self.status = status


@dataclass
class Retirement:
    box: str
    counter: str | None  # where it served last
    assignment_closed_at: datetime | None  # None: it had no open assignment
    retired_at: datetime | None  # None: never heard from, so no device to mark (nor can it report now)
    account_revoked: bool  # False: it had no account in this machine's broker files
    broker_reloaded: bool  # False: no Mosquitto of this data folder runs here
    already_retired: bool  # nothing was left to do


def retire_box(session: Session, box: str, *, broker_dir: Path, tz_name: str, now: datetime) -> Retirement:
    try:
        check_box_id(box)
    except BrokerError as error:
        raise RetireError(str(error), 422) from None
    assignments = session.exec(select(CounterBox, Counter).join(Counter).where(CounterBox.box == box)
                               .order_by(CounterBox.valid_from)).all()  # type: ignore[arg-type]
    device = session.get(Device, box)
    if not assignments and device is None:
        raise RetireError(f"{box} is not in the registry and the collector never heard from it", 404)
    # The account first: a box that can no longer connect cannot report itself back into service.
    revoked = remove_box(broker_dir, box)
    reloaded = reload_running(broker_dir) if revoked else False
    current = [(a, c) for a, c in assignments if a.valid_from <= now and (a.valid_to is None or now < a.valid_to)]
    if current:
        try:
            apply_entries(session, [Entry("box", {"box": box, "counter": c.code, "from": a.valid_from, "to": now},
                                          "retire") for a, c in current], tz_name)
        except RegistryError as error:
            raise RetireError("the registry refused closing the assignment: " + "; ".join(error.problems),
                              422) from None
    marked = device is not None and device.retired_at is None
    if device is not None and marked:
        device.retired_at = now
        device.online = False
        session.add(device)
    session.commit()
    return Retirement(
        box=box,
        counter=(current[-1][1].code if current else assignments[-1][1].code if assignments
                 else device.counter if device else None),
        assignment_closed_at=now if current else None,
        retired_at=device.retired_at if device is not None else None,
        account_revoked=revoked,
        broker_reloaded=reloaded,
        already_retired=not (revoked or current or marked),
    )
