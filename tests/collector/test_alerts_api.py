"""The alert history API and acknowledging with a comment: reading needs a login, acknowledging the
admin role; bad input is refused with a clear error."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from collector.app import create_app
from collector.auth import create_token
from collector.db import session_scope
from collector.models import Alert, AlertDelivery
from collector.settings import Settings

FIRED = datetime(2026, 11, 30, 2, 0, tzinfo=UTC)


@pytest.fixture
def api(engine: Any, tmp_path: Path) -> dict[str, Any]:
    with session_scope(engine) as session:
        for n in range(3):
            alert = Alert(rule="unhappy_window", subject=f"counter:{17 + n}", counter=str(17 + n), message=f"alert {n}",
                          value=0.75, fired_at=FIRED + timedelta(minutes=n),
                          cleared_at=FIRED + timedelta(hours=1) if n == 0 else None)
            session.add(alert)
            session.flush()
            assert alert.id is not None
            session.add(AlertDelivery(alert_id=alert.id, event="fired", channel="email", attempts=2,
                                      last_error="SMTPDataError: 451" if n == 2 else None, next_attempt_at=FIRED,
                                      delivered_at=None if n == 2 else FIRED, created_at=FIRED))
        tokens = {role: create_token(session, name=f"t-{role}", role=role) for role in ("viewer", "admin")}
    return {"client": TestClient(create_app(Settings(data_dir=tmp_path), engine)), "tokens": tokens}


def call(api: dict[str, Any], method: str, path: str, role: str | None = "viewer", **kwargs: Any) -> Any:
    headers = {"Authorization": f"Bearer {api['tokens'][role]}"} if role else {}
    return api["client"].request(method, path, headers=headers, **kwargs)


def test_the_history_is_newest_first_with_its_deliveries_and_pages(api: dict[str, Any]) -> None:
    page = call(api, "GET", "/api/v1/alerts").json()
    assert [a["counter"] for a in page["items"]] == ["19", "18", "17"] and page["next_before"] is None
    newest = page["items"][0]
    assert newest["active"] is True and newest["deliveries"] == [
        {"channel": "email", "event": "fired", "attempts": 2, "last_error": "SMTPDataError: 451",
         "next_attempt_at": "2026-11-30T02:00:00Z", "delivered_at": None}]
    assert page["items"][2]["active"] is False and page["items"][2]["cleared_at"] == "2026-11-30T03:00:00Z"
    first = call(api, "GET", "/api/v1/alerts", params={"limit": 2}).json()
    assert len(first["items"]) == 2
    rest = call(api, "GET", "/api/v1/alerts", params={"limit": 2, "before": first["next_before"]}).json()
    assert [a["counter"] for a in rest["items"]] == ["17"] and rest["next_before"] is None
    active = call(api, "GET", "/api/v1/alerts", params={"state": "active", "counter": "18"}).json()
    assert [a["counter"] for a in active["items"]] == ["18"]


def test_acknowledging_needs_the_admin_role_and_keeps_the_comment(api: dict[str, Any]) -> None:
    alert_id = call(api, "GET", "/api/v1/alerts").json()["items"][0]["id"]
    path = f"/api/v1/alerts/{alert_id}/acknowledge"
    assert call(api, "POST", path, role=None, json={"comment": "x"}).status_code == 401
    assert call(api, "POST", path, role="viewer", json={"comment": "x"}).status_code == 403
    done = call(api, "POST", path, role="admin", json={"comment": "Đã nhắc nhở cán bộ quầy 19"})
    assert done.status_code == 200, done.text
    assert done.json()["acknowledged_by"] == "t-admin" and done.json()["comment"] == "Đã nhắc nhở cán bộ quầy 19"
    assert call(api, "GET", f"/api/v1/alerts/{alert_id}").json()["acknowledged_at"] is not None
    assert [a["id"] for a in call(api, "GET", "/api/v1/alerts", params={"state": "unacknowledged"}).json()["items"]] \
        == [alert_id - 1, alert_id - 2]


@pytest.mark.parametrize(("method", "path", "params", "body", "status", "says"), [
    ("GET", "/api/v1/alerts", {"state": "soon"}, None, 422, "state"),
    ("GET", "/api/v1/alerts", {"rule": "nope"}, None, 422, "rule"),
    ("GET", "/api/v1/alerts", {"limit": 100_000}, None, 422, "limit"),
    ("GET", "/api/v1/alerts/999", None, None, 404, "no alert 999"),
    ("POST", "/api/v1/alerts/999/acknowledge", None, {"comment": ""}, 404, "no alert 999"),
    ("POST", "/api/v1/alerts/1/acknowledge", None, {"comment": "x" * 1001}, 422, "1000"),
    ("POST", "/api/v1/alerts/1/acknowledge", None, {"comment": "a\x00b"}, 422, "control characters"),
    ("POST", "/api/v1/alerts/1/acknowledge", None, {"comment": "ok", "extra": 1}, 422, "extra"),
])
def test_bad_input_says_what_is_wrong(api: dict[str, Any], method: str, path: str, params: Any, body: Any,
                                      status: int, says: str) -> None:
    response = call(api, method, path, role="admin", params=params, json=body)
    assert response.status_code == status and says in response.text, response.text


def test_reading_needs_a_login(api: dict[str, Any]) -> None:
    assert call(api, "GET", "/api/v1/alerts", role=None).status_code == 401
