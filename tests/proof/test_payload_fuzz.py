"""Hostile payloads never crash the collector's message check: every input is either a checked
message or a rejection with a reason. bench/fuzz.py runs the same properties for 100,000+ cases."""

import atexit
import json
import os
from datetime import UTC, datetime

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from collector.messages import MAX_PAYLOAD, Checked, Inbound, Rejection, check
from schemas.contract import SCHEMA_DIR

RECEIVED = datetime(2026, 11, 28, 3, 0, tzinfo=UTC)
VALID_PRESS = json.loads((SCHEMA_DIR / "examples" / "press.json").read_text())
TOPIC = "rating/box-017/press"

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=50),
    lambda children: st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=10), children, max_size=5),
    max_leaves=30,
)


checked_cases = 0


@atexit.register
def _report_count() -> None:  # bench/fuzz.py counts the cases really run
    if os.environ.get("FUZZ_COUNT_FILE"):
        with open(os.environ["FUZZ_COUNT_FILE"], "w") as out:
            out.write(str(checked_cases))


def outcome(topic: str, payload: bytes) -> Checked | Rejection:
    global checked_cases
    checked_cases += 1
    result = check(Inbound(topic, payload, RECEIVED))
    assert isinstance(result, (Checked, Rejection))
    if isinstance(result, Rejection):
        assert result.reason and isinstance(result.detail, str)
    return result


# Cases per property: a small budget in the tests, a large one in bench/fuzz.py.
EXAMPLES_PER_PROPERTY = int(os.environ.get("FUZZ_EXAMPLES_PER_PROPERTY", "300"))
FUZZ = settings(max_examples=EXAMPLES_PER_PROPERTY, deadline=None, database=None,
                suppress_health_check=list(HealthCheck))


@FUZZ
@given(st.binary(max_size=MAX_PAYLOAD + 100))
def test_arbitrary_bytes(payload: bytes) -> None:
    outcome(TOPIC, payload)


@FUZZ
@given(json_values)
def test_arbitrary_json(value: object) -> None:
    assert isinstance(outcome(TOPIC, json.dumps(value).encode()), Rejection) or isinstance(value, dict)


@FUZZ
@given(st.dictionaries(st.sampled_from(sorted(VALID_PRESS)), json_values, max_size=6))
def test_a_valid_press_with_fields_replaced(changes: dict) -> None:
    press = {**VALID_PRESS, **changes}
    result = outcome(TOPIC, json.dumps(press).encode())
    if isinstance(result, Checked):  # whatever passes must really be a valid press
        assert result.body["box"] == "box-017" and isinstance(result.body["seq"], int)


@FUZZ
@given(st.text(max_size=80))
def test_arbitrary_topics(topic: str) -> None:
    outcome(topic, json.dumps(VALID_PRESS).encode())


def test_hostile_classics() -> None:
    hostile = {
        "deep nesting": b"[" * 4000 + b"]" * 4000,
        "deep objects": b'{"a":' * 1500 + b"1" + b"}" * 1500,
        "huge integer": json.dumps({**VALID_PRESS, "seq": 10**4000}).encode()[:MAX_PAYLOAD],
        "huge float": b'{"v": 1e999}',
        "NaN": b'{"v": NaN}',
        "invalid UTF-8": b'{"box": "\xff\xfe"}',
        "1 MB string": json.dumps({**VALID_PRESS, "box": "x" * 1_000_000}).encode(),
        "wrong types": json.dumps({**VALID_PRESS, "seq": "1", "flags": "test"}).encode(),
        "empty": b"",
        "null": b"null",
    }
    for name, payload in hostile.items():
        assert isinstance(outcome(TOPIC, payload), Rejection), name


def test_the_valid_example_passes() -> None:
    assert isinstance(outcome(TOPIC, json.dumps(VALID_PRESS).encode()), Checked)
