"""The rules and their thresholds. Defaults suit a center's counter (domain notes: 50% unhappy
within 15 minutes with at least 4 ratings); RATING_ALERT_RULES overrides them per site, department
or counter, the narrowest scope winning field by field. A threshold set to null turns its rule off
there."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

UNHAPPY_WINDOW = "unhappy_window"  # share of unsatisfied ratings in a sliding window
DAY_RATE = "day_rate"  # the counter's satisfaction rate for the day
SUPPRESSED_BURST = "suppressed_burst"  # presses the box suppressed (mashing, misuse) in a window
BOX_SILENT = "box_silent"  # no message from the box for N office minutes
BOX_OFFLINE = "box_offline"  # the box's last will / presence says offline
OUTBOX_GROWING = "outbox_growing"  # presses waiting in the box's flash
SEQUENCE_GAP = "sequence_gap"  # a press the box numbered and the collector never got, for too long
COUNTER_RULES = (UNHAPPY_WINDOW, DAY_RATE, SUPPRESSED_BURST)
BOX_RULES = (BOX_SILENT, BOX_OFFLINE, OUTBOX_GROWING, SEQUENCE_GAP)
RULES = COUNTER_RULES + BOX_RULES
SCOPES = ("site", "department", "counter")
# A box sends again what the collector has not confirmed after this wait (firmware/config.py,
# TIMING_DEFAULTS["confirm_wait_s"]; a test holds the two together): a gap still open after it is
# a press the box will not resend by itself.
CONFIRM_WAIT_S = 20


class Thresholds(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    unhappy_share: float | None = Field(default=0.5, gt=0, le=1)
    unhappy_window_min: int = Field(default=15, ge=1, le=24 * 60)
    unhappy_min_ratings: int = Field(default=4, ge=1)
    day_rate_below: float | None = Field(default=0.7, gt=0, le=1)
    day_min_ratings: int = Field(default=10, ge=1)
    suppressed_burst: int | None = Field(default=10, ge=1)
    suppressed_window_min: int = Field(default=10, ge=1, le=24 * 60)
    silent_office_min: int | None = Field(default=30, ge=1)
    offline_min: int | None = Field(default=5, ge=0)  # offline this long (wall clock) before it counts
    outbox_above: int | None = Field(default=20, ge=1)
    gap_open_s: int | None = Field(default=CONFIRM_WAIT_S, ge=1)  # a seq gap open this long (wall clock)
    # Hysteresis: an alert clears only once its condition has been false this long.
    clear_after_min: int = Field(default=30, ge=0, le=24 * 60)


DEFAULTS = Thresholds()
_RULES_JSON = TypeAdapter(dict[str, Thresholds])


@dataclass(frozen=True)
class Place:
    """Where a counter is: its code, its department's code and its site."""

    counter: str
    department: str | None = None
    site: str | None = None


class RuleBook:
    def __init__(self, overrides: dict[str, dict[str, Any]] | None = None):
        self._overrides = overrides or {}
        self._cache: dict[Place, Thresholds] = {}

    @classmethod
    def parse(cls, text: str) -> RuleBook:
        """From RATING_ALERT_RULES (JSON); a clear error for a bad scope, field or value."""
        if not text.strip():
            return cls()
        try:
            parsed = _RULES_JSON.validate_json(text)
        except ValidationError as error:
            problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in error.errors()[:5])
            raise ValueError(f"RATING_ALERT_RULES: {problems}") from None
        for scope in parsed:
            kind, _, code = scope.partition(":")
            if scope != "*" and (kind not in SCOPES or not code):
                raise ValueError(f"RATING_ALERT_RULES: scope {scope!r} is not '*', site:X, department:X or counter:X")
        return cls({scope: thresholds.model_dump(exclude_unset=True) for scope, thresholds in parsed.items()})

    def for_place(self, place: Place) -> Thresholds:
        found = self._cache.get(place)
        if found is None:
            merged: dict[str, Any] = {}
            for scope in ("*", f"site:{place.site}", f"department:{place.department}", f"counter:{place.counter}"):
                merged.update(self._overrides.get(scope, {}))
            found = self._cache[place] = Thresholds(**merged) if merged else DEFAULTS
        return found
