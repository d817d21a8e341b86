"""Load the registry (departments, counters, officers, who serves where, which box is where) from a
YAML, JSON or CSV file. Loading is idempotent: rows are matched on their natural keys and updated;
nothing is ever deleted (stored presses refer to it). A file with any error changes nothing.

YAML/JSON layout (every section optional):

    departments:        [{code, name}]
    counters:           [{code, name, department, scale: sat2|vn3|smiley4 (default sat2)}]
    officers:           [{code, name, department (optional)}]
    boxes:              [{box, counter, from (optional), to (optional)}]
    officer_assignments: [{officer, counter, from (optional), to (optional)}]

CSV: one row per entry, columns kind,code,name,department,scale,box,counter,officer,from,to where
kind is department, counter, officer, box or officer_assignment.

`from`/`to` are dates (local midnight in the center's timezone) or ISO date-times; `to` is
exclusive and empty means "still so". An assignment without `from` holds since forever.
"""

from __future__ import annotations

import csv
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from sqlmodel import Session, select

from collector.clock import local_midnight_utc, zone
from collector.models import Counter, CounterBox, CounterOfficer, Department, Officer
from schemas.contract import scales

SINCE_FOREVER = datetime(1970, 1, 1, tzinfo=UTC)
BOX_PATTERN = re.compile(r"^box-[a-z0-9][a-z0-9-]{0,27}$")
COUNTER_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,15}$")
SECTIONS = {
    "departments": "department",
    "counters": "counter",
    "officers": "officer",
    "boxes": "box",
    "officer_assignments": "officer_assignment",
}
CSV_COLUMNS = ("kind", "code", "name", "department", "scale", "box", "counter", "officer", "from", "to")


class RegistryError(ValueError):
    def __init__(self, problems: list[str]):
        super().__init__("\n".join(problems))
        self.problems = problems


@dataclass
class Entry:
    kind: str
    fields: dict[str, Any]
    where: str  # "file:line", for error messages


@dataclass
class LoadSummary:
    created: int = 0
    updated: int = 0
    unchanged: int = 0


# --- reading ------------------------------------------------------------------------------------


def read_entries(path: Path) -> list[Entry]:
    suffix = path.suffix.lower()
    if suffix == ".csv":
        return _read_csv(path)
    if suffix in (".yaml", ".yml"):
        return _read_mapping(path, _load_yaml(path))
    if suffix == ".json":
        return _read_mapping(path, json.loads(path.read_text(encoding="utf-8")))
    raise RegistryError([f"{path}: unknown file type {suffix!r}; use .yaml, .yml, .json or .csv"])


def _load_yaml(path: Path) -> Any:
    try:
        import yaml  # type: ignore[import-untyped]
    except ImportError:
        raise RegistryError([f"{path}: reading YAML needs PyYAML (pip install pyyaml); or use .json/.csv"]) from None

    class LineLoader(yaml.SafeLoader):
        pass

    def mapping_with_line(loader: yaml.SafeLoader, node: yaml.MappingNode) -> dict[Any, Any]:
        mapping = loader.construct_mapping(node, deep=True)
        mapping["__line__"] = node.start_mark.line + 1
        return mapping

    LineLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, mapping_with_line)
    try:
        return yaml.load(path.read_text(encoding="utf-8"), Loader=LineLoader)
    except yaml.YAMLError as error:
        raise RegistryError([f"{path}: not valid YAML: {error}"]) from None


def _read_mapping(path: Path, document: Any) -> list[Entry]:
    if not isinstance(document, dict):
        raise RegistryError([f"{path}: expected a mapping with sections {', '.join(SECTIONS)}"])
    problems, entries = [], []
    for section, items in document.items():
        if section == "__line__":
            continue
        if section not in SECTIONS:
            problems.append(f"{path}: unknown section {section!r}; known: {', '.join(SECTIONS)}")
            continue
        if not isinstance(items, list):
            problems.append(f"{path}: section {section!r} must be a list")
            continue
        for number, item in enumerate(items, 1):
            if not isinstance(item, dict):
                problems.append(f"{path}: {section} entry {number} must be a mapping")
                continue
            line = item.pop("__line__", None)
            where = f"{path}:{line}" if line else f"{path}: {section}[{number}]"
            entries.append(Entry(SECTIONS[section], item, where))
    if problems:
        raise RegistryError(problems)
    return entries


