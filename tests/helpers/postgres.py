"""A throwaway PostgreSQL server for the tests, and fresh databases on it."""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.helpers.ports import PortTaken, log_since, log_size, on_a_free_port, port_taken


@dataclass
class PgServer:
    port: int
    root: Path
    as_user: list[str] = field(default_factory=list)

    def admin_url(self, database: str = "postgres") -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{database}"

    @property
    def data(self) -> Path:
        return self.root / "data"

    def start(self) -> None:
        options = (f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -c fsync=off "
                   "-c full_page_writes=off")
        subprocess.run([*self.as_user, _pg_bin("pg_ctl") or "pg_ctl", "-D", str(self.data), "-o", options,
                        "-l", str(self.root / "log"), "-w", "start"], check=True, capture_output=True)

    def stop(self, mode: str = "immediate") -> None:
        """mode: smart, fast (disconnects clients) or immediate (like a crash)."""
        subprocess.run([*self.as_user, _pg_bin("pg_ctl") or "pg_ctl", "-D", str(self.data), "-m", mode, "stop"],
                       check=False, capture_output=True)


def _pg_bin(name: str) -> str | None:
    found = shutil.which(name)
    if found:
        return found
    candidates = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    return candidates[-1] if candidates else None


@contextmanager
def running_pg_server() -> Iterator[PgServer]:
    """A throwaway PostgreSQL cluster in a temporary folder, on a free port."""
    initdb, pg_ctl = _pg_bin("initdb"), _pg_bin("pg_ctl")
    if not (initdb and pg_ctl):
        # `make test` installs it; a missing server must fail the run, not hide its tests.
        pytest.fail("PostgreSQL is not installed (apt-get install postgresql; make test does it)")
    root = Path(tempfile.mkdtemp(prefix="rating-pg-"))
    as_user: list[str] = []
    if os.geteuid() == 0:  # initdb refuses root
        as_user = ["runuser", "-u", "postgres", "--"]
        shutil.chown(root, "postgres", "postgres")
    server = PgServer(0, root, as_user)
    subprocess.run([*as_user, initdb, "-D", str(server.data), "-A", "trust", "-U", "postgres", "-E", "UTF8",
                    "--no-sync"], check=True, capture_output=True)

    def start(port: int) -> PgServer:
        server.port = port
        offset = log_size(root / "log")
        try:
            server.start()
        except subprocess.CalledProcessError as error:
            said = f"{error.stderr.decode(errors='replace')}\n{log_since(root / 'log', offset)}"
            if port_taken(port, said):
                raise PortTaken(said) from None
            raise
        return server

    try:
        on_a_free_port(start)
        yield server
    finally:
        server.stop()
        shutil.rmtree(root, ignore_errors=True)


def new_pg_database(server: PgServer) -> str:
    import psycopg

    name = "t_" + uuid.uuid4().hex[:12]
    with psycopg.connect(f"host=127.0.0.1 port={server.port} user=postgres dbname=postgres", autocommit=True) as c:
        c.execute(f'CREATE DATABASE "{name}"')
    return server.admin_url(name)
