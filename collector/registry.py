"""Load the registry (departments, counters, officers, who serves where, which box is where) from a
YAML, JSON or CSV file. Loading is idempotent: rows are matched on their natural keys and updated;
nothing is ever deleted (stored presses refer to it). A file with any error changes nothing, and
every problem names the file, the entry and the field.

YAML/JSON layout (every section optional):

    departments:        [{code, name, site (optional)}]
    counters:           [{code, name, department, scale: sat2|vn3|smiley4 (default sat2)}]
    officers:           [{code, name, department (optional)}]
    boxes:              [{box, counter, from (optional), to (optional)}]
    officer_assignments: [{officer, counter, from (optional), to (optional)}]

CSV: one row per entry, columns kind,code,name,department,site,scale,box,counter,officer,from,to
where kind is department, counter, officer, box or officer_assignment; a row fills only the
columns of its kind.

Every value is the text as written: `code: 01` is "01" (YAML's plain scalars are not read as
numbers, booleans or dates here) and a JSON number keeps its digits. Codes are letters, digits,
'.', '-' and '_' (a counter's code is what its boxes send: no '.', at most 16). `from`/`to` are
dates (local midnight in the center's timezone) or ISO date-times (local unless they carry an
offset); `to` is exclusive and empty means "still so". An assignment without `from` holds since
forever.
"""

from __future__ import annotations

import csv
import io
import json
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from pathlib import Path
from typing import Annotated, Any, ClassVar

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    ValidationInfo,
    model_validator,
)
from pydantic_core import ErrorDetails
from sqlmodel import Session, select

from collector.clock import as_utc, local_time
from collector.models import Counter, CounterBox, CounterOfficer, Department, Officer
from schemas.contract import scales

SINCE_FOREVER = datetime(1970, 1, 1, tzinfo=UTC)
LAST_YEAR = 9998  # datetime ends at 9999; a later `to` could not be compared or shifted to local time
BOX_PATTERN = re.compile(r"^box-[a-z0-9][a-z0-9-]{0,27}$")
COUNTER_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,15}$")
CODE_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,31}$")
# A center's registry is tens of kilobytes; a file this big is the wrong file, not a registry.
MAX_FILE_BYTES = 10 * 1024 * 1024
SECTIONS = {
    "departments": "department",
    "counters": "counter",
    "officers": "officer",
    "boxes": "box",
    "officer_assignments": "officer_assignment",
}
CSV_COLUMNS = ("kind", "code", "name", "department", "site", "scale", "box", "counter", "officer", "from", "to")
DATE_HINT = "write YYYY-MM-DD, or YYYY-MM-DDTHH:MM for a time"


class RegistryError(ValueError):
    def __init__(self, problems: list[str]):
        super().__init__("\n".join(problems))
        self.problems = problems


@dataclass
class Entry:
    kind: str
    fields: dict[str, Any]
    where: str  # "file:line", for error messages

    def label(self) -> str:
        """How messages name the entry: counter '17', officer 'cb002' at counter '17', ..."""
        subject_field = {"box": "box", "officer_assignment": "officer"}.get(self.kind, "code")
        noun = {"officer_assignment": "officer"}.get(self.kind, self.kind)
        subject, counter = _quoted(self.fields.get(subject_field)), _quoted(self.fields.get("counter"))
        text = f"{noun} {subject}" if subject else self.kind.replace("_", " ")
        if self.kind in ("box", "officer_assignment") and counter:
            text += f" at counter {counter}"
        return text


@dataclass
class LoadSummary:
    created: int = 0
    updated: int = 0
    unchanged: int = 0


def _quoted(value: Any) -> str | None:
    if isinstance(value, str) and value.strip().isprintable() and 0 < len(value.strip()) <= 40:
        return repr(value.strip())
    return None


def _shown(value: str) -> str:
    return repr(value if len(value) <= 40 else value[:40] + "...")


