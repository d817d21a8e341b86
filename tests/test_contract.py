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
