"""Fixtures of the proof suite (on top of tests/conftest.py's broker and collector_process)."""

import shutil
import tempfile
from pathlib import Path

import pytest


@pytest.fixture
def workdir():
    # Not under tmp_path (0700 for root): the boxes' folders sit beside the broker's.
    d = Path(tempfile.mkdtemp(prefix="proof-"))
    d.chmod(0o755)
    yield d
    shutil.rmtree(d, ignore_errors=True)
