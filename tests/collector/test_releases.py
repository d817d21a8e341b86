"""The releases the collector serves to the boxes: checked when added (collector/releases.py), served
without credentials but only the files a manifest lists, whole or by Range, through the real app."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from collector.app import create_app
from collector.db import make_engine
from collector.releases import FILE_MAX, ReleaseError, add_release, check_release, list_releases
from collector.settings import Settings
from tests.helpers.releases import make_release

RATING_COLLECTOR = Path(sys.executable).parent / "rating-collector"


def rewrite_manifest(folder: Path, **changes: Any) -> None:
    manifest = json.loads((folder / "manifest.json").read_text())
    manifest.update(changes)
    (folder / "manifest.json").write_text(json.dumps(manifest))


def test_a_release_is_added_once_and_listed(tmp_path: Path) -> None:
    root = tmp_path / "releases"
    release, added = add_release(root, make_release(tmp_path / "built"))
    assert added and release.version == "0.2.0" and release.board == "virtual" and set(release.files) == {
        "app.mpy", "main.py"}
    assert release.manifest_sha256 == hashlib.sha256((root / "0.2.0" / "manifest.json").read_bytes()).hexdigest()
    assert add_release(root, tmp_path / "built") == (release, False)  # the same again: nothing changes
    add_release(root, make_release(tmp_path / "later", "0.10.0"))
    assert [r.version for r in list_releases(root)] == ["0.10.0", "0.2.0"]  # by number, not as text
    assert sorted(p.name for p in root.iterdir()) == ["0.10.0", "0.2.0"]  # no staging left behind


def test_another_release_under_the_same_version_is_refused(tmp_path: Path) -> None:
    root = tmp_path / "releases"
    add_release(root, make_release(tmp_path / "one"))
    with pytest.raises(ReleaseError, match="another release 0.2.0"):
        add_release(root, make_release(tmp_path / "two", files={"app.mpy": b"other"}))


@pytest.mark.parametrize("spoil, reason", [
    (lambda f: (f / "app.mpy").write_bytes(b"changed"), "app.mpy: its SHA-256 is not the manifest's"),
    (lambda f: (f / "main.py").unlink(), "main.py is listed in the manifest but missing"),
    (lambda f: (f / "manifest.sig").unlink(), "no manifest.sig"),
    (lambda f: (f / "manifest.sig").write_text("unsigned"), "not a hex HMAC-SHA256"),
    (lambda f: rewrite_manifest(f, version="0.2"), "not three numbers"),
    (lambda f: rewrite_manifest(f, board="esp8266"), "board 'esp8266'"),
    (lambda f: rewrite_manifest(f, files={"../config.json": "0" * 64}), "file name '../config.json'"),
    (lambda f: rewrite_manifest(f, files={".hidden": "0" * 64}), "file name '.hidden'"),
    (lambda f: rewrite_manifest(f, files={"app.mpy": "not a digest"}), "is not a hex SHA-256"),
    (lambda f: rewrite_manifest(f, files={}), "1 to 64 files"),
    (lambda f: (f / "manifest.json").write_text("[1, 2]"), "not a release manifest"),
    (lambda f: (f / "manifest.json").write_text(" " * 9000), "larger than 8192"),
])
def test_a_wrong_release_is_refused_with_its_reason(tmp_path: Path, spoil: Any, reason: str) -> None:
    folder = make_release(tmp_path / "built")
    spoil(folder)
    with pytest.raises(ReleaseError, match=reason.replace(".", r"\.").replace("(", r"\(")):
        add_release(tmp_path / "releases", folder)
    assert not (tmp_path / "releases" / "0.2.0").exists()


def test_a_file_over_the_limit_is_refused(tmp_path: Path) -> None:
    folder = make_release(tmp_path / "built", files={"big.mpy": b"x" * (FILE_MAX + 1)})
    with pytest.raises(ReleaseError, match="big.mpy is larger than"):
        check_release(folder)


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> tuple[TestClient, Path]:
    data = tmp_path_factory.mktemp("served")
    settings = Settings(data_dir=data)
    assert settings.releases_dir == data / "releases"
    built = make_release(data / "built")
    (built / "secret.txt").write_text("not in the manifest")
    add_release(settings.releases_dir, built)
    (settings.releases_dir / "0.2.0" / "planted.txt").write_text("put there by hand, not listed")
    return TestClient(create_app(settings, make_engine("sqlite://"))), settings.releases_dir / "0.2.0"


def test_boxes_fetch_the_listed_files_without_credentials(served: tuple[TestClient, Path]) -> None:
    client, folder = served
    for name in ("manifest.json", "manifest.sig", "app.mpy", "main.py"):
        answer = client.get(f"/releases/0.2.0/{name}")
        assert answer.status_code == 200, name
        assert answer.content == (folder / name).read_bytes()
        assert answer.headers["content-type"] == "application/octet-stream"


@pytest.mark.parametrize("path", [
    "/releases/0.2.0/planted.txt",  # there, but not in the manifest
    "/releases/0.2.0/secret.txt",  # never copied
    "/releases/0.2.0/..%2F..%2Fcollector.sqlite3", "/releases/..%2Fbuilt/manifest.json",
    "/releases/0.2.0/.hidden", "/releases/0.3.0/manifest.json", "/releases/built/app.mpy",
    "/releases/0.2.0/" + "a" * 65,
])
def test_nothing_else_is_served(served: tuple[TestClient, Path], path: str) -> None:
    client, _ = served
    assert client.get(path).status_code in (404, 422), path


def test_a_box_can_resume_a_file_by_range(served: tuple[TestClient, Path]) -> None:
    client, folder = served
    whole = (folder / "app.mpy").read_bytes()
    answer = client.get("/releases/0.2.0/app.mpy", headers={"Range": "bytes=100-"})
    assert answer.status_code == 206 and answer.content == whole[100:]


def test_the_list_needs_a_login(served: tuple[TestClient, Path]) -> None:
    client, _ = served
    assert client.get("/api/v1/releases").status_code == 401


def test_the_cli_adds_and_lists_a_release(tmp_path: Path) -> None:
    env = {**os.environ, "RATING_DATA_DIR": str(tmp_path / "data")}
    built = make_release(tmp_path / "built")
    run = lambda *args: subprocess.run([str(RATING_COLLECTOR), "releases", *args], env=env, capture_output=True,
                                       text=True, timeout=60, check=False)
    added = run("add", str(built))
    assert added.returncode == 0 and "release 0.2.0 (virtual, 2 files" in added.stdout and "added" in added.stdout
    assert "already there" in run("add", str(built)).stdout
    listed = run("list")
    assert listed.stdout.startswith("0.2.0\tvirtual\t2 files")
    (built / "app.mpy").write_bytes(b"tampered")
    (tmp_path / "data" / "releases" / "0.2.0").rename(tmp_path / "gone")
    refused = run("add", str(built))
    assert refused.returncode == 2 and "app.mpy: its SHA-256 is not the manifest's" in refused.stderr
