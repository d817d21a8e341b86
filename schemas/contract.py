"""Load the wire contract for Python code. The JSON files beside this module are the contract."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator
from referencing import Registry, Resource

SCHEMA_DIR = Path(__file__).resolve().parent
MESSAGE_KINDS = ("press", "status", "presence", "clock", "stored")


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


@cache
def validator(kind: str) -> Draft202012Validator:
    if kind not in MESSAGE_KINDS:
        raise ValueError(f"unknown message kind {kind!r}; known: {', '.join(MESSAGE_KINDS)}")
    schema = _load(f"{kind}.schema.json")
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema, registry=_registry())


def schema_errors(kind: str, payload: Any) -> list[str]:
    """Every reason `payload` breaks the schema of `kind`, each as 'path: message'; empty if valid."""
    errors = []
    for error in sorted(validator(kind).iter_errors(payload), key=lambda e: list(e.absolute_path)):
        where = "/".join(str(p) for p in error.absolute_path) or "(message)"
        errors.append(f"{where}: {error.message}")
    return errors


def box_topic(kind: str, box: str) -> str:
    return topics()["box"][kind].format(box=box)
