"""A throwaway PostgreSQL server for the benchmarks, in a folder of theirs (run as the `postgres`
user when the bench runs as root, as initdb requires)."""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
from pathlib import Path

from bench import free_port

# For generating and querying millions of rows (bench.queries): no fsync, room to sort and cache.
_FAST_LOAD = "-c fsync=off -c shared_buffers=512MB -c work_mem=64MB -c maintenance_work_mem=512MB"


def _binary(name: str) -> str:
    found = shutil.which(name) or max(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"), default=None)
    if not found:
        raise RuntimeError("PostgreSQL is not installed (apt-get install postgresql)")
    return found


class Postgres:
    """Started on a free port in root. durable: PostgreSQL's defaults (fsync, synchronous_commit
    on), for ingest figures; otherwise set up for bulk loads and big queries. A root that already
    holds a data folder (a kept run) is started again as it is."""

    def __init__(self, root: Path, durable: bool = True):
        self.root = root
        self.pg_ctl = _binary("pg_ctl")
        self.as_user = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        if self.as_user:
            shutil.chown(root, "postgres", "postgres")
        self.port = free_port()
        self.data = root / "data"
        if not self.data.exists():
            subprocess.run([*self.as_user, _binary("initdb"), "-D", str(self.data), "-A", "trust", "-U", "postgres",
                            "-E", "UTF8", *([] if durable else ["--no-sync"])],
                           check=True, capture_output=True)
        server = f"-p {self.port} -k {root} -c listen_addresses=127.0.0.1" + ("" if durable else " " + _FAST_LOAD)
        subprocess.run([*self.as_user, self.pg_ctl, "-D", str(self.data), "-o", server, "-l", str(root / "log"), "-w",
                        "start"], check=True, capture_output=True)

    @property
    def url(self) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"

    def stop(self) -> None:
        subprocess.run([*self.as_user, self.pg_ctl, "-D", str(self.data), "-m", "fast", "stop"], check=False,
                       capture_output=True)
