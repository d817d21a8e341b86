"""`rating-tech fleet` (the installed console script) against a real collector over HTTP: every box
with its last status, times in the center's zone, the flagged boxes, --json, and clear errors."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.helpers.collector_stack import Stack, collector_stack
from tests.helpers.technician import Tech

NOW = datetime.now(UTC).replace(microsecond=0)
# box-017 crashed (watchdog) 10 minutes ago and holds a backlog; box-018 is fine but offline;
# box-016 was replaced (retired) and would otherwise be flagged.
DEVICES: list[dict[str, Any]] = [
    {"box": "box-017", "counter": "17", "online": True, "last_seen": NOW - timedelta(minutes=1), "fw": "0.2.0",
     "rssi": -61, "heap_free": 51200, "outbox": 12, "reset_cause": "watchdog", "boot": 41, "up": 600_000},
    {"box": "box-018", "counter": "18", "online": False, "last_seen": datetime(2026, 12, 1, 2, 5, tzinfo=UTC),
     "fw": "0.1.0", "rssi": -70, "heap_free": 50000, "outbox": 0, "reset_cause": "power_on", "boot": 3,
     "up": 90_000_000},
    {"box": "box-016", "counter": "17", "online": False, "last_seen": NOW - timedelta(days=3), "fw": "0.1.0",
     "outbox": 30, "reset_cause": "watchdog", "boot": 9, "up": 1000, "retired_at": NOW - timedelta(days=3)},
]


@pytest.fixture(scope="module")
def stack() -> Iterator[Stack]:
    from collector.db import make_engine, session_scope
    from collector.models import Device

    with collector_stack() as made:
        engine = make_engine(made.collector.db_url)
        with session_scope(engine) as session:
            session.add_all(Device(**device) for device in DEVICES)
        engine.dispose()
        yield made


@pytest.fixture(scope="module")
def tech(stack: Stack, tmp_path_factory: pytest.TempPathFactory) -> Tech:
    return Tech({"RATING_DATA_DIR": str(stack.data_dir), "RATING_DATABASE_URL": stack.collector.db_url,
                 "RATING_TECH_SETTINGS": str(stack.data_dir / "no-such.env"),
                 "RATING_TECH_COLLECTOR_URL": stack.collector.url,
                 "RATING_TECH_TOKEN_FILE": str(stack.token_file("viewer"))}, tmp_path_factory.mktemp("tech"))


def test_the_table_shows_every_box_in_the_centers_zone_and_flags(tech: Tech) -> None:
    ran = tech("fleet")
    assert ran.exit_code == 0, ran.output
    rows = {line.split("│")[1].strip(): line for line in ran.stdout.splitlines() if "│ box-" in line}
    assert set(rows) == {"box-016", "box-017", "box-018"}
    assert "2026-12-01 09:05" in rows["box-018"]  # 02:05 UTC is 09:05 in Asia/Ho_Chi_Minh
    for text in ("0.1.0", "offline", "-70 dBm", "50000 B", "power_on", " 3 "):
        assert text in rows["box-018"], text
    for text in ("0.2.0", "online", "-61 dBm", "watchdog", " 41 ", " 12 ", "reboots, outbox"):
        assert text in rows["box-017"], text
    # heard a minute before the module was loaded; a busy machine may take minutes to get here
    minutes = (datetime.now(UTC) - DEVICES[0]["last_seen"]) // timedelta(minutes=1)
    assert any(f"({m} min ago)" in rows["box-017"] for m in (minutes - 1, minutes)), rows["box-017"]
    assert "retired" in rows["box-016"] and "reboots" not in rows["box-016"]
    assert "1 online, 1 offline, 1 retired; 1 flagged: box-017" in ran.stdout


def test_json_gives_the_api_fields_with_flags(tech: Tech) -> None:
    ran = tech("fleet", "--json")
    assert ran.exit_code == 0, ran.output
    fleet = json.loads(ran.stdout)
    items = {item["box"]: item for item in fleet["items"]}
    assert items["box-017"]["flags"] == ["reboots", "outbox"]
    assert items["box-018"]["flags"] == [] and items["box-018"]["last_seen"] == "2026-12-01T02:05:00Z"
    assert items["box-018"]["boot"] == 3 and items["box-018"]["reset_cause"] == "power_on"
    assert items["box-016"]["status"] == "retired"
    assert fleet["flagged"] == ["box-017"] and "watchdog" in fleet["flag_rules"]


def test_help_says_the_flag_rules(tech: Tech) -> None:
    ran = tech("fleet", "--help")
    assert ran.exit_code == 0
    assert "watchdog or brownout" in ran.stdout and "10 or more presses" in ran.stdout


def test_a_refused_token_and_a_missing_token_file_are_said(tech: Tech, tmp_path: Path) -> None:
    # (an unreachable collector and the other errors: test_collector_client.py)
    bad = tmp_path / "token"
    bad.write_text("no-such-token\n")
    ran = tech("fleet", RATING_TECH_TOKEN_FILE=str(bad))
    assert ran.exit_code == 1 and "refused the token in" in ran.stderr and "no-such-token" not in ran.output
    ran = tech("fleet", RATING_TECH_TOKEN_FILE=str(tmp_path / "missing"))
    assert ran.exit_code == 1 and "does not exist" in ran.stderr


def test_the_flag_rules_have_one_home() -> None:
    from collector.device_flags import OUTBOX_BACKLOG, REBOOT_WINDOW_S, flags

    crashed = {"status": "online", "reset_cause": "watchdog", "up": REBOOT_WINDOW_S * 1000 - 1, "outbox": 0}
    assert flags(crashed) == ["reboots"]
    assert flags({**crashed, "up": REBOOT_WINDOW_S * 1000}) == []
    assert flags({**crashed, "reset_cause": "power_on"}) == []
    assert flags({**crashed, "reset_cause": "soft", "outbox": OUTBOX_BACKLOG}) == ["outbox"]
    assert flags({**crashed, "outbox": OUTBOX_BACKLOG - 1}) == ["reboots"]
    assert flags({"status": "never_seen", "outbox": None, "up": None}) == []
