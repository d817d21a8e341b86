"""Firmware releases: the files a box fetches to update (public: a box has no HTTP credentials, and
every box checks the signature and each file's SHA-256, collector/releases.py), and the list of the
releases there (any login). Releases are added with `rating-collector releases add FOLDER`."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException, Path
from fastapi.responses import FileResponse
from pydantic import BaseModel, ConfigDict, Field

from collector.api.deps import PrincipalDep, SettingsDep
from collector.releases import FILE_NAME, VERSION, list_releases, release_file

router = APIRouter(tags=["releases"])

Version = Annotated[str, Path(pattern=VERSION.pattern, max_length=14)]
FileName = Annotated[str, Path(pattern=FILE_NAME.pattern, max_length=64)]


class ReleasePublic(BaseModel):
    model_config = ConfigDict(extra="forbid")

    version: str
    board: str = Field(description="esp32 | virtual")
    manifest_sha256: str
    files: int = Field(description="how many files the manifest lists")
    size: int = Field(description="bytes of those files")
    url_path: str = Field(description="where boxes fetch it, under the collector's address")


class ReleasesPublic(BaseModel):
    model_config = ConfigDict(extra="forbid")

    items: list[ReleasePublic]


@router.get("/releases/{version}/{name}", response_class=FileResponse,
            responses={200: {"content": {"application/octet-stream": {}},
                             "description": "the file (Range requests are answered too)"},
                       404: {"description": "no such release, or a file its manifest does not list"}})
def release_download(version: Version, name: FileName, settings: SettingsDep) -> FileResponse:
    """A file of a release, for the boxes: manifest.json, manifest.sig or a file the manifest lists.
    No credentials: what a box takes is signed with the fleet key, which the collector never holds."""
    assert settings.releases_dir is not None
    path = release_file(settings.releases_dir, version, name)
    if path is None:
        raise HTTPException(404, "no such release file")
    return FileResponse(path, media_type="application/octet-stream")


@router.get("/api/v1/releases", response_model=ReleasesPublic)
def releases_list(_who: PrincipalDep, settings: SettingsDep) -> ReleasesPublic:
    """The releases the collector serves, the newest version first."""
    assert settings.releases_dir is not None
    return ReleasesPublic(items=[
        ReleasePublic(version=r.version, board=r.board, manifest_sha256=r.manifest_sha256, files=len(r.files),
                      size=r.size, url_path=f"/releases/{r.version}/") for r in list_releases(settings.releases_dir)])
