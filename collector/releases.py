"""The firmware releases the collector serves to the boxes (firmware/ota.py fetches them).

A release is a folder made by `rating-tech build --key-file` (manifest.json, manifest.sig and the
files the manifest lists), added under the releases folder as <version>/ after a check: a version
of three numbers, a known board, safe file names, every file present, within the size limits and of
the SHA-256 its manifest says. Nothing else is ever served from there.

The collector does not hold the fleet key and does not check the signature: the box does, with the
key provisioning gave it. That is why the releases can be served without credentials (a box has
none for HTTP): a release nobody signed, or a file changed on the way, is refused by every box."""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import uuid
from dataclasses import dataclass
from pathlib import Path

MANIFEST = "manifest.json"  # names as technician/build.py writes them
SIGNATURE = "manifest.sig"
# The manifest and its signature are read whole by a box, up to this (firmware/ota.py _SMALL_MAX).
SMALL_MAX = 8192
FILE_MAX = 256 * 1024  # one file of a release; the largest .mpy of a release today is ~12 KB
RELEASE_MAX = 1024 * 1024  # a whole release: two of them and the outbox must fit the box's flash
FILES_MAX = 64
VERSION = re.compile(r"^[0-9]{1,4}\.[0-9]{1,4}\.[0-9]{1,4}$")  # schemas/cmd.schema.json "version"
FILE_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}$")  # no folder, no dot file, URL-safe
SHA256 = re.compile(r"^[0-9a-f]{64}$")
BOARDS = ("esp32", "virtual")  # technician/build.py BOARDS


class ReleaseError(ValueError):
    pass


@dataclass(frozen=True)
class Release:
    version: str
    board: str
    files: dict[str, str]  # name -> SHA-256
    manifest_sha256: str
    size: int  # bytes of the listed files

    def served(self, name: str) -> bool:
        return name in (MANIFEST, SIGNATURE) or name in self.files


def version_key(version: str) -> tuple[int, ...]:
    """'0.10.0' -> (0, 10, 0): compared number by number, as a box compares them."""
    if not VERSION.match(version):
        raise ReleaseError(f"version {version[:20]!r} is not three numbers like 0.2.0")
    return tuple(int(part) for part in version.split("."))


def _small(path: Path) -> bytes:
    try:
        if path.stat().st_size > SMALL_MAX:
            raise ReleaseError(f"{path.name} is larger than {SMALL_MAX} bytes: a box reads it whole")
        return path.read_bytes()
    except OSError:
        raise ReleaseError(f"no {path.name} in {path.parent}") from None


def check_release(folder: Path) -> Release:
    """The release in `folder`, after checking everything a box will rely on but the signature."""
    manifest_bytes = _small(folder / MANIFEST)
    signature = _small(folder / SIGNATURE).strip().decode("ascii", "replace")
    if not SHA256.match(signature):
        raise ReleaseError(f"{SIGNATURE} is not a hex HMAC-SHA256: build the release with --key-file")
    try:
        manifest = json.loads(manifest_bytes)
        version, board, files = manifest["version"], manifest["board"], manifest["files"]
    except (ValueError, KeyError, TypeError):
        raise ReleaseError(f"{MANIFEST} is not a release manifest (version, board, files)") from None
    if not isinstance(version, str) or not isinstance(board, str) or not isinstance(files, dict):
        raise ReleaseError(f"{MANIFEST}: version and board must be text, files a mapping")
    version_key(version)
    if board not in BOARDS:
        raise ReleaseError(f"board {board[:20]!r} is not one of {', '.join(BOARDS)}")
    if not files or len(files) > FILES_MAX:
        raise ReleaseError(f"a release lists 1 to {FILES_MAX} files, not {len(files)}")
    size = 0
    for name, digest in files.items():
        if not isinstance(name, str) or not FILE_NAME.match(name) or name in (MANIFEST, SIGNATURE):
            raise ReleaseError(f"file name {str(name)[:70]!r} is not allowed in a release")
        if not isinstance(digest, str) or not SHA256.match(digest):
            raise ReleaseError(f"{name}: {str(digest)[:70]!r} is not a hex SHA-256")
        path = folder / name
        if not path.is_file():
            raise ReleaseError(f"{name} is listed in the manifest but missing")
        if path.stat().st_size > FILE_MAX:
            raise ReleaseError(f"{name} is larger than {FILE_MAX} bytes")
        data = path.read_bytes()
        if hashlib.sha256(data).hexdigest() != digest:
            raise ReleaseError(f"{name}: its SHA-256 is not the manifest's")
        size += len(data)
    if size > RELEASE_MAX:
        raise ReleaseError(f"the release is {size} bytes; at most {RELEASE_MAX}")
    return Release(version, board, dict(files), hashlib.sha256(manifest_bytes).hexdigest(), size)


def add_release(root: Path, source: Path) -> tuple[Release, bool]:
    """Copy the release in `source` to root/<version>/ (checked first, copied whole, then renamed in
    place: a box never sees half a release). (release, added); added is False when the very same
    release is there already. Another release under the same version is refused: boxes that took
    one must never be told the other is it."""
    release = check_release(source)
    target = root / release.version
    if target.exists():
        there = check_release(target)
        if there.manifest_sha256 == release.manifest_sha256:
            return there, False
        raise ReleaseError(f"another release {release.version} is there already: build a new version")
    root.mkdir(parents=True, exist_ok=True)
    staging = root / f".adding-{uuid.uuid4().hex}"
    staging.mkdir()
    try:
        for name in (MANIFEST, SIGNATURE, *release.files):
            shutil.copyfile(source / name, staging / name)
        check_release(staging)  # what was copied, not what was read before
        staging.rename(target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return release, True


def find_release(root: Path, version: str) -> Release | None:
    if not VERSION.match(version):
        return None
    try:
        return check_release(root / version)
    except ReleaseError:
        return None


def list_releases(root: Path) -> list[Release]:
    """Every release in root, the newest version first."""
    found = [find_release(root, p.name) for p in root.iterdir() if p.is_dir()] if root.is_dir() else []
    return sorted((r for r in found if r is not None), key=lambda r: version_key(r.version), reverse=True)


def release_file(root: Path, version: str, name: str) -> Path | None:
    """The path of a file a box may fetch: the manifest, its signature or a file the manifest lists;
    None for anything else (so no name can lead out of the release)."""
    if not VERSION.match(version) or not (name in (MANIFEST, SIGNATURE) or FILE_NAME.match(name)):
        return None
    try:
        manifest = json.loads(_small(root / version / MANIFEST))
        listed = name in (MANIFEST, SIGNATURE) or name in manifest["files"]
    except (ReleaseError, ValueError, KeyError, TypeError):
        return None
    path = root / version / name
    return path if listed and path.is_file() else None
