"""The wire contract is self-consistent: every example validates, and each rule rejects what it should."""

import copy
import json
from pathlib import Path

import pytest

from schemas import contract

EXAMPLES = sorted((contract.SCHEMA_DIR / "examples").glob("*.json"))


def kind_of(example: Path) -> str:
    return example.name.split(".")[0].split("-")[0]


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda p: p.name)
def test_every_example_is_valid(example: Path) -> None:
    assert contract.schema_errors(kind_of(example), json.loads(example.read_text())) == []


def test_every_message_kind_has_an_example() -> None:
    assert {kind_of(e) for e in EXAMPLES} == set(contract.MESSAGE_KINDS)


def press() -> dict:
    return json.loads((contract.SCHEMA_DIR / "examples" / "press.json").read_text())


@pytest.mark.parametrize(
    "change, expected",
    [
        (lambda p: p.pop("seq"), "'seq' is a required property"),
        (lambda p: p.update(seq=0), "seq"),
        (lambda p: p.update(box="collector"), "box"),
        (lambda p: p.update(level=4), "level"),
        (lambda p: p.update(scale="stars5"), "scale"),
        (lambda p: p.update(flags=["suppressed", "suppressed"]), "flags"),
        (lambda p: p.update(flags=["misuse"]), "flags/0"),
        (lambda p: p.update(clock="none"), "t"),  # a time without an anchor is not allowed
        (lambda p: p.update(t=None), "t"),  # an anchored clock must give the time
        (lambda p: p.update(extra=1), "Additional properties"),
        (lambda p: p.update(v=2), "v"),
    ],
)
def test_press_rules_reject(change, expected: str) -> None:
    payload = press()
    change(payload)
    errors = contract.schema_errors("press", payload)
    assert errors, f"expected a schema error for {payload}"
    assert any(expected in e for e in errors), errors


def test_scale_levels_fit_the_press_schema() -> None:
    schema = contract.validator("press").schema
    assert set(schema["properties"]["scale"]["enum"]) == set(contract.scales())
    most_levels = max(len(s["levels"]) for s in contract.scales().values())
    assert schema["properties"]["level"]["maximum"] == most_levels - 1
    for name, scale in contract.scales().items():
        assert 0 < scale["satisfied_from"] < len(scale["levels"]), name
        for level in scale["levels"]:
            assert level["vi"] and level["en"] and level["key"], name


def test_topics_are_per_box_and_distinct() -> None:
    box_topics = contract.topics()["box"]
    assert all("{box}" in t for t in box_topics.values())
    assert len(set(box_topics.values())) == len(box_topics)
    assert contract.box_topic("press", "box-01") == "rating/box-01/press"


def test_unknown_kind_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="unknown message kind"):
        contract.validator("hello")


def test_examples_are_not_mutated_by_validation() -> None:
    payload = press()
    before = copy.deepcopy(payload)
    contract.schema_errors("press", payload)
    assert payload == before


def status() -> dict:
    return json.loads((contract.SCHEMA_DIR / "examples" / "status.json").read_text())


@pytest.mark.parametrize(
    "kind, change, expected",
    [
        # JSON Schema counts 1.0 as an integer; the contract does not (the columns are integers).
        ("press", {"level": 1.0}, "level: 1.0 is not of type 'integer'"),
        ("press", {"seq": 4312.0}, "seq"),
        ("press", {"t": 1795766400123.0}, "t"),
        ("press", {"v": 1.0}, "v"),
        ("press", {"up": 1e3}, "up"),
        ("status", {"heap_free": 2**63}, "heap_free"),
        ("status", {"heap_free": 2**31}, "heap_free"),  # device.heap_free is a 32-bit INTEGER
        ("status", {"outbox": 2**31}, "outbox"),
        ("status", {"presses": 71234.0}, "presses"),
        ("status", {"rssi": -61.0}, "rssi"),
        ("status", {"err": "flash: \x00"}, "err"),  # PostgreSQL text cannot hold NUL
    ],
)
def test_numbers_are_strict_and_bounded(kind: str, change: dict, expected: str) -> None:
    payload = {**(press() if kind == "press" else status()), **change}
    errors = contract.schema_errors(kind, payload)
    assert any(expected in e for e in errors), errors


def bounds_missing(schema: object, where: str = "") -> list[str]:
    """Every integer without both bounds and every free string without a length limit."""
    missing = []
    if isinstance(schema, dict):
        kinds = schema.get("type")
        if kinds == "integer" and "const" not in schema and not ("minimum" in schema and "maximum" in schema):
            missing.append(f"{where}: integer without minimum and maximum")
        if kinds == "string" and "maxLength" not in schema:
            missing.append(f"{where}: string without maxLength")
        for key, value in schema.items():
            missing += bounds_missing(value, f"{where}/{key}")
    elif isinstance(schema, list):
        for i, value in enumerate(schema):
            missing += bounds_missing(value, f"{where}/{i}")
    return missing


@pytest.mark.parametrize("kind", contract.MESSAGE_KINDS)
def test_every_number_and_string_is_bounded(kind: str) -> None:
    assert bounds_missing(contract.inlined(kind)) == []


@pytest.mark.parametrize("kind", contract.MESSAGE_KINDS)
def test_the_inlined_schema_is_the_schema(kind: str) -> None:
    """inlined() (for generators that follow no reference across files) says what the schema says."""
    schema = contract.inlined(kind)
    assert "$ref" not in json.dumps(schema)
    for example in EXAMPLES:
        if kind_of(example) == kind:
            payload = json.loads(example.read_text())
            assert contract.StrictValidator(schema).is_valid(payload)
            assert not contract.StrictValidator(schema).is_valid({**payload, "v": 2})


def update_command() -> dict:
    return json.loads((contract.SCHEMA_DIR / "examples" / "cmd-update.json").read_text())


@pytest.mark.parametrize(
    "change, expected",
    [
        (lambda c: c.update(cmd="reboot"), "cmd"),
        (lambda c: c.update(version="0.2"), "version"),
        (lambda c: c.update(version="0.2.0-rc1"), "version"),  # the box compares three numbers
        (lambda c: c.update(url="http://10.0.0.5/releases/0.2.0"), "url"),  # a folder ends with /
        (lambda c: c.update(url="ftp://10.0.0.5/r/"), "url"),
        (lambda c: c.update(manifest_sha256="AB" * 32), "manifest_sha256"),
        (lambda c: c.pop("manifest_sha256"), "'manifest_sha256' is a required property"),
        (lambda c: c.update(key="00"), "Additional properties"),
    ],
)
def test_update_command_rules_reject(change, expected: str) -> None:
    payload = update_command()
    change(payload)
    errors = contract.schema_errors("cmd", payload)
    assert any(expected in e for e in errors), errors
