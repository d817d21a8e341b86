"""Nothing lost, and shown: each box's loss figures in the devices API (numbered, accounted, missing,
the gaps' runs and since when the oldest is open), and the "sequence gap left open" alert, fired once
a gap outlives the box's confirmation wait and cleared (with hysteresis) once it closes; through the
evaluator with explicit times and through the alert service to a real SMTP server."""

from __future__ import annotations

import ast
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session, select

from collector.alerts import rules
from collector.alerts.evaluate import DeviceView, Evaluator, GapView, Transition
from collector.alerts.rules import RuleBook
from collector.alerts.service import AlertService
from collector.app import create_app
from collector.auth import create_token
from collector.clock import utc_ms
from collector.db import session_scope
from collector.messages import Inbound, check
from collector.models import Alert, Device
from collector.office_hours import OfficeHours
from collector.settings import Settings
from collector.store import store_batch
from tests.helpers.mail import Clock, Inbox, make_certificate, running_smtp_server
from tests.helpers.paths import REPO

TZ = "Asia/Ho_Chi_Minh"
MONDAY_9 = datetime(2026, 11, 30, 2, 0, tzinfo=UTC)  # 09:00 local: office hours
SUNDAY_9 = MONDAY_9 - timedelta(days=1)


def store(engine: Any, box: str, seqs: list[int], received_at: datetime) -> None:
    counter = {"box-017": "17", "box-018": "18"}[box]
    items = []
    for seq in seqs:
        body = {"v": 1, "box": box, "counter": counter, "seq": seq, "boot": 1, "up": 1000 + seq,
                "t": utc_ms(received_at), "clock": "sync", "scale": "sat2", "level": 1, "flags": [], "fw": "0.1.0"}
        items.append(check(Inbound(f"rating/{box}/press", json.dumps(body).encode(), received_at)))
    with session_scope(engine) as session:
        store_batch(session, items, TZ)


def heard(engine: Any, box: str, at: datetime) -> None:
    """The box's last status, as the store leaves it in the device table."""
    counter = {"box-017": "17", "box-018": "18"}[box]
    with session_scope(engine) as session:
        session.merge(Device(box=box, counter=counter, online=True, last_seen=at, outbox=0))


# --- the devices API ----------------------------------------------------------------------------


def test_the_devices_api_shows_each_box_s_gaps_and_since_when(registered: Any, tmp_path: Path) -> None:
    store(registered, "box-017", [1, 2, 5], MONDAY_9)
    store(registered, "box-017", [6, 9], MONDAY_9 + timedelta(minutes=1))
    store(registered, "box-018", [1, 2, 3], MONDAY_9)
    for box in ("box-017", "box-018"):
        heard(registered, box, MONDAY_9 + timedelta(minutes=2))
    with session_scope(registered) as session:
        token = create_token(session, name="viewer", role="viewer")
    client = TestClient(create_app(Settings(data_dir=tmp_path), registered))
    client.headers["Authorization"] = f"Bearer {token}"

    status = client.get("/api/v1/devices/status").json()
    assert status["gaps_open"] == ["box-017"]
    loss = {item["box"]: item["loss"] for item in status["items"]}
    assert loss["box-017"] == {"numbered": 9, "accounted": 5, "missing": 4, "gap_count": 2,
                               "gaps": [[3, 4], [7, 8]], "open_since": MONDAY_9.isoformat()}
    assert loss["box-018"] == {"numbered": 3, "accounted": 3, "missing": 0, "gap_count": 0, "gaps": [],
                               "open_since": None}
    # the box resends what was missing: nothing open any more
    store(registered, "box-017", [3, 4, 7, 8], MONDAY_9 + timedelta(minutes=3))
    listed = client.get("/api/v1/devices").json()
    assert [(d["box"], d["loss"]["missing"], d["loss"]["open_since"]) for d in listed] == [
        ("box-017", 0, None), ("box-018", 0, None)]


# --- the rule, with explicit times --------------------------------------------------------------


BOX = DeviceView("box-017", "17", True, MONDAY_9, 0)


def events(transitions: list[Transition]) -> list[str]:
    return [t.event for t in transitions if t.rule == rules.SEQUENCE_GAP]