def _kind_of(value: Any) -> str:
    if isinstance(value, bool):
        return "true/false"
    for kind, name in ((dict, "a mapping"), (list, "a list"), (int, "a number"), (float, "a number"),
                       (datetime, "a date-time"), (date, "a date"), (str, "text")):
        if isinstance(value, kind):
            return name
    return type(value).__name__


# --- what each entry may hold -----------------------------------------------------------------


def _matching(pattern: re.Pattern[str], what: str) -> AfterValidator:
    def check(value: str) -> str:
        if not pattern.fullmatch(value):
            raise ValueError(f"{_shown(value)} is not {what}")
        return value

    return AfterValidator(check)


def _printable(value: str) -> str:
    if not value.isprintable():
        raise ValueError("contains a control character (a line break, tab or escape); write it on one line")
    return value


def _known_scale(value: str) -> str:
    if value not in scales():
        raise ValueError(f"{_shown(value)} is not a scale; use {', '.join(scales())}")
    return value


def _moment(value: Any, info: ValidationInfo) -> datetime | None:
    """A `from`/`to` value as UTC: a date is local midnight, a date-time without an offset is local."""
    tz_name = info.context["tz_name"] if info.context else "UTC"
    if value is None or isinstance(value, datetime):
        moment = value
    elif isinstance(value, date):
        moment = datetime(value.year, value.month, value.day)
    elif isinstance(value, str) and len(value) <= 40:
        try:
            moment = datetime.fromisoformat(value) if "T" in value or " " in value else None
            moment = moment or datetime.combine(date.fromisoformat(value), time())
        except ValueError as error:
            reason = "" if str(error).startswith("Invalid isoformat") else f" ({error})"
            raise ValueError(f"{_shown(value)} is not a date{reason}; {DATE_HINT}") from None
    else:
        raise ValueError(f"must be a date, not {_kind_of(value)}; {DATE_HINT}")
    if moment is None:
        return None
    if not SINCE_FOREVER.year <= moment.year <= LAST_YEAR:
        raise ValueError(f"{_shown(str(value))} is not between {SINCE_FOREVER.year} and {LAST_YEAR}")
    return as_utc(moment, tz_name)


Code = Annotated[str, StringConstraints(max_length=32),
                 _matching(CODE_PATTERN, "a code (letters, digits, '.', '-' and '_', e.g. TP or cb001)")]
CounterCode = Annotated[str, StringConstraints(max_length=16),
                        _matching(COUNTER_PATTERN, "a counter code boxes can send (letters, digits, '-', '_')")]
BoxId = Annotated[str, StringConstraints(max_length=32), _matching(BOX_PATTERN, "a box id like box-017")]
Name = Annotated[str, StringConstraints(max_length=200), AfterValidator(_printable)]
Site = Annotated[str, StringConstraints(max_length=32), AfterValidator(_printable)]
Scale = Annotated[str, AfterValidator(_known_scale)]
Moment = Annotated[datetime | None, BeforeValidator(_moment)]


class _Row(BaseModel):
    # strict: a list or a number where text belongs is an error, never its str()
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

    KEY: ClassVar[tuple[str, ...]] = ("code",)

    def key(self) -> tuple[Any, ...]:
        """What makes two entries the same entry (a file may give each only once)."""
        return (type(self), *(getattr(self, name) for name in self.KEY))


class DepartmentRow(_Row):
    code: Code
    name: Name
    site: Site | None = None


class CounterRow(_Row):
    code: CounterCode
    name: Name
    department: Code
    scale: Scale = "sat2"


class OfficerRow(_Row):
    code: Code
    name: Name
    department: Code | None = None


class _AssignmentRow(_Row):
    counter: CounterCode
    valid_from: Moment = Field(default=None, alias="from")
    valid_to: Moment = Field(default=None, alias="to")

    @model_validator(mode="after")
    def _ends_after_it_starts(self) -> _AssignmentRow:
        if self.valid_to is not None and self.valid_to <= (self.valid_from or SINCE_FOREVER):
            raise ValueError("'to' must be after 'from'")
        return self

    @property
    def start(self) -> datetime:
        return self.valid_from or SINCE_FOREVER