def _read_csv(path: Path) -> list[Entry]:
    entries, problems = [], []
    with path.open(newline="", encoding="utf-8-sig") as handle:
        reader = csv.DictReader(handle)
        unknown = set(reader.fieldnames or ()) - set(CSV_COLUMNS)
        if not reader.fieldnames or "kind" not in reader.fieldnames or unknown:
            raise RegistryError(
                [f"{path}:1: header must have 'kind' and only these columns: {', '.join(CSV_COLUMNS)}"]
            )
        for row in reader:
            where = f"{path}:{reader.line_num}"
            kind = (row.pop("kind") or "").strip()
            if kind not in SECTIONS.values():
                problems.append(f"{where}: kind must be one of {', '.join(SECTIONS.values())}, not {kind!r}")
                continue
            fields = {k: v.strip() for k, v in row.items() if k and v and v.strip()}
            entries.append(Entry(kind, fields, where))
    if problems:
        raise RegistryError(problems)
    return entries


# --- applying -----------------------------------------------------------------------------------


def load_registry(session: Session, path: Path, tz_name: str) -> LoadSummary:
    """Apply the file in the session's transaction; raise RegistryError listing every problem."""
    entries = read_entries(Path(path))
    return apply_entries(session, entries, tz_name)


class _Problems(list[str]):
    def need(self, entry: Entry, name: str) -> str | None:
        value = entry.fields.get(name)
        if value is None or str(value).strip() == "":
            self.append(f"{entry.where}: {entry.kind} needs {name!r}")
            return None
        return str(value).strip()


def _moment(value: Any, tz_name: str) -> datetime:
    if isinstance(value, datetime):
        return (value if value.tzinfo else value.replace(tzinfo=zone(tz_name))).astimezone(UTC)
    if isinstance(value, date):
        return local_midnight_utc(value, tz_name)
    text = str(value).strip()
    if re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
        return local_midnight_utc(date.fromisoformat(text), tz_name)
    return _moment(datetime.fromisoformat(text), tz_name)


def _period(entry: Entry, problems: _Problems, tz_name: str) -> tuple[datetime, datetime | None] | None:
    try:
        start = _moment(entry.fields["from"], tz_name) if entry.fields.get("from") else SINCE_FOREVER
        end = _moment(entry.fields["to"], tz_name) if entry.fields.get("to") else None
    except ValueError as error:
        problems.append(f"{entry.where}: bad date in from/to ({error}); use YYYY-MM-DD or an ISO date-time")
        return None
    if end is not None and end <= start:
        problems.append(f"{entry.where}: 'to' must be after 'from'")
        return None
    return start, end


