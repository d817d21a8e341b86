"""The registry the tests run with, and loading a registry into a collector database."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

from collector.db import make_engine, session_scope, upgrade
from collector.registry import load_registry

TEST_REGISTRY: dict[str, Any] = {
    "departments": [{"code": "TP", "name": "Sở Tư pháp"}, {"code": "XD", "name": "Sở Xây dựng"}],
    "counters": [
        {"code": "17", "name": "Quầy 17", "department": "TP", "scale": "sat2"},
        {"code": "18", "name": "Quầy 18", "department": "XD", "scale": "vn3"},
    ],
    "officers": [
        {"code": "cb001", "name": "Nguyễn Văn A", "department": "TP"},
        {"code": "cb002", "name": "Trần Thị B", "department": "XD"},
    ],
    "boxes": [{"box": "box-017", "counter": "17"}, {"box": "box-018", "counter": "18"}],
    "officer_assignments": [
        {"officer": "cb001", "counter": "17", "from": "2020-01-01"},
        {"officer": "cb002", "counter": "18", "from": "2020-01-01"},
    ],
}


def load_registry_into(url: str, registry: dict[str, Any], tmp: Path) -> None:
    path = tmp / f"registry-{uuid.uuid4().hex[:6]}.json"
    path.write_text(json.dumps(registry), encoding="utf-8")
    engine = make_engine(url)
    try:
        upgrade(engine)
        with session_scope(engine) as session:
            load_registry(session, path, "Asia/Ho_Chi_Minh")
    finally:
        engine.dispose()


def registry_with_reassignments(base: dict[str, Any]) -> dict[str, Any]:
    """base (TEST_REGISTRY's shape) with officer cb003 and officers moving between counters in 2026,
    for presses_from_january_to_april."""
    base["officers"].append({"code": "cb003", "name": "Lê Văn C", "department": "TP"})
    base["officer_assignments"] = [
        {"officer": "cb001", "counter": "17", "from": "2020-01-01", "to": "2026-03-15"},
        {"officer": "cb003", "counter": "17", "from": "2026-03-15"},
        {"officer": "cb002", "counter": "18", "from": "2020-01-01", "to": "2026-02-10"},
        # cb001 staffs both counters from 10 February to 15 March: an officer's month spans two counters
        {"officer": "cb001", "counter": "18", "from": "2026-02-10", "to": "2026-03-15"},
        {"officer": "cb002", "counter": "18", "from": "2026-03-15"},
    ]
    return base
