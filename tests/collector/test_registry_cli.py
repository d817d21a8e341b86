"""`rating-collector registry load` as a center's IT person runs it: the installed console script,
a clean environment, a file written by hand. Every malformed file gets a short message naming the
file, the entry and the field, exit status 2, and changes nothing."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from tests.helpers.paths import REPO

CLI = REPO / ".venv" / "bin" / "rating-collector"
MAX_MESSAGE_LINES = 4  # the problems, one a line, and the closing "nothing loaded" line

HEAD = """\
departments:
  - {code: TP, name: Sở Tư pháp}
counters:
  - {code: "17", name: Quầy 17, department: TP}
"""


def run_load(workdir: Path, name: str, content: bytes | str, database_url: str | None = None) -> subprocess.CompletedProcess[str]:
    """Write the file into workdir and load it from there, as `rating-collector registry load NAME`."""
    path = workdir / name
    if isinstance(content, str):
        path.write_text(content, encoding="utf-8")
    else:
        path.write_bytes(content)
    env = {"PATH": "/usr/bin:/bin", "HOME": str(workdir), "RATING_DATA_DIR": str(workdir / "data")}
    if database_url:
        env["RATING_DATABASE_URL"] = database_url
    return subprocess.run([str(CLI), "registry", "load", name], cwd=workdir, env=env, capture_output=True,
                          text=True, timeout=120, check=False)


def database_url(workdir: Path) -> str:
    return f"sqlite:///{workdir / 'data' / 'collector.sqlite3'}"


def rows(url: str, sql: str) -> list[tuple[Any, ...]]:
    engine = sa.create_engine(url.replace("postgresql://", "postgresql+psycopg://"))
    try:
        with engine.connect() as connection:
            return [tuple(row) for row in connection.execute(sa.text(sql))]
    finally:
        engine.dispose()


def registry_rows(url: str) -> dict[str, list[tuple[Any, ...]]]:
    return {table: rows(url, f"SELECT * FROM {table} ORDER BY id")
            for table in ("department", "counter", "officer", "counter_box", "counter_officer")}


def assert_refused(result: subprocess.CompletedProcess[str], *words: str, max_lines: int = MAX_MESSAGE_LINES) -> None:
    shown = f"exit {result.returncode}\nstdout:\n{result.stdout}\nstderr:\n{result.stderr}"
    assert result.returncode == 2, shown
    assert "Traceback" not in result.stderr and "File \"" not in result.stderr, shown
    assert 1 <= len(result.stderr.splitlines()) <= max_lines, shown
    for word in words:
        assert word in result.stderr, f"{word!r} missing from the message\n{shown}"


BAD_FILES: dict[str, tuple[str, bytes | str, tuple[str, ...]]] = {
    "a date that does not exist": (
        "registry.yaml", HEAD + "boxes:\n  - {box: box-017, counter: \"17\", from: 2026-31-12}\n",
        ("registry.yaml:6", "box 'box-017'", "'from'", "2026-31-12")),
    "a date out of range": (
        "registry.yaml", HEAD + "boxes:\n  - {box: box-017, counter: \"17\", from: 0001-01-01}\n",
        ("registry.yaml:6", "'from'", "0001-01-01")),
    "'to' not after 'from'": (
        "registry.yaml", HEAD + "boxes:\n  - {box: box-017, counter: \"17\", from: 2026-03-02, to: 2026-03-01}\n",
        ("registry.yaml:6", "'to'", "after")),
    "a missing key": (
        "registry.yaml", "departments:\n  - {code: TP, name: Sở Tư pháp}\ncounters:\n  - {code: \"17\", department: TP}\n",
        ("registry.yaml:4", "counter '17'", "'name'")),
    "an unknown key": (
        "registry.yaml", "departments:\n  - {code: TP, name: Sở Tư pháp, colour: red}\n",
        ("registry.yaml:2", "department 'TP'", "'colour'")),
    "a misspelt key": (
        "registry.yaml", ("departments:\n  - {code: TP, name: Sở Tư pháp}\ncounters:\n"
        "  - {code: \"17\", name: Quầy 17, departmnet: TP}\n"),
        ("registry.yaml:4", "counter '17'", "'departmnet'")),
    "a list where text belongs": (
        "registry.yaml", "departments:\n  - {code: TP, name: [Sở, Tư pháp]}\n",
        ("registry.yaml:2", "department 'TP'", "'name'", "text")),
    "a mapping where a code belongs": (
        "registry.yaml", "departments:\n  - code: {TP: 1}\n    name: Sở Tư pháp\n",
        ("registry.yaml:2", "'code'", "text")),
    "a JSON true where a code belongs": (
        "registry.json", json.dumps({"departments": [{"code": True, "name": "Sở Tư pháp"}]}),
        ("registry.json: departments[1]", "'code'", "text")),
    "a counter in an unknown department": (
        "registry.yaml", ("departments:\n  - {code: TP, name: Sở Tư pháp}\ncounters:\n"
        "  - {code: \"18\", name: Quầy 18, department: NOPE}\n"),
        ("registry.yaml:4", "counter '18'", "unknown department 'NOPE'")),
    "a bad scale": (
        "registry.yaml", ("departments:\n  - {code: TP, name: Sở Tư pháp}\ncounters:\n"
        "  - {code: \"17\", name: Quầy 17, department: TP, scale: stars10}\n"),
        ("registry.yaml:4", "counter '17'", "'scale'", "stars10", "sat2")),
    "a bad box id": (
        "registry.yaml", HEAD + "boxes:\n  - {box: BOX 9, counter: \"17\"}\n",
        ("registry.yaml:6", "'box'", "BOX 9", "box-017")),
    "a counter code boxes cannot send": (
        "registry.yaml", ("departments:\n  - {code: TP, name: Sở Tư pháp}\ncounters:\n"
        "  - {code: quầy 17, name: Quầy 17, department: TP}\n"),
        ("registry.yaml:4", "'code'", "quầy 17")),
    "a YAML file in Windows-1258": (
        "registry.yaml", "departments:\n  - {code: TP, name: Tư pháp}\n".encode("cp1258"),
        ("registry.yaml:2", "UTF-8")),
    "a CSV file saved by Excel in Windows-1258": (
        "registry.csv", "kind,code,name\ndepartment,TP,Tư pháp\n".encode("cp1258"),
        ("registry.csv:2", "UTF-8")),
    "a JSON file in Latin-1": (
        "registry.json", '{"departments": [{"code": "TP", "name": "Sé"}]}'.encode("latin-1"),
        ("registry.json:1", "UTF-8")),
    "an empty file": ("registry.yaml", "", ("registry.yaml", "empty")),
    "a file of comments only": ("registry.yaml", "# to do\n\n", ("registry.yaml", "empty")),
    "an empty JSON file": ("registry.json", "\n", ("registry.json", "empty")),
    "YAML that is a list": ("registry.yaml", "- TP\n- XD\n", ("registry.yaml", "mapping", "departments")),
    "YAML that is one word": ("registry.yaml", "departments\n", ("registry.yaml", "mapping")),
    "a section that is not a list": (
        "registry.yaml", "departments: {code: TP, name: Sở Tư pháp}\n", ("registry.yaml", "'departments'", "list")),
    "an unknown section": (
        "registry.yaml", "departements:\n  - {code: TP, name: Sở Tư pháp}\n", ("registry.yaml", "'departements'")),
    "broken YAML": (
        "registry.yaml", "departments:\n  - {code: TP, name: Sở Tư pháp\n", ("registry.yaml:3:", "YAML")),
    "broken JSON": (
        "registry.json", '{"departments": [{"code": "TP", "name": "x"}\n', ("registry.json:2:", "JSON")),
    "a key given twice in one entry": (
        "registry.yaml", "departments:\n  - {code: TP, name: Sở Tư pháp, name: Sở Xây dựng}\n",
        ("registry.yaml:2", "'name'", "twice")),
    "a key given twice in JSON": (
        "registry.json", '{"departments": [{"code": "TP", "name": "a", "name": "b"}]}', ("registry.json", "'name'", "twice")),
    "an entry given twice": (
        "registry.yaml", "departments:\n  - {code: TP, name: Sở Tư pháp}\n  - {code: TP, name: Sở Xây dựng}\n",
        ("registry.yaml:3", "department 'TP'", "registry.yaml:2")),
    "a name too long for the database": (
        "registry.yaml", "departments:\n  - {code: TP, name: " + "x" * 201 + "}\n",
        ("registry.yaml:2", "department 'TP'", "'name'", "200")),
    "a code too long for the database": (
        "registry.yaml", "officers:\n  - {code: " + "c" * 33 + ", name: Nguyễn Văn A}\n",
        ("registry.yaml:2", "'code'", "32")),
    "a terminal escape in a name": (
        "registry.json", json.dumps({"departments": [{"code": "TP", "name": "Sở \u001b[2J Tư pháp"}]}),
        ("registry.json: departments[1]", "'name'", "control")),
    "a NUL byte in a CSV": (
        "registry.csv", b"kind,code,name\ndepartment,TP,S\x00\n", ("registry.csv:2",)),
    "a CSV row with more fields than the header": (
        "registry.csv", "kind,code,name\ndepartment,TP,Sở Tư pháp,extra\n", ("registry.csv:2", "fields")),
    "a CSV header with an unknown column": (
        "registry.csv", "kind,code,name,colour\ndepartment,TP,Sở Tư pháp,red\n", ("registry.csv:1", "'colour'")),
    "a CSV box row with a name": (
        "registry.csv", ("kind,code,name,department,box,counter\ndepartment,TP,Sở Tư pháp,,,\n"
        "counter,17,Quầy 17,TP,,\nbox,,Quầy 17,,box-017,17\n"), ("registry.csv:4", "box 'box-017'", "'name'")),
    "an unknown file type": ("registry.txt", "departments: []\n", ("registry.txt", ".yaml")),
}


@pytest.mark.parametrize("case", BAD_FILES, ids=list(BAD_FILES))
def test_a_malformed_registry_gets_a_short_message_and_changes_nothing(tmp_path: Path, case: str) -> None:
    name, content, words = BAD_FILES[case]
    result = run_load(tmp_path, name, content)
    assert_refused(result, *words)
    assert result.stdout == ""
    assert all(table == [] for table in registry_rows(database_url(tmp_path)).values())


def test_a_file_too_large_is_refused_unread(tmp_path: Path) -> None:
    padding = " " * (11 * 1024 * 1024)
    result = run_load(tmp_path, "registry.json", '{"departments": [{"code": "TP", "name": "x"}]' + padding + "}")
    assert_refused(result, "registry.json", "MB")
    assert registry_rows(database_url(tmp_path))["department"] == []


def test_many_problems_are_counted_not_all_printed(tmp_path: Path) -> None:
    counters = "".join(f"  - {{code: \"{n}\", name: Quầy {n}, department: NOPE}}\n" for n in range(500))
    result = run_load(tmp_path, "registry.yaml", "counters:\n" + counters)
    assert_refused(result, "registry.yaml:2", "unknown department 'NOPE'", "500 problems", max_lines=25)


def test_codes_are_the_text_as_written(tmp_path: Path) -> None:
    yaml_file = """\
