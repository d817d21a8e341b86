"""`rating-tech build --key-file` signs a release for the boxes' over-the-air update, and provision
puts the fleet key on a box: run as the installed rating-tech."""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
from pathlib import Path
from typing import Any

from tests.helpers.technician import port_of


def fleet_key_file(folder: Path) -> tuple[Path, bytes]:
    key = secrets.token_bytes(32)
    path = folder / "fleet.key"
    path.write_text(key.hex() + "\n")
    return path, key


def test_build_signs_the_manifest_with_the_fleet_key(tech: Any, tmp_path: Path) -> None:
    key_file, key = fleet_key_file(tmp_path)
    out = tmp_path / "rel"
    done = tech("build", "--out", str(out), "--key-file", str(key_file))
    assert done.exit_code == 0, done.output
    manifest_bytes = (out / "manifest.json").read_bytes()
    expected = hmac.new(key, manifest_bytes, hashlib.sha256).hexdigest()
    assert (out / "manifest.sig").read_text().strip() == expected
    assert "manifest.sig" not in json.loads(manifest_bytes)["files"]  # the box is sent it, never runs it
    assert key.hex() not in done.output and "signed with the fleet key" in done.output


def test_build_without_a_key_is_unsigned_and_a_bad_key_is_refused(tech: Any, tmp_path: Path) -> None:
    unsigned = tech("build", "--out", str(tmp_path / "plain"))
    assert unsigned.exit_code == 0, unsigned.output
    assert not (tmp_path / "plain" / "manifest.sig").exists() and "not signed" in unsigned.output
    short = tmp_path / "short.key"
    short.write_text("00ff\n")
    refused = tech("build", "--out", str(tmp_path / "short"), "--key-file", str(short))
    assert refused.exit_code != 0 and "needs 32" in refused.output
    assert not (tmp_path / "short").exists()  # refused before anything was built


def test_provision_puts_the_fleet_key_on_the_box(tech: Any, blank_box: Any, broker: Any, release: Path,
                                                 tmp_path: Path) -> None:
    key_file, key = fleet_key_file(tmp_path)
    box = blank_box("a")
    result = tech("provision", port_of(box), "--counter", "17", RATING_TECH_FLEET_KEY_FILE=str(key_file))
    assert result.exit_code == 0, result.output
    assert box.flash_read("fleet.key").decode().strip() == key.hex()
    assert key.hex() not in result.output