class BoxRow(_AssignmentRow):
    KEY = ("box", "counter", "start")
    box: BoxId


class OfficerAssignmentRow(_AssignmentRow):
    KEY = ("officer", "counter", "start")
    officer: Code


ROWS: dict[str, type[_Row]] = {"department": DepartmentRow, "counter": CounterRow, "officer": OfficerRow,
                               "box": BoxRow, "officer_assignment": OfficerAssignmentRow}


def _explain(error: ErrorDetails, model: type[_Row], noun: str) -> str:
    field = repr(str(error["loc"][0])) if error["loc"] else ""
    names = [info.alias or name for name, info in model.model_fields.items()]
    ctx = error.get("ctx", {})
    kind = error["type"]
    if kind == "missing":
        needed = [info.alias or name for name, info in model.model_fields.items() if info.is_required()]
        text = f"{field} is missing (every {noun} needs {', '.join(needed)})"
    elif kind == "extra_forbidden":
        text = f"{field} is not a field here; the fields are {', '.join(names)}"
    elif kind == "string_type":
        text = f"{field} must be text, not {_kind_of(error['input'])}"
    elif kind == "string_too_long":
        text = f"{field} is longer than {ctx['max_length']} characters"
    elif kind == "value_error":
        text = f"{field}: {ctx['error']}" if field else str(ctx["error"])
    else:
        text = f"{field}: {error['msg']}"
    return text


# --- reading ------------------------------------------------------------------------------------


def read_entries(path: Path) -> list[Entry]:
    readers = {".csv": _read_csv, ".yaml": _read_yaml, ".yml": _read_yaml, ".json": _read_json}
    reader = readers.get(path.suffix.lower())
    if reader is None:
        raise RegistryError([f"{path}: unknown file type {path.suffix!r}; use .yaml, .yml, .json or .csv"])
    text = _read_text(path)
    if not text.strip():
        raise RegistryError([f"{path}: the file is empty"])
    return reader(path, text)


def _read_text(path: Path) -> str:
    try:
        with path.open("rb") as handle:
            data = handle.read(MAX_FILE_BYTES + 1)
    except OSError as error:
        raise RegistryError([f"{path}: cannot read it: {error.strerror}"]) from None
    if len(data) > MAX_FILE_BYTES:
        raise RegistryError([f"{path}: larger than {MAX_FILE_BYTES // 2**20} MB, too large for a registry"])
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        line = data.count(b"\n", 0, error.start) + 1
        hint = " (Excel: Save As, 'CSV UTF-8')" if path.suffix.lower() == ".csv" else ""
        raise RegistryError(
            [f"{path}:{line}: not UTF-8 text (byte 0x{data[error.start]:02x}); save the file as UTF-8{hint}"]
        ) from None


NULL_TAG, MERGE_TAG = "tag:yaml.org,2002:null", "tag:yaml.org,2002:merge"


class _TextLoader(yaml.SafeLoader):
    """YAML whose plain scalars stay the text as written: YAML 1.1 would make `code: 01` the number
    1, `code: yes` true and `from: 2026-31-12` a crash. Only null (~, null, nothing) and the merge
    key (<<) keep their meaning."""


_TextLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag in (NULL_TAG, MERGE_TAG)]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


class _Located(dict[Any, Any]):
    """A YAML mapping that knows its line."""

    line = 0


def _construct_mapping(loader: yaml.SafeLoader, node: yaml.MappingNode) -> _Located:
    seen: set[str] = set()
    for key_node, _ in node.value:
        if isinstance(key_node, yaml.ScalarNode) and key_node.tag != MERGE_TAG:
            if key_node.value in seen:  # PyYAML would silently keep the last one
                raise yaml.constructor.ConstructorError(None, None, f"{key_node.value!r} is given twice",
                                                        key_node.start_mark)
            seen.add(key_node.value)
    mapping = _Located(loader.construct_mapping(node, deep=True))
    mapping.line = node.start_mark.line + 1
    return mapping


_TextLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def _read_yaml(path: Path, text: str) -> list[Entry]:
    try:
        document = yaml.load(text, Loader=_TextLoader)  # a SafeLoader: no Python objects
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        where = f"{path}:{mark.line + 1}:{mark.column + 1}" if mark else str(path)
        context = f" ({error.context} from line {error.context_mark.line + 1})" if error.context_mark else ""
        raise RegistryError([f"{where}: not valid YAML: {error.problem or error.context}{context}"]) from None
    except yaml.YAMLError as error:
        raise RegistryError([f"{path}: not valid YAML: {error}"]) from None
    except RecursionError:
        raise RegistryError([f"{path}: nested too deeply to be a registry"]) from None
    return _read_sections(path, document)


class _GivenTwice(ValueError):
    pass


def _json_object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    mapping = dict(pairs)
    if len(mapping) < len(pairs):
        twice = next(key for number, (key, _) in enumerate(pairs) if key in dict(pairs[:number]))
        raise _GivenTwice(f"{twice!r} is given twice in one object")
    return mapping


def _read_json(path: Path, text: str) -> list[Entry]:
    try:
        # numbers keep their digits as text: 007 is not JSON, but "code": 1.50 must not become "1.5"
        document = json.loads(text, parse_int=str, parse_float=str, parse_constant=str, object_pairs_hook=_json_object)
    except json.JSONDecodeError as error:
        raise RegistryError([f"{path}:{error.lineno}:{error.colno}: not valid JSON: {error.msg}"]) from None
    except _GivenTwice as error:
        raise RegistryError([f"{path}: not valid JSON: {error}"]) from None
    except RecursionError:
        raise RegistryError([f"{path}: nested too deeply to be a registry"]) from None
    return _read_sections(path, document)


def _read_sections(path: Path, document: Any) -> list[Entry]:
    if document is None:
        raise RegistryError([f"{path}: the file is empty (nothing but comments)"])
    if not isinstance(document, dict):
        sections = ", ".join(SECTIONS)
        raise RegistryError([f"{path}: expected a mapping of sections ({sections}), not {_kind_of(document)}"])
    problems, entries = [], []
    for section, items in document.items():
        if section not in SECTIONS:
            problems.append(f"{path}: unknown section {_shown(str(section))}; the sections are {', '.join(SECTIONS)}")
            continue
        if items is None:
            continue
        if not isinstance(items, list):
            problems.append(f"{path}: section {section!r} must be a list of entries, not {_kind_of(items)}")
            continue
        for number, item in enumerate(items, 1):
            where = f"{path}:{item.line}" if isinstance(item, _Located) else f"{path}: {section}[{number}]"
            if not isinstance(item, dict):
                problems.append(f"{where}: each of {section} must be a mapping of fields, not {_kind_of(item)}")
                continue
            entries.append(Entry(SECTIONS[section], dict(item), where))
    if problems:
        raise RegistryError(problems)
    return entries


def _read_csv(path: Path, text: str) -> list[Entry]:
    reader = csv.reader(io.StringIO(text, newline=""))
    entries, problems = [], []
    try:
        header = [column.strip() for column in next(reader)]
        unknown = [column for column in header if column not in CSV_COLUMNS]
        twice = {column for column in header if header.count(column) > 1}
        if "kind" not in header or unknown or twice:
            wrong = f"unknown column {_shown(unknown[0])}" if unknown else (
                f"column {min(twice)!r} is given twice" if twice else "no 'kind' column")
            raise RegistryError([f"{path}:1: {wrong}; the header has 'kind' and any of {', '.join(CSV_COLUMNS)}"])
        for row in reader:
            where = f"{path}:{reader.line_num}"
            if not any(cell.strip() for cell in row):
                continue  # spreadsheets leave rows of empty cells
            if len(row) > len(header):
                problems.append(f"{where}: {len(row)} fields, but the header has {len(header)}")
                continue
            fields = {column: cell.strip() for column, cell in zip(header, row, strict=False) if cell.strip()}
            kind = fields.pop("kind", "")
            if kind not in ROWS:
                problems.append(f"{where}: kind must be one of {', '.join(ROWS)}, not {_shown(kind)}")
                continue
            entries.append(Entry(kind, fields, where))
    except csv.Error as error:
        raise RegistryError([f"{path}:{reader.line_num}: not valid CSV: {error}"]) from None
    if problems:
        raise RegistryError(problems)
    return entries