departments:
  - {code: 07, name: Sở Tư pháp}
  - {code: 1.10, name: Sở Xây dựng}
  - {code: yes, name: Sở Y tế}
counters:
  - {code: 01, name: Quầy 1, department: 07}
  - {code: 007, name: Quầy 7, department: 07}
  - {code: 08, name: Quầy 8, department: 1.10}
  - {code: 0x1F, name: Quầy 31, department: yes}
officers:
  - {code: 0012, name: Nguyễn Văn A, department: 07}
boxes:
  - {box: box-001, counter: 01}
officer_assignments:
  - {officer: 0012, counter: 01, from: 2026-03-02}
"""
    result = run_load(tmp_path, "registry.yaml", yaml_file)
    assert result.returncode == 0, result.stderr
    url = database_url(tmp_path)
    assert {code for (code,) in rows(url, "SELECT code FROM department")} == {"07", "1.10", "yes"}
    assert {code for (code,) in rows(url, "SELECT code FROM counter")} == {"01", "007", "08", "0x1F"}
    assert rows(url, "SELECT code FROM officer") == [("0012",)]
    assert rows(url, "SELECT b.box, c.code FROM counter_box b JOIN counter c ON c.id = b.counter_id") == [
        ("box-001", "01")]
    again = run_load(tmp_path, "registry.yaml", yaml_file)
    assert again.returncode == 0 and "0 created, 0 updated, 10 unchanged" in again.stdout, again.stdout
    # JSON numbers are kept as written too: 1.50, not 1.5
    result = run_load(tmp_path, "more.json", '{"departments": [{"code": 1.50, "name": "Sở Tài chính"}]}')
    assert result.returncode == 0, result.stderr
    assert ("1.50",) in rows(url, "SELECT code FROM department")


OFFICERS = """\
departments:
  - {code: TP, name: Sở Tư pháp}
