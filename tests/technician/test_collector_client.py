"""technician.collector_client against a real collector over HTTP: what it reads, and the clear error
for each way asking can fail (unreachable, refused token, missing role, not JSON, no token file)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from technician.collector_client import CollectorClient, CollectorError, collector_url, read_token, token_file
from technician.settings import load_settings
from tests.helpers.collector_stack import Stack, collector_stack


@pytest.fixture(scope="module")
def stack() -> Iterator[Stack]:
    with collector_stack() as made:
        yield made


def _client(stack: Stack, role: str) -> CollectorClient:
    path = stack.token_file(role)
    return CollectorClient(stack.collector.url, read_token(path), token_source=f"the token in {path}")


def test_reads_the_devices_status_with_a_viewer_token(stack: Stack) -> None:
    with _client(stack, "viewer") as client:
        status = client.get("/api/v1/devices/status", silent_after=5)
    assert status["silent_after_minutes"] == 5
    assert {item["box"] for item in status["items"]} == {"box-017", "box-018"}


def test_an_unknown_token_is_refused_naming_its_file_not_the_token(stack: Stack, tmp_path: Path) -> None:
    path = tmp_path / "token"
    path.write_text("not-a-real-token-123\n")
    client = CollectorClient(stack.collector.url, read_token(path), token_source=f"the token in {path}")
    with client, pytest.raises(CollectorError) as caught:
        client.get("/api/v1/devices")
    assert caught.value.status == 401
    assert str(path) in str(caught.value) and "invalid token" in str(caught.value)
    assert "not-a-real-token-123" not in str(caught.value)


def test_a_viewer_token_may_not_change_the_registry(stack: Stack) -> None:
    with _client(stack, "viewer") as client, pytest.raises(CollectorError) as caught:
        client.post("/api/v1/registry/counters", {"code": "99", "name": "x", "department": "TP"})
    assert caught.value.status == 403
    assert "admin role" in str(caught.value)


def test_an_error_answer_carries_the_collectors_detail(stack: Stack) -> None:
    with _client(stack, "admin") as client, pytest.raises(CollectorError) as caught:
        client.post("/api/v1/registry/counters", {"code": "99", "name": "x", "department": "NOPE"})
    assert caught.value.status == 422
    assert "NOPE" in str(caught.value)


def test_an_answer_that_is_not_json_is_said_as_such(stack: Stack) -> None:
    with _client(stack, "viewer") as client, pytest.raises(CollectorError, match="not JSON .*text/plain"):
        client.get("/metrics")


def test_an_unreachable_collector_is_said_as_such(refusing_port: int) -> None:
    client = CollectorClient(f"http://127.0.0.1:{refusing_port}", "t", timeout=2)
    with client, pytest.raises(CollectorError, match=f"cannot reach the collector at http://127.0.0.1:{refusing_port}"):
        client.get("/api/v1/devices")


def test_a_missing_or_empty_token_file_is_said_as_such(tmp_path: Path) -> None:
    with pytest.raises(CollectorError, match="does not exist.*rating-collector token create"):
        read_token(tmp_path / "nothing")
    (tmp_path / "empty").write_text("\n")
    with pytest.raises(CollectorError, match="is empty"):
        read_token(tmp_path / "empty")


def test_defaults_are_the_collectors_own_address_and_admin_token(tmp_path: Path,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RATING_TECH_SETTINGS", str(tmp_path / "none.env"))
    monkeypatch.setenv("RATING_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("RATING_HTTP_HOST", "0.0.0.0")
    monkeypatch.setenv("RATING_HTTP_PORT", "8123")
    settings = load_settings()
    assert collector_url(settings) == "http://127.0.0.1:8123"
    assert token_file(settings) == tmp_path / "data" / "secrets" / "admin-token"
    monkeypatch.setenv("RATING_TECH_COLLECTOR_URL", "https://collector.center.vn/")
    monkeypatch.setenv("RATING_TECH_TOKEN_FILE", str(tmp_path / "tech-token"))
    settings = load_settings()
    assert collector_url(settings) == "https://collector.center.vn"
    assert token_file(settings) == tmp_path / "tech-token"