# --- applying -----------------------------------------------------------------------------------


def load_registry(session: Session, path: Path, tz_name: str) -> LoadSummary:
    """Apply the file in the session's transaction; raise RegistryError listing every problem."""
    entries = read_entries(Path(path))
    return apply_entries(session, entries, tz_name)


class _Problems:
    """Every problem of a load, told in the order of the entries."""

    def __init__(self, entries: list[Entry]):
        self._position = {id(entry): number for number, entry in enumerate(entries)}
        self._found: list[tuple[int, str]] = []

    def add(self, entry: Entry, text: str) -> None:
        self._found.append((self._position.get(id(entry), -1), f"{entry.where}: {entry.label()}: {text}"))

    def __bool__(self) -> bool:
        return bool(self._found)

    def texts(self) -> list[str]:
        return [text for _, text in sorted(self._found, key=lambda found: found[0])]


def _checked(entries: list[Entry], tz_name: str, problems: _Problems) -> tuple[list[tuple[Entry, _Row]], set[str]]:
    """The entries that are well-formed and given once, and the codes of the ones that are not
    (an entry that names one of those has its problem told already, so it is not told again)."""
    checked: list[tuple[Entry, _Row]] = []
    refused: set[str] = set()
    first_of: dict[tuple[Any, ...], Entry] = {}
    for entry in entries:
        model = ROWS.get(entry.kind)
        if model is None:
            problems.add(entry, f"unknown kind; use {', '.join(ROWS)}")
            continue
        fields = {str(k): v.strip() if isinstance(v, str) else v for k, v in entry.fields.items()}
        fields = {k: v for k, v in fields.items() if v is not None and v != ""}
        try:
            row = model.model_validate(fields, context={"tz_name": tz_name})
        except ValidationError as error:
            for detail in error.errors(include_url=False):
                problems.add(entry, _explain(detail, model, entry.kind.replace("_", " ")))
            if entry.kind in ("department", "counter", "officer") and isinstance(fields.get("code"), str):
                refused.add(f"{entry.kind}:{fields['code']}")
            continue
        if row.key() in first_of:
            problems.add(entry, f"given twice, also at {first_of[row.key()].where}")
            continue
        first_of[row.key()] = entry
        checked.append((entry, row))
    return checked, refused


def apply_entries(session: Session, entries: list[Entry], tz_name: str) -> LoadSummary:
    summary = LoadSummary()
    problems = _Problems(entries)
    checked, refused = _checked(entries, tz_name, problems)

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

    def known(model: Any, kind: str, code: str, entry: Entry, add_it_under: str) -> Any:
        found = session.exec(select(model).where(model.code == code)).first()
        if found is None and f"{kind}:{code}" not in refused:
            problems.add(entry, f"unknown {kind} {code!r}; add it under {add_it_under} first")
        return found

    def existing(model: Any, code: str) -> Any:
        return session.exec(select(model).where(model.code == code)).first()

    for kind in ROWS:  # in this order: what an entry refers to is stored before it
        for entry, fields in ((e, r) for e, r in checked if e.kind == kind):
            if isinstance(fields, DepartmentRow):
                changes: dict[str, Any] = {"name": fields.name}
                if fields.site is not None:
                    changes["site"] = fields.site
                upsert(existing(Department, fields.code) or Department(code=fields.code, name=fields.name), changes)
            elif isinstance(fields, CounterRow):
                department = known(Department, "department", fields.department, entry, "departments")
                if department is None:
                    refused.add(f"counter:{fields.code}")
                    continue
                changes = {"name": fields.name, "department_id": department.id, "scale": fields.scale}
                upsert(existing(Counter, fields.code) or Counter(code=fields.code, **changes), changes)
            elif isinstance(fields, OfficerRow):
                department = fields.department and known(Department, "department", fields.department, entry,
                                                         "departments")
                if fields.department is not None and department is None:
                    refused.add(f"officer:{fields.code}")
                    continue
                changes = {"name": fields.name, "department_id": department.id if department else None}
                upsert(existing(Officer, fields.code) or Officer(code=fields.code, **changes), changes)
            elif isinstance(fields, BoxRow | OfficerAssignmentRow):
                counter = known(Counter, "counter", fields.counter, entry, "counters")
                officer = (known(Officer, "officer", fields.officer, entry, "officers")
                           if isinstance(fields, OfficerAssignmentRow) else None)
                if counter is None or (isinstance(fields, OfficerAssignmentRow) and officer is None):
                    continue
                assignment = _assignment(session, fields, counter, officer)
                upsert(assignment, {"valid_to": fields.valid_to})
                overlap = _overlap(session, assignment, tz_name)
                if overlap:
                    problems.add(entry, overlap)
    if problems:
        session.rollback()
        raise RegistryError(problems.texts())
    return summary