counters:
  - {code: "17", name: Quầy 17, department: TP}
  - {code: "18", name: Quầy 18, department: TP}
officers:
  - {code: cb001, name: Nguyễn Văn A, department: TP}
  - {code: cb002, name: Trần Thị B, department: TP}
"""


def test_an_overlap_names_the_holder_and_local_dates(tmp_path: Path) -> None:
    result = run_load(tmp_path, "registry.yaml", OFFICERS + """\
officer_assignments:
  - {officer: cb001, counter: "17", from: 2026-03-02, to: "2026-03-09T12:00"}
  - {officer: cb002, counter: "17", from: 2026-03-05}
""")
    assert_refused(result, "registry.yaml:11", "officer 'cb002'", "counter '17'", "cb001", "Nguyễn Văn A",
                   "from 2026-03-02 to 2026-03-09 12:00")
    assert "+00:00" not in result.stderr and "17:00" not in result.stderr


def test_an_overlap_with_what_the_database_holds_names_it(tmp_path: Path) -> None:
    first = run_load(tmp_path, "registry.yaml", OFFICERS + "boxes:\n  - {box: box-017, counter: \"17\", from: 2026-03-01}\n")
    assert first.returncode == 0, first.stderr
    moved = run_load(tmp_path, "moved.yaml", "boxes:\n  - {box: box-017, counter: \"18\", from: 2026-04-01}\n")
    assert_refused(moved, "moved.yaml:2", "box 'box-017'", "two counters", "counter '17'", "from 2026-03-01")
    assert "+00:00" not in moved.stderr and "T17:00" not in moved.stderr
    closed = run_load(tmp_path, "moved.yaml", "boxes:\n  - {box: box-017, counter: \"17\", from: 2026-03-01, to: 2026-04-01}\n"
                                              "  - {box: box-017, counter: \"18\", from: 2026-04-01}\n")
    assert closed.returncode == 0, closed.stderr


@pytest.mark.parametrize("db_url", ["sqlite", "postgresql"], indirect=True)
def test_a_file_with_one_error_changes_nothing(tmp_path: Path, db_url: str) -> None:
    good = OFFICERS + "boxes:\n  - {box: box-017, counter: \"17\"}\n"
    assert run_load(tmp_path, "registry.yaml", good, db_url).returncode == 0
    before = registry_rows(db_url)
    renamed = (good.replace("Nguyễn Văn A", "Nguyễn Văn An").replace("Quầy 18", "Quầy mười tám")
               + "  - {box: box-019, counter: \"17\"}\n"
               + "officer_assignments:\n  - {officer: cb001, counter: \"18\"}\n"
               + "  - {officer: cb002, counter: \"17\"}\n"
               + "  - {officer: cb003, counter: \"17\", from: 2026-01-01}\n")
    renamed = renamed.replace("officers:\n", "officers:\n  - {code: cb003, name: " + "x" * 300 + "}\n")
    assert_refused(run_load(tmp_path, "registry.yaml", renamed, db_url), "registry.yaml:7", "officer 'cb003'",
                   "'name'", "200")
    assert registry_rows(db_url) == before
