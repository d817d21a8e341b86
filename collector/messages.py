"""Turn one raw MQTT message into a checked message or a rejection, before any database work.

Registry checks (is the box known, is it at that counter) need the database and are in store.py.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import cache
from typing import Any, NamedTuple

import orjson

from collector.clock import from_utc_ms, utc_ms
from schemas.contract import SCHEMA_DIR, scales, schema_errors, topics

MAX_PAYLOAD = 4096  # bytes; a press is ~200
SEQ_MAX = 4294967295  # schemas/press.schema.json: seq is 1..2**32-1
# The one bound on a press's time ahead of its reception: a box times a press from its boot's anchor
# (NTP or the collector's own beacon), so beyond this the anchor is wrong, not the clocks a little
# apart. Such a press is rejected (`time_in_future`), not stored (docs/reliability.md).
FUTURE_LIMIT = timedelta(minutes=15)
_FUTURE_LIMIT_MS = FUTURE_LIMIT // timedelta(milliseconds=1)
REJECTED_PAYLOAD_MAX = 1024  # bytes of a rejected payload kept for diagnosis
KINDS = ("press", "status", "presence")


class Inbound(NamedTuple):
    """A message as it came off the broker. mid/qos/generation are what the ack needs. A named tuple:
    paho's network thread builds one per message, and a frozen dataclass costs ~10x more to build."""

    topic: str
    payload: bytes
    received_at: datetime
    mid: int = 0
    qos: int = 0
    generation: int = 0


@dataclass
class Checked:
    inbound: Inbound
    kind: str
    box: str
    body: dict[str, Any]


@dataclass
class Rejection:
    inbound: Inbound
    reason: str
    detail: str = ""
    extra: dict[str, Any] = field(default_factory=dict)


def parse_json(payload: bytes) -> Any:
    """Raises ValueError (not JSON, invalid UTF-8, a lone surrogate escape, NaN) or RecursionError.
    orjson for every kind: strict JSON, ~1 us a press instead of ~4 us, and no string a database
    could not encode. An integer beyond 64 bits comes back as a float, which the contract's integers
    refuse (schemas/contract.py)."""
    return orjson.loads(payload)


def topic_parts(topic: str) -> tuple[str, str] | None:
    """(box, kind) of a box topic, or None."""
    root = topics()["root"]
    parts = topic.split("/")
    if len(parts) != 3 or parts[0] != root or parts[2] not in KINDS:
        return None
    return parts[1], parts[2]


@cache
def _fast_validator(kind: str) -> Any:
    """A compiled (Rust) validator of the same schema files, when jsonschema-rs is installed: ~1 us a
    message instead of ~240 us, which alone would cap ingest near 4,000 msg/s. It only says yes or no;
    a no is explained (and confirmed) by the reference validator in schemas/contract.py."""
    try:
        import jsonschema_rs
    except ImportError:
        return None
    documents = [json.loads(path.read_text(encoding="utf-8")) for path in sorted(SCHEMA_DIR.glob("*.schema.json"))]
    registry = jsonschema_rs.Registry([(document["$id"], document) for document in documents])
    schema = json.loads((SCHEMA_DIR / f"{kind}.schema.json").read_text(encoding="utf-8"))
    return jsonschema_rs.validator_for(schema, registry=registry)


def _holds_float(value: Any) -> bool:
    if isinstance(value, dict):
        return any(_holds_float(item) for item in value.values())
    if isinstance(value, list):
        return any(_holds_float(item) for item in value)
    return isinstance(value, float)


def contract_errors(kind: str, body: Any) -> list[str]:
    fast = _fast_validator(kind)
    # jsonschema-rs counts 1.0 as an integer, as JSON Schema does, and the contract does not (every
    # number a box sends is an integer): a body holding a float is left to the reference validator.
    if fast is not None and fast.is_valid(body) and not _holds_float(body):
        return []
    return schema_errors(kind, body)


def press_seq(body: Any) -> int | None:
    """The seq of a press body that may be invalid otherwise, when it is one a box could have sent."""
    if isinstance(body, dict):
        seq = body.get("seq")
        if type(seq) is int and 1 <= seq <= SEQ_MAX:
            return seq
    return None


def rejected_seq(rejection: Rejection) -> tuple[str, int] | None:
    """(box, seq) of a rejected press that names its seq: the box keeps it in flash, and sends it again,
    until the collector confirms it (schemas/stored.schema.json), rejected or not."""
    seq = rejection.extra.get("seq")
    parts = topic_parts(rejection.inbound.topic)
    if seq is None or parts is None or parts[1] != "press":
        return None
    return parts[0], seq


def check(inbound: Inbound) -> Checked | Rejection:
    """Never raises: whatever a payload does to the parser or the validator is a rejection."""
    try:
        return _check(inbound)
    except RecursionError:
        return Rejection(inbound, "not_json", "nested too deeply")
    except Exception as error:  # noqa: BLE001  (a hostile payload must not stop ingest)
        return Rejection(inbound, "check_error", f"{type(error).__name__}: {error}"[:300])


def _check(inbound: Inbound) -> Checked | Rejection:
    parts = topic_parts(inbound.topic)
    if parts is None:
        return Rejection(inbound, "unknown_topic", inbound.topic)
    topic_box, kind = parts
    if len(inbound.payload) > MAX_PAYLOAD:
        return Rejection(inbound, "too_large", f"{len(inbound.payload)} bytes > {MAX_PAYLOAD}")
    try:
        body = parse_json(inbound.payload)
    except (UnicodeDecodeError, ValueError) as error:
        return Rejection(inbound, "not_json", str(error)[:300])
    except RecursionError:  # 4 KB of "[[[[..." nests deeper than the decoder goes
        return Rejection(inbound, "not_json", "nested too deeply")
    # A press rejected from here on is still confirmed to its box, which would otherwise keep it
    # and send it again forever: the rejection carries its seq when it has one.
    seq = press_seq(body) if kind == "press" else None
    extra: dict[str, Any] = {} if seq is None else {"seq": seq}
    errors = contract_errors(kind, body)
    if errors:
        return Rejection(inbound, "schema", "; ".join(errors)[:1000], extra)
    if body["box"] != topic_box:
        return Rejection(inbound, "topic_mismatch", f"topic box {topic_box!r} != payload box {body['box']!r}", extra)
    if kind == "press":
        levels = scales()[body["scale"]]["levels"]
        if body["level"] >= len(levels):
            return Rejection(
                inbound, "level_out_of_scale", f"level {body['level']} but {body['scale']} has {len(levels)} levels",
                extra,
            )
        if body["t"] is not None and body["t"] - utc_ms(inbound.received_at) > _FUTURE_LIMIT_MS:
            ahead = timedelta(milliseconds=body["t"] - utc_ms(inbound.received_at))
            return Rejection(
                inbound, "time_in_future",
                f"pressed at {from_utc_ms(body['t']).isoformat()}, "
                f"{ahead} after it was received (limit {FUTURE_LIMIT})", extra,
            )
    return Checked(inbound, kind, topic_box, body)