def _assignment(session: Session, fields: BoxRow | OfficerAssignmentRow, counter: Counter,
                officer: Officer | None) -> CounterBox | CounterOfficer:
    """The stored row of this assignment (matched on who, counter and from), or a new one."""
    assert counter.id is not None
    if isinstance(fields, BoxRow):
        return session.exec(select(CounterBox).where(
            CounterBox.box == fields.box, CounterBox.counter_id == counter.id, CounterBox.valid_from == fields.start
        )).first() or CounterBox(box=fields.box, counter_id=counter.id, valid_from=fields.start)
    assert officer is not None and officer.id is not None
    return session.exec(select(CounterOfficer).where(
        CounterOfficer.officer_id == officer.id, CounterOfficer.counter_id == counter.id,
        CounterOfficer.valid_from == fields.start,
    )).first() or CounterOfficer(officer_id=officer.id, counter_id=counter.id, valid_from=fields.start)


def _local(moment: datetime, tz_name: str) -> str:
    local = local_time(moment, tz_name)
    if local.time() == time():
        return f"{local:%Y-%m-%d}"
    return f"{local:%Y-%m-%d %H:%M}" if local.second == local.microsecond == 0 else f"{local:%Y-%m-%d %H:%M:%S}"


def _period(start: datetime, end: datetime | None, tz_name: str) -> str:
    begins = "from the start" if start <= SINCE_FOREVER else f"from {_local(start, tz_name)}"
    return begins + (f" to {_local(end, tz_name)}" if end else " with no end")


def _overlap(session: Session, row: CounterBox | CounterOfficer, tz_name: str) -> str | None:
    """A box is at one counter at a time; a counter has one officer on duty at a time. Says who
    holds the place already, and when, in the center's local time."""
    others: list[Any]
    if isinstance(row, CounterBox):
        others = list(session.exec(select(CounterBox).where(CounterBox.box == row.box, CounterBox.id != row.id)))
    else:
        others = list(session.exec(select(CounterOfficer).where(
            CounterOfficer.counter_id == row.counter_id, CounterOfficer.id != row.id)))
    far_future = datetime.max.replace(tzinfo=UTC)
    for other in others:
        if row.valid_from < (other.valid_to or far_future) and other.valid_from < (row.valid_to or far_future):
            period = _period(other.valid_from, other.valid_to, tz_name)
            if isinstance(other, CounterBox):
                at = session.get(Counter, other.counter_id)
                where = f"counter {at.code if at else '?'!r} {period}"
                if other.counter_id == row.counter_id:
                    return f"overlaps its other assignment at {where}; give that assignment a 'to' first"
                return f"would be at two counters at once: it is at {where}; give that assignment a 'to' first"
            holder, counter = session.get(Officer, other.officer_id), session.get(Counter, row.counter_id)
            who = f"{holder.code} ({holder.name})" if holder else "another officer"
            return (f"counter {counter.code if counter else '?'!r} would have two officers on duty at once: "
                    f"{who} holds it {period}; give that assignment a 'to' first")
    return None
