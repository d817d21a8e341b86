"""/openapi.json documents what every route answers, and every JSON answer is what its model says.

A supervisor's script is written against /docs: a route that documents nothing, or answers with a
key its model does not declare, breaks that script without a word."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from pydantic import TypeAdapter

from collector.app import create_app
from collector.auth import create_token
from collector.clock import utc_ms
from collector.db import make_engine, session_scope
from collector.messages import Inbound, check
from collector.models import Alert
from collector.registry import load_registry
from collector.releases import add_release
from collector.settings import Settings
from collector.store import store_batch
from tests.helpers.releases import make_release

TZ = "Asia/Ho_Chi_Minh"
MARCH = {"from": "2026-03-01", "to": "2026-03-31"}

# (method, route path, request path, query or JSON body): every JSON operation of the app, and with
# the parameters that bring out the keys a route sends only sometimes (series, previous, change).
REQUESTS: list[tuple[str, str, str, dict[str, Any]]] = [
    ("GET", "/healthz", "/healthz", {}),
    *[("GET", "/api/v1/satisfaction", "/api/v1/satisfaction", {**MARCH, **query}) for query in (
        {}, {"group": "counter", "by": "day"}, {"group": "none", "by": "week"}, {"group": "none", "compare": "false"},
        {"group": "officer", "by": "month"}, {"group": "department", "by": "quarter"}, {"group": "site", "by": "year"},
        {"group": "counter", "compare": "false", "include": "suppressed,test"},
    )],
    ("GET", "/api/v1/satisfaction/grid", "/api/v1/satisfaction/grid", MARCH),
    ("GET", "/api/v1/counters/{counter}/satisfaction", "/api/v1/counters/17/satisfaction", MARCH),
    ("GET", "/api/v1/counters/{counter}/satisfaction", "/api/v1/counters/18/satisfaction", {"from": "2026-03-02"}),
    ("GET", "/api/v1/presses", "/api/v1/presses", {"limit": "3"}),
    ("GET", "/api/v1/presses", "/api/v1/presses", {"flags": "test"}),
    ("GET", "/api/v1/devices", "/api/v1/devices", {}),
    ("GET", "/api/v1/devices/status", "/api/v1/devices/status", {}),
    ("GET", "/api/v1/lobby", "/api/v1/lobby", {}),
    ("POST", "/api/v1/registry/departments", "/api/v1/registry/departments",
     {"code": "CA", "name": "Công an tỉnh", "site": "hcc-tinh"}),
    ("POST", "/api/v1/registry/counters", "/api/v1/registry/counters",
     {"code": "20", "name": "Quầy 20", "department": "CA", "scale": "vn3"}),
    ("POST", "/api/v1/registry/officers", "/api/v1/registry/officers", {"code": "cb009", "name": "Phạm D"}),
    ("POST", "/api/v1/registry/boxes", "/api/v1/registry/boxes", {"box": "box-020", "counter": "20", "from": "2026-04-01"}),
    ("POST", "/api/v1/registry/officer-assignments", "/api/v1/registry/officer-assignments",
     {"officer": "cb009", "counter": "20", "from": "2026-04-01", "to": "2026-05-01"}),
    ("GET", "/api/v1/registry/departments", "/api/v1/registry/departments", {}),
    ("GET", "/api/v1/registry/counters", "/api/v1/registry/counters", {}),
    ("GET", "/api/v1/registry/officers", "/api/v1/registry/officers", {}),
    ("GET", "/api/v1/registry/boxes", "/api/v1/registry/boxes", {}),
    ("GET", "/api/v1/registry/officer-assignments", "/api/v1/registry/officer-assignments", {}),
    ("GET", "/api/v1/alerts", "/api/v1/alerts", {}),
    ("GET", "/api/v1/alerts/{alert_id}", "/api/v1/alerts/1", {}),
    ("POST", "/api/v1/alerts/{alert_id}/acknowledge", "/api/v1/alerts/1/acknowledge", {"comment": "đã xem"}),
    ("GET", "/api/v1/reports/dispatches", "/api/v1/reports/dispatches", {}),
    ("GET", "/api/v1/releases", "/api/v1/releases", {}),
    ("POST", "/api/v1/rollouts", "/api/v1/rollouts", {"version": "0.2.0", "canary": ["box-017"]}),
    ("GET", "/api/v1/rollouts", "/api/v1/rollouts", {}),
    ("GET", "/api/v1/rollouts/{version}", "/api/v1/rollouts/0.2.0", {}),
    ("POST", "/api/v1/rollouts/{version}/stop", "/api/v1/rollouts/0.2.0/stop", {}),
    ("POST", "/api/v1/registry/boxes/{box}/retire", "/api/v1/registry/boxes/box-018/retire", {}),  # last: it ends box-018
]
# Pages and files for the browser (login, dashboard, /docs itself): kept out of /docs, which is for
# scripts, and out of the fuzzing of every documented operation (test_api_fuzz).
BROWSER_PATHS = {"/", "/login", "/logout", "/dashboard", "/static/{name}", "/openapi.json", "/docs",
                 "/docs/assets/{name}", "/lobby", "/lobby/{name}"}


def routes() -> list[APIRoute]:
    """Every route of the app, from inside the routers it includes."""

    def flatten(found: list[Any]) -> list[APIRoute]:
        flat: list[APIRoute] = []
        for route in found:
            if isinstance(route, APIRoute):
                flat.append(route)
            elif hasattr(route, "original_router"):  # an included router (FastAPI >= 0.16x)
                flat.extend(flatten(route.original_router.routes))
        return flat

    every = flatten(create_app(Settings(), make_engine("sqlite://")).routes)
    assert len(every) > 30, "the app's routes are not all found"
    return every


def success(responses: dict[Any, Any]) -> tuple[Any, dict[str, Any]]:
    """The documented 200 or 201 answer (status, its description), or a 303 of a page that redirects."""
    for code in (200, 201, 303):
        for key in (code, str(code)):
            if key in responses:
                return code, responses[key]
    return None, {}


def test_every_route_documents_what_it_answers() -> None:
    app = create_app(Settings(), make_engine("sqlite://"))
    spec = app.openapi()
    undocumented = []
    for route in routes():
        for method in sorted(route.methods or ()):
            if route.include_in_schema:
                code, answer = success(spec["paths"][route.path_format][method.lower()]["responses"])
                content = answer.get("content", {})
                json_schema = content.get("application/json", {}).get("schema")
                other_media_types = set(content) - {"application/json"}
                # A model, not FastAPI's "any object" for a route that returns an untyped dict.
                names_a_model = "$ref" in json.dumps(json_schema or {})
                documented = code in (200, 201) and (names_a_model or bool(other_media_types))
            else:
                assert route.path_format in BROWSER_PATHS, f"{route.path_format} is left out of /openapi.json"
                code, answer = success(route.responses)
                documented = code == 303 or bool(answer.get("content"))
            if not documented:
                undocumented.append(f"{method} {route.path_format}")
    assert undocumented == []


def test_every_json_operation_is_requested_below() -> None:
    json_operations = {(method, route.path_format) for route in routes() if route.include_in_schema
                       and route.response_model is not None for method in route.methods or ()}
    assert json_operations == {(method, path) for method, path, _, _ in REQUESTS}
    file_operations = {route.path_format for route in routes() if route.include_in_schema
                       and route.response_model is None}
    assert file_operations == {"/api/v1/reports/{period}", "/api/v1/reports/review/{year}", "/api/v1/presses.csv",
                               "/metrics", "/releases/{version}/{name}"}


@pytest.fixture
def client(engine: Any, test_registry: dict[str, Any], tmp_path: Path, make_press: Any) -> TestClient:
    path = tmp_path / "registry.json"
    path.write_text(json.dumps(test_registry))
    at = lambda day, hour: utc_ms(datetime(2026, 3, day, hour, tzinfo=UTC))
    presses = [make_press(seq=1, t=at(2, 2), level=1), make_press(seq=2, t=at(2, 3), level=0),
               make_press(seq=3, t=at(9, 4), level=1, flags=["suppressed"]), make_press(seq=4, t=at(20, 5), level=1),
               make_press(seq=5, t=at(20, 6), level=0, flags=["test"]),
               make_press(box="box-018", seq=1, t=at(3, 2), scale="vn3", level=2)]
    messages = [Inbound(f"rating/{p['box']}/press", json.dumps(p).encode(), datetime.now(UTC)) for p in presses]
    status = json.loads((Path(__file__).parents[2] / "schemas/examples/status.json").read_text())
    messages.append(Inbound("rating/box-017/status", json.dumps(status).encode(), datetime.now(UTC)))
    with session_scope(engine) as session:
        load_registry(session, path, TZ)
        store_batch(session, [check(message) for message in messages], TZ)
        session.add(Alert(rule="unhappy_window", subject="counter:17", counter="17", message="3 of 4 unsatisfied",
                          value=0.75, fired_at=datetime(2026, 3, 2, 3, tzinfo=UTC)))
        admin = create_token(session, name="admin", role="admin")
    add_release(tmp_path / "releases", make_release(tmp_path / "built"))  # for the rollout's requests
    client = TestClient(create_app(Settings(data_dir=tmp_path), engine))
    client.headers["Authorization"] = f"Bearer {admin}"
    return client


def test_every_json_answer_is_what_its_model_says(client: TestClient) -> None:
    """Validated against the declared model, whose keys are all it may hold (extra="forbid")."""
    declared = {(method, route.path_format): route.response_model for route in routes() for method in route.methods or ()}
    for method, route_path, path, parameters in REQUESTS:
        if method == "GET":
            response = client.get(path, params=parameters)
        else:
            response = client.post(path, json=parameters)
        assert response.status_code in (200, 201, 503), f"{method} {path} {parameters}: {response.text[:300]}"
        model = declared[(method, route_path)]
        assert model is not None, f"{method} {route_path} declares no response model"
        TypeAdapter(model).validate_python(response.json())