def test_a_gap_fires_once_it_outlives_the_confirmation_wait_and_clears_once_closed() -> None:
    engine = Evaluator(RuleBook(), TZ, OfficeHours())
    opened = GapView(missing=2, open_since=MONDAY_9)
    assert events(engine.tick(MONDAY_9 + timedelta(seconds=rules.CONFIRM_WAIT_S - 1), [BOX], {"box-017": opened})) == []
    fired = engine.tick(MONDAY_9 + timedelta(seconds=rules.CONFIRM_WAIT_S), [BOX], {"box-017": opened})
    assert events(fired) == ["fired"]
    assert fired[-1].value == 2 and "2 numbered presses never stored" in fired[-1].message
    assert fired[-1].subject == "box:box-017" and fired[-1].box == "box-017"
    assert events(engine.tick(MONDAY_9 + timedelta(minutes=5), [BOX], {"box-017": opened})) == []  # still one alert
    closed_at = MONDAY_9 + timedelta(minutes=6)
    assert events(engine.tick(closed_at, [BOX], {})) == []  # closed: hysteresis first
    assert events(engine.tick(closed_at + timedelta(minutes=29), [BOX], {})) == []
    assert events(engine.tick(closed_at + timedelta(minutes=30), [BOX], {})) == ["cleared"]


def test_a_gap_of_unknown_age_is_timed_from_when_it_was_first_seen_and_nights_are_quiet() -> None:
    engine = Evaluator(RuleBook.parse('{"counter:17": {"gap_open_s": 120}}'), TZ, OfficeHours())
    unknown = {"box-017": GapView(missing=1, open_since=None)}
    assert events(engine.tick(MONDAY_9, [BOX], unknown)) == []
    assert events(engine.tick(MONDAY_9 + timedelta(seconds=119), [BOX], unknown)) == []
    assert events(engine.tick(MONDAY_9 + timedelta(seconds=120), [BOX], unknown)) == ["fired"]

    quiet = Evaluator(RuleBook(), TZ, OfficeHours())
    old = {"box-017": GapView(missing=1, open_since=SUNDAY_9 - timedelta(hours=1))}
    assert events(quiet.tick(SUNDAY_9, [BOX], old)) == []  # Sunday: nobody to tell
    retired = DeviceView("box-017", "17", False, MONDAY_9, 0, retired=True)
    assert events(quiet.tick(MONDAY_9, [retired], old)) == []  # replaced: its gap is history
    off = Evaluator(RuleBook.parse('{"*": {"gap_open_s": null}}'), TZ, OfficeHours())
    assert events(off.tick(MONDAY_9, [BOX], old)) == []


def test_the_default_wait_is_the_firmware_s_confirmation_wait() -> None:
    tree = ast.parse((REPO / "firmware" / "config.py").read_text(encoding="utf-8"))
    defaults = next(ast.literal_eval(node.value) for node in ast.walk(tree) if isinstance(node, ast.Assign)
                    and any(isinstance(t, ast.Name) and t.id == "TIMING_DEFAULTS" for t in node.targets))
    assert rules.DEFAULTS.gap_open_s == rules.CONFIRM_WAIT_S == defaults["confirm_wait_s"]


# --- through the alert service, to a real SMTP server ----------------------------------------------


@pytest.fixture
def smtp_server(tmp_path: Path) -> Iterator[tuple[Inbox, int, Path]]:
    certificate = make_certificate(tmp_path / "smtp.pem")
    with running_smtp_server(certificate) as (inbox, port):
        yield inbox, port, certificate


def test_an_open_gap_is_mailed_and_its_closing_too(registered: Any, smtp_server: tuple[Inbox, int, Path],
                                                  tmp_path: Path) -> None:
    inbox, port, certificate = smtp_server
    settings = Settings(data_dir=tmp_path, alert_smtp_host="127.0.0.1", alert_smtp_port=port,
                        alert_smtp_cafile=certificate, alert_mail_to="supervisor@example.org")
    clock = Clock(MONDAY_9)
    service = AlertService(settings, registered, clock=clock)
    service.load()
    store(registered, "box-017", [1, 2, 4], MONDAY_9)  # seq 3 lost on the way
    heard(registered, "box-017", MONDAY_9)
    clock.now = MONDAY_9 + timedelta(seconds=10)
    service.step(force_tick=True)
    assert inbox.messages == []  # within the confirmation wait: the box will send it again

    clock.now = MONDAY_9 + timedelta(seconds=30)
    heard(registered, "box-017", clock.now)
    service.step(force_tick=True)
    with Session(registered) as session:
        alert = session.exec(select(Alert)).one()
    assert (alert.rule, alert.subject, alert.box, alert.value) == (rules.SEQUENCE_GAP, "box:box-017", "box-017", 1)
    assert len(inbox.messages) == 1 and "box:box-017" in inbox.messages[0]["Subject"]
    assert "1 numbered presses never stored" in inbox.messages[0].get_content()

    store(registered, "box-017", [3], clock.now)  # resent: the gap closes
    for minutes in (1, 32):
        clock.now = MONDAY_9 + timedelta(minutes=minutes)
        heard(registered, "box-017", clock.now)
        service.step(force_tick=True)
    with Session(registered) as session:
        assert session.exec(select(Alert)).one().cleared_at == clock.now
    assert len(inbox.messages) == 2 and "Cleared" in inbox.messages[1]["Subject"]