def apply_entries(session: Session, entries: list[Entry], tz_name: str) -> LoadSummary:
    summary = LoadSummary()
    problems = _Problems()

    def upsert(row: Any, changes: dict[str, Any]) -> None:
        if row.id is None:
            summary.created += 1
        elif any(getattr(row, k) != v for k, v in changes.items()):
            summary.updated += 1
        else:
            summary.unchanged += 1
            return
        for key, value in changes.items():
            setattr(row, key, value)
        session.add(row)
        session.flush()

    def by_code(model: Any, code: str) -> Any:
        return session.exec(select(model).where(model.code == code)).first()

    order = ("department", "counter", "officer", "box", "officer_assignment")
    for kind in order:
        for entry in (e for e in entries if e.kind == kind):
            if kind == "department":
                code, name = problems.need(entry, "code"), problems.need(entry, "name")
                if code and name:
                    upsert(by_code(Department, code) or Department(code=code, name=name), {"name": name})
            elif kind == "counter":
                code, name = problems.need(entry, "code"), problems.need(entry, "name")
                dept_code = problems.need(entry, "department")
                scale = str(entry.fields.get("scale") or "sat2")
                if code and not COUNTER_PATTERN.match(code):
                    problems.append(f"{entry.where}: counter code {code!r} is not what boxes can send")
                    continue
                if scale not in scales():
                    problems.append(f"{entry.where}: scale must be one of {', '.join(scales())}, not {scale!r}")
                    continue
                if not (code and name and dept_code):
                    continue
                department = by_code(Department, dept_code)
                if department is None:
                    problems.append(f"{entry.where}: unknown department {dept_code!r}")
                    continue
                changes = {"name": name, "department_id": department.id, "scale": scale}
                upsert(by_code(Counter, code) or Counter(code=code, **changes), changes)
            elif kind == "officer":
                code, name = problems.need(entry, "code"), problems.need(entry, "name")
                if not (code and name):
                    continue
                department_id = None
                if entry.fields.get("department"):
                    department = by_code(Department, str(entry.fields["department"]))
                    if department is None:
                        problems.append(f"{entry.where}: unknown department {entry.fields['department']!r}")
                        continue
                    department_id = department.id
                changes = {"name": name, "department_id": department_id}
                upsert(by_code(Officer, code) or Officer(code=code, **changes), changes)
            else:
                subject_field = "box" if kind == "box" else "officer"
                subject, counter_code = problems.need(entry, subject_field), problems.need(entry, "counter")
                period = _period(entry, problems, tz_name)
                if not (subject and counter_code and period):
                    continue
                counter = by_code(Counter, counter_code)
                if counter is None:
                    problems.append(f"{entry.where}: unknown counter {counter_code!r}")
                    continue
                start, end = period
                row: Any
                if kind == "box":
                    if not BOX_PATTERN.match(subject):
                        problems.append(f"{entry.where}: box id {subject!r} must look like box-017")
                        continue
                    row = session.exec(
                        select(CounterBox).where(
                            CounterBox.box == subject, CounterBox.counter_id == counter.id, CounterBox.valid_from == start
                        )
                    ).first() or CounterBox(box=subject, counter_id=counter.id, valid_from=start)
                else:
                    officer = by_code(Officer, subject)
                    if officer is None:
                        problems.append(f"{entry.where}: unknown officer {subject!r}")
                        continue
                    row = session.exec(
                        select(CounterOfficer).where(
                            CounterOfficer.officer_id == officer.id,
                            CounterOfficer.counter_id == counter.id,
                            CounterOfficer.valid_from == start,
                        )
                    ).first() or CounterOfficer(officer_id=officer.id, counter_id=counter.id, valid_from=start)
                upsert(row, {"valid_to": end})
                overlap = _overlap(session, kind, row)
                if overlap:
                    problems.append(f"{entry.where}: {overlap}")
    if problems:
        session.rollback()
        raise RegistryError(list(problems))
    return summary


def _overlap(session: Session, kind: str, row: Any) -> str | None:
    """A box is at one counter at a time; a counter has one officer on duty at a time."""
    others: Sequence[Any]
    if kind == "box":
        others = session.exec(select(CounterBox).where(CounterBox.box == row.box, CounterBox.id != row.id)).all()
        what = f"box {row.box} would be at two counters at once"
    else:
        others = session.exec(
            select(CounterOfficer).where(CounterOfficer.counter_id == row.counter_id, CounterOfficer.id != row.id)
        ).all()
        what = "the counter would have two officers on duty at once"
    far_future = datetime.max.replace(tzinfo=UTC)
    for other in others:
        if row.valid_from < (other.valid_to or far_future) and other.valid_from < (row.valid_to or far_future):
            return f"{what} (overlaps the period from {other.valid_from.isoformat()}; close it with 'to' first)"
    return None
