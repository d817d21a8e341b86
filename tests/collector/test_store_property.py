"""Property (issue 16): every press payload the contract allows goes through the real check and store
on SQLite and PostgreSQL, and each ends stored, a duplicate, or a rejection recorded with one of the
reasons of a doubt. Any other outcome, an exception above all, is a failure.

The payloads come from hypothesis-jsonschema over schemas/press.schema.json (its references to
defs.schema.json resolved), one property at a time: hypothesis-jsonschema 0.23.1's strategy for a
whole object calls `many.more()`, which the Hypothesis installed here (6.170) no longer has. The
press schema's only condition across properties (t is null exactly when clock is "none") is applied
when the properties are put together, and every payload is then checked against the contract itself.
Some payloads are moved onto the registered boxes, near the reception time and onto few seqs, so
that the store's paths (placement, scale, commissioning, duplicates, conflicts) are all taken.
"""

from __future__ import annotations

import json
from collections import Counter as Tally
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis_jsonschema import from_schema
from sqlmodel import col

from collector.clock import utc_ms
from collector.db import session_scope
from collector.messages import Inbound, check
from collector.models import RejectionCount
from collector.registry import load_registry
from collector.store import store_batch
from schemas.contract import SCHEMA_DIR, schema_errors
from tests.helpers.registry import TEST_REGISTRY
from tests.helpers.streams import Db

TZ = "Asia/Ho_Chi_Minh"
RECEIVED = datetime(2026, 12, 3, 3, 0, tzinfo=UTC)
REGISTRY = {**TEST_REGISTRY, "boxes": [*TEST_REGISTRY["boxes"], {"box": "box-021", "counter": "17",
                                                                  "from": "2026-12-01"}]}
PLACED = [("box-017", "17", "sat2"), ("box-018", "18", "vn3"), ("box-021", "17", "sat2")]  # box, counter, scale
LEVELS = {"sat2": 2, "vn3": 3, "smiley4": 4}
# What a schema-valid press may be rejected for: doubts about it, or the registry's answer.
DOUBTS = {"unknown_box", "box_not_at_counter", "level_out_of_scale", "time_in_future", "time_before_commissioning",
          "scale_mismatch", "duplicate_conflict"}


def _resolved(node: Any, defs: dict[str, Any]) -> Any:
    """The schema with its `urn:counter-rating:defs#/$defs/...` references written in."""
    if isinstance(node, dict):
        if "$ref" in node:
            name = node["$ref"].rsplit("/", 1)[1]
            return {**_resolved(defs[name], defs),
                    **{k: _resolved(v, defs) for k, v in node.items() if k not in ("$ref", "description")}}
        return {k: _resolved(v, defs) for k, v in node.items() if k not in ("$schema", "$id", "description", "title")}
    if isinstance(node, list):
        return [_resolved(item, defs) for item in node]
    return node


def _press_schema() -> dict[str, Any]:
    defs = json.loads((SCHEMA_DIR / "defs.schema.json").read_text(encoding="utf-8"))["$defs"]
    schema: dict[str, Any] = _resolved(json.loads((SCHEMA_DIR / "press.schema.json").read_text(encoding="utf-8")), defs)
    return schema


SCHEMA = _press_schema()
PROPERTIES: dict[str, Any] = SCHEMA["properties"]
assert sorted(PROPERTIES) == sorted(SCHEMA["required"]) and SCHEMA["additionalProperties"] is False
TIMED = from_schema(next(option for option in PROPERTIES["t"]["oneOf"] if option.get("type") == "integer"))

as_generated = st.fixed_dictionaries({name: from_schema(sub) for name, sub in PROPERTIES.items() if name != "t"}).flatmap(
    lambda body: (st.none() if body["clock"] == "none" else TIMED).map(lambda t: {**body, "t": t}))


@st.composite
def press_bodies(draw: st.DrawFn) -> dict[str, Any]:
    body: dict[str, Any] = draw(as_generated)
    if draw(st.booleans()):  # on a registered box, near its reception, on few seqs
        box, counter, scale = draw(st.sampled_from(PLACED))
        body.update(box=box, seq=draw(st.integers(1, 12)))
        if draw(st.integers(0, 7)):  # mostly as the box is set up: its counter, its counter's scale
            body["counter"] = counter
        if draw(st.integers(0, 3)):
            body.update(scale=scale, level=body["level"] % LEVELS[scale])
        if body["t"] is not None and draw(st.integers(0, 3)):
            body["t"] = utc_ms(RECEIVED) + draw(st.integers(-5 * 86_400_000, 20 * 60_000))
    return body


def test_every_schema_valid_press_is_stored_a_duplicate_or_a_recorded_doubt(
    engine: Any, tmp_path: Path, db_url: str
) -> None:
    path = tmp_path / "registry.json"
    path.write_text(json.dumps(REGISTRY))
    with session_scope(engine) as session:
        load_registry(session, path, TZ)
    outcomes: Tally[str] = Tally()

    @settings(max_examples=150, derandomize=True, deadline=None, database=None,
              # too_slow / function_scoped_fixture: each example is a real transaction on the
              # test's one database (which the examples share on purpose: repeats meet stored keys).
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture,
                                     HealthCheck.data_too_large])
    @given(batch=st.lists(press_bodies(), min_size=1, max_size=6))
    def through_the_store(batch: list[dict[str, Any]]) -> None:
        for body in batch:
            assert schema_errors("press", body) == [], body
        items = [check(Inbound(f"rating/{body['box']}/press", json.dumps(body).encode(), RECEIVED, mid=1, qos=1))
                 for body in batch]
        with session_scope(engine) as session:
            result = store_batch(session, items, TZ)
        assert set(result.rejected) <= DOUBTS, result.rejected
        assert result.stored + result.duplicates + sum(result.rejected.values()) == len(batch)
        outcomes.update(stored=result.stored, duplicates=result.duplicates)
        outcomes.update(result.rejected)

    through_the_store()
    db = Db(db_url)
    try:
        assert db.presses() == outcomes["stored"]
        assert db.rollup_mismatches() == []
        with db.engine.connect() as connection:
            counted = Tally({reason: int(n) for reason, n in connection.execute(
                sa.select(col(RejectionCount.reason), sa.func.sum(col(RejectionCount.count)))
                .group_by(col(RejectionCount.reason)))})
    finally:
        db.close()
    assert counted == Tally({reason: outcomes[reason] for reason in DOUBTS if outcomes[reason]})
    # The generated payloads took the store's paths, not only the first rejection.
    assert outcomes["stored"] > 0 and outcomes["duplicates"] > 0, outcomes
    assert {"unknown_box", "time_in_future", "scale_mismatch", "duplicate_conflict"} <= set(outcomes), outcomes
