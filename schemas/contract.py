"""Load the wire contract for Python code. The JSON files beside this module are the contract."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator, validators
from referencing import Registry, Resource

SCHEMA_DIR = Path(__file__).resolve().parent
MESSAGE_KINDS = ("press", "status", "presence", "clock", "stored", "cmd")


def _load(name: str) -> Any:
    return json.loads((SCHEMA_DIR / name).read_text(encoding="utf-8"))


@cache
def topics() -> dict[str, Any]:
    return _load("topics.json")


@cache
def scales() -> dict[str, Any]:
    return {name: scale for name, scale in _load("scales.json").items() if name != "comment"}


@cache
def _registry() -> Registry:
    resources = []
    for path in sorted(SCHEMA_DIR.glob("*.schema.json")):
        document = json.loads(path.read_text(encoding="utf-8"))
        resources.append((document["$id"], Resource.from_contents(document)))
    return Registry().with_resources(resources)


def _is_integer(_checker: Any, instance: Any) -> bool:
    # JSON Schema counts 1.0 as an integer; the contract does not: every integer of it ends in an
    # integer column, and a box writes integers without a fraction or an exponent.
    return isinstance(instance, int) and not isinstance(instance, bool)


# Draft 2020-12, with "integer" meaning a JSON integer literal only.
StrictValidator = validators.extend(
    Draft202012Validator, type_checker=Draft202012Validator.TYPE_CHECKER.redefine("integer", _is_integer)
)


@cache
def validator(kind: str) -> Any:
    if kind not in MESSAGE_KINDS:
        raise ValueError(f"unknown message kind {kind!r}; known: {', '.join(MESSAGE_KINDS)}")
    schema = _load(f"{kind}.schema.json")
    Draft202012Validator.check_schema(schema)
    return StrictValidator(schema, registry=_registry())


def inlined(kind: str) -> dict[str, Any]:
    """The schema of `kind` with every $ref replaced by what it points to, for tools that follow no
    reference to another file (payload generators such as hypothesis-jsonschema)."""
    resolver = _registry().resolver()

    def expand(node: Any) -> Any:
        if isinstance(node, list):
            return [expand(item) for item in node]
        if not isinstance(node, dict):
            return node
        node = dict(node)
        target = node.pop("$ref", None)
        expanded = {key: expand(value) for key, value in node.items()}
        if target is None:
            return expanded
        # A definition's own keywords, then the referring node's (annotations such as description).
        return {**expand(resolver.lookup(target).contents), **expanded}

    schema = expand(validator(kind).schema)
    schema.pop("$id", None)
    return schema


def schema_errors(kind: str, payload: Any) -> list[str]:
    """Every reason `payload` breaks the schema of `kind`, each as 'path: message'; empty if valid."""
    errors = []
    for error in sorted(validator(kind).iter_errors(payload), key=lambda e: list(e.absolute_path)):
        where = "/".join(str(p) for p in error.absolute_path) or "(message)"
        errors.append(f"{where}: {error.message}")
    return errors


def box_topic(kind: str, box: str) -> str:
    return topics()["box"][kind].format(box=box)
