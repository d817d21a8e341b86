"""Which box serves which counter, read from and written to the collector's registry
(collector.models.CounterBox). Writes go through collector.registry.apply_entries, so the
registry's own rules (known counter, box id pattern, a box at one counter at a time) hold."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlmodel import col, select

from collector.db import make_engine, session_scope
from collector.models import Counter, CounterBox, Device, Press
from collector.registry import BOX_PATTERN, Entry, RegistryError, apply_entries


class AssignmentError(RuntimeError):
    pass


@dataclass
class Assignment:
    box: str
    counter: str
    scale: str
    valid_from: datetime


def now() -> datetime:
    return datetime.now(UTC)


class Registry:
    def __init__(self, database_url: str, tz_name: str = "Asia/Ho_Chi_Minh"):
        self.url = database_url
        self.tz_name = tz_name
        self.engine: Engine = make_engine(database_url)
        try:
            with self.engine.connect() as connection:
                if not sa.inspect(connection).has_table("counter_box"):
                    raise AssignmentError(
                        f"the collector's database ({self._safe_url()}) has no registry: start the collector "
                        "once (it migrates) and load the registry with `rating-collector registry load`"
                    )
        except sa.exc.OperationalError as error:
            raise AssignmentError(f"cannot open the collector's database ({self._safe_url()}): {error.orig}") from None

    def _safe_url(self) -> str:
        return sa.engine.make_url(self.url).render_as_string(hide_password=True)

    def close(self) -> None:
        self.engine.dispose()

    def counter(self, code: str) -> Counter:
        with session_scope(self.engine) as session:
            row = session.exec(select(Counter).where(Counter.code == code)).first()
        if row is None:
            raise AssignmentError(f"counter {code!r} is missing from the registry; add it and run "
                                  "`rating-collector registry load`")
        return row

    def _current(self, where: object, at: datetime | None = None) -> list[Assignment]:
        at = at or now()
        with session_scope(self.engine) as session:
            rows = session.exec(
                select(CounterBox, Counter).join(Counter, Counter.id == CounterBox.counter_id).where(where)  # type: ignore[arg-type]
            ).all()
        return sorted(
            (Assignment(b.box, c.code, c.scale, b.valid_from) for b, c in rows
             if b.valid_from <= at and (b.valid_to is None or at < b.valid_to)),
            key=lambda a: a.valid_from,
        )

    def box_at_counter(self, code: str, at: datetime | None = None) -> Assignment | None:
        """The box serving the counter now (the latest, if the registry lists several)."""
        self.counter(code)
        found = self._current(Counter.code == code, at)
        return found[-1] if found else None

    def counter_of_box(self, box: str, at: datetime | None = None) -> Assignment | None:
        found = self._current(CounterBox.box == box, at)
        return found[-1] if found else None

    def box_known(self, box: str) -> bool:
        """Listed in the registry at any time, or ever heard of by the collector."""
        with session_scope(self.engine) as session:
            return bool(
                session.exec(select(CounterBox.id).where(CounterBox.box == box)).first()
                or session.exec(select(Device.box).where(Device.box == box)).first()
                or session.exec(select(Press.id).where(Press.box == box).limit(1)).first()
            )

    def box_seen(self, box: str) -> bool:
        """The collector has heard from this box id (status, presence or presses)."""
        with session_scope(self.engine) as session:
            return bool(
                session.exec(select(Device.box).where(Device.box == box)).first()
                or session.exec(select(Press.id).where(Press.box == box).limit(1)).first()
            )

    def assign(self, box: str, counter: str, since: datetime, *, closing: Assignment | None = None) -> None:
        """Open box's assignment to the counter from `since`; with `closing`, end that assignment
        at the same instant and retire its box (the collector shows it retired, never online
        again), in the same transaction."""
        entries = []
        if closing is not None:
            entries.append(Entry("box", {"box": closing.box, "counter": closing.counter, "from": closing.valid_from,
                                         "to": since}, "rating-tech (closing)"))
        entries.append(Entry("box", {"box": box, "counter": counter, "from": since}, "rating-tech"))
        try:
            with session_scope(self.engine) as session:
                apply_entries(session, entries, self.tz_name)
                if closing is not None:
                    session.execute(sa.update(Device).where(col(Device.box) == closing.box)
                                    .values(retired_at=since, online=False))
        except RegistryError as error:
            raise AssignmentError("the registry refused the change: " + "; ".join(error.problems)) from None


def new_box_id(counter: str, taken: object) -> str:
    """box-017 for counter 17, then box-017-2, box-017-3, ... skipping every id `taken(id)` says
    was ever used: a new device must never reuse an id, or its sequence numbers would collide
    with the old device's and the collector would drop its presses as duplicates."""
    code = counter.lower()
    base = "box-" + (code.zfill(3) if code.isdigit() else re.sub(r"[^a-z0-9-]", "-", code))
    for n in range(1, 1000):
        candidate = base if n == 1 else f"{base}-{n}"
        if BOX_PATTERN.match(candidate) and not taken(candidate):  # type: ignore[operator]
            return candidate
    raise AssignmentError(f"no free box id for counter {counter}")
