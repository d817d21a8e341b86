"""What each JSON route answers: the public shape of its body, documented in /openapi.json.

The routes build plain dicts (the domain modules know nothing of HTTP) and FastAPI checks them
against these models. Every model forbids keys it does not declare, so a key a route adds without
declaring it fails loudly (a 500 in tests) instead of being dropped from the answer. Keys a route
sends only sometimes have a default and the route answers with `response_model_exclude_unset`, so
they stay absent rather than turning into nulls.

Times and days are already text in the bodies (ISO 8601, the way the routes wrote them before there
were models): they are declared as text, so that pydantic does not rewrite them."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

Timestamp = Annotated[str, Field(description="ISO 8601 date-time with its UTC offset")]
Day = Annotated[str, Field(description="a local day, YYYY-MM-DD")]
Rate = Annotated[float | None, Field(description="0..1; null without ratings")]


class PublicModel(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


# --- satisfaction figures (collector.figures.figures) --------------------------------------------


class LevelPublic(PublicModel):
    key: str
    label_vi: str
    label_en: str
    count: int
    share: Rate


class RatesPublic(PublicModel):
    """Figures without their levels, as each cell of the hour-by-weekday grid holds them."""

    total: int
    satisfied: int = Field(description="ratings at or above the scale's satisfied level")
    satisfaction_rate: Rate
    rate_low: Rate = Field(description="lower end of the Wilson 95% interval of satisfaction_rate")
    rate_high: Rate = Field(description="upper end of the Wilson 95% interval of satisfaction_rate")
    few_ratings: bool = Field(description="fewer ratings than a rate can rest on (collector.figures.FEW_RATINGS)")
    index: float | None = Field(description="mean level on 0..100; null without ratings")


class FiguresPublic(RatesPublic):
    levels: list[LevelPublic]


class ChangePublic(PublicModel):
    """Against the previous period: ratings, rate (0..1, not percent) and index points."""

    total: int
    satisfaction_rate: float | None
    index: float | None


class PeriodFiguresPublic(FiguresPublic):
    from_: Day = Field(alias="from")
    to: Day


class SeriesPointPublic(PeriodFiguresPublic):
    period: str = Field(description="2026-03-02, 2026-W10, 2026-03, 2026-Q1 or 2026")


class GroupPublic(FiguresPublic):
    key: str | None = Field(description="the counter's, officer's or department's code, or the site")
    code: str | None
    name: str | None
    department: str | None = Field(None, description="counters and officers: their department's code")
    series: list[SeriesPointPublic] | None = Field(None, description="with `by`")
    previous: FiguresPublic | None = Field(None, description="with `compare`")
    change: ChangePublic | None = Field(None, description="with `compare`")


class SatisfactionPublic(FiguresPublic):
    from_: Day = Field(alias="from")
    to: Day
    group: Literal["counter", "department", "officer", "site"] | None
    by: Literal["day", "week", "month", "quarter", "year"] | None
    include: list[str]
    groups: list[GroupPublic]
    series: list[SeriesPointPublic] | None = Field(None, description="without a group, with `by`")
    previous: PeriodFiguresPublic | None = Field(None, description="with `compare`")
    change: ChangePublic | None = Field(None, description="with `compare`")


class WeekdayPublic(PublicModel):
    weekday: int = Field(description="ISO weekday, 1 = Monday")
    label_vi: str
    label_en: str


class GridCellPublic(RatesPublic):
    weekday: int
    hour: int = Field(description="local hour, 0..23")


class GridPublic(PublicModel):
    from_: Day = Field(alias="from")
    to: Day
    timezone: str
    weekdays: list[WeekdayPublic]
    cells: list[GridCellPublic]


class CounterLevelPublic(PublicModel):
    scale: str
    level: int
    key: str
    label_vi: str
    label_en: str
    count: int


class CounterSatisfactionPublic(PublicModel):
    counter: str
    from_: Day = Field(alias="from")
    to: Day
    scale: str
    include: list[str]
    total: int
    levels: list[CounterLevelPublic] = Field(description="the counter's own scale, then other scales' presses")
    satisfied: int
    satisfaction_rate: Rate
    index: float | None


# --- presses ---------------------------------------------------------------------------------------


class PressPublic(PublicModel):
    id: int
    box: str
    seq: int
    counter: str
    scale: str
    level: int
    flags: list[Literal["suppressed", "test"]]
    pressed_at: Timestamp
    day: Day
    time_approximate: bool
    clock: str
    boot: int
    up: int
    fw: str
    received_at: Timestamp
    officer_id: int | None
    department_id: int | None


class PressPage(PublicModel):
    items: list[PressPublic]
    next_cursor: str | None = Field(description="pass as `cursor` for the next page; null on the last")


# --- devices ---------------------------------------------------------------------------------------


class LossPublic(PublicModel):
    """Loss accounting of a box (collector.sequences): a gap is a press the box numbered and the
    collector never got."""

    numbered: int = Field(description="the highest seq heard: the box numbered presses 1..numbered")
    accounted: int = Field(description="of those, how many reached the collector (stored or rejected)")
    missing: int = Field(description="numbered - accounted")
    gap_count: int = Field(description="runs of missing seqs")
    gaps: list[list[int]] = Field(description="the first runs of missing seqs, [first, last]")
    open_since: Timestamp | None = Field(description="when the oldest gap was first seen (null: none open)")


class DeviceRolloutPublic(PublicModel):
    version: str
    state: Literal["pending", "sent", "updated", "failed", "rolled_back"]


class DevicePublic(PublicModel):
    """A box. One in the registry that has never reported has only the fields without a default."""

    box: str
    counter: str
    online: bool
    status: Literal["online", "offline", "retired", "never_seen"]
    last_seen: Timestamp | None
    outbox: int | None
    fw: str | None
    silent_office_minutes: int | None
    silent: bool
    rssi: int | None = None
    heap_free: int | None = None
    presses: int | None = None
    clock: str | None = None
    reset_cause: str | None = None
    boot: int | None = None
    up: int | None = None
    last_error: str | None = None
    retired_at: Timestamp | None = None
    loss: LossPublic | None = None
    down_office_minutes: int = Field(description="office minutes the box was offline or silent in the days asked")
    flags: list[Literal["reboots", "outbox"]] = Field(description="what needs a technician (flag_rules)")
    rollout: DeviceRolloutPublic | None = None


class DeviceStatusPublic(PublicModel):
    silent_after_minutes: int
    flag_rules: str = Field(description="when a box is flagged (collector/device_flags.py)")
    office_hours: list[str] = Field(description="local HH:MM-HH:MM spans, Monday to Friday")
    online: int
    offline: int
    retired: int
    silent: list[str] = Field(description="the boxes silent for silent_after_minutes of office hours")
    gaps_open: list[str] = Field(description="the boxes with presses numbered and never stored")
    down_from: Day = Field(description="first local day of down_office_minutes")
    down_to: Day = Field(description="last local day of down_office_minutes")
    items: list[DevicePublic]


# --- registry --------------------------------------------------------------------------------------


class DepartmentPublic(PublicModel):
    code: str
    name: str
    site: str | None


class CounterPublic(PublicModel):
    code: str
    name: str
    department: str | None
    scale: str


class OfficerPublic(PublicModel):
    code: str
    name: str
    department: str | None


class BoxAssignmentPublic(PublicModel):
    box: str
    counter: str
    from_: str | None = Field(alias="from")
    to: str | None = Field(description="exclusive; null: still there")


class OfficerAssignmentPublic(PublicModel):
    officer: str
    counter: str
    from_: str | None = Field(alias="from")
    to: str | None = Field(description="exclusive; null: still on duty")


class RetiredBoxPublic(PublicModel):
    """What retiring a box did (collector.retirement); again on a retired box, nothing."""

    box: str
    counter: str | None = Field(description="the counter it served last")
    assignment_closed_at: Timestamp | None = Field(description="null: it had no open assignment")
    retired_at: Timestamp | None = Field(description="null: never heard from, no device to mark")
    account_revoked: bool = Field(description="false: no broker account for it in this collector's broker files")
    broker_reloaded: bool = Field(description="the broker running here re-read its accounts (the box is cut off)")
    already_retired: bool = Field(description="nothing was left to do")


# --- health ----------------------------------------------------------------------------------------


class HealthPublic(PublicModel):
    status: Literal["ok", "degraded"]
    db: bool
    mqtt: bool
    ingest: bool = Field(description="false when messages have waited ingest_stall_s with nothing committed")
    stalled_s: float
    queue_depth: int | None


# --- scheduled reports by e-mail (collector.reports.dispatch) ---------------------------------------


class ReportDispatchPublic(PublicModel):
    id: int
    kind: Literal["week", "month"]
    period: str = Field(description="2026-W48 | 2026-11")
    recipients: str = Field(description='the recipient group of RATING_REPORT_MAIL_TO: "*", "site:<code>", '
                                        '"department:<code>"')
    status: Literal["pending", "sending", "sent"] = Field(
        description="pending: due, waiting for its (next) attempt; sending: claimed by a collector; sent")
    due_at: Timestamp
    attempts: int
    last_error: str | None = Field(description="why the last attempt failed; null once sent")
    next_attempt_at: Timestamp | None = Field(description="null once sent")
    sent_at: Timestamp | None
    addresses: list[str] = Field(description="whom it went to; empty until sent")
    message_id: str | None


class ReportDispatchPage(PublicModel):
    items: list[ReportDispatchPublic]
    unsent: int = Field(description="reports due and not sent yet, over all groups")


# --- the lobby screen (collector.api.routes.lobby) --------------------------------------------------


class LobbyCounterPublic(RatesPublic):
    code: str | None
    name: str | None


class LobbyRatingPublic(PublicModel):
    at: Timestamp = Field(description="when it was pressed, in the center's zone")
    counter: str
    key: str
    label_vi: str
    label_en: str
    satisfied: bool


class LobbyPublic(PublicModel):
    day: Day
    timezone: str
    today: RatesPublic
    month: RatesPublic = Field(description="from the 1st of this month to today")
    counters: list[LobbyCounterPublic] = Field(description="today, the counters rated, by code")
    recent: list[LobbyRatingPublic] = Field(description="today's latest ratings, newest first")
